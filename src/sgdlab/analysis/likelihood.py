"""Exercise 5(a): the likelihood L = exp(−N·C) = Π_data Π_n y_n^{y_tn}, its gradient, its underflow.

With ``∂H_i/∂w_pq = (y_ip − y_tip)·x_iq`` (previous chapter) and the chain rule,

    ∂L/∂w_pq = −N·L·∂C/∂w_pq = −L·Σ_i (y_ip − y_tip)·x_iq,      ∂L/∂b_p = −L·Σ_i (y_ip − y_tip).

L is a product of N probabilities, so it is below the smallest positive float once N·C exceeds
≈ 103.3 nats (float32) or ≈ 744.4 nats (float64) and rounds to exactly 0 a little later
(:func:`zero_nats`). Then every way of evaluating ∇L in floating point gives 0, and gradient
ascent on L cannot move, while ∇C (and log L = −N·C) stay perfectly computable. In log-space,
``log|∂L/∂w_pq| = −N·C + log|Σ_i (y_ip − y_tip)·x_iq|`` with sign ``−sign(Σ_i …)``.

Everything here is per-sample and analytic (no per-sample autograd): :class:`PerSample` holds
``x`` (N,784), the residuals ``r = y − onehot(t)`` (N,10) and ``H`` (N,), from which C, ∇C,
log L and ∇L follow. Costs and log-likelihoods are in nats; ``log10_*`` figures in decades.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from sgdlab.data.fashion import to_float
from sgdlab.errors import ConfigError
from sgdlab.model import N_CLASSES, N_PIXELS, SoftmaxRegression

LN10 = math.log(10.0)
DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}


def underflow_nats(dtype: torch.dtype) -> float:
    """−ln(smallest positive subnormal): e^{−x} is not representable above this (nats).

    float32: 149·ln 2 ≈ 103.28; float64: 1074·ln 2 ≈ 744.44.
    """
    fi = torch.finfo(dtype)
    return -math.log(fi.tiny * fi.eps)


def zero_nats(dtype: torch.dtype) -> float:
    """Above this x, e^{−x} rounds to exactly 0 (half the smallest subnormal): ≈ 103.97 / 745.13."""
    return underflow_nats(dtype) + math.log(2.0)


@dataclass(frozen=True)
class PerSample:
    """Per-sample quantities of one model on N samples, float64 except ``x``.

    ``x``: standardized inputs float32 (N,784); ``r``: residuals ``y − onehot(t) = ∂H_i/∂z_i``
    float64 (N,10); ``h``: ``H_i = −log y_{i,t_i}`` float64 (N,) in nats; ``labels`` int64 (N,).
    The per-sample gradient is ``∇_W H_i = r_i x_iᵀ`` (10,784), ``∇_b H_i = r_i`` (10,).
    """

    x: torch.Tensor
    r: torch.Tensor
    h: torch.Tensor
    labels: torch.Tensor

    @property
    def n(self) -> int:
        return int(self.h.shape[0])

    @property
    def cost(self) -> float:
        """C = mean H (nats)."""
        return float(self.h.mean())

    def residual_sums(self, *, chunk_size: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
        """(Σ_i r_i x_iᵀ float64 (10,784), Σ_i r_i float64 (10,)) = N·∇C, accumulated in float64."""
        sw = torch.zeros(N_CLASSES, N_PIXELS, dtype=torch.float64)
        for i in range(0, self.n, chunk_size):
            r, x = self.r[i : i + chunk_size], self.x[i : i + chunk_size].double()
            sw += r.T @ x  # (10,c)@(c,784)
        return sw, self.r.sum(0)

    def gradient(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The full ∇C: (∂C/∂W float64 (10,784), ∂C/∂b float64 (10,))."""
        sw, sb = self.residual_sums()
        return sw / self.n, sb / self.n


