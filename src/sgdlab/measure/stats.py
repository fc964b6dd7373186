"""The figures ``sgdlab bench`` derives from its timings (:mod:`sgdlab.measure.bench`): a
figure's median and spread, the fit t(b) ≈ overhead + b·(seconds per sample) of the SGD
medians, what sets each measured GD/SGD(b) ratio, and seconds written with a unit."""

from __future__ import annotations

from typing import Any

import numpy as np

from sgdlab.formatting import fmt_seconds

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
