"""The figures ``sgdlab bench`` derives from its timings (:mod:`sgdlab.measure.bench`): a
figure's median and spread, the fit t(b) ≈ overhead + b·(seconds per sample) of the SGD
medians, what sets each measured GD/SGD(b) ratio, and seconds written with a unit."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sgdlab.formatting import fmt_seconds
from sgdlab.measure.machine import BUSY, foreign_load

NOISY = 0.10  # a figure whose IQR exceeds 10% of its median is flagged "noisy"


def stats(raw: list[float], k: int) -> dict[str, Any]:
    """Median, quartiles and IQR of ``raw`` (seconds per iteration), with the raw figures."""
    a = np.asarray(raw, dtype=np.float64)
    q1, med, q3 = (float(v) for v in np.percentile(a, [25, 50, 75]))
    return {
        "median": med,
        "q1": q1,
        "q3": q3,
        "iqr": q3 - q1,
        "min": float(a.min()),
        "max": float(a.max()),
        "mean": float(a.mean()),
        "repeats": len(raw),
        "block_steps": k,
        "noisy": bool(q3 - q1 > NOISY * med),
        "raw": [float(v) for v in a],
    }


def overhead_fit(rows: list[dict[str, Any]]) -> dict[str, float] | None:
    """Fit t(b) = overhead + b·per_sample to the SGD medians (relative least squares, both ≥ 0).

    Returns ``overhead_seconds`` (per step) and ``seconds_per_sample``, or None with fewer than
    two distinct batch sizes.
    """
    pts = {r["effective_batch_size"]: r["per_iteration"]["median"] for r in rows}
    if len(pts) < 2:
        return None
    b = np.array(list(pts), dtype=np.float64)
    t = np.array(list(pts.values()), dtype=np.float64)
    a = np.stack([1 / t, b / t], 1)  # rows scaled by 1/t: relative residuals
    coef = np.linalg.lstsq(a, np.ones_like(t), rcond=None)[0]
    if coef.min() < 0:  # clamp the negative term to 0 and refit the other one alone
        j = int(np.argmax(coef))
        coef = np.zeros(2)
        coef[j] = float(a[:, j] @ np.ones_like(t) / (a[:, j] @ a[:, j]))
    return {"overhead_seconds": float(coef[0]), "seconds_per_sample": float(coef[1])}


def regime(row: dict[str, Any], fit: dict[str, float] | None) -> str:
    """What sets the measured GD/SGD(b) ratio q against the FLOP ratio N/b, for one row.

    ``per-step overhead`` (the fitted fixed cost is ≥ 25% of the step), else by q/(N/b):
    ``SGD costlier per sample`` (< 0.8: e.g. gathering b random rows, which GD streams),
    ``GD costlier per sample`` (> 1.25: e.g. the full set does not fit in cache), ``≈ N/b``.
    """
    if fit and fit["overhead_seconds"] >= 0.25 * row["per_iteration"]["median"]:
        return "per-step overhead"
    q = row["measured_over_flops"]
    if q < 0.8:
        return "SGD costlier per sample"
    return "GD costlier per sample" if q > 1.25 else "≈ N/b (compute)"


def explain(fit: dict[str, float] | None, n: int, gd_per_sample: float) -> str:
    """One line: why measured GD/SGD(b) differs from N/b (mostly the per-step overhead)."""
    if fit is None:
        return "one batch size only: no overhead fit"
    t0, c = fit["overhead_seconds"], fit["seconds_per_sample"]
    cross = f"b ≈ {t0 / c:,.0f}" if c > 0 else "every b"
    line = (
        f"each step pays ≈{fmt_seconds(t0)} of fixed overhead (Python, dispatch, autograd, "
        f"launches) besides ≈{fmt_seconds(c)} per sample; GD pays it once per {n:,} "
        f"samples, SGD(b) once per b: it equals the per-sample work at {cross}, and below "
        "that the measured GD/SGD ratio falls well short of N/b"
    )
    if c > 1.25 * gd_per_sample:
        line += (
            f"; at large b a per-sample gap remains (SGD ≈{fmt_seconds(c)} vs GD "
            f"≈{fmt_seconds(gd_per_sample)} per sample: a step gathers b random rows, "
            "GD streams the set)"
        )
    return line


def exercise4(
    res: dict[str, Any], *, batch_size: int = 16, withheld: str | None = None
) -> dict[str, Any]:
    """Exercise 4's answer from one engine's result (an item of the ``results`` of
    :func:`sgdlab.measure.bench.benchmark`): one GD iteration costs how many SGD iterations at
    b = ``batch_size`` (the measured b nearest to it on a log scale), and why.

    Both times are medians of warmed, repeated blocks (never a cold single run); the ratio is
    theirs. ``because`` is derived from the same figures: an SGD step's seconds per sample
    against GD's (their ratio is exactly measured ratio / (N/b)) and the share of the step that
    the fit t(b) ≈ overhead + b·(seconds per sample) puts in fixed per-step overhead.
    ``withheld``: why no explanation may be drawn (foreign load), or None; then ``because`` is
    None and ``answer`` says it is withheld. Times in seconds; ``overhead_share`` in 0..1 (None
    without a fit).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer ≥ 1, got {batch_size!r}")
    if withheld is not None and not isinstance(withheld, str):
        raise ValueError(f"withheld must be a reason (str) or None, got {withheld!r}")
    if not res.get("sgd"):
        raise ValueError("the engine's result has no SGD rows")
    row = min(
        res["sgd"], key=lambda r: (abs(math.log(r["batch_size"] / batch_size)), r["batch_size"])
    )
    b, n = row["batch_size"], res["n"]
    t_sgd, t_gd = row["per_iteration"]["median"], res["gd"]["per_iteration"]["median"]
    s, g = t_sgd / row["effective_batch_size"], t_gd / n
    fit = res.get("overhead_fit")
    share = None if not fit else min(1.0, fit["overhead_seconds"] / t_sgd)
    out = {
        "engine": res["engine"],
        "batch_size": b,
        "n": n,
        "sgd_seconds": t_sgd,
        "gd_seconds": t_gd,
        "repeats": row["per_iteration"]["repeats"],
        "ratio_measured": t_gd / t_sgd,
        "ratio_flops": row["ratio_flops"],
        "sgd_per_sample_seconds": s,
        "gd_per_sample_seconds": g,
        "overhead_share": share,
        "withheld": withheld,
        "because": None if withheld else _because(b, t_sgd, s, g, share),
    }
    head = (
        f"Exercise 4 ({res['engine']} engine; medians of {out['repeats']} warmed, repeated "
        f"blocks): one GD iteration costs {count(out['ratio_measured'])} SGD iterations at "
        f"b = {b:,} (N/b = {count(out['ratio_flops'], 3)})"
    )
    tail = f"; why is withheld: {withheld}" if withheld else f", because {out['because']}"
    out["answer"] = head + tail
    return out


