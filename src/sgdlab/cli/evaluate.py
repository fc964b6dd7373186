"""``sgdlab evaluate``: a saved model on the test set, class by class (numbers from
:mod:`sgdlab.inference.evaluation`, the figure from
:func:`sgdlab.inference.plots.evaluation_figure`)."""

from __future__ import annotations

import argparse
from typing import Any

from sgdlab.cli.common import (
    IMAGE_SUFFIXES,
    add_weights_option,
    emit_json,
    load_data,
    options,
    positive_int,
    unused_options,
    writable_file,
)


def register(sub, parents) -> None:
    p = sub.add_parser(
        "evaluate",
        parents=parents,
        help="a saved model on the test set: accuracy per class, confusions",
        description="Load weights saved by 'sgdlab train --save-weights' (with the "
        "preprocessing they carry, see sgdlab.load_model) and evaluate them on the test set: "
        "cost C and accuracy (as in training), the accuracy of each class, the confusion "
        "matrix (rows: true class, columns: predicted) and the most frequent confusions.",
    )
    add_weights_option(p)
    p.add_argument(
        "--plot",
        metavar="PNG",
        type=lambda t: writable_file(t, IMAGE_SUFFIXES),
        help="draw the confusion matrix, the rows of W as 28x28 templates and the most "
        "confident mistakes into one figure (.png, .pdf or .svg)",
    )
    p.add_argument(
        "--top",
        type=positive_int,
        default=5,
        metavar="K",
        help="how many of the most frequent confusions to list (default 5)",
    )
    unused_options(p, seed="evaluating saved weights involves nothing random")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sgdlab.inference import load_model
    from sgdlab.inference.evaluation import evaluate_classifier
    from sgdlab.measure.provenance import environment

    model = load_model(args.weights)  # a bad file is refused before the data is read
    ds = load_data(args)
    ev = evaluate_classifier(model, ds.test_images, ds.test_labels, split="test")
    config = options(args, "weights", "top")
    result: dict[str, Any] = {
        **ev.to_dict(top=args.top),
        "preprocessing": model.preprocessing_source,
        "data": ds.provenance(),
    }
    if args.plot:
        from sgdlab.inference.plots import evaluation_figure

        path = evaluation_figure(ev, model.z.weight, ds.test_images, args.plot)
        result["plot"] = str(path)
    if args.json:
        emit_json("evaluate", config=config, environment=environment("cpu"), result=result)
        return 0
    doc = {"config": config, "result": result}
    print(format_report(doc, ds))
    return 0


def _short(name: str) -> str:
    return name.split("/")[0]


def format_report(doc: dict[str, Any], ds) -> str:
    cfg, r = doc["config"], doc["result"]
    sample = "  (SAMPLE, not the full set)" if ds.is_sample else ""
    names = r["class_names"]
    lines = [
        f"data: {ds.source}{sample}",
        f"weights: {cfg['weights']} (preprocessing from the {r['preprocessing']})",
        f"{r['split']}: N = {r['n']:,} images   cost C = {r['cost']:.4f}   accuracy "
        f"{r['accuracy']:.2%} ({r['correct']:,} correct)",
        "",
        "accuracy per class (correct of images)",
    ]
    width = max(len(n) for n in names)
    for c in r["per_class"]:
        acc = "–" if c["accuracy"] is None else f"{c['accuracy']:.2%}"
        lines.append(f"  {c['class']:<{width}} {c['correct']:>6,} of {c['n']:>6,}  {acc:>7}")
    lines += ["", "confusion matrix (rows: true class, columns: predicted class)"]
    cols = [max(len(_short(n)), 5) + 1 for n in names]
    lines.append(
        " " * (width + 2) + "".join(f"{_short(n):>{w}}" for n, w in zip(names, cols, strict=True))
    )
    for name, row in zip(names, r["confusion_matrix"], strict=True):
        lines.append(
            f"  {name:<{width}}" + "".join(f"{v:>{w}}" for v, w in zip(row, cols, strict=True))
        )
    lines += ["", "top confusions (true -> predicted: count)"]
    if not r["top_confusions"]:
        lines.append("  none: every image is classified correctly")
    for t in r["top_confusions"]:
        lines.append(f"  {t['true']} -> {t['predicted']}: {t['count']}")
    if "plot" in r:
        lines.append(f"saved {r['plot']} (confusion matrix, templates, mistakes)")
    return "\n".join(lines)
