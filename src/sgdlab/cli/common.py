"""One module per ``sgdlab`` subcommand; shared option parsing and output helpers here.

Every command gets ``--seed``, ``--json``, ``--data-dir``, ``--sample`` and ``--quiet``; one
that has no use for one of them says so (:func:`unused_options`) and refuses it. With ``--json``
a command prints one document through :func:`emit_json` (the shape of
:func:`sgdlab.formatting.document`, its ``config`` from :func:`options`). A command module
exports ``register(subparsers, parents)`` which adds its parser and sets
``run=function(args) -> int``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from sgdlab.values import (  # noqa: F401 (the commands' option types)
    FLOAT32_MAX,
    batch_sizes,
    momentum_float,
    nonneg_float,
    nonneg_int,
    positive_float,
    positive_int,
)

IMAGE_SUFFIXES = (".png", ".pdf", ".svg")


def writable_file(text: str, suffixes: tuple[str, ...]) -> str:
    """Check up front (before any work) that ``text`` can be written: suffix and directory."""
    from pathlib import Path

    p = Path(text)
    if p.suffix.lower() not in suffixes:
        raise argparse.ArgumentTypeError(f"{text!r} must end in {' or '.join(suffixes)}")
    if p.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a directory; name a file in it")
    if p.exists() and not os.access(p, os.W_OK):
        raise argparse.ArgumentTypeError(f"{text!r} exists and is not writable")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise argparse.ArgumentTypeError(f"directory {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"directory {str(parent)!r} is not writable")
    return text


def common_parent() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
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
        help="print one JSON document on stdout: schema, command, config, environment, result",
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


def unused_options(parser: argparse.ArgumentParser, **why: str) -> None:
    """Common options that ``parser``'s command has no use for (``dest="why"``): hidden from its
    ``--help`` and refused by :func:`refuse_unused` when given, never silently ignored."""
    for action in parser._actions:
        if action.dest in why:
            action.default, action.help = None, argparse.SUPPRESS
    parser.set_defaults(_unused=why)


def refuse_unused(args: argparse.Namespace) -> None:
    """Refuse (:class:`ConfigError`) a given option that :func:`unused_options` marked."""
    from sgdlab.errors import ConfigError

    for dest, why in getattr(args, "_unused", {}).items():
        if getattr(args, dest, None) not in (None, False):
            flag = "--" + dest.replace("_", "-")
            raise ConfigError(f"{flag} has no effect here ({why}); drop {flag}")


def load_data(args: argparse.Namespace, *, sample_by: str = "--sample"):
    """The data set the options ask for; falls back to the sample loudly when allowed.
    ``sample_by``: the option that asked for the sample (``--quick`` implies it for some
    commands), named when ``--data-dir`` or ``--require-full`` would be ignored."""
    from sgdlab.data import load, load_sample
    from sgdlab.errors import ConfigError, DataNotFoundError

    if args.sample:
        for flag, given in (("--data-dir", args.data_dir), ("--require-full", args.require_full)):
            if given:
                raise ConfigError(
                    f"{flag} has no effect with {sample_by} (it reads the bundled sample); "
                    f"drop {flag}" + (" or --sample" if sample_by == "--sample" else "")
                )
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


def add_weights_option(p: argparse.ArgumentParser) -> None:
    """``--weights PATH`` (required): the file ``sgdlab train --save-weights`` wrote."""
    p.add_argument(
        "--weights",
        metavar="PATH",
        required=True,
        help="weights file (.safetensors or .pt) written by sgdlab train --save-weights",
    )


def emit_json(
    command: str, *, config: dict[str, Any], environment: dict[str, Any], result: dict[str, Any]
) -> None:
    """Print the command's ``--json`` document (:func:`sgdlab.formatting.document`: ``schema``,
    ``command``, ``config``, ``environment``, ``result``) on stdout."""
    from sgdlab.formatting import document

    doc = document(command, config=config, environment=environment, result=result)
    json.dump(doc, sys.stdout, indent=2, default=_default)
    sys.stdout.write("\n")


def options(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    """``{name: value}`` of the options ``names`` (argparse dests), JSON-ready (tuples as lists):
    a ``--json`` document's ``config``."""
    values = {n: getattr(args, n) for n in names}
    return {n: list(v) if isinstance(v, tuple) else v for n, v in values.items()}


def _default(o: Any) -> Any:
    import torch

    if isinstance(o, torch.Tensor):
        return o.tolist()
    if hasattr(o, "__fspath__"):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")
