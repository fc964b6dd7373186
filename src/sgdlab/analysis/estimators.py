"""Exercise 5(b): minibatch estimators of ∇C (unbiased) and of ∇L (hopeless), by Monte Carlo.

A minibatch B of size b, drawn without replacement, gives ``g_B = 1/b Σ_{i∈B} ∇H_i`` and
``C_B = 1/b Σ_{i∈B} H_i``. Since ∇C is a *mean*, ``E[g_B] = ∇C`` and, with the population
variance ``σ² = 1/N Σ_i ‖∇H_i − ∇C‖²``,

    E‖g_B − ∇C‖² = (N − b) / (b·(N − 1)) · σ²          (finite-population correction)

so the relative error falls like 1/√b. ∇L = −N·L·∇C carries the factor L = e^{−N·C}: any
minibatch estimate must guess it from C_B, and an error δ = C_B − C becomes a factor e^{−N·δ}.
Two estimators are measured, both in log-space relative to the true ∇L (Δ_B = log est-scale −
log true-scale):

- ``plugin``: −N·e^{−N·C_B}·g_B, the gradient of the minibatch likelihood raised to N/b
  (Δ_B = −N·(C_B − C)); biased (Jensen: E[e^{−N·C_B}] ≠ e^{−N·C}) and dominated by the luckiest
  draw (effective sample size ≈ 1);
- ``rescaled``: (N/b)·∇L_B = −N·e^{−b·C_B}·g_B, the minibatch likelihood's own gradient scaled
  like a sum (Δ_B = N·C − b·C_B ≈ (N − b)·C: off by thousands of decades).

Draws are independent; within a draw the minibatches of all sizes are nested prefixes of one
random ordered subset. Per-sample gradients are the analytic ``r_i x_iᵀ``; the minibatch
gradients of a chunk of draws are a few batched matmuls, never autograd.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import torch

from sgdlab.analysis.likelihood import LN10, PerSample, check_pq
from sgdlab.errors import ConfigError

#: Batch sizes measured by default (those below N are used).
DEFAULT_BATCH_SIZES: tuple[int, ...] = tuple(2**k for k in range(13))  # 1 … 4096
_KINDS = ("mean", "plugin", "rescaled")  # weights: plain mean of g_B, and the two ∇L estimators
_ROWS = 1 << 16  # samples per batched matmul (≈ 200 MB of gathered float32 inputs)


def finite_population_mse(n: int, b: int, sigma2: float) -> float:
    """E‖g_B − ∇C‖² for a size-b minibatch drawn without replacement from n samples."""
    return (n - b) / (b * (n - 1)) * sigma2


def gradient_variance(ps: PerSample, g: torch.Tensor) -> float:
    """σ² = 1/N Σ_i ‖∇H_i − g‖² over (W, b), using ‖r_i x_iᵀ‖² = ‖r_i‖²·‖x_i‖² (O(N·784)).

    ``g``: the full gradient flattened (7850,) float64 (W then b)."""
    x2 = torch.linalg.vector_norm(ps.x, dim=1).double() ** 2  # (N,) ‖x_i‖²
    per = (ps.r**2).sum(1) * (x2 + 1.0)  # (N,) ‖∇_W H_i‖² + ‖∇_b H_i‖²
    return float(per.mean() - g.pow(2).sum())


def _lme(v: torch.Tensor) -> float:
    """ln mean exp(v) of a float64 vector (log-mean-exp, stable)."""
    return float(torch.logsumexp(v, 0)) - math.log(len(v))


def _log_dist(delta: torch.Tensor, a: torch.Tensor, c: torch.Tensor, g2: float) -> torch.Tensor:
    """ln‖e^{Δ}·g_B − g‖ from Δ, a = ‖g_B‖², c = ⟨g_B, g⟩ (each (k,)) and g2 = ‖g‖², stable for
    |Δ| in the thousands: ‖e^{Δ}g_B − g‖² = e^{2Δ}a − 2e^{Δ}c + g2, scaled by e^{−2·max(Δ,0)}."""
    m = delta.clamp_min(0)
    u = torch.exp(delta - m)
    v = u * u * a - 2 * u * torch.exp(-m) * c + torch.exp(-2 * m) * g2
    return m + 0.5 * v.clamp_min(0).log()


class _Weights:
    """Per-sample weights ω_i = Σ_{draws B ∋ i} e^{a_B − M}/b, kept with a running max M, so that
    Σ_B e^{a_B}·g_B = e^{M}·Σ_i ω_i ∇H_i (one matmul at the end, never a (draws,7850) array)."""

    def __init__(self, n: int):
        self.m, self.w = -math.inf, torch.zeros(n, dtype=torch.float64)

    def add(self, a: torch.Tensor, idx: torch.Tensor, b: int) -> None:  # a (k,), idx (k,b)
        m = max(self.m, float(a.max()))
        if self.m != m:
            self.w *= math.exp(self.m - m)
        w = (torch.exp(a - m) / b)[:, None].expand(-1, b)  # (k,b) each draw's weight per sample
        self.w.index_add_(0, idx.reshape(-1), w.reshape(-1))
        self.m = m


def _totals(ps: PerSample, weights: list[_Weights]) -> list[torch.Tensor]:
    """Σ_i ω_ij ∇H_i for every weight vector j, flattened (7850,) float64 each: one float32
    matmul (J·10, N)@(N, 784) in row chunks, accumulated in float64."""
    om = torch.stack([w.w for w in weights], 1)  # (N,J) float64
    tw = torch.zeros(len(weights) * 10, 784, dtype=torch.float64)
    for i in range(0, ps.n, 8192):
        a = (om[i : i + 8192, :, None] * ps.r[i : i + 8192, None, :]).flatten(1)  # (c,J·10)
        tw += (a.float().T @ ps.x[i : i + 8192]).double()  # (J·10,c)@(c,784)
    tb = om.T @ ps.r  # (J,N)@(N,10)
    return [torch.cat([tw[10 * j : 10 * j + 10].reshape(-1), tb[j]]) for j in range(len(weights))]


class _Acc:
    """Per-batch-size accumulators: per-draw scalars (concatenated at the end) and weights."""

    def __init__(self, n: int):
        self.cols: dict[str, list[torch.Tensor]] = {}
        self.weights = {k: _Weights(n) for k in _KINDS}

    def put(self, **cols: torch.Tensor) -> None:
        for k, v in cols.items():
            self.cols.setdefault(k, []).append(v)

    def col(self, k: str) -> torch.Tensor:
        return torch.cat(self.cols[k])


def _check(ps: PerSample, batch_sizes: Sequence[int], draws: int) -> tuple[int, ...]:
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 2:
        raise ConfigError(f"draws must be an integer ≥ 2, got {draws!r}")
    sizes = tuple(sorted(set(batch_sizes)))
    bad = [b for b in sizes if isinstance(b, bool) or not isinstance(b, int) or not 1 <= b < ps.n]
    if not sizes or bad:
        raise ConfigError(
            f"batch sizes must be integers in 1..{ps.n - 1} (N = {ps.n}), got {bad or 'none'}"
        )
    return sizes


def _check_indices(idx: torch.Tensor, draws: int, b_max: int, n: int) -> None:
    ok = (
        isinstance(idx, torch.Tensor)
        and idx.dtype == torch.int64
        and idx.dim() == 2
        and idx.shape[0] == draws
        and idx.shape[1] >= b_max
    )
    if not ok:
        raise ConfigError(
            f"indices must be int64 ({draws}, ≥{b_max}), got "
            f"{getattr(idx, 'dtype', type(idx))} {tuple(getattr(idx, 'shape', ()))}"
        )
    head = idx[:, :b_max]
    if head.min() < 0 or head.max() >= n or (head.sort(1).values.diff(dim=1) == 0).any():
        raise ConfigError(f"each row of indices must hold distinct sample indices in 0..{n - 1}")


def monte_carlo(
    ps: PerSample,
    *,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    draws: int = 1000,
    generator: torch.Generator | None,
    p: int = 0,
    q: int = 406,
    progress: bool = False,
    indices: torch.Tensor | None = None,
) -> dict:
    """Draw ``draws`` independent minibatches of each size in ``batch_sizes`` (each in 1..N−1)
    and measure the minibatch estimators of ∇C and ∇L against the truth.

    Draw d takes a uniformly random ordered subset of b_max = max(batch_sizes) samples (the
    b_max largest of N uniform keys); its first b samples are the size-b minibatch, so sizes
    share samples within a draw while draws are independent. Returns a JSON-ready dict:
    ``sigma2``, ``grad_norm`` (‖∇C‖), ``slope`` (fitted d ln err / d ln b over b ≤ N/16),
    ``seconds`` and one row per batch size (see :func:`_summarize`).

    ``indices`` (int64 (draws, ≥ b_max), distinct per row) replaces the random draws, e.g. to
    check the arithmetic against a brute-force computation; ``generator`` is then unused."""
    if indices is None and not isinstance(generator, torch.Generator):
        raise TypeError("generator must be a torch.Generator (randomness is explicit)")
    check_pq(p, q)
    sizes = _check(ps, batch_sizes, draws)
    if indices is not None:
        _check_indices(indices, draws, sizes[-1], ps.n)
    t0 = time.perf_counter()
    n, b_max = ps.n, sizes[-1]
    gw, gb = ps.gradient()
    g = torch.cat([gw.reshape(-1), gb])  # (7850,) float64
    # s_i = ⟨∇H_i, g⟩ = r_iᵀ·(g_W x_i + g_b), so ⟨g_B, g⟩ is a mean over B
    s = (ps.r * (ps.x.double() @ gw.T + gb)).sum(1)  # (N,784)@(784,10) -> (N,)
    ctx = {
        "n": n,
        "c": ps.cost,
        "g2": float(g @ g),
        "p": p,
        "q": q,
        "sd_h": float(ps.h.std(correction=0)),
    }  # population sd of H
    accs = {b: _Acc(n) for b in sizes}
    per_chunk = max(1, min(256, _ROWS // b_max))  # draws per batched matmul
    # gather buffers reused across chunks (fresh 200 MB tensors cost more in page faults)
    bufs = (
        torch.empty(per_chunk * b_max, 784),
        torch.empty(per_chunk * b_max, 10, dtype=torch.float64),
    )
    bar = _bar(progress, draws)
    try:
        for start in range(0, draws, per_chunk):
            k = min(per_chunk, draws - start)
            if indices is None:
                keys = torch.rand(k, n, generator=generator, dtype=torch.float64)  # (k,N)
                idx = keys.topk(b_max, dim=1).indices  # (k,b_max): uniform, in random order
            else:
                idx = indices[start : start + k, :b_max]
            _chunk(accs, sizes, ps, idx, s, ctx, bufs)
            if bar is not None:
                bar.update(k)
    finally:
        if bar is not None:
            bar.close()
    sigma2 = gradient_variance(ps, g)
    order = [(b, k) for b in sizes for k in _KINDS]
    tots = dict(zip(order, _totals(ps, [accs[b].weights[k] for b, k in order]), strict=True))
    rows = [_summarize(accs[b], b, g, sigma2, ctx, {k: tots[b, k] for k in _KINDS}) for b in sizes]
    small = [
        (math.log(r["batch_size"]), math.log(r["cost_grad"]["rms_rel_error"]))
        for r in rows
        if r["batch_size"] <= n / 16
    ]
    return {
        "draws": draws,
        "batch_sizes": list(sizes),
        "n": n,
        "cost": ps.cost,
        "p": p,
        "q": q,
        "sigma2": sigma2,
        "grad_norm": float(g.norm()),
        "slope": _slope(small),
        "rows": rows,
        "seconds": time.perf_counter() - t0,
    }


def _chunk(
    accs: dict[int, _Acc],
    sizes: tuple[int, ...],
    ps: PerSample,
    idx: torch.Tensor,
    s: torch.Tensor,
    ctx: dict,
    bufs: tuple[torch.Tensor, ...],
) -> None:
    """k draws ``idx`` int64 (k,b_max). The size-b minibatch is ``idx[:, :b]``; its Σ r_i x_iᵀ
    is built block by block ([b_prev, b)) so each sample enters one float32 batched matmul."""
    k, b_max = idx.shape
    flat = idx.reshape(-1)
    x = torch.index_select(ps.x, 0, flat, out=bufs[0][: k * b_max]).view(k, b_max, 784)
    r64 = torch.index_select(ps.r, 0, flat, out=bufs[1][: k * b_max]).view(k, b_max, 10)
    r = r64.float()
    ch = torch.cumsum(ps.h[idx], 1)  # (k,b_max) prefix sums of H, float64
    cs = torch.cumsum(s[idx], 1)  # (k,b_max) prefix sums of ⟨∇H_i, g⟩
    cr = torch.cumsum(r64, 1)  # (k,b_max,10) prefix sums of r_i, float64
    sw = torch.zeros(k, 10, 784)  # Σ_{i<b} r_i x_iᵀ, float32
    lo = 0
    for b in sizes:
        sw.baddbmm_(r[:, lo:b].transpose(1, 2), x[:, lo:b])  # (k,10,m)@(k,m,784)
        lo = b
        nw = torch.linalg.vector_norm(sw.view(k, -1), dim=1).double()  # float32 sum of squares
        a = (nw**2 + (cr[:, b - 1] ** 2).sum(1)) / b**2  # ‖g_B‖²
        _measure(
            accs[b],
            b,
            idx[:, :b],
            ch[:, b - 1] / b,
            a,
            cs[:, b - 1] / b,
            sw[:, ctx["p"], ctx["q"]].double() / b,
            ctx,
        )


def _measure(
    acc: _Acc,
    b: int,
    idx: torch.Tensor,
    cb: torch.Tensor,
    a: torch.Tensor,
    c: torch.Tensor,
    g_pq: torch.Tensor,
    ctx: dict,
) -> None:
    """Record k size-b draws from C_B, ‖g_B‖², ⟨g_B, g⟩ and g_B[p,q] (each (k,) float64)."""
    n, g2 = ctx["n"], ctx["g2"]
    d_plug = -n * (cb - ctx["c"])  # (k,) ln(e^{−N·C_B}/e^{−N·C})
    d_resc = n * ctx["c"] - b * cb  # (k,) ln(e^{−b·C_B}/e^{−N·C})
    acc.put(
        cost=cb,
        sq_err=(a - 2 * c + g2).clamp_min(0),
        g_pq=g_pq,
        log_norm=0.5 * a.log(),
        d_plugin=d_plug,
        d_rescaled=d_resc,
        err_plugin=_log_dist(d_plug, a, c, g2),
        err_rescaled=_log_dist(d_resc, a, c, g2),
    )
    acc.weights["mean"].add(torch.zeros_like(cb), idx, b)
    acc.weights["plugin"].add(d_plug, idx, b)
    acc.weights["rescaled"].add(d_resc, idx, b)


def _summarize(
    acc: _Acc, b: int, g: torch.Tensor, sigma2: float, ctx: dict, tots: dict[str, torch.Tensor]
) -> dict:
    """One row: ``cost_grad`` (errors of g_B, the formula) and ``likelihood_grad`` per estimator
    (log10 of ratios to the true ∇L; ``ess`` = effective number of draws behind the mean, from
    the weights e^{Δ}; ``log10_mean_scale_ratio`` = log10 E[e^{Δ}], for the plug-in estimator
    Jensen's log10 E[e^{−N·C_B}]/e^{−N·C}); ``sd_log10_factor`` = sd of N·(C_B − C)/ln 10,
    measured and predicted from sd(H) with the finite-population factor."""
    n, p, q = ctx["n"], ctx["p"], ctx["q"]
    gn, sq = float(g.norm()), acc.col("sq_err")
    draws = len(sq)
    mse, formula = float(sq.mean()), finite_population_mse(n, b, sigma2)
    g_pq, pq = float(g[p * 784 + q]), acc.col("g_pq")
    mean_g = tots["mean"]
    cost_grad = {
        "rms_rel_error": math.sqrt(mse) / gn,
        "formula_rms_rel_error": math.sqrt(formula) / gn,
        "mse_over_formula": mse / formula,
        "mse_over_formula_se": float(sq.std()) / math.sqrt(draws) / formula,
        "bias_rel": float((mean_g / draws - g).norm()) / gn,
        "bias_rel_expected": math.sqrt(formula / draws) / gn,
        "mean_pq": float(pq.mean()),
        "se_pq": float(pq.std()) / math.sqrt(draws),
        "true_pq": g_pq,
        "sign_agreement_pq": float((torch.sign(pq) == math.copysign(1, g_pq)).double().mean()),
    }
    lik = {}
    for name in ("plugin", "rescaled"):
        d, err = acc.col(f"d_{name}"), acc.col(f"err_{name}")
        log_ratio = d + acc.col("log_norm") - math.log(gn)  # (draws,) ln(‖est‖/‖∇L‖)
        m, tot = acc.weights[name].m, tots[name]  # E[est]/scale(∇L) = e^{m}·tot/draws
        mean_err = _log_dist(
            torch.tensor([m]), (tot / draws).pow(2).sum()[None], (tot / draws @ g)[None], gn**2
        )[0]
        lik[name] = {
            "log10_mean_abs_pq_ratio": (_lme(d + pq.abs().log()) - math.log(abs(g_pq))) / LN10,
            "log10_mean_norm_ratio": _lme(log_ratio) / LN10,
            "median_abs_log10_norm_ratio": float(log_ratio.abs().median()) / LN10,
            "log10_rms_rel_error": _lme(2 * (err - math.log(gn))) / 2 / LN10,
            "log10_rel_error_of_mean": (float(mean_err) - math.log(gn)) / LN10,
            "ess": math.exp(2 * float(torch.logsumexp(d, 0)) - float(torch.logsumexp(2 * d, 0))),
            "log10_mean_scale_ratio": _lme(d) / LN10,
        }
    cb = acc.col("cost")
    sd_pred = ctx["sd_h"] * math.sqrt((n - b) / (b * (n - 1)))  # sd of C_B
    return {
        "batch_size": b,
        "draws": draws,
        "cost_grad": cost_grad,
        "likelihood_grad": lik,
        "sd_cost": float(cb.std()),
        "sd_log10_factor": n * float(cb.std()) / LN10,
        "sd_log10_factor_formula": n * sd_pred / LN10,
    }


def _slope(points: list[tuple[float, float]]) -> float | None:
    if len(points) < 2:
        return None
    xs, ys = torch.tensor(points, dtype=torch.float64).T
    xc = xs - xs.mean()
    return float((xc * (ys - ys.mean())).sum() / (xc**2).sum())


def _bar(enabled: bool, total: int):
    if not enabled:
        return None
    from sgdlab.progress import bar

    return bar(total=total, unit="minibatch", desc="monte carlo")
