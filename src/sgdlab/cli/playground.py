"""``sgdlab playground``: a live page that retrains on every change of b, lr or momentum."""

from __future__ import annotations

import argparse
from typing import Any

from sgdlab.cli.common import positive_int, unused_options


def register(sub, parents) -> None:
    p = sub.add_parser(
        "playground",
        parents=parents,
        help="a live page: change b, lr or momentum and watch the run retrain and redraw",
        description="Serve one page on localhost on which every change of the batch size, lr, "
        "momentum, schedule, ... retrains the chapter's classifier on the real data and draws "
        "it while it trains: cost and accuracy curves, the minibatch costs of every step, the "
        "10 templates (rows of W), the confusion matrix and misclassified test images; compare "
        "mode overlays up to 6 runs. Its JSON API (POST /api/runs with sgdlab train's option "
        "names) is in README.md. Needs the playground extra: pip install 'sgdlab[playground]'.",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only; any other address "
        "lets anyone on the network use it)",
    )
    p.add_argument(
        "--port", type=port_type, default=8765, help="TCP port (default 8765; 0: any free one)"
    )
    p.add_argument("--no-browser", action="store_true", help="do not open the page in a browser")
    p.add_argument(
        "--lang", choices=("en", "he"), default="en", help="page language (default en; he: Hebrew)"
    )
    p.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        help="trainings run at once (default: one per core; the others queue); each runs on "
        "one thread when there are several",
    )
    unused_options(
        p,
        seed="each run's seed comes with its request, as --seed of sgdlab train",
        json="the playground serves a page; the runs' records are its JSON API",
    )
    p.set_defaults(run=run)


def port_type(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be an integer, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be in 0..65535, got {port}")
    return port


def config_converter():
    """``--config`` key/value checks of ``sgdlab train`` (its own parser), for request bodies:
    ``{key: raw}`` -> ``{field: value}``, or the CLI's one-line :class:`ConfigError`."""
    from sgdlab.cli.configfile import values
    from sgdlab.cli.main import build_parser

    parser = build_parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    train = subs.choices["train"]

    def convert(table: dict[str, Any]) -> dict[str, Any]:
        return values(train, table, where="config")

    return convert


def run(args: argparse.Namespace) -> int:
    import sys

    from sgdlab.cli.common import load_data
    from sgdlab.playground.presets import STUDY_LRS, presets, study_lrs
    from sgdlab.playground.server import require_extra, serve, warm_up

    require_extra()  # before loading data: one line telling how to install
    data = load_data(args)
    if not args.quiet:
        print(f"data: {data.source}{'  (SAMPLE)' if data.is_sample else ''}", file=sys.stderr)
        print(
            "warming up the engine (the first time numba compiles: about a minute)", file=sys.stderr
        )
    warm_up(data)
    lrs = study_lrs(data)
    if not args.quiet:
        where = (
            "your study cache"
            if lrs != STUDY_LRS
            else "docs/experiments.md (no finished study of this data in the cache)"
        )
        print(f"'b sweep' preset: each b's lr from {where}", file=sys.stderr)
    serve(
        data,
        convert=config_converter(),
        host=args.host,
        port=args.port,
        open_browser=not args.no_browser,
        lang=args.lang,
        presets=presets(int(data.train_images.shape[0]), lrs),
        workers=args.workers,
    )
    return 0
