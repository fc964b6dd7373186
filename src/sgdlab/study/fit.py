"""Fits for the batch-size study: McCandlish et al.'s steps/examples trade-off, its bootstrap
over seeds, Shallue et al.'s three regimes and the lr scaling rules. Pure numpy; no state.

Units: b in examples per step, S in optimizer steps, E = b·S in examples, lr in the optimizer's
units. Every ``b``/``steps``/``lr`` argument is a 1-D sequence (m,) of positive finite numbers
(the full batch b = N is one more b); at least 2 distinct b.

The model (McCandlish et al. 2018, eq. 2.11): S = S_min·(1 + B_crit/b), equivalently
E = E_min·(1 + b/B_crit), with E_min = S_min·B_crit. Given 1/b it is linear in
(α, β) = (S_min, E_min): S = α + β/b.

The fit's criterion is the *relative* error, since S spans orders of magnitude over b and seed
noise is multiplicative: minimize Σ_i ((S_i − α − β/b_i)/S_i)², i.e. the linear regression of S
on 1/b with each residual divided by S_i (weights 1/S_i² on the squared residuals). It is the
first-order form of least squares in log S (log(S_i/Ŝ_i) = −log(1 − r_i) ≈ r_i for
r_i = (S_i − Ŝ_i)/S_i) but, unlike it, linear: a closed form with a unique solution, no
iterations, and the constraint α, β ≥ 0 handled exactly (the optimum then lies on an axis).
Noiseless data on the model are recovered exactly either way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

ArrayLike = Sequence[float] | np.ndarray


def _positive(name: str, v: ArrayLike) -> np.ndarray:
    a = np.asarray(v, dtype=float)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence, got shape {a.shape}")
    if not np.all(np.isfinite(a)) or np.any(a <= 0):
        raise ValueError(f"{name} must be positive and finite, got {a.tolist()}")
    return a


def _pair(b: ArrayLike, values: ArrayLike, name: str) -> tuple[np.ndarray, np.ndarray]:
    bb, vv = _positive("b", b), _positive(name, values)
    if bb.shape != vv.shape:
        raise ValueError(f"b and {name} must have the same length, got {bb.size} and {vv.size}")
    if np.unique(bb).size < 2:
        raise ValueError(f"need at least 2 distinct batch sizes, got {bb.tolist()}")
    return bb, vv


def _wls(b: np.ndarray, s: np.ndarray) -> tuple[float, float, str | None]:
    """(α, β, boundary) minimizing Σ (1 − α/S − β/(b·S))² over α, β ≥ 0 (module docstring)."""
    a = np.stack([1.0 / s, 1.0 / (b * s)], axis=1)  # (m,2): rows of the weighted design
    scale = np.linalg.norm(a, axis=0)  # columns to unit norm: 1/b spans orders of magnitude
    coef = np.linalg.lstsq(a / scale, np.ones_like(s), rcond=None)[0] / scale
    alpha, beta = float(coef[0]), float(coef[1])
    if alpha > 0 and beta > 0:
        return alpha, beta, None
    # The optimum is outside the positive quadrant: the convex objective's constrained optimum
    # lies on an axis, each a one-parameter fit c = Σu/Σu² (always > 0).
    u, v = a[:, 0], a[:, 1]
    a_only, b_only = float(u.sum() / (u @ u)), float(v.sum() / (v @ v))
    if np.sum((1 - a_only * u) ** 2) <= np.sum((1 - b_only * v) ** 2):
        return a_only, 0.0, "E_min=0"  # S constant: maximal data parallelism throughout
    return 0.0, b_only, "S_min=0"  # S ∝ 1/b: perfect scaling throughout


def _fit_dict(b: np.ndarray, s: np.ndarray) -> dict:
    alpha, beta, boundary = _wls(b, s)
    s_fit = alpha + beta / b
    b_crit = beta / alpha if alpha > 0 else math.inf
    return {
        "S_min": alpha,
        "E_min": beta,
        "B_crit": b_crit,
        "S_fit": s_fit.tolist(),
        "residuals": ((s - s_fit) / s).tolist(),
        "log_residuals": np.log(s / s_fit).tolist(),
        "boundary": boundary,
    }


def fit_scaling(b: ArrayLike, steps: ArrayLike) -> dict:
    """Fit S = S_min·(1 + B_crit/b) to steps-to-target ``steps`` (m,) at batch sizes ``b`` (m,).

    Least squares on the relative error (module docstring): minimizes
    Σ_i ((S_i − Ŝ_i)/S_i)² with Ŝ_i = S_min + E_min/b_i, S_min, E_min ≥ 0.

    Returns ``S_min`` (steps), ``E_min`` = S_min·B_crit (examples), ``B_crit`` = E_min/S_min
    (examples per step), ``S_fit`` (m,) the fitted steps, ``residuals`` (m,) the relative
    residuals (S_i − Ŝ_i)/S_i, ``log_residuals`` (m,) log(S_i/Ŝ_i) and ``boundary``: None, or
    ``"S_min=0"`` (the data fall like 1/b throughout: B_crit = inf) or ``"E_min=0"`` (flat:
    B_crit = 0) when the unconstrained optimum had a non-positive parameter. Repeated b are
    separate points.

    Raises ValueError for fewer than 2 distinct b, unequal lengths, or non-positive or
    non-finite values.
    """
    bb, ss = _pair(b, steps, "steps")
    return _fit_dict(bb, ss)


def _seed_medians(steps_per_seed: Sequence[Sequence[float | None]], m: int) -> list[np.ndarray]:
    if len(steps_per_seed) != m:
        raise ValueError(f"steps_per_seed needs one list per b ({m}), got {len(steps_per_seed)}")
    out = []
    for i, seeds in enumerate(steps_per_seed):
        a = np.array([math.inf if v is None else v for v in seeds], dtype=float)
        if a.ndim != 1 or a.size == 0:
            raise ValueError(f"steps_per_seed[{i}] must be a non-empty list of step counts")
        if np.any(np.isnan(a)) or np.any(a <= 0):
            raise ValueError(f"steps_per_seed[{i}] must be positive (None/inf: not reached)")
        out.append(a)
    return out


def bootstrap_fit(
    b: ArrayLike,
    steps_per_seed: Sequence[Sequence[float | None]],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict:
    """:func:`fit_scaling` on the per-b medians over seeds, with percentile bootstrap intervals.

    ``steps_per_seed[i]`` (k_i,) holds the steps to target of each seed at ``b[i]``; None or
    inf marks a seed that never reached the target (it counts as +inf in the median, so a b
    where at least half the seeds failed has an infinite median: such b are left out of the
    fit and listed in ``excluded_b``). Each of ``n_boot`` replicates resamples, for every b
    independently, k_i seeds with replacement, takes their median and fits; a replicate in
    which some b's median is infinite is invalid (counted, not used). The intervals are the
    (1 − level)/2 and (1 + level)/2 quantiles of the valid replicates (``np.quantile`` with
    ``method="inverted_cdf"``: sample values, so an infinite B_crit is handled; (nan, nan) if
    none is valid). Deterministic: one ``np.random.default_rng(seed)``.

    Returns the point fit's keys (:func:`fit_scaling`) plus ``b``, ``medians`` (the fitted
    points), ``excluded_b``, ``B_crit_ci``, ``S_min_ci``, ``E_min_ci`` (lo, hi), ``n_valid``,
    ``n_boot``, ``level``. Raises ValueError on bad options, lengths or values, or when fewer
    than 2 distinct b reach the target.
    """
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive int, got {n_boot!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    if isinstance(level, bool) or not isinstance(level, float | int) or not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    bb = _positive("b", b)
    seeds = _seed_medians(steps_per_seed, bb.size)
    medians = np.array([np.median(a) for a in seeds])
    keep = np.isfinite(medians)
    if np.unique(bb[keep]).size < 2:
        raise ValueError(f"fewer than 2 distinct b reached the target (medians {medians})")
    point = fit_scaling(bb[keep], medians[keep])
    rng = np.random.default_rng(seed)
    kept = [a for a, k in zip(seeds, keep, strict=True) if k]
    reps = np.stack(  # (n_boot, m_kept): a resampled median per replicate and b
        [np.median(a[rng.integers(0, a.size, size=(n_boot, a.size))], axis=1) for a in kept],
        axis=1,
    )
    draws = {"S_min": [], "E_min": [], "B_crit": []}
    for row in reps:
        if not np.all(np.isfinite(row)):
            continue
        alpha, beta, _ = _wls(bb[keep], row)
        draws["S_min"].append(alpha)
        draws["E_min"].append(beta)
        draws["B_crit"].append(beta / alpha if alpha > 0 else math.inf)
    q = [(1 - level) / 2, (1 + level) / 2]
    n_valid = len(draws["S_min"])
    cis = {
        f"{k}_ci": (
            tuple(float(t) for t in np.quantile(v, q, method="inverted_cdf"))
            if n_valid
            else (math.nan, math.nan)
        )
        for k, v in draws.items()
    }
    return {
        **point,
        "b": bb[keep].tolist(),
        "medians": medians[keep].tolist(),
        "excluded_b": bb[~keep].tolist(),
        **cis,
        "n_valid": n_valid,
        "n_boot": n_boot,
        "level": float(level),
    }


def local_slopes(b: ArrayLike, steps: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """(distinct b sorted (d,), d log S/d log b (d,)) from the data: S at a repeated b is the
    geometric mean; central differences in (log b, log S), one-sided at the two ends."""
    bb, ss = _pair(b, steps, "steps")
    ub, inv = np.unique(bb, return_inverse=True)
    ls = np.bincount(inv, weights=np.log(ss)) / np.bincount(inv)
    return ub, np.gradient(ls, np.log(ub), edge_order=1)


REGIMES = ("perfect scaling", "diminishing returns", "maximal data parallelism")


def regimes(
    b: ArrayLike,
    steps: ArrayLike,
    fit: Mapping[str, float],
    *,
    by: str = "fit",
    perfect_slope: float = -0.75,
    maximal_slope: float = -0.25,
) -> list[str]:
    """Shallue et al.'s regime of each point (m,), from the local slope s = d log S/d log b.

    The rule: "perfect scaling" where s ≤ ``perfect_slope`` (default −3/4: doubling b saves at
    least ~40 % of the steps), "maximal data parallelism" where s ≥ ``maximal_slope`` (default
    −1/4), "diminishing returns" between. ``by="fit"`` (default) takes s from the fitted model,
    s(b) = −B_crit/(b + B_crit) with ``fit["B_crit"]`` (:func:`fit_scaling`), so with the
    defaults: perfect where b ≤ B_crit/3, maximal where b ≥ 3·B_crit (in general the
    thresholds b ≤ B_crit·(1 + s_p)/(−s_p) and b ≥ B_crit·(1 + s_m)/(−s_m), compared in b so
    that the boundaries are exact); B_crit = inf gives all perfect, 0 all maximal. ``by="data"``
    takes s from the measured points (:func:`local_slopes`), noisier but model-free.

    Raises ValueError on bad inputs (as :func:`fit_scaling`), a missing or negative B_crit, an
    unknown ``by`` or thresholds not −1 < perfect_slope < maximal_slope < 0.
    """
    bb, ss = _pair(b, steps, "steps")
    if not -1 < perfect_slope < maximal_slope < 0:
        raise ValueError(
            f"need -1 < perfect_slope < maximal_slope < 0, got {perfect_slope}, {maximal_slope}"
        )
    if by == "fit":
        b_crit = float(fit["B_crit"]) if "B_crit" in fit else math.nan
        if math.isnan(b_crit) or b_crit < 0:
            raise ValueError(f"fit must hold B_crit >= 0, got {fit.get('B_crit')!r}")
        lo = b_crit * (1 + perfect_slope) / -perfect_slope  # inf for B_crit = inf
        hi = b_crit * (1 + maximal_slope) / -maximal_slope
        perfect, maximal = bb <= lo, bb >= hi
    elif by == "data":
        ub, slope = local_slopes(bb, ss)
        s = slope[np.searchsorted(ub, bb)]
        perfect, maximal = s <= perfect_slope, s >= maximal_slope
    else:
        raise ValueError(f"by must be 'fit' or 'data', got {by!r}")
    return [REGIMES[c] for c in np.where(perfect, 0, np.where(maximal, 2, 1))]


def _rule(pred: np.ndarray, lr: np.ndarray, **extra: float) -> dict:
    err = np.abs(np.log(pred / lr))
    return {"lr": pred.tolist(), "error": float(np.exp(err.mean())), **extra}


def _mccandlish(b: np.ndarray, lr: np.ndarray, b_noise: float) -> tuple[float, float]:
    """(log ε_max, SSE) of the log-space fit of ε = ε_max/(1 + B_noise/b) for a given B_noise."""
    z = np.log(lr) + np.log1p(b_noise / b)
    return float(z.mean()), float(((z - z.mean()) ** 2).sum())


def _fit_b_noise(b: np.ndarray, lr: np.ndarray) -> float:
    """B_noise minimizing the log-space SSE (ε_max profiled out): a grid over log B_noise from
    min(b)·1e-4 to max(b)·1e4, golden-section refinement at the best grid point; 0 or inf when
    an end is best (there the model is a constant lr, or lr ∝ b)."""
    ts = np.linspace(
        math.log(b.min()) - 4 * math.log(10), math.log(b.max()) + 4 * math.log(10), 401
    )
    f = [_mccandlish(b, lr, math.exp(t))[1] for t in ts]
    k = int(np.argmin(f))
    if k == 0 and _mccandlish(b, lr, 0.0)[1] <= f[0]:
        return 0.0
    inf_sse = float((((w := np.log(lr / b)) - w.mean()) ** 2).sum())  # the B_noise → ∞ limit
    if k == len(ts) - 1 and inf_sse <= f[-1]:
        return math.inf
    lo, hi = ts[max(k - 1, 0)], ts[min(k + 1, len(ts) - 1)]
    g = (math.sqrt(5) - 1) / 2
    for _ in range(100):
        c, d = hi - g * (hi - lo), lo + g * (hi - lo)
        if _mccandlish(b, lr, math.exp(c))[1] <= _mccandlish(b, lr, math.exp(d))[1]:
            hi = d
        else:
            lo = c
        if hi - lo < 1e-13:
            break
    return math.exp((lo + hi) / 2)


def lr_scaling(b: ArrayLike, lr: ArrayLike, *, b_noise: float | None = None) -> dict:
    """Compare tuned learning rates ``lr`` (m,) at batch sizes ``b`` (m,) with scaling rules.

    Each rule gives a predicted lr per b (``lr``, (m,)) and its ``error``: the geometric mean
    of the factor by which it misses, exp(mean_i |log(lr̂_i/lr_i)|) (1 = exact; 1.25 = off
    by 25 % on a typical b). The rules:

    - ``linear`` (Goyal et al.): lr̂ = lr_0·b/b_0, anchored at the smallest b (b_0; lr_0 the
      geometric mean of the lrs there);
    - ``sqrt``: lr̂ = lr_0·√(b/b_0), the same anchor;
    - ``mccandlish_fit``: ε_opt(b) = ε_max/(1 + B_noise/b) with both ε_max and B_noise fitted
      by least squares in log lr (B_noise ≥ 0 by a grid over log B_noise and golden-section
      refinement; reported as 0 or inf if an end is best, where the model is a constant lr, or
      lr ∝ b and ε_max = inf);
    - ``mccandlish`` (only with ``b_noise``, e.g. the exact noise scale): ε_max fitted in log
      space given B_noise = ``b_noise``: log ε_max = mean_i(log lr_i + log(1 + B_noise/b_i)).

    The McCandlish entries also hold ``eps_max`` and ``B_noise``. Raises ValueError for fewer
    than 2 distinct b, unequal lengths, non-positive or non-finite values, or a negative or
    non-finite ``b_noise``.
    """
    bb, ll = _pair(b, lr, "lr")
    if b_noise is not None and not (math.isfinite(b_noise) and b_noise >= 0):
        raise ValueError(f"b_noise must be finite and >= 0, got {b_noise!r}")
    b0 = bb.min()
    lr0 = math.exp(float(np.log(ll[bb == b0]).mean()))
    rules = {
        "linear": _rule(lr0 * bb / b0, ll),
        "sqrt": _rule(lr0 * np.sqrt(bb / b0), ll),
    }
    bn = _fit_b_noise(bb, ll)
    if math.isinf(bn):
        c = math.exp(float(np.log(ll / bb).mean()))  # lr = c·b: ε_max/B_noise = c
        rules["mccandlish_fit"] = _rule(c * bb, ll, eps_max=math.inf, B_noise=math.inf)
    else:
        log_eps = _mccandlish(bb, ll, bn)[0]
        pred = np.exp(log_eps) / (1 + bn / bb)
        rules["mccandlish_fit"] = _rule(pred, ll, eps_max=math.exp(log_eps), B_noise=bn)
    if b_noise is not None:
        log_eps = _mccandlish(bb, ll, float(b_noise))[0]
        pred = np.exp(log_eps) / (1 + b_noise / bb)
        rules["mccandlish"] = _rule(pred, ll, eps_max=math.exp(log_eps), B_noise=float(b_noise))
    return {"b": bb.tolist(), "lr": ll.tolist(), "anchor_b": float(b0), "rules": rules}
