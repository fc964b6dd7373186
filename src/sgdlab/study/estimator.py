"""McCandlish et al.'s unbiased two-batch estimator of |G|², tr(Σ) and B_simple (their app. A.1).

For the chapter's model, G = ∇C over the N samples and Σ = 1/N Σ_i (g_i − G)(g_i − G)ᵀ the
per-sample gradient covariance (as :mod:`sgdlab.analysis.noise_scale`). A minibatch mean
gradient G_B of B samples has

- E|G_B|² = |G|² + tr(Σ)/B for B samples drawn with replacement (McCandlish et al.), and
- E|G_B|² = |G|² + tr(Σ)·(N − B)/(B·(N − 1)) for B distinct samples (without replacement) from
  the N: the finite-population factor (N − B)/(N − 1).

Two batch sizes B_s < B_b give two linear equations in |G|² and tr(Σ). McCandlish's solution
(with replacement, or N = ∞):

    |G|²_M = (B_b|G_b|² − B_s|G_s|²)/(B_b − B_s),  tr(Σ)_M = (|G_s|² − |G_b|²)/(1/B_s − 1/B_b);

without replacement from N (``population=N``; exact in expectation for the sampling of
:func:`estimate_noise`): tr(Σ) = tr(Σ)_M·(N − 1)/N and |G|² = |G|²_M + tr(Σ)_M/N (at B_b = N
this gives G_b's |G|² exactly). Each is unbiased given its sampling; their ratio B_simple =
tr(Σ)/|G|² is not, so it is the ratio of the averages over repeats (numerator and denominator
averaged separately, as they did).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from sgdlab.model import SoftmaxRegression


def _check_sizes(b_small: int, b_big: int, population: int | None) -> None:
    for name, v in (("b_small", b_small), ("b_big", b_big)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if b_small >= b_big:
        raise ValueError(f"need b_small < b_big, got {b_small} and {b_big}")
    if population is not None and (
        isinstance(population, bool) or not isinstance(population, int) or population < b_big
    ):
        raise ValueError(f"population must be an int >= b_big ({b_big}), got {population!r}")


def two_batch(
    g_small_sq: float | np.ndarray,
    g_big_sq: float | np.ndarray,
    b_small: int,
    b_big: int,
    *,
    population: int | None = None,
) -> dict:
    """The two-batch estimates from |G_small|² and |G_big|² (scalars or (R,) over R repeats).

    ``population``: None for McCandlish's formulas (samples drawn with replacement, or from an
    unlimited population); N for B distinct samples from N (module docstring). Returns
    ``G_norm2`` and ``trace_sigma``: the means over repeats of the per-repeat estimates (each
    unbiased), ``B_simple`` = trace_sigma/G_norm2 (the ratio of the averages; inf if
    G_norm2 ≤ 0), ``G_norm2_each``, ``trace_sigma_each`` (R,), their standard errors
    ``G_norm2_se``, ``trace_sigma_se`` (sample std/√R; nan for R = 1) and ``repeats`` = R.
    Units: squared gradient norms in (nats per sample)² per parameter², B_simple in samples.

    Raises ValueError unless 1 ≤ b_small < b_big (ints), population ≥ b_big, and the norms are
    finite, non-negative and of one shape.
    """
    _check_sizes(b_small, b_big, population)
    s = np.atleast_1d(np.asarray(g_small_sq, dtype=float))
    g = np.atleast_1d(np.asarray(g_big_sq, dtype=float))
    if s.ndim != 1 or s.shape != g.shape:
        raise ValueError(
            "g_small_sq and g_big_sq must be scalars or (R,) of the same shape, "
            f"got {s.shape}, {g.shape}"
        )
    if not (np.all(np.isfinite(s)) and np.all(np.isfinite(g))) or np.any(s < 0) or np.any(g < 0):
        raise ValueError("squared norms must be finite and >= 0")
    tr = (s - g) / (1 / b_small - 1 / b_big)  # tr(Σ)_M per repeat
    gn = (b_big * g - b_small * s) / (b_big - b_small)  # |G|²_M per repeat
    if population is not None:
        gn, tr = gn + tr / population, tr * (population - 1) / population
    r = s.size
    g_mean, tr_mean = float(gn.mean()), float(tr.mean())
    return {
        "G_norm2": g_mean,
        "trace_sigma": tr_mean,
        "B_simple": tr_mean / g_mean if g_mean > 0 else math.inf,
        "G_norm2_each": gn.tolist(),
        "trace_sigma_each": tr.tolist(),
        "G_norm2_se": float(gn.std(ddof=1) / math.sqrt(r)) if r > 1 else math.nan,
        "trace_sigma_se": float(tr.std(ddof=1) / math.sqrt(r)) if r > 1 else math.nan,
        "repeats": r,
    }


def mean_gradient(model: SoftmaxRegression, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The gradient of C = 1/B Σ H over the minibatch ``x`` (..., B, 784), ``y`` (..., B) int64
    (leading dimensions: several minibatches at once), in closed form and float64:
    g = (softmax(x̃θᵀ) − onehot(y))ᵀ·x̃/B, x̃ = [x, 1] (B,785), θ = [W, b] (10,785). Returns
    (..., 10, 785): columns 0..783 the weight gradient, 784 the bias's."""
    f64 = torch.float64
    ones = torch.ones(*x.shape[:-1], 1, dtype=f64, device=x.device)
    xt = torch.cat([x.to(f64), ones], dim=-1)  # (..., B, 785)
    theta = torch.cat([model.z.weight.detach(), model.z.bias.detach()[:, None]], 1).to(f64)
    e = torch.softmax(xt @ theta.T.to(xt.device), dim=-1)  # (..., B, 10)
    e -= torch.nn.functional.one_hot(y, e.shape[-1]).to(f64)
    return e.transpose(-1, -2) @ xt / x.shape[-2]