@torch.no_grad()
def per_sample(
    model: SoftmaxRegression, images: torch.Tensor, labels: torch.Tensor, *, chunk_size: int = 8192
) -> PerSample:
    """Compute :class:`PerSample` for ``images`` (uint8 (N,28,28) or float (N,784)), ``labels``.

    Logits, softmax and H are computed in float64 from the float32 inputs.
    """
    if chunk_size < 1:
        raise ConfigError(f"chunk_size must be ≥ 1, got {chunk_size}")
    w = model.z.weight.detach().cpu().double()  # (10,784)
    b = model.z.bias.detach().cpu().double()  # (10,)
    x = to_float(images.cpu()).float().contiguous()  # (N,784)
    t = labels.cpu()
    rs, hs = [], []
    for i in range(0, x.shape[0], chunk_size):
        z = x[i : i + chunk_size].double() @ w.T + b  # (c,784)@(784,10) + (10,)
        logp = torch.log_softmax(z, dim=1)  # (c,10)
        ti = t[i : i + chunk_size]
        hs.append(-logp.gather(1, ti[:, None])[:, 0])  # (c,)
        rs.append(logp.exp() - F.one_hot(ti, N_CLASSES).double())  # (c,10)
    return PerSample(x=x, r=torch.cat(rs), h=torch.cat(hs), labels=t)


def underflow_n(h: torch.Tensor, dtype: torch.dtype) -> int | None:
    """Smallest n with exp(−Σ_{i<n} H_i) == 0 in ``dtype`` (data in the given order), else None."""
    s = torch.cumsum(h.double(), 0).to(dtype)  # (N,) prefix sums of H
    zero = (torch.exp(-s) == 0).nonzero()
    return int(zero[0, 0]) + 1 if len(zero) else None


def likelihood_figures(ps: PerSample) -> dict:
    """C, sd of H, log L = −N·C, L evaluated directly (exp and product forms) per dtype, and
    the underflow points (nats, and the first n of the data in its order)."""
    n, c = ps.n, ps.cost
    log_l = -float(ps.h.sum())
    out = {
        "n": n,
        "cost": c,
        "sd_H": float(ps.h.std()),
        "log_L": log_l,
        "log10_L": log_l / LN10,
        "dtypes": {},
    }
    for name, dt in DTYPES.items():
        out["dtypes"][name] = {
            "L_exp": float(torch.exp(torch.tensor(log_l, dtype=dt))),  # exp(−N·C)
            "L_prod": float(torch.exp(-ps.h.to(dt)).prod()),  # Π_i y_{i,t_i}
            "underflow_nats": underflow_nats(dt),
            "zero_nats": zero_nats(dt),
            "underflow_n": underflow_n(ps.h, dt),
        }
    return out


