"""``sgdlab experiment``: does a smaller minibatch converge faster? The batch-size study (steps
and examples to a target for every b, each tuned), or with ``--sweep`` the old fixed-budget
sweep."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from sgdlab.cli.common import emit_json, load_data, options, positive_int
from sgdlab.cli.configfile import defer_defaults

DESCRIPTION = (
    "The chapter claims: at a fixed cost per epoch, smaller minibatches take more steps and "
    "converge faster. This command measures it on the real data, as the literature does "
    "(Shallue et al. 2019, McCandlish et al. 2018): for b = 1, 2, 4, ..., 32768 and the full "
    "batch, plain SGD and Nesterov momentum (0.9), it tunes a constant lr for each b on a grid "
    "√2 apart (extended until the best lr is interior, chosen separately per target) and "
    "measures the steps S(b) to two targets: the exact training cost C ≤ 0.45 over the 50,000 "
    "training images, and validation accuracy ≥ 83.5 % on 10,000 held-out images (median over "
    "3 seeds, located to 5 %). It fits S = S_min(1 + B_crit/b), compares B_crit with the exact "
    "gradient noise scale, turns steps into seconds on this machine, and states the verdict. "
    "All lr trials of one (b, seed) train together on one minibatch order; every pass is cached "
    "(Ctrl-C keeps the finished ones; the same command continues). --quick: a reduced study on "
    "the bundled sample, under a minute."
)


def register(sub, parents) -> None:
    p = sub.add_parser(
        "experiment",
        parents=parents,
        description=DESCRIPTION,
        help="does a smaller minibatch converge faster? the batch-size study",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="the reduced study (b = 1, 4, 16, 64, 256, full; 2 seeds) for the sample; "
        "implies --sample unless --data-dir is given",
    )
    p.add_argument(
        "--sweep",
        action="store_true",
        help="run the old fixed-budget sweep instead (one lr per b chosen for the "
        "validation cost after a fixed budget; its verdict describes that protocol)",
    )
    p.add_argument(
        "--seeds",
        type=positive_int,
        default=None,
        metavar="N",
        help="seeds per configuration: --seed, --seed+1, ... (default 3; 2 with --quick)",
    )
    p.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        metavar="N",
        help="parallel processes, one thread each (default: one per usable core); with "
        "--scheduler local, the local Dask cluster's workers",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="run the study's passes on a Dask cluster: tcp://HOST:PORT of a running "
        "`dask scheduler` (its `dask worker`s load the data themselves), or 'local' for a "
        "Dask LocalCluster of --workers single-thread processes on 127.0.0.1. Records equal the "
        "local run's; a lost worker's passes are rerun by Dask; the client caches every "
        "record. Needs pip install 'sgdlab[cluster]'. Default: local processes, no Dask",
    )
    p.add_argument(
        "--cache-dir",
        metavar="DIR",
        type=_cache_dir,
        default=None,
        help="where finished passes are cached (default $SGDLAB_EXPERIMENT_CACHE, else "
        "$SGDLAB_CACHE_DIR/experiments or ~/.cache/sgdlab/experiments)",
    )
    p.add_argument(
        "--plot",
        metavar="DIR",
        type=_plot_dir,
        default=None,
        help="write the study's figures into DIR (steps, examples, lr, noise, landscape, "
        "seconds; with --sweep the sweep's)",
    )
    p.add_argument(
        "--format",
        choices=("png", "svg", "pdf"),
        default="png",
        help="figure format for --plot: png, svg or pdf (default png)",
    )
    p.add_argument(
        "--no-noise",
        action="store_true",
        help="skip the exact noise scale along the reference trajectory (the slowest part "
        "after the passes)",
    )
    p.add_argument(
        "--escape-seeds",
        type=positive_int,
        default=None,
        metavar="N",
        help="seeds of the 2-D escape illustration (default 200; 50 with --quick)",
    )
    p.add_argument(
        "--config",
        metavar="FILE.toml",
        help="with --sweep: option values and a [sweep] table overriding the grid",
    )
    defer_defaults(p)
    p.set_defaults(run=run, parser=p)


def _cache_dir(text: str) -> str:
    p = Path(text)
    if p.exists() and not p.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} exists and is not a directory")
    return text


def _plot_dir(text: str) -> str:
    p = Path(text)
    if p.exists() and not p.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} exists and is not a directory")
    parent = p.parent if str(p.parent) else Path(".")
    if not p.exists() and not parent.is_dir():
        raise argparse.ArgumentTypeError(f"directory {str(parent)!r} does not exist")
    if not os.access(p if p.exists() else parent, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{text!r} is not writable")
    return text


def run(args: argparse.Namespace) -> int:
    from sgdlab.cli.configfile import resolve
    from sgdlab.cli.sweep import refuse_unused, run_sweep_cli
    from sgdlab.errors import ConfigError

    if args.sweep:
        return run_sweep_cli(args)
    refuse_unused(args)
    resolve(args.parser, args, None)
    if args.config:
        raise ConfigError("--config goes with --sweep (the study's protocol is fixed)")
    if args.scheduler is not None:
        from sgdlab.study.cluster import parse_scheduler

        args.scheduler = parse_scheduler(args.scheduler)
    from sgdlab.analysis.landscape import escape_study
    from sgdlab.study import StudySpec, run_study

    by = "--sample" if args.sample else "--quick"
    if args.quick and not args.data_dir:
        args.sample = True
    spec = StudySpec.quick() if args.quick else StudySpec.full()
    if args.seeds is not None or args.seed:
        n = args.seeds or len(spec.seeds)
        spec = type(spec)(**{**vars_of(spec), "seeds": tuple(range(args.seed, args.seed + n))})
    ds = load_data(args, sample_by=by)
    study = run_study(
        spec,
        data=ds,
        cache_dir=args.cache_dir,
        workers=args.workers,
        progress=not args.quiet,
        noise=not args.no_noise,
        scheduler=args.scheduler,
    )
    escape = escape_study(seeds=args.escape_seeds or (50 if args.quick else 200))
    doc = study.to_dict()
    doc["escape"] = escape.to_dict()
    doc["peak"] = _peak(study)
    if args.plot:
        from sgdlab.study.plots import plot_all

        doc["figures"] = [str(f) for f in plot_all(study, escape, args.plot, args.format)]
    if args.json:
        config = options(args, "seed", "quick", "sweep", "seeds", "no_noise", "escape_seeds")
        env = doc.pop("environment")
        del doc["schema"]  # the study's own version: the document has one, the command's
        emit_json("experiment", config=config, environment=env, result=doc)
        return 0
    from sgdlab.cli.sweep import format_escape
    from sgdlab.study.report import format_study

    print(f"data: {ds.source}{'  (SAMPLE, not the full set)' if ds.is_sample else ''}")
    print(format_study(doc))
    print()
    print(format_escape(escape))
    for f in doc.get("figures", []):
        print(f"saved {f} (figure)")
    return 0


def vars_of(spec) -> dict[str, Any]:
    from dataclasses import fields

    return {f.name: getattr(spec, f.name) for f in fields(spec)}


def _peak(study) -> dict[str, Any]:
    """The all-core sgemm peak and the study's aggregate training GFLOP/s against it (an SGD
    step of one model on b samples costs ≈ 4·7850·b FLOPs: logits and gradient)."""
    from sgdlab.measure.roofline import measure_peak

    peak = measure_peak()
    flops = 4 * 7850 * study.work["model_examples"]
    wall = study.work["passes_wall_seconds"]
    gflops = flops / wall / 1e9 if wall > 0 else None
    return {
        "sgemm_gflops": peak["sgemm_gflops"],
        "training_flops": flops,
        "passes_wall_seconds": wall,
        "aggregate_gflops": gflops,
        "fraction_of_peak": gflops / peak["sgemm_gflops"] if gflops else None,
    }
