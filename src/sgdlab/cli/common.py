"""One module per ``sgdlab`` subcommand; shared option parsing and output helpers here.

Every command gets ``--seed``, ``--json``, ``--data-dir``, ``--sample`` and ``--quiet``.
A command module exports ``register(subparsers, parents)`` which adds its parser and sets
``run=function(args) -> int``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import Any


def positive_int(text: str) -> int:
    """argparse type: an integer ≥ 1."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be ≥ 1, got {text!r}")
    return v


def nonneg_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer ≥ 0, got {text!r}") from None
    if not 0 <= v < 2**63:
        raise argparse.ArgumentTypeError(f"must be in 0..2**63-1, got {text!r}")
    return v


def batch_sizes(text: str) -> tuple[int, ...]:
    """argparse type: comma-separated positive integers, e.g. ``1,16,64``."""
    parts = [t for t in text.replace(" ", "").split(",") if t]
    if not parts:
        raise argparse.ArgumentTypeError("expected batch sizes like 1,16,64")
    return tuple(positive_int(t) for t in parts)


def positive_float(text: str) -> float:
    """argparse type: a finite float > 0 (refuses nan, inf, 0, negatives, non-numbers)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise argparse.ArgumentTypeError(f"must be finite and > 0, got {text!r}")
    if v > FLOAT32_MAX:
        raise argparse.ArgumentTypeError(f"must be ≤ {FLOAT32_MAX:.3g} (float32), got {text!r}")
    return v


def nonneg_float(text: str) -> float:
    """argparse type: a finite float ≥ 0."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(v) or v < 0:
        raise argparse.ArgumentTypeError(f"must be finite and ≥ 0, got {text!r}")
    return v


def momentum_float(text: str) -> float:
    """argparse type: a momentum μ in [0, 1)."""
    v = nonneg_float(text)
    if v >= 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text!r}")
    return v


FLOAT32_MAX = 3.4028234663852886e38
IMAGE_SUFFIXES = (".png", ".pdf", ".svg")


def writable_file(text: str, suffixes: tuple[str, ...]) -> str:
    """Check up front (before any work) that ``text`` can be written: suffix and directory."""
    from pathlib import Path

    p = Path(text)
    if p.suffix.lower() not in suffixes:
        raise argparse.ArgumentTypeError(f"{text!r} must end in {' or '.join(suffixes)}")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise argparse.ArgumentTypeError(f"directory {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"directory {str(parent)!r} is not writable")
    return text


def common_parent() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("common options")
    g.add_argument(
        "--seed",
        type=nonneg_int,
        default=0,
        help="seed of the one torch.Generator behind all randomness (default 0)",
    )
    g.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document on stdout (config, environment, results)",
    )
    g.add_argument(
        "--data-dir",
        metavar="DIR",
        help="directory with the four *-ubyte(.gz) files (else $SGDLAB_DATA, the "
        "cache, /usr/share/datasets/fashion-mnist, then a download)",
    )
    g.add_argument(
        "--sample",
        action="store_true",
        help="use the bundled 1,000+1,000-image sample instead of the full set",
    )
    g.add_argument(
        "--require-full",
        action="store_true",
        help="fail (exit 2) instead of falling back to the sample when the full "
        "set cannot be found or downloaded",
    )
    g.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    return p


def load_data(args: argparse.Namespace):
    """The data set the options ask for; falls back to the sample loudly when allowed."""
    from sgdlab.data import load, load_sample
    from sgdlab.errors import DataNotFoundError

    if args.sample:
        return load_sample()
    try:
        return load(args.data_dir, progress=not args.quiet)
    except DataNotFoundError as e:
        if args.require_full or args.data_dir or os.environ.get("SGDLAB_DATA"):
            raise
        bar = "!" * 78
        print(
            f"{bar}\n{e}\n\n>>> FALLING BACK TO THE BUNDLED SAMPLE (1,000 train + 1,000 test "
            f"images). Figures below are NOT full Fashion-MNIST results. <<<\n{bar}",
            file=sys.stderr,
        )
        return load_sample()


def emit_json(doc: dict[str, Any]) -> None:
    json.dump(doc, sys.stdout, indent=2, default=_default)
    sys.stdout.write("\n")


def _default(o: Any) -> Any:
    import torch

    if isinstance(o, torch.Tensor):
        return o.tolist()
    if hasattr(o, "__fspath__"):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")