def autograd_grad_L(
    model: SoftmaxRegression,
    x: torch.Tensor,
    labels: torch.Tensor,
    *,
    dtype: torch.dtype = torch.float64,
    form: str = "exp",
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """∂L/∂W (10,784), ∂L/∂b (10,) by autograd through L computed directly in ``dtype``.

    ``form="exp"``: L = exp(−Σ H) with H from cross-entropy; ``"prod"``: L = Π_i softmax(z_i)_{t_i}.
    ``x`` float (N,784). Returns the gradients (in ``dtype``) and L as a float.
    """
    if form not in ("exp", "prod"):
        raise ConfigError(f"form must be 'exp' or 'prod', got {form!r}")
    w = model.z.weight.detach().cpu().to(dtype).requires_grad_()
    b = model.z.bias.detach().cpu().to(dtype).requires_grad_()
    z = x.to(dtype) @ w.T + b  # (N,784)@(784,10) + (10,)
    if form == "exp":
        lik = torch.exp(-F.cross_entropy(z, labels, reduction="sum"))
    else:
        lik = torch.softmax(z, dim=1).gather(1, labels[:, None]).prod()
    gw, gb = torch.autograd.grad(lik, (w, b))
    return gw, gb, lik.item()


def closed_form_grad_L(ps: PerSample) -> tuple[torch.Tensor, torch.Tensor, float]:
    """``−L·Σ_i r_i x_iᵀ`` and ``−L·Σ_i r_i`` evaluated directly in float64; returns them and L."""
    lik = math.exp(-float(ps.h.sum()))  # 0.0 once N·C > 745
    sw, sb = ps.residual_sums()
    return -lik * sw, -lik * sb, lik


def log_grad_L(ps: PerSample) -> dict[str, torch.Tensor]:
    """∇L in log-space: ``sign_w``/``sign_b`` (±1, 0) and ``log_w``/``log_b`` = ln|∂L/∂·| (nats).

    ln|∂L/∂w_pq| = −Σ_i H_i + ln|Σ_i r_ip x_iq|; float64 (10,784) and (10,). Never underflows.
    """
    sw, sb = ps.residual_sums()
    log_l = -float(ps.h.sum())
    return {
        "sign_w": -torch.sign(sw),
        "log_w": log_l + sw.abs().log(),
        "sign_b": -torch.sign(sb),
        "log_b": log_l + sb.abs().log(),
    }


def _stats(gw: torch.Tensor, gb: torch.Tensor, p: int, q: int) -> dict:
    g = torch.cat([gw.reshape(-1), gb]).double()  # (7850,)
    finite = g[torch.isfinite(g)]
    return {
        "pq": float(gw[p, q]),
        "zeros": int((g == 0).sum()),
        "nans": int(g.isnan().sum()),
        "nonzero_finite": int((finite != 0).sum()),
        "parameters": int(g.numel()),
        "max_abs": float(finite.abs().max()) if len(finite) else math.nan,
    }


def check_pq(p: int, q: int) -> None:
    """Validate a weight index: class p in 0..9, pixel q in 0..783 (ConfigError otherwise)."""
    if not (isinstance(p, int) and 0 <= p < N_CLASSES):
        raise ConfigError(f"p (class index) must be in 0..{N_CLASSES - 1}, got {p!r}")
    if not (isinstance(q, int) and 0 <= q < N_PIXELS):
        raise ConfigError(f"q (pixel index) must be in 0..{N_PIXELS - 1}, got {q!r}")


def gradient_figures(model: SoftmaxRegression, ps: PerSample, *, p: int, q: int) -> dict:
    """∂L/∂w_pq and the whole ∇L three ways: autograd (both forms, both dtypes), the closed form
    in float64, and log-space (sign, log10|·|). Also ∂C/∂w_pq for reference."""
    check_pq(p, q)
    gcw, _ = ps.gradient()
    auto = {}
    for name, dt in DTYPES.items():
        for form in ("exp", "prod"):
            gw, gb, lik = autograd_grad_L(model, ps.x, ps.labels, dtype=dt, form=form)
            auto[f"{name}_{form}"] = {**_stats(gw, gb, p, q), "L": lik}
    cw, cb, lik = closed_form_grad_L(ps)
    lg = log_grad_L(ps)
    logs = torch.cat([lg["log_w"].reshape(-1), lg["log_b"]])  # (7850,) ln|∂L/∂θ|
    return {
        "p": p,
        "q": q,
        "dC_dw_pq": float(gcw[p, q]),
        "autograd": auto,
        "closed_form_float64": {**_stats(cw, cb, p, q), "L": lik},
        "log_space": {
            "sign_pq": int(lg["sign_w"][p, q]),
            "log10_abs_pq": float(lg["log_w"][p, q]) / LN10,
            "log10_max_abs": float(logs.max()) / LN10,
            "log10_norm": float(torch.logsumexp(2 * logs, 0)) / 2 / LN10,
        },
    }


def ascent_vs_descent(model: SoftmaxRegression, ps: PerSample, *, lr: float) -> dict:
    """One full-batch step from the same float32 weights: ascent on L (autograd through exp(−N·C))
    and descent on C. Returns C before/after, ‖Δθ‖ and the step size ascent would need."""
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ConfigError(f"lr must be finite and > 0, got {lr!r}")
    from sgdlab.steps import full_gradient

    c0, out = ps.cost, {"lr": lr}
    for name in ("ascent_L", "descent_C"):
        m = copy.deepcopy(model).cpu().float()
        if name == "ascent_L":
            gw, gb, _ = autograd_grad_L(m, ps.x, ps.labels, dtype=torch.float32, form="exp")
            sign = 1.0
        else:
            _, gw, gb = full_gradient(m, ps.x, ps.labels)
            sign = -1.0
        w0, b0 = m.z.weight.detach().clone(), m.z.bias.detach().clone()
        with torch.no_grad():
            m.z.weight += sign * lr * gw  # (10,784)
            m.z.bias += sign * lr * gb  # (10,)
        step = torch.cat([(m.z.weight - w0).reshape(-1), m.z.bias - b0]).detach()
        after = per_sample(m, ps.x, ps.labels)
        out[name] = {
            "grad_norm": float(torch.cat([gw.reshape(-1), gb]).norm()),
            "step_norm": float(step.norm()),
            "moved": bool((step != 0).any()),
            "cost_before": c0,
            "cost_after": after.cost,
            "log10_L_before": -c0 * ps.n / LN10,
            "log10_L_after": -after.cost * ps.n / LN10,
        }
    # ascent on L with step size lr_L equals descent on C with lr when lr_L·N·L = lr
    out["log10_lr_needed_for_ascent"] = math.log10(lr) - math.log10(ps.n) + ps.cost * ps.n / LN10
    return out
