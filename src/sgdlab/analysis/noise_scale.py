"""The exact gradient noise scale of the chapter's model (McCandlish et al. 2018).

For C = 1/N Σ_i H_i over N samples and all 7,850 parameters θ = (W, b):

- G = ∇C = 1/N Σ_i g_i, with the per-sample gradient g_i = e_i ⊗ x̃_i, e_i = p_i − onehot(y_i)
  (10,), x̃_i = (x_i, 1) (785,);
- Σ = 1/N Σ_i (g_i − G)(g_i − G)ᵀ, the per-sample gradient covariance;
- H = ∇²C = 1/N Σ_i A_i ⊗ x̃_i x̃_iᵀ, A_i = diag(p_i) − p_i p_iᵀ (10,10).

Then B_simple = tr(Σ)/|G|² and B_noise = tr(HΣ)/(GᵀHG). Nothing 7850×7850 is formed:

- |g_i|² = |e_i|²·|x̃_i|², so tr(Σ) = mean_i |g_i|² − |G|²;
- with u_i = G x̃_i (G as (10,785)), GᵀHG = mean_i u_iᵀ A_i u_i;
- tr(HΣ) = tr(HS) − GᵀHG with S = 1/N Σ_j g_j g_jᵀ, and
  tr(HS) = 1/N² Σ_i Σ_j (x̃_i·x̃_j)² w_ij, w_ij = e_jᵀ A_i e_j = Σ_c p_ic e_jc² − (p_i·e_j)².

The double sum is taken in blocks of rows I of the kernel K = X̃X̃ᵀ. K is symmetric, so only its
upper block triangle is formed: per block one product X̃_I X̃_{J≥I}ᵀ (the only O(N²·785) work,
half of the full square's), squared, serves the terms i∈I, j∈J and i∈J, j∈I. Since w_ij = a_i·f_j
with 65-vectors a_i (from p_i) and f_j (from e_j), both orientations are one (·, N)×(N, 130)
product, Σ a_I ⊙ (K²_IJ f_J) + Σ f_I ⊙ (K²_IJ a_J), with the diagonal block at half weight: no
(·, N) elementwise work beyond the square. The results agree with the full-square,
elementwise form to rounding (≤ 1e-14 relative in float64, measured; its tests use autograd).
"""

from __future__ import annotations

import torch

from sgdlab.model import SoftmaxRegression


def gradient_noise_scale(
    model: SoftmaxRegression,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    block: int = 1024,
    kernel_dtype: torch.dtype = torch.float64,
) -> dict[str, float]:
    """The exact noise scales of ``model`` on the samples ``x`` (N,784) float (the model's
    input, standardized as training does), ``y`` int64 (N,) labels.

    Returns float64 figures: ``B_simple`` = tr(Σ)/|G|², ``B_noise`` = tr(HΣ)/(GᵀHG),
    ``G_norm2`` = |G|², ``trace_sigma`` = tr(Σ), ``trace_H_sigma`` = tr(HΣ), ``GHG`` = GᵀHG
    (see the module docstring). ``block``: rows of x̃ per kernel block (memory ≈ block·N
    float64, plus as much in the kernel dtype); ``kernel_dtype``: the dtype of the O(N²·785)
    products x̃_i·x̃_j (float32 is about 1.5× faster and ~1e-6 relative; everything else is
    float64).
    """
    if x.ndim != 2 or x.shape[1] != 784 or y.shape != (x.shape[0],):
        raise ValueError(f"x must be (N,784) and y (N,), got {tuple(x.shape)}, {tuple(y.shape)}")
    n = x.shape[0]
    f64 = torch.float64
    xt = torch.cat([x.to(f64), torch.ones(n, 1, dtype=f64)], dim=1)  # x̃ (N,785)
    theta = torch.cat([model.z.weight.detach(), model.z.bias.detach()[:, None]], 1).to(f64)
    p = torch.softmax(xt @ theta.T, dim=1)  # (N,10)
    e = p.clone()
    e[torch.arange(n), y] -= 1.0  # p − onehot (N,10)
    g = e.T @ xt / n  # G (10,785)
    g_norm2 = float((g * g).sum())
    sq = (e * e).sum(1) * (xt * xt).sum(1)  # |g_i|² (N,)
    trace_sigma = float(sq.mean()) - g_norm2
    u = xt @ g.T  # u_i = G x̃_i (N,10)
    ghg = float(((p * u * u).sum(1) - (p * u).sum(1) ** 2).mean())
    ths = _kernel_sum(xt.to(kernel_dtype), p, e, block)  # N²·tr(HS)
    trace_h_sigma = ths / n**2 - ghg
    return {
        "B_simple": trace_sigma / g_norm2 if g_norm2 > 0 else float("inf"),
        "B_noise": trace_h_sigma / ghg if ghg > 0 else float("inf"),
        "G_norm2": g_norm2,
        "trace_sigma": trace_sigma,
        "trace_H_sigma": trace_h_sigma,
        "GHG": ghg,
    }


def _kernel_sum(xk: torch.Tensor, p: torch.Tensor, e: torch.Tensor, block: int) -> float:
    """Σ_i Σ_j (x̃_i·x̃_j)² w_ij, w_ij = e_jᵀ A_i e_j, for x̃ ``xk`` (N,785) in the kernel dtype,
    p, e (N,10) float64, over the upper block triangle of K = X̃X̃ᵀ (module docstring).

    w_ij = a_i·f_j with a_i = (p_i, [c≠d: 2]·p_ic·p_id for c ≤ d) and f_j = (e_j², −e_jc·e_jd
    for c ≤ d) (65 each), so one (·, N)×(N, 130) product per block gives both orientations:
    Σ K²_IJ ⊙ (W_IJ + W_JIᵀ) = Σ a_I ⊙ (K²_IJ f_J) + Σ f_I ⊙ (K²_IJ a_J); the diagonal block,
    symmetric, enters at half weight. Memory ≈ block·N float64 (plus the kernel dtype's)."""
    n, f64 = xk.shape[0], torch.float64
    c, d = torch.triu_indices(10, 10)
    two = torch.where(c == d, 1.0, 2.0).to(f64)
    a = torch.cat([p, p[:, c] * p[:, d] * two], 1)  # (N,65)
    f = torch.cat([e * e, -(e[:, c] * e[:, d])], 1)  # (N,65)
    fa = torch.cat([f, a], 1)  # (N,130)
    total = 0.0
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        q = (xk[lo:hi] @ xk[lo:].T).to(f64).square_()  # K²_{I, J≥I} (b, N−lo)
        q[:, : hi - lo].mul_(0.5)  # the diagonal block is counted from both sides
        r = q @ fa[lo:]  # (b,130): K² f_J and K² a_J
        total += float((a[lo:hi] * r[:, :65]).sum() + (f[lo:hi] * r[:, 65:]).sum())
    return total
