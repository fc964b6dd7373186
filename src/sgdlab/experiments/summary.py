"""From run records to the lr rule, the table and the verdict: pure functions on JSON dicts.

A *record* is what :func:`.run.run_one` returns (``spec``, ``curve``, ``diverged`` ...). Nothing
here trains or reads files, so every rule can be tested on synthetic records.

- :func:`choose_lr`: for each batch size, the lr whose runs have the lowest mean validation
  cost at the end of the budget (a lr with any diverged seed is not eligible);
- :func:`aggregate`: mean, min and max over seeds at each evaluation point;
- :func:`table`: one row per batch size (after 1 epoch, after the budget, time to targets);
- :func:`.verdict.verdict` turns the rows into text.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from typing import Any

from sgdlab.experiments.spec import batch_label

#: The clock of every time figure: CPU seconds of the single training thread (see :mod:`.run`).
TIME = "train_cpu_seconds"


def by_batch_lr(records: list[dict[str, Any]]) -> dict[str, dict[float, list[dict[str, Any]]]]:
    """Curve records grouped: batch label -> lr -> records (one per seed)."""
    out: dict[str, dict[float, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        if r["spec"].get("kind", "curve") == "curve":
            out[batch_label(r["spec"]["batch_size"])][r["spec"]["lr"]].append(r)
    return out


def final_val_cost(runs: list[dict[str, Any]]) -> float:
    """Mean over seeds of the last validation cost; inf when any seed diverged."""
    if not runs or any(r["diverged"] for r in runs):
        return math.inf
    return statistics.fmean(r["curve"][-1]["val_cost"] for r in runs)


def choose_lr(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """batch label -> {"lr", "val_cost", "at_edge", "grid": {lr: mean final val cost}}.

    ``lr`` is None when every lr diverged. ``at_edge``: the best lr is the smallest or largest
    of a grid of more than one point, so a better one may lie outside the grid."""
    out = {}
    for b, per_lr in by_batch_lr(records).items():
        grid = {lr: final_val_cost(runs) for lr, runs in sorted(per_lr.items())}
        lrs = list(grid)
        best = min(lrs, key=lambda lr: grid[lr])
        ok = math.isfinite(grid[best])
        out[b] = {
            "lr": best if ok else None,
            "val_cost": grid[best] if ok else None,
            "at_edge": ok and len(lrs) > 1 and best in (lrs[0], lrs[-1]),
            "grid": {str(lr): (v if math.isfinite(v) else None) for lr, v in grid.items()},
            "diverged_lrs": [lr for lr, runs in per_lr.items() if any(r["diverged"] for r in runs)],
        }
    return out


def aggregate(runs: list[dict[str, Any]], field: str) -> dict[str, list[float]]:
    """Mean/min/max of ``field`` over seeds at each evaluation point (finished runs only), with
    the mean ``epoch`` and training seconds (:data:`TIME`) there. Lists of equal length."""
    runs = [r for r in runs if not r["diverged"]]
    out: dict[str, list[float]] = {k: [] for k in ("epoch", "seconds", "mean", "min", "max")}
    if not runs:
        return out
    for i in range(min(len(r["curve"]) for r in runs)):
        vals = [r["curve"][i][field] for r in runs]
        out["epoch"].append(statistics.fmean(r["curve"][i]["epoch"] for r in runs))
        out["seconds"].append(statistics.fmean(r["curve"][i][TIME] for r in runs))
        out["mean"].append(statistics.fmean(vals))
        out["min"].append(min(vals))
        out["max"].append(max(vals))
    return out


def at_epoch(run: dict[str, Any], epoch: float) -> dict[str, Any] | None:
    """The evaluation point at ``epoch`` (exactly, to 1e-9), or None."""
    for p in run["curve"]:
        if abs(p["epoch"] - epoch) < 1e-9:
            return p
    return None


def time_to(run: dict[str, Any], target: float) -> float | None:
    """Training seconds at the first evaluation point with validation accuracy ≥ ``target``."""
    for p in run["curve"]:
        if p["val_accuracy"] >= target:
            return p[TIME]
    return None


def cost_at_time(run: dict[str, Any], seconds: float) -> float | None:
    """Train cost C at the last evaluation point reached within ``seconds`` of training."""
    before = [p for p in run["curve"] if p[TIME] <= seconds]
    return before[-1]["train_cost"] if before else None


def _stats(vals: list[float | None]) -> dict[str, Any]:
    got = [v for v in vals if v is not None]
    if not got:
        return {"mean": None, "min": None, "max": None, "n": 0}
    return {"mean": statistics.fmean(got), "min": min(got), "max": max(got), "n": len(got)}


def table(
    records: list[dict[str, Any]],
    *,
    targets: tuple[float, ...] = (0.83, 0.84),
    chosen: dict[str, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """One row per batch size (grid order: SGD by b, then full GD), at its chosen lr.

    Figures are over the seeds of the chosen lr: ``{"mean","min","max","n"}``. ``resolution_s``
    is the median training time between evaluation points (the time-to-target resolution).
    A common time ``T`` (the shortest total training time of any batch size) gives
    ``cost_at_common_time``: C at the last point within T."""
    chosen = chosen if chosen is not None else choose_lr(records)
    groups = by_batch_lr(records)
    rows = []
    for b in sorted(groups, key=lambda k: (k == "full", int(k) if k != "full" else 0)):
        lr = chosen[b]["lr"]
        if lr is None:
            rows.append({"batch_size": b, "lr": None, "all_diverged": True})
            continue
        runs = groups[b][lr]
        r0 = runs[0]
        gaps = [
            q[TIME] - p[TIME]
            for r in runs
            for p, q in zip(r["curve"], r["curve"][1:], strict=False)
        ]
        epochs = r0["spec"]["epochs"]
        row = {
            "batch_size": b,
            "lr": lr,
            "lr_at_edge": chosen[b]["at_edge"],
            "seeds": [r["spec"]["seed"] for r in runs],
            "steps_per_epoch": r0["steps_per_epoch"],
            "epochs": epochs,
            "evals": len(r0["curve"]) - 1,
            "seconds_per_epoch": _stats([r["curve"][-1][TIME] / epochs for r in runs]),
            "resolution_s": statistics.median(gaps) if gaps else None,
        }
        for name, ep in (("epoch1", 1.0), ("final", float(epochs))):
            pts = [at_epoch(r, ep) for r in runs]
            row[name] = {
                f: _stats([p[f] if p else None for p in pts])
                for f in ("train_cost", "val_cost", "val_accuracy")
            }
        row["time_to"] = {f"{t:g}": _stats([time_to(r, t) for r in runs]) for t in targets}
        row["test_accuracy"] = _stats([r["test_accuracy"] for r in runs])
        row["_runs"] = runs
        rows.append(row)
    ok = [r for r in rows if not r.get("all_diverged")]
    if ok:
        common_t = min(r["seconds_per_epoch"]["min"] * r["epochs"] for r in ok)
        common_e = min(r["epochs"] for r in ok)
        for r in ok:
            r["common_time_s"], r["common_epochs"] = common_t, common_e
            r["cost_at_common_time"] = _stats([cost_at_time(x, common_t) for x in r["_runs"]])
            pts = [at_epoch(x, float(common_e)) for x in r["_runs"]]
            r["cost_at_common_epochs"] = _stats([p["train_cost"] if p else None for p in pts])
    for r in rows:
        r.pop("_runs", None)
    return rows