def estimate_noise(
    model: SoftmaxRegression,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    b_small: int,
    b_big: int,
    repeats: int,
    generator: torch.Generator,
    finite_population: bool = True,
) -> dict:
    """The two-batch estimates of |G|², tr(Σ), B_simple of ``model`` on ``x`` (N,784) float,
    ``y`` (N,) int64, from ``repeats`` pairs of minibatches.

    Each repeat draws b_big distinct indices uniformly (``torch.randperm`` with ``generator``);
    the big batch is all of them, the small one their first b_small (itself a uniform sample
    of b_small distinct indices; nesting the pair, as data-parallel workers do, leaves each
    |G_B|²'s expectation and so the unbiasedness unchanged). |G_B|² comes from
    :func:`mean_gradient`, for many repeats at once. ``finite_population`` (default): the
    estimator exact in expectation for this sampling (``population=N`` in :func:`two_batch`);
    False: McCandlish's formulas, biased here by the factor (N − B)/(N − 1) (small when
    B ≪ N).

    Returns :func:`two_batch`'s dict plus ``b_small``, ``b_big``, ``population`` (N or None)
    and ``g_small_sq``, ``g_big_sq`` (R,). Raises ValueError unless x is (N,784), y (N,),
    1 ≤ b_small < b_big ≤ N and repeats ≥ 1.
    """
    if x.ndim != 2 or x.shape[1] != 784 or y.shape != (x.shape[0],):
        raise ValueError(f"x must be (N,784) and y (N,), got {tuple(x.shape)}, {tuple(y.shape)}")
    n = x.shape[0]
    _check_sizes(b_small, b_big, None)
    if b_big > n:
        raise ValueError(f"b_big ({b_big}) must be <= N ({n}): minibatches are drawn from x")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive int, got {repeats!r}")
    idx = torch.stack([torch.randperm(n, generator=generator)[:b_big] for _ in range(repeats)])
    idx = idx.to(x.device)  # (R, b_big): row k is repeat k's big batch, its head the small one
    small, big = np.empty(repeats), np.empty(repeats)
    chunk = max(1, 2**22 // (b_big * 785))  # repeats at a time: ≤ 32 MiB of float64 x̃
    for lo in range(0, repeats, chunk):
        i = idx[lo : lo + chunk]
        xs, ys = x[i], y[i]  # (r, b_big, 784), (r, b_big)
        gs = mean_gradient(model, xs[:, :b_small], ys[:, :b_small])
        small[lo : lo + chunk] = gs.square().sum((1, 2)).cpu().numpy()
        big[lo : lo + chunk] = mean_gradient(model, xs, ys).square().sum((1, 2)).cpu().numpy()
    population = n if finite_population else None
    out = two_batch(small, big, b_small, b_big, population=population)
    return {
        **out,
        "b_small": b_small,
        "b_big": b_big,
        "population": population,
        "g_small_sq": small.tolist(),
        "g_big_sq": big.tolist(),
    }
