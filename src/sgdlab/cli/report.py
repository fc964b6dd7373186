"""``sgdlab report``: every exercise's answer on one self-contained HTML page."""

from __future__ import annotations

import argparse
import sys
import time

from sgdlab.cli.common import emit_json, load_data, options, writable_file


def register(sub, parents) -> None:
    p = sub.add_parser(
        "report",
        parents=parents,
        help="all five exercises on one HTML page (offline)",
        description="Compute the answers to exercises 1-5 with the library and write them to "
        "one self-contained HTML page: the minibatch grid (1), one SGD and one GD iteration with "
        "costs and gradient norms (2-3), the timing table and plot of 'sgdlab bench' (4), the "
        "likelihood figures and the minibatch-estimator plot (5), the batch-size study of "
        "'sgdlab experiment' (steps and examples to target, B_crit, the verdict; its cached "
        "passes are reused), and the environment "
        "(versions, CPU/GPU, data "
        "hashes, git commit). Plots are embedded in the file: it opens offline. Each section "
        "is cached (keyed by data hashes, sgdlab version and options), so a second report, in "
        "either language, recomputes nothing, and Ctrl-C keeps the sections already done. "
        "Examples: 'sgdlab report --quick' (bundled sample, under a minute); 'sgdlab report "
        "--lang he --output report.he.html' (full data, in Hebrew, right to left).",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="the bundled sample, the bench's quick mode, 200 Monte Carlo draws and "
        "the quick batch-size study (implies --sample)",
    )
    p.add_argument(
        "--output",
        "-o",
        metavar="HTML",
        default="report.html",
        type=lambda t: writable_file(t, (".html", ".htm")),
        help="where to write the page (default report.html)",
    )
    p.add_argument(
        "--lang",
        choices=("en", "he"),
        default="en",
        help="en (default) or he: Hebrew, right to left, with the chapter's terms",
    )
    p.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="where sections are cached (default $SGDLAB_CACHE_DIR/report or "
        "~/.cache/sgdlab/report); with it, the study's passes go to DIR/experiments "
        "instead of sgdlab experiment's own cache",
    )
    c = p.add_mutually_exclusive_group()
    c.add_argument(
        "--fresh",
        action="store_true",
        help="recompute every section and overwrite its cache entry (the study's "
        "finished passes are still reused)",
    )
    c.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sgdlab.errors import ConfigError
    from sgdlab.report.build import write_report

    if args.no_cache and args.cache_dir:
        raise ConfigError("--cache-dir has no effect with --no-cache; drop one of them")
    by = "--sample" if args.sample else "--quick"
    args.sample = args.sample or args.quick
    ds = load_data(args, sample_by=by)
    t0 = time.perf_counter()
    rep = write_report(
        args.output,
        ds,
        quick=args.quick,
        lang=args.lang,
        seed=args.seed,
        cache_dir=args.cache_dir,
        use_cache=not args.no_cache,
        fresh=args.fresh,
        progress=not args.quiet,
    )
    seconds = time.perf_counter() - t0
    size = rep.path.stat().st_size
    if args.json:
        from sgdlab.measure.provenance import environment

        result = {
            "output": str(rep.path),
            "bytes": size,
            "seconds": seconds,
            "sections": rep.sections,
            "data": ds.provenance(),
        }
        config = options(args, "seed", "quick", "lang")
        emit_json("report", config=config, environment=environment("cpu"), result=result)
        return 0
    for name, info in rep.sections.items():
        how = "from cache" if info["cached"] else f"computed in {info['seconds']:.1f} s"
        print(f"  {name:<12} {how}", file=sys.stderr)
    print(f"saved {rep.path} (the report, {size / 1e6:.2f} MB, {args.lang}; {seconds:.1f} s)")
    return 0
