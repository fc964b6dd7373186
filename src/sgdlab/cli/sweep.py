"""``sgdlab experiment --sweep``: the old fixed-budget sweep (b = 1, 16, 128, 1024, full; one lr per
b chosen for the validation cost at the end of a fixed epoch budget), its table and its
description. Its verdict is printed as a description of that protocol, not as a finding: the
batch-size study (the command's default) answers the question."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sgdlab.cli.common import emit_json, load_data, options
from sgdlab.cli.configfile import load_toml, resolve, values


def _settings(args: argparse.Namespace):
    """Resolve options (command line > --config file > defaults) and build the SweepSpec."""
    from sgdlab.experiments import SweepSpec

    table = load_toml(args.config) if args.config else {}
    sweep_table = table.pop("sweep", {})
    for dest, v in values(args.parser, table, where=f"--config {args.config}").items():
        if getattr(args, dest) is None:
            setattr(args, dest, v)
    refuse_unused(args)
    resolve(args.parser, args, None)
    if not isinstance(sweep_table, dict):
        from sgdlab.errors import ConfigError

        raise ConfigError(f"--config {args.config}: 'sweep' must be a table")
    spec = SweepSpec.from_dict(sweep_table, base="quick" if args.quick else "full")
    if args.seeds is not None or "seeds" not in sweep_table:
        n = args.seeds or len(spec.seeds)
        spec = SweepSpec.from_dict(
            {**sweep_table, "seeds": range(args.seed, args.seed + n)},
            base="quick" if args.quick else "full",
        )
    return spec


#: options of the batch-size study that the fixed-budget sweep has no use for: dest -> why
_NOT_FOR_SWEEP = {
    "scheduler": "--scheduler runs the study's passes; --sweep runs in local processes",
    "no_noise": "--no-noise has no effect with --sweep (it skips the study's noise scale; the "
    "sweep always measures its noise); drop --no-noise",
}


def refuse_unused(args: argparse.Namespace) -> None:
    """Refuse an option that ``sgdlab experiment`` would ignore (before defaults are filled in:
    ``None`` = not given): ``--format`` without ``--plot``, study options with ``--sweep``."""
    from sgdlab.errors import ConfigError

    if args.format is not None and args.plot is None:
        raise ConfigError("--format has no effect without --plot DIR; drop it, or add --plot")
    for dest, why in _NOT_FOR_SWEEP.items() if args.sweep else ():
        if getattr(args, dest) is not None:
            raise ConfigError(why)


def run_sweep_cli(args: argparse.Namespace) -> int:
    from sgdlab.analysis.landscape import escape_study
    from sgdlab.experiments import LR_RULE, run_sweep

    spec = _settings(args)
    ds = load_data(args)
    sweep = run_sweep(
        spec, data=ds, cache_dir=args.cache_dir, workers=args.workers, progress=not args.quiet
    )
    study = escape_study(seeds=args.escape_seeds or (50 if args.quick else 200))
    doc = sweep.to_dict()
    doc["escape"] = study.to_dict()
    if args.plot:
        doc["figures"] = plots(sweep, study, args.plot, args.format)
    if args.json:
        config = options(args, "seed", "quick", "sweep", "seeds", "escape_seeds", "config")
        env = doc.pop("environment")
        del doc["schema"]  # the sweep's own version: the document has one, the command's
        emit_json("experiment", config=config, environment=env, result=doc)
        return 0
    print(f"data: {ds.source}{'  (SAMPLE, not the full set)' if ds.is_sample else ''}")
    print(describe(spec, LR_RULE))
    print()
    print(format_table(doc["table"]))
    print()
    print(
        "What this fixed-budget protocol shows (a description of the protocol, not a finding: "
        "each b keeps the one lr chosen for the validation cost at the end of its budget, and "
        "an lr at the edge of its grid, marked *, was not tuned; the batch-size study, "
        "'sgdlab experiment' without --sweep, answers the question):"
    )
    print(doc["verdict"])
    print()
    print(format_escape(study))
    print(
        f"\n{len(sweep.runs) + len(sweep.noise)} runs ({sweep.trained} trained now, the rest "
        f"from the cache {sweep.cache_dir}) in {sweep.wall_seconds:.0f} s wall with "
        f"{sweep.workers} worker(s)"
    )
    for f in doc.get("figures", []):
        print(f"saved {f} (figure)")
    return 0


def plots(sweep, study, directory: str, fmt: str) -> list[str]:
    from sgdlab.experiments import plots as ep

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    return [
        str(ep.plot_curves(sweep, d / f"experiment-curves.{fmt}")),
        str(ep.plot_lr(sweep, d / f"experiment-lr.{fmt}")),
        str(ep.plot_noise(sweep, d / f"experiment-noise.{fmt}")),
        str(ep.plot_escape(study, d / f"experiment-escape.{fmt}")),
    ]


def describe(spec, rule: str) -> str:
    lines = [
        f"grid ({spec.name}): seeds {list(spec.seeds)}, {spec.validation} validation images "
        f"(split seed {spec.validation_seed}), {spec.evals_per_epoch} evaluations per SGD "
        f"epoch, every {spec.gd_eval_every} steps for full GD"
    ]
    for b in spec.batch_sizes:
        k = str(b)
        lrs = ", ".join(f"{x:g}" for x in spec.lr_grids[k])
        lines.append(f"  b={k:>5}: {spec.epochs[k]:>4} epochs, lr in {{{lrs}}}")
    lines.append(f"lr rule: {rule}")
    return "\n".join(lines)


def _m(s: dict[str, Any], f: str) -> str:
    return "—" if s["mean"] is None else format(s["mean"], f)


def format_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(no runs)"
    targets = (
        list(next(r for r in rows if "time_to" in r)["time_to"])
        if any("time_to" in r for r in rows)
        else []
    )
    head = (
        f"{'b':>5} {'steps/ep':>8} {'lr':>8} {'C@1ep':>7} {'acc@1ep':>7} {'epochs':>6} "
        f"{'C@end':>7} {'acc@end':>7} {'s/epoch':>8}"
        + "".join(f" {'s→' + format(float(t), '.0%'):>10}" for t in targets)
        + f" {'resol. s':>8}"
    )
    out = [head]
    for r in rows:
        if r.get("all_diverged"):
            out.append(f"{r['batch_size']:>5}  every lr diverged")
            continue
        lr = f"{r['lr']:g}" + ("*" if r["lr_at_edge"] else "")
        line = (
            f"{r['batch_size']:>5} {r['steps_per_epoch']:>8} {lr:>8} "
            f"{_m(r['epoch1']['train_cost'], '.4f'):>7} "
            f"{_m(r['epoch1']['val_accuracy'], '.2%'):>7} {r['epochs']:>6} "
            f"{_m(r['final']['train_cost'], '.4f'):>7} "
            f"{_m(r['final']['val_accuracy'], '.2%'):>7} "
            f"{_m(r['seconds_per_epoch'], '.4f'):>8}"
        )
        for t in targets:
            s = r["time_to"][t]
            cell = "—" if s["n"] == 0 else f"{s['mean']:.3g}"
            if 0 < s["n"] < len(r["seeds"]):
                cell += f" ({s['n']}/{len(r['seeds'])})"
            line += f" {cell:>10}"
        out.append(line + f" {r['resolution_s'] or 0:>8.2g}")
    out.append(
        "Means over seeds at the chosen lr (* = at the edge of its grid). C = exact train "
        "cost; acc = validation accuracy; s = training CPU seconds; s→X = time at the "
        "first evaluation point with validation accuracy ≥ X (all seeds, else how many "
        "reached it); resol. s = median time between evaluation points."
    )
    return "\n".join(out)


def format_escape(study) -> str:
    c = study.config
    xs = study.critical_xs
    parts = ", ".join(f"b={b}: {f:.0%}" for b, f in study.escape.items())
    return (
        f"Escape illustration (2-D non-convex cost, sgdlab.analysis.landscape): "
        f"from {tuple(c['start'])}"
        f" with lr {c['lr']:g} for {c['steps']} steps then {c['anneal']} annealed steps, GD "
        f"stops at x={study.gd_final[0]:.3f} (local minimum; global at x={xs[0]:.3f}, saddle "
        f"at x={xs[1]:.3f}). Fraction of {len(c['seeds'])} seeds ending in the global "
        f"minimum: {parts}."
    )
