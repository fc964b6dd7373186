"""``sgdlab predict``: the class of a photo (PNG/JPEG) or of a test image, with the top 3
probabilities (images made Fashion-MNIST-like by :mod:`sgdlab.inference.images`)."""

from __future__ import annotations

import argparse
from typing import Any

from sgdlab.cli.common import (
    add_weights_option,
    emit_json,
    load_data,
    nonneg_int,
    options,
    unused_options,
)

TOP = 3


def register(sub, parents) -> None:
    p = sub.add_parser(
        "predict",
        parents=parents,
        help="classify PNG/JPEG images or test images with saved weights",
        description="Classify each IMAGE (PNG or JPEG, any size and colour) or the test "
        "images --index I with weights saved by 'sgdlab train --save-weights'; prints the "
        "class and the top-3 probabilities. An image is made Fashion-MNIST-like first: grey, "
        "inverted when it is dark on light (its border brighter than its centre; Fashion-MNIST "
        "is light on dark, and a note says so), trimmed to the object, scaled to a longer side "
        "of 28 pixels and centred on a black 28x28 canvas.",
    )
    p.add_argument(
        "images",
        nargs="*",
        metavar="IMAGE",
        help="image files to classify (PNG or JPEG); or use --index",
    )
    add_weights_option(p)
    p.add_argument(
        "--index",
        type=nonneg_int,
        action="append",
        metavar="I",
        help="classify test image I instead of files (0-based; repeat for several); "
        "--data-dir/--sample choose the data set",
    )
    unused_options(p, seed="classifying with saved weights involves nothing random")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sgdlab.errors import ConfigError
    from sgdlab.inference import load_model
    from sgdlab.measure.provenance import environment

    if bool(args.images) == bool(args.index):
        raise ConfigError("give IMAGE files or --index I (not both, not neither)")
    if args.images:
        unused = [f for f, on in _DATA_FLAGS.items() if getattr(args, on)]
        if unused:
            raise ConfigError(
                f"{unused[0]} has no effect with IMAGE files (only --index reads the data set)"
            )
    model = load_model(args.weights)
    result: dict[str, Any] = {"preprocessing": model.preprocessing_source}
    if args.images:
        items, pixels = _from_files(args.images)
    else:
        ds = load_data(args)
        items, pixels = _from_test_set(ds, args.index)
        result["data"] = ds.provenance()
    from sgdlab.inference.images import top_k

    for item, top in zip(items, top_k(model, pixels, TOP), strict=True):
        item.update({"class": top[0]["class"], "class_index": top[0]["index"], "top": top})
        if "label" in item:
            item["correct"] = item["label"] == item["class_index"]
    result["predictions"] = items
    if args.json:
        config = options(args, "weights", "images", "index")
        emit_json("predict", config=config, environment=environment("cpu"), result=result)
        return 0
    print(f"weights: {args.weights} (preprocessing from the {model.preprocessing_source})")
    for item in items:
        print(format_item(item))
    return 0


#: the data-set options, which only --index uses
_DATA_FLAGS = {"--sample": "sample", "--data-dir": "data_dir", "--require-full": "require_full"}


def _from_files(paths: list[str]):
    import torch

    from sgdlab.inference.images import load_image

    prepared = [load_image(p) for p in paths]  # every file checked before any output
    items = []
    for im in prepared:
        item = {"image": im.to_dict()}
        if im.inverted:
            item["note"] = (
                f"inverted: dark on light (border mean {im.border_mean:.0f} > centre mean "
                f"{im.centre_mean:.0f}); Fashion-MNIST is light on dark"
            )
        items.append(item)
    return items, torch.stack([im.pixels for im in prepared])


def _from_test_set(ds, indices: list[int]):
    from sgdlab.data.fashion import CLASS_NAMES
    from sgdlab.errors import ConfigError

    n = int(ds.test_images.shape[0])
    bad = [i for i in indices if i >= n]
    if bad:
        raise ConfigError(
            f"--index must be in 0..{n - 1} (the test set has {n:,} images), got {bad[0]}"
        )
    items = [
        {
            "index": i,
            "label": int(ds.test_labels[i]),
            "label_name": CLASS_NAMES[int(ds.test_labels[i])],
        }
        for i in indices
    ]
    return items, ds.test_images[list(indices)]


def format_item(item: dict[str, Any]) -> str:
    top = ", ".join(f"{t['class']} {t['probability']:.1%}" for t in item["top"])
    if "image" in item:
        im = item["image"]
        w, h = im["size"]
        head = f"{im['source']} ({w}x{h} {im['mode']} {im['format']})"
    else:
        right = "right" if item["correct"] else "wrong"
        head = f"test image #{item['index']} (true class {item['label_name']}; {right})"
    lines = [f"{head}: {item['class']}", f"  top {len(item['top'])}: {top}"]
    if "note" in item:
        lines.append(f"  note: {item['note']}")
    return "\n".join(lines)
