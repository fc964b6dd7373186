"""``sgdlab minibatch``: exercise 1, load one minibatch of training samples."""

from __future__ import annotations

import argparse

from sgdlab.cli.common import (
    IMAGE_SUFFIXES,
    emit_json,
    load_data,
    options,
    positive_int,
    writable_file,
)


def register(sub, parents) -> None:
    p = sub.add_parser(
        "minibatch",
        parents=parents,
        help="exercise 1: load a minibatch of 16 training samples",
        description="Exercise 1: draw one minibatch (without replacement, from the seeded "
        "sampler's first epoch) and show its shapes, labels and class names.",
    )
    p.add_argument("--batch-size", "-b", type=positive_int, default=16, help="default 16")
    p.add_argument(
        "--save",
        metavar="PNG",
        type=lambda t: writable_file(t, IMAGE_SUFFIXES),
        help="draw the images with their class names (.png, .pdf or .svg)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from sgdlab.data import CLASS_NAMES
    from sgdlab.data.fashion import to_float
    from sgdlab.errors import ConfigError
    from sgdlab.sampler import MinibatchSampler

    ds = load_data(args)
    n = len(ds.train_labels)
    if args.batch_size > n:
        raise ConfigError(f"batch size must be in 1..{n}, got {args.batch_size}")
    gen = torch.Generator().manual_seed(args.seed)
    sampler = MinibatchSampler(n, args.batch_size, generator=gen)
    idx = next(iter(sampler))
    images, labels = ds.train_images[idx], ds.train_labels[idx]
    x = to_float(images)
    out = {
        "indices": idx,
        "images_shape": list(images.shape),
        "images_dtype": str(images.dtype),
        "float_shape": list(x.shape),
        "labels": labels,
        "class_names": [CLASS_NAMES[i] for i in labels.tolist()],
        "data": ds.provenance(),
    }
    if args.save:
        from sgdlab.plots import image_grid

        out["saved"] = str(image_grid(images, labels, args.save))
    if args.json:
        from sgdlab.measure.provenance import environment

        config = options(args, "seed", "batch_size")
        emit_json("minibatch", config=config, environment=environment("cpu"), result=out)
        return 0
    print(f"minibatch of {args.batch_size} from {ds.source} (seed {args.seed})")
    print(
        f"  images: {tuple(images.shape)} {images.dtype} -> model input {tuple(x.shape)} "
        f"float32 (standardized per pixel)"
    )
    print(f"  labels: {tuple(labels.shape)} int64")
    for i, (j, c) in enumerate(zip(idx.tolist(), labels.tolist(), strict=False)):
        print(f"  {i:3d}  sample #{j:<6d} label {c}  {CLASS_NAMES[c]}")
    if args.save:
        print(f"saved {out['saved']} (the minibatch as an image grid)")
    return 0