def _because(b: int, t: float, s: float, g: float, share: float | None) -> str:
    """Why GD/SGD(b) is what it is: seconds per sample ``s`` (SGD step at b, ``t`` in all) vs
    ``g`` (GD), and the fitted overhead's ``share`` of the step."""
    f = fmt_seconds
    q = g / s  # = measured ratio / (N/b)
    if 0.8 <= q <= 1.25:
        return (
            f"both cost about the same per sample ({f(s)} in a step at b = {b:,}, {f(g)} in "
            "GD): the time follows the number of samples"
        )
    if q > 1.25:
        return (
            f"GD costs {f(g)} per sample against {f(s)} in a step at b = {b:,} "
            f"({count(g / s)}× as much), so it costs more than N/b steps"
        )
    line = (
        f"a step at b = {b:,} costs {f(s)} per sample against GD's {f(g)} ({count(s / g)}× as much)"
    )
    if share is None:
        return line
    if share >= 0.25:
        return (
            f"{line}: the fit over all b puts {share:.0%} of its {f(t)} in fixed per-step "
            "overhead, which GD pays once per N samples and SGD once per b"
        )
    return (
        f"{line}: the fit over all b puts only {share:.0%} of the step in fixed overhead; the "
        "rest is per-sample work, dearer in a step than in GD's pass over the set"
    )


def count(x: float, digits: int = 2) -> str:
    """A ratio for the text: whole and with thousands separators from 10 on (or when whole),
    else ``digits`` significant digits (``3,750``, ``62.5``, ``4.2``)."""
    if x >= 10 and (digits <= 2 or x >= 10**digits or x == round(x)):
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def withhold_if_foreign(results: list[dict[str, Any]], load: dict[str, Any]) -> dict[str, Any]:
    """The result's ``interpretation``: under foreign load (:func:`foreign_load` of the run's
    ``machine_load``) set every engine's ``explanation`` and every row's ``regime`` to None, in
    place; the numbers (the fit's included) stay. ``other_cpu_share`` and ``threshold`` are
    shares of all CPUs (0-1)."""
    reason = foreign_load(load)
    if reason is not None:
        for res in results:
            res["explanation"] = None
            for row in res["sgd"]:
                row["regime"] = None
    return {
        "withheld": reason is not None,
        "reason": reason,
        "other_cpu_share": load.get("other_cpu_share"),
        "threshold": BUSY,
        "advice": None
        if reason is None
        else "rerun on a quiet machine, with one thread (sgdlab bench --threads 1)",
    }


def answer_engine(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The engine exercise 4's one-line answer is about: ``reference`` (autograd, as in
    exercise 2) when it was measured, else the first."""
    return next((r for r in results if r["engine"] == "reference"), results[0])
