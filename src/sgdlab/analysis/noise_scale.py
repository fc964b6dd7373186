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
  tr(HS) = 1/N² Σ_i Σ_j (x̃_i·x̃_j)² e_jᵀ A_i e_j, summed in blocks of i: per block one product
  X̃_b X̃ᵀ (the only O(N²·785) work), its square, and two (·, N)×(N, 10) products.
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
    (see the module docstring). ``block``: rows of x̃ per kernel block (memory ≈ 3·block·N
    floats); ``kernel_dtype``: the dtype of the O(N²·785) products x̃_i·x̃_j (float32 is about
    2× faster and ~1e-6 relative; everything else is float64).
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
    xk, e2 = xt.to(kernel_dtype), (e * e)
    ths = 0.0  # N²·tr(HS)
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        q = (xk[lo:hi] @ xk.T).to(f64).square_()  # (x̃_i·x̃_j)² (b,N)
        pb = p[lo:hi]
        t1 = ((q @ e2) * pb).sum()  # Σ_ij k² Σ_c p_ic e_jc²
        r = pb @ e.T  # p_i·e_j (b,N)
        t2 = (q * r.square_()).sum()  # Σ_ij k² (p_i·e_j)²
        ths += float(t1 - t2)
    trace_h_sigma = ths / n**2 - ghg
    return {
        "B_simple": trace_sigma / g_norm2 if g_norm2 > 0 else float("inf"),
        "B_noise": trace_h_sigma / ghg if ghg > 0 else float("inf"),
        "G_norm2": g_norm2,
        "trace_sigma": trace_sigma,
        "trace_H_sigma": trace_h_sigma,
        "GHG": ghg,
    }
