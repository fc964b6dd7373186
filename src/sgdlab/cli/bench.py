"""``sgdlab bench``: exercise 4, one SGD iteration vs one full-GD iteration, timed properly."""

from __future__ import annotations

import argparse
import os
import textwrap
from pathlib import Path
from typing import Any

from sgdlab.cli.common import (
    batch_sizes,
    emit_json,
    load_data,
    options,
    positive_float,
    positive_int,
)
from sgdlab.formatting import fmt_seconds as f


def register(sub, parents) -> None:
    p = sub.add_parser(
        "bench",
        parents=parents,
        help="exercise 4: time SGD(b) vs full-GD iterations",
        description="Time one iteration (forward + backward + update) of minibatch SGD at each "
        "batch size and of full-gradient descent, per available engine: warm-up, many timed "
        "blocks (median and interquartile range), device synchronization around every timing, "
        "nothing else inside the timer. Reports per iteration, per sample and per epoch "
        "(estimated and measured) and the measured GD/SGD(b) time ratio next to the FLOP ratio "
        "N/b, and every figure against the machine's limit measured in the same run (sgemm "
        "GFLOP/s of torch.mm on all threads and on one, copy bandwidth): achieved GFLOP/s and "
        "measured / roofline time (×roof).",
    )
    p.add_argument(
        "--engine",
        default="all",
        help="all (every available engine, default), a name, or names a,b",
    )
    p.add_argument(
        "--device",
        default="auto",
        help="cpu, cuda, cuda:N or auto (cuda when there is one; default auto, as in train)",
    )
    p.add_argument(
        "--batch-sizes",
        type=batch_sizes,
        default=None,
        metavar="B1,B2,...",
        help="batch sizes to time (default 1,16,64,256,1024,4096)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="few short repeats and no long real epochs: finishes in seconds",
    )
    p.add_argument(
        "--repeats",
        type=positive_int,
        default=None,
        help="timed blocks per figure (default 25; 5 with --quick)",
    )
    p.add_argument(
        "--lr",
        type=positive_float,
        default=1e-3,
        help="step size of the timed steps (small, default 0.001)",
    )
    p.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="torch (and numba) threads for the run (default: as configured)",
    )
    p.add_argument("--plot", metavar="PNG", help="save time per iteration/epoch vs batch size")
    p.add_argument(
        "--verbose",
        action="store_true",
        help="the long form: every figure (per sample, estimated and measured epochs, quartiles, "
        "GFLOP/s and ×roof against the machine's measured peak) and the overhead fit's "
        "explanation, in lines wider than 100 columns (default: a summary that fits 100)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sgdlab.errors import ConfigError
    from sgdlab.measure.bench import DEFAULT_BATCH_SIZES, benchmark

    if args.plot and not args.plot.lower().endswith((".png", ".svg", ".pdf")):
        raise ConfigError(f"--plot must end in .png, .svg or .pdf: {args.plot}")
    if args.verbose and args.json:
        raise ConfigError("--verbose has no effect with --json (the JSON carries every figure)")
    ds = load_data(args)
    result = benchmark(
        ds,
        engine=args.engine,
        device=args.device,
        batch_sizes=args.batch_sizes or DEFAULT_BATCH_SIZES,
        quick=args.quick,
        repeats=args.repeats,
        lr=args.lr,
        seed=args.seed,
        threads=args.threads,
        progress=not args.quiet,
    )
    if args.plot:
        result["plot"] = str(plot(result, args.plot))
    if args.json:  # the library's document as the result; its config: the timing protocol
        res = {k: v for k, v in result.items() if k not in ("schema", "config", "environment")}
        res["protocol"] = result["config"]  # resolved: engines, repeats, block and epoch budgets
        config = options(args, "seed", "engine", "device", "quick", "repeats", "lr", "threads")
        config["batch_sizes"] = result["config"]["batch_sizes_requested"]
        emit_json("bench", config=config, environment=result["environment"], result=res)
    else:
        print(format_table(result, verbose=args.verbose))
    return 0


def format_table(result: dict[str, Any], *, verbose: bool = False) -> str:
    """The human-readable report: one table per engine, the notes, then exercise 4's answer.

    Default: every line fits in :data:`WIDTH` columns. ``verbose``: the long form (every figure:
    per sample, estimated and measured epochs, the roofline, the fit's explanation), wider.
    Under foreign load the regime labels and the fit's explanation are withheld (the result
    holds None for them) and the warning says how to rerun.
    """
    cfg, env, n = result["config"], result["environment"], result["n_train"]
    where = env["cpu_model"] if cfg["device"] == "cpu" else env["device_name"]
    src = result.get("data", {})
    lines = _wrap(
        f"data: {src.get('source', '?')}{'  (SAMPLE)' if src.get('is_sample') else ''}; "
        f"N = {n:,}; device {cfg['device']} ({where}); torch {env['torch_version']}, "
        f"threads: torch {env['torch_threads']}, numba {env['numba_threads'] or '-'}"
    )
    lines += (_long_header if verbose else _short_header)(result)
    dropped = result.get("dropped_batch_sizes") or []
    if dropped:
        lines += _wrap(
            f"dropped b = {', '.join(f'{b:,}' for b in dropped)}: larger than N = {n:,} "
            "(a minibatch cannot exceed the training set)"
        )
    for res in result["results"]:
        lines += [
            "",
            f"engine {res['engine']} on {res['device']} ({res['bench_seconds']:.1f} s to measure)",
            *(_long_rows if verbose else _short_rows)(res, n),
        ]
        if verbose:
            why = res["explanation"] or "withheld (foreign load: see the warning below)"
            lines.append(f"why GD/SGD ≠ N/b: {why}")
    rows = [r["per_iteration"] for res in result["results"] for r in res["sgd"]]
    rows += [res["gd"]["per_iteration"] for res in result["results"]]
    if any(it["noisy"] for it in rows):
        lines.append(
            "! IQR > 10% of the median: a noisy figure (often a busy machine); rerun when quiet"
        )
    lines += _load_warning(result)
    for name, why in result["skipped_engines"].items():
        lines += _wrap(f"engine {name} skipped: {why}")
    if "plot" in result:
        lines += ["", *_wrap(f"saved {result['plot']} (timing figure)")]
    if result.get("exercise4"):
        lines += ["", *_wrap(result["exercise4"]["answer"])]
    return "\n".join(lines)


WIDTH = 100  # columns of the default output


def _wrap(text: str) -> list[str]:
    """``text`` in lines of at most :data:`WIDTH` columns, continued with an indent of 2."""
    return textwrap.wrap(text, WIDTH, subsequent_indent="  ", break_on_hyphens=False) or [""]


def _short_header(result: dict[str, Any]) -> list[str]:
    cfg = result["config"]
    return _wrap(
        f"{cfg['mode']} mode: medians of {cfg['repeats']} timed blocks of ≥ "
        f"{f(cfg['min_block_seconds'])} after {f(cfg['warmup_seconds'])} warm-up (never a cold "
        "run); IQR: interquartile range / median; per epoch: measured, ~ estimated as "
        "steps × per iteration; --verbose: every figure, the roofline and the fit"
    )


def _short_rows(res: dict[str, Any], n: int) -> list[str]:
    """Every row of one engine in at most 89 columns (the regime only when not withheld)."""
    from sgdlab.measure.stats import count

    head = (
        f"{'':3} {'b':>7} {'steps/ep':>8} {'per iter.':>9} {'IQR':>5} {'per epoch':>9} "
        f"{'GD/SGD':>8} {'N/b':>8}" + ("  regime" if res["explanation"] is not None else "")
    )
    out = [head]
    for r in res["sgd"]:
        it, ep = r["per_iteration"], r["epoch_measured"]
        epoch = f(ep["median"]) if ep else "~" + f(r["epoch_estimate_seconds"])
        out.append(
            f"{'SGD':3} {r['batch_size']:>7,} {r['steps_per_epoch']:>8,} {f(it['median']):>9} "
            f"{_spread(it):>5} {epoch:>9} {count(r['ratio_gd_over_sgd_measured'], 3):>8} "
            f"{count(r['ratio_flops'], 3):>8}  {r['regime'] or ''}".rstrip()
        )
    gd = res["gd"]["per_iteration"]
    out.append(
        f"{'GD':3} {n:>7,} {1:>8} {f(gd['median']):>9} {_spread(gd):>5} {f(gd['median']):>9} "
        f"{1:>8} {1:>8}"
    )
    return out


def _spread(it: dict[str, Any]) -> str:
    """The interquartile range as a share of the median, "!" when over 10% (noisy)."""
    return f"{it['iqr'] / it['median']:.0%}" + "!" * it["noisy"]


def _long_header(result: dict[str, Any]) -> list[str]:
    cfg = result["config"]
    lines = [
        f"{cfg['mode']} mode: median [IQR] of {cfg['repeats']} timed blocks of ≥ "
        f"{f(cfg['min_block_seconds'])} after {f(cfg['warmup_seconds'])} warm-up; "
        f"real epochs: ≤ {cfg['epoch_repeats']} per b in {cfg['epoch_budget_seconds']:g} s; "
        f"lr {cfg['lr']:g}; evaluation outside timers",
    ]
    pk = result.get("peak")
    if pk:
        one = pk["sgemm_gflops_1thread"]
        lines.append(
            f"peak (this run, best of {pk['repeats']}): sgemm torch.mm {pk['sgemm_size']}² "
            f"{pk['sgemm_gflops']:.1f} GFLOP/s on {pk['threads'] or 'the device'} thread(s)"
            + (f", {one:.1f} on 1" if one else "")
            + f"; copy {pk['bandwidth_gbs']:.1f} GB/s; ×roof = measured / max(FLOPs/peak, "
            "bytes/bandwidth), model in sgdlab.measure.roofline"
        )
    return lines


def _long_rows(res: dict[str, Any], n: int) -> list[str]:
    """Every figure of one engine, one row per b and one for GD (wider than 100 columns)."""
    head = (
        f"{'':4}{'b':>7} {'steps/ep':>9}  {'per iteration  [IQR]':<30}{'per sample':>11} "
        f"{'epoch est.':>11} {'epoch meas.':>12} {'GD/SGD':>9} {'N/b':>9} {'GFLOP/s':>8} "
        f"{'×roof':>6} {'ep×roof':>7}  regime"
    )
    out = [head]
    for r in res["sgd"]:
        it, ep = r["per_iteration"], r["epoch_measured"]
        iqr = f"{f(it['median'])}  [{f(it['q1'])}–{f(it['q3'])}]{'!' * it['noisy']}"
        out.append(
            f"{'SGD':<4}{r['batch_size']:>7,} {r['steps_per_epoch']:>9,}  "
            f"{iqr:<30}{f(r['per_sample_seconds']):>11} {f(r['epoch_estimate_seconds']):>11} "
            f"{f(ep['median']) if ep else 'skipped':>12} "
            f"{r['ratio_gd_over_sgd_measured']:>9,.1f} {r['ratio_flops']:>9,.0f} "
            f"{_roof(r.get('vs_peak'), r.get('epoch_vs_peak'))}  "
            f"{r['regime'] or '–'}" + (f" ({r['note']})" if r["note"] else "")
        )
    gd = res["gd"]["per_iteration"]
    iqr = f"{f(gd['median'])}  [{f(gd['q1'])}–{f(gd['q3'])}]{'!' * gd['noisy']}"
    out.append(
        f"{'GD':<4}{n:>7,} {1:>9}  {iqr:<30}{f(res['gd']['per_sample_seconds']):>11} "
        f"{f(gd['median']):>11} {f(gd['median']):>12} {1:>9.1f} {1:>9} "
        f"{_roof(res['gd'].get('vs_peak'), res['gd'].get('vs_peak'))}"
    )
    return out


def _load_warning(result: dict[str, Any]) -> list[str]:
    """The foreign-load warning: what was withheld and how to rerun (none on a quiet run)."""
    info = result.get("interpretation") or {}
    if not info.get("withheld"):
        return []
    env = result["environment"]
    one = env["torch_threads"] == 1 and (env.get("numba_threads") or 1) == 1
    how = "rerun on a quiet machine" if one else "rerun with --threads 1 on a quiet machine"
    return _wrap(
        f"WARNING: {info['reason']}. The fitted explanation and the regime labels are withheld; "
        f"{how}."
    )


def _roof(it: dict[str, Any] | None, epoch: dict[str, Any] | None) -> str:
    """GFLOP/s and measured/roofline of an iteration, and measured/roofline of an epoch."""
    if it is None:
        return f"{'-':>8} {'-':>6} {'-':>7}"
    ep = f"{epoch['over_roofline']:.2f}" if epoch else "-"
    return f"{it['gflops']:>8.1f} {it['over_roofline']:>6.2f} {ep:>7}"


def plot(result: dict[str, Any], path: str | os.PathLike) -> Path:
    """Time per iteration and per epoch vs batch size; see :func:`sgdlab.plots.bench_figure`."""
    from sgdlab.plots import bench_figure

    return bench_figure(result, path)
