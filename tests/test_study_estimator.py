"""sgdlab.study.estimator: the two-batch formulas are exact in expectation (every minibatch of a
tiny problem enumerated, with and without replacement), and the sampled estimates agree with
the exact noise scale (sgdlab.analysis.noise_scale) within a tolerance from the repeats."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sgdlab.analysis.noise_scale import gradient_noise_scale
from sgdlab.model import SoftmaxRegression
from sgdlab.study.estimator import estimate_noise, mean_gradient, two_batch


def _problem(n: int, seed: int, scale: float = 20.0):
    g = torch.Generator().manual_seed(seed)
    model = SoftmaxRegression(init="uniform", generator=g).double()
    with torch.no_grad():
        model.z.weight.mul_(scale)  # away from uniform outputs
    x = torch.randn(n, 784, generator=g, dtype=torch.float64)
    y = torch.randint(0, 10, (n,), generator=g)
    return model, x, y


def _norm2(model, x, y, idx) -> float:
    return float(mean_gradient(model, x[list(idx)], y[list(idx)]).square().sum())


def test_mean_gradient_is_the_gradient_of_the_cost():
    model, x, y = _problem(9, seed=0)
    F.cross_entropy(model(x), y).backward()
    g = mean_gradient(model, x, y)
    assert g.shape == (10, 785)
    both = mean_gradient(model, torch.stack([x, x.flip(0)]), torch.stack([y, y.flip(0)]))
    torch.testing.assert_close(both, torch.stack([g, g]), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(g[:, :784], model.z.weight.grad, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(g[:, 784], model.z.bias.grad, rtol=1e-12, atol=1e-14)


def test_expected_minibatch_norms_enumerated_exactly():
    """E|G_B|² = |G|² + tr(Σ)(N − B)/(B(N − 1)) over all B-subsets, |G|² + tr(Σ)/B over all
    B-tuples (with replacement); so each two_batch variant returns the exact values."""
    n = 7
    model, x, y = _problem(n, seed=1)
    exact = gradient_noise_scale(model, x, y)
    G2, tr = exact["G_norm2"], exact["trace_sigma"]
    without, with_ = {}, {}
    for b in range(1, n + 1):
        subsets = list(itertools.combinations(range(n), b))
        without[b] = np.mean([_norm2(model, x, y, s) for s in subsets])
        assert without[b] == pytest.approx(G2 + tr * (n - b) / (b * (n - 1)), rel=1e-12)
    for b in (1, 2, 3):
        with_[b] = np.mean([_norm2(model, x, y, t) for t in itertools.product(range(n), repeat=b)])
        assert with_[b] == pytest.approx(G2 + tr / b, rel=1e-12)
    for bs, bb in [(1, 7), (2, 5), (3, 4)]:
        r = two_batch(without[bs], without[bb], bs, bb, population=n)
        assert (r["G_norm2"], r["trace_sigma"]) == (pytest.approx(G2), pytest.approx(tr))
        assert r["B_simple"] == pytest.approx(exact["B_simple"], rel=1e-10)
        m = two_batch(without[bs], without[bb], bs, bb)  # McCandlish's, on the wrong sampling
        assert m["trace_sigma"] == pytest.approx(tr * n / (n - 1), rel=1e-10)
        assert m["G_norm2"] == pytest.approx(G2 - tr / (n - 1), rel=1e-10)
    r = two_batch(with_[1], with_[3], 1, 3)
    assert (r["G_norm2"], r["trace_sigma"]) == (pytest.approx(G2), pytest.approx(tr))


def test_two_batch_averages_numerator_and_denominator_separately():
    s, g = np.array([5.0, 9.0, 7.0]), np.array([2.0, 2.5, 1.0])
    r = two_batch(s, g, 2, 8)
    gn = (8 * g - 2 * s) / 6
    tr = (s - g) / (1 / 2 - 1 / 8)
    assert r["G_norm2_each"] == pytest.approx(gn.tolist())
    assert r["trace_sigma_each"] == pytest.approx(tr.tolist())
    assert r["B_simple"] == pytest.approx(tr.mean() / gn.mean())
    assert r["B_simple"] != pytest.approx(np.mean(tr / gn))
    assert r["G_norm2_se"] == pytest.approx(gn.std(ddof=1) / math.sqrt(3))
    one = two_batch(5.0, 2.0, 2, 8)
    assert one["repeats"] == 1 and math.isnan(one["trace_sigma_se"])


def _within(est: float, exact: float, se: float, k: float = 4.0) -> bool:
    return abs(est - exact) <= k * se


def test_sampled_estimates_agree_with_the_exact_noise_scale():
    model, x, y = _problem(400, seed=2)
    exact = gradient_noise_scale(model, x, y)
    gen = torch.Generator().manual_seed(0)
    r = estimate_noise(model, x, y, b_small=4, b_big=64, repeats=3000, generator=gen)
    assert r["population"] == 400 and len(r["g_small_sq"]) == 3000
    assert _within(r["G_norm2"], exact["G_norm2"], r["G_norm2_se"])
    assert _within(r["trace_sigma"], exact["trace_sigma"], r["trace_sigma_se"])
    # B_simple's tolerance by the delta method (|correlation| ≤ 1: relative errors add)
    rel = r["G_norm2_se"] / r["G_norm2"] + r["trace_sigma_se"] / r["trace_sigma"]
    assert _within(r["B_simple"], exact["B_simple"], rel * r["B_simple"])
    assert rel < 0.2  # the check has teeth
    again = estimate_noise(
        model, x, y, b_small=4, b_big=64, repeats=3000, generator=torch.Generator().manual_seed(0)
    )
    assert again["B_simple"] == r["B_simple"]


def test_the_finite_population_correction_matters_when_b_is_a_large_part_of_n():
    model, x, y = _problem(80, seed=3, scale=5.0)
    exact = gradient_noise_scale(model, x, y)
    kw = {"b_small": 2, "b_big": 40, "repeats": 3000}
    fixed = estimate_noise(model, x, y, generator=torch.Generator().manual_seed(1), **kw)
    plain = estimate_noise(
        model, x, y, generator=torch.Generator().manual_seed(1), finite_population=False, **kw
    )
    assert _within(fixed["G_norm2"], exact["G_norm2"], fixed["G_norm2_se"])
    assert plain["population"] is None
    biased = exact["G_norm2"] - exact["trace_sigma"] / 79  # E of McCandlish's |G|² here
    assert _within(plain["G_norm2"], biased, plain["G_norm2_se"])
    assert not _within(plain["G_norm2"], exact["G_norm2"], plain["G_norm2_se"])


@pytest.mark.parametrize(
    "args, kw, match",
    [
        ((1.0, 0.5, 4, 4), {}, "b_small < b_big"),
        ((1.0, 0.5, 0, 4), {}, "b_small"),
        ((1.0, 0.5, 2, 4.0), {}, "b_big"),
        ((1.0, 0.5, 2, 4), {"population": 3}, "population"),
        (([1.0, 2.0], [0.5], 2, 4), {}, "shape"),
        ((1.0, -0.5, 2, 4), {}, ">= 0"),
        ((math.nan, 0.5, 2, 4), {}, "finite"),
    ],
)
def test_two_batch_refuses_bad_inputs(args, kw, match):
    with pytest.raises(ValueError, match=match):
        two_batch(*args, **kw)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"b_small": 8, "b_big": 8}, "b_small < b_big"),
        ({"b_big": 21}, "<= N"),
        ({"repeats": 0}, "repeats"),
    ],
)
def test_estimate_noise_refuses_bad_inputs(kw, match):
    model, x, y = _problem(20, seed=0)
    args = {"b_small": 2, "b_big": 8, "repeats": 3, "generator": torch.Generator(), **kw}
    with pytest.raises(ValueError, match=match):
        estimate_noise(model, x, y, **args)
    with pytest.raises(ValueError, match="784"):
        estimate_noise(model, x[:, :5], y, b_small=2, b_big=8, repeats=1, generator=None)
