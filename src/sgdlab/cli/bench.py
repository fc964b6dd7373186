"""``sgdlab bench``: exercise 4, one SGD iteration vs one full-GD iteration, timed properly."""

from __future__ import annotations

import argparse
import os
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
from sgdlab.measure.machine import BUSY


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
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sgdlab.errors import ConfigError
    from sgdlab.measure.bench import DEFAULT_BATCH_SIZES, benchmark

    if args.plot and not args.plot.lower().endswith((".png", ".svg", ".pdf")):
        raise ConfigError(f"--plot must end in .png, .svg or .pdf: {args.plot}")
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
        config["batch_sizes"] = result["config"]["batch_sizes"]
        emit_json("bench", config=config, environment=result["environment"], result=res)
    else:
        print(format_table(result))
    return 0


def format_table(result: dict[str, Any]) -> str:
    """The human-readable report: one table per engine, then the one-line explanation."""
    from sgdlab.formatting import fmt_seconds as f

    cfg, env, n = result["config"], result["environment"], result["n_train"]
    where = env["cpu_model"] if cfg["device"] == "cpu" else env["device_name"]
    src = result.get("data", {})
    lines = [
        f"data: {src.get('source', '?')}{'  (SAMPLE)' if src.get('is_sample') else ''}; "
        f"N = {n:,}; device {cfg['device']} ({where}); torch {env['torch_version']}, "
        f"threads: torch {env['torch_threads']}, numba {env['numba_threads'] or '-'}",
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
    head = (
        f"{'':4}{'b':>7} {'steps/ep':>9}  {'per iteration  [IQR]':<30}{'per sample':>11} "
        f"{'epoch est.':>11} {'epoch meas.':>12} {'GD/SGD':>9} {'N/b':>9} {'GFLOP/s':>8} "
        f"{'×roof':>6} {'ep×roof':>7}  regime"
    )
    for res in result["results"]:
        lines += [
            "",
            f"engine {res['engine']} on {res['device']} ({res['bench_seconds']:.1f} s to measure)",
            head,
        ]
        for r in res["sgd"]:
            it, ep = r["per_iteration"], r["epoch_measured"]
            iqr = f"{f(it['median'])}  [{f(it['q1'])}–{f(it['q3'])}]{'!' * it['noisy']}"
            lines.append(
                f"{'SGD':<4}{r['batch_size']:>7,} {r['steps_per_epoch']:>9,}  "
                f"{iqr:<30}{f(r['per_sample_seconds']):>11} {f(r['epoch_estimate_seconds']):>11} "
                f"{f(ep['median']) if ep else 'skipped':>12} "
                f"{r['ratio_gd_over_sgd_measured']:>9,.1f} {r['ratio_flops']:>9,.0f} "
                f"{_roof(r.get('vs_peak'), r.get('epoch_vs_peak'))}  "
                f"{r['regime']}" + (f" ({r['note']})" if r["note"] else "")
            )
        gd = res["gd"]["per_iteration"]
        iqr = f"{f(gd['median'])}  [{f(gd['q1'])}–{f(gd['q3'])}]{'!' * gd['noisy']}"
        lines.append(
            f"{'GD':<4}{n:>7,} {1:>9}  {iqr:<30}{f(res['gd']['per_sample_seconds']):>11} "
            f"{f(gd['median']):>11} {f(gd['median']):>12} {1:>9.1f} {1:>9} "
            f"{_roof(res['gd'].get('vs_peak'), res['gd'].get('vs_peak'))}"
        )
        lines.append(f"why GD/SGD ≠ N/b: {res['explanation']}")
        if any(r["per_iteration"]["noisy"] for r in res["sgd"]) or gd["noisy"]:
            lines.append("! IQR > 10% of the median: the machine was busy; rerun when quiet")
    share = env.get("machine_load", {}).get("other_cpu_share")
    if share is not None and share > BUSY:
        lines.append(
            f"WARNING: other processes used {share:.0%} of the CPUs during the run: "
            "these timings are contaminated; rerun on a quiet machine"
        )
    for name, why in result["skipped_engines"].items():
        lines.append(f"engine {name} skipped: {why}")
    if "plot" in result:
        lines.append(f"\nsaved {result['plot']} (timing figure)")
    return "\n".join(lines)


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
