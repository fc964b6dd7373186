"""sgdlab.analysis.noise_scale: the closed forms against autograd (per-sample gradients by
backward(), Hessian-vector products by double backward) on a small problem, in float64."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from sgdlab.analysis.noise_scale import gradient_noise_scale
from sgdlab.model import SoftmaxRegression


def _problem(n: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    model = SoftmaxRegression(init="uniform", generator=g).double()
    with torch.no_grad():
        model.z.weight.mul_(20.0)  # away from uniform outputs: A_i far from a multiple of I
    x = torch.randn(n, 784, generator=g, dtype=torch.float64)
    y = torch.randint(0, 10, (n,), generator=g)
    return model, x, y


def _autograd(model, x, y) -> dict[str, float]:
    params = [model.z.weight, model.z.bias]

    def flat_grad(loss, create_graph=False):
        gs = torch.autograd.grad(loss, params, create_graph=create_graph)
        return torch.cat([t.reshape(-1) for t in gs])

    per = torch.stack(
        [flat_grad(F.cross_entropy(model(x[i : i + 1]), y[i : i + 1])) for i in range(len(y))]
    )  # (N,7850)
    G = per.mean(0)
    D = per - G
    gC = flat_grad(F.cross_entropy(model(x), y), create_graph=True)

    def hvp(v):  # H v = ∇(∇C · v)
        gs = torch.autograd.grad((gC * v).sum(), params, retain_graph=True)
        return torch.cat([t.reshape(-1) for t in gs])

    ghg = float(G @ hvp(G))
    ths = float(sum(d @ hvp(d) for d in D) / len(y))
    tr_sigma = float((D * D).sum() / len(y))
    return {
        "G_norm2": float(G @ G),
        "trace_sigma": tr_sigma,
        "GHG": ghg,
        "trace_H_sigma": ths,
        "B_simple": tr_sigma / float(G @ G),
        "B_noise": ths / ghg,
    }


@pytest.mark.parametrize("n, block", [(24, 1024), (31, 7)])
def test_closed_forms_equal_autograd(n, block):
    model, x, y = _problem(n, seed=n)
    want = _autograd(model, x, y)
    got = gradient_noise_scale(model, x, y, block=block)
    for k, v in want.items():
        assert got[k] == pytest.approx(v, rel=1e-9, abs=1e-12), k


def test_float32_kernel_is_close_and_shapes_are_checked():
    model, x, y = _problem(40, seed=1)
    a = gradient_noise_scale(model, x, y)
    b = gradient_noise_scale(model, x, y, kernel_dtype=torch.float32)
    assert b["B_noise"] == pytest.approx(a["B_noise"], rel=1e-4)
    with pytest.raises(ValueError, match="784"):
        gradient_noise_scale(model, x[:, :10], y)


def test_zero_weights_on_balanced_classes_have_no_bias_gradient():
    """At W = 0, b = 0 every p_i is uniform; B_simple is finite and positive."""
    model = SoftmaxRegression().double()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 784, generator=g, dtype=torch.float64)
    y = torch.arange(50) % 10
    r = gradient_noise_scale(model, x, y)
    assert r["B_simple"] > 0 and r["B_noise"] > 0
