"""sgdlab.study.fit: the McCandlish fit on planted curves (exact without noise, close with it),
the bootstrap's coverage, the regimes' rule and the lr scaling rules; bad inputs raise."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sgdlab.study.fit import (
    bootstrap_fit,
    fit_scaling,
    local_slopes,
    lr_scaling,
    regimes,
)

B = [2.0**k for k in range(16)] + [50_000.0]  # the study's b: 1 … 32768 and the full batch


def model_steps(b, s_min, b_crit):
    return s_min * (1 + b_crit / np.asarray(b, float))


# --- fit_scaling ---------------------------------------------------------------------------


@pytest.mark.parametrize("s_min, b_crit", [(100.0, 200.0), (7.5, 3.0), (2000.0, 30_000.0)])
def test_noiseless_curves_are_recovered_exactly(s_min, b_crit):
    f = fit_scaling(B, model_steps(B, s_min, b_crit))
    assert f["S_min"] == pytest.approx(s_min, rel=1e-10)
    assert f["B_crit"] == pytest.approx(b_crit, rel=1e-10)
    assert f["E_min"] == pytest.approx(s_min * b_crit, rel=1e-10)
    assert f["boundary"] is None
    assert np.max(np.abs(f["residuals"])) < 1e-10
    assert np.max(np.abs(f["log_residuals"])) < 1e-10
    assert f["S_fit"] == pytest.approx(model_steps(B, s_min, b_crit).tolist(), rel=1e-10)


def test_two_distinct_batch_sizes_determine_the_model_and_repeats_are_points():
    f = fit_scaling([8, 64], model_steps([8, 64], 40.0, 100.0))
    assert (f["S_min"], f["B_crit"]) == (pytest.approx(40.0), pytest.approx(100.0))
    t = 40 * (1 + 100 / 8)
    g = fit_scaling([8, 8, 64], [1.1 * t, 0.9 * t, 40 * (1 + 100 / 64)])
    # b = 64 is fitted exactly; at b = 8 Ŝ minimizes the relative errors (1 − Ŝ/S)² of both
    # points: Ŝ = Σu/Σu², u = 1/S (an unweighted fit would give their mean, t)
    u = np.array([1 / (1.1 * t), 1 / (0.9 * t)])
    assert len(g["residuals"]) == 3 and g["residuals"][2] == pytest.approx(0, abs=1e-12)
    assert g["S_fit"][0] == pytest.approx(u.sum() / (u @ u), rel=1e-12)
    assert g["S_fit"][0] != pytest.approx(t, rel=1e-3)


def test_noisy_curves_are_recovered_approximately():
    rng = np.random.default_rng(1)
    s = model_steps(B, 100.0, 200.0) * np.exp(rng.normal(0, 0.05, len(B)))
    f = fit_scaling(B, s)
    assert f["S_min"] == pytest.approx(100.0, rel=0.08)
    assert f["B_crit"] == pytest.approx(200.0, rel=0.15)
    assert np.std(f["log_residuals"]) == pytest.approx(0.05, rel=0.5)


def test_the_fit_minimizes_the_relative_error_and_has_the_right_units():
    rng = np.random.default_rng(2)
    s = model_steps(B, 50.0, 500.0) * np.exp(rng.normal(0, 0.2, len(B)))
    f = fit_scaling(B, s)

    def obj(a, e):
        return float(np.sum((1 - (a + e / np.array(B)) / s) ** 2))

    best = obj(f["S_min"], f["E_min"])
    for da, de in [(1.01, 1), (0.99, 1), (1, 1.01), (1, 0.99), (1.01, 1.01), (0.99, 1.01)]:
        assert obj(f["S_min"] * da, f["E_min"] * de) > best
    g = fit_scaling(np.array(B) * 3, s * 10)  # b in other units, S ten times longer
    assert g["B_crit"] == pytest.approx(3 * f["B_crit"], rel=1e-9)
    assert g["S_min"] == pytest.approx(10 * f["S_min"], rel=1e-9)


def test_curves_outside_the_model_fall_on_a_boundary():
    steep = fit_scaling([1, 2, 4, 8], [1000.0, 480.0, 230.0, 110.0])  # faster than 1/b
    assert steep["boundary"] == "S_min=0" and steep["S_min"] == 0 and steep["B_crit"] == math.inf
    flat = fit_scaling([1, 2, 4, 8], [100.0, 101.0, 103.0, 104.0])  # rising: no gain at all
    assert flat["boundary"] == "E_min=0" and flat["E_min"] == 0 and flat["B_crit"] == 0

    def obj(a, e, b, s):
        return float(np.sum((1 - (a + e / np.asarray(b, float)) / np.asarray(s)) ** 2))

    for f, b, s in [
        (steep, [1, 2, 4, 8], [1000.0, 480.0, 230.0, 110.0]),
        (flat, [1, 2, 4, 8], [100.0, 101.0, 103.0, 104.0]),
    ]:  # no feasible point on a grid does better
        best = obj(f["S_min"], f["E_min"], b, s)
        grid = np.linspace(0, 1100, 111)
        assert min(obj(a, e, b, s) for a in grid for e in grid) >= best - 1e-12


@pytest.mark.parametrize(
    "b, s, match",
    [
        ([4, 4, 4], [10, 9, 8], "2 distinct"),
        ([1, 2], [10.0], "same length"),
        ([0, 2], [10, 5], "positive"),
        ([1, 2], [10, -5], "positive"),
        ([1, 2], [10, math.nan], "finite"),
        ([1, math.inf], [10, 5], "finite"),
        ([[1, 2]], [[3, 4]], "1-D"),
        ([], [], "non-empty"),
    ],
)
def test_fit_scaling_refuses_bad_inputs(b, s, match):
    with pytest.raises(ValueError, match=match):
        fit_scaling(b, s)


# --- bootstrap_fit -------------------------------------------------------------------------


def seeded(rng, b, s_min, b_crit, k, sigma):
    return [list(model_steps([x], s_min, b_crit)[0] * np.exp(rng.normal(0, sigma, k))) for x in b]


def test_bootstrap_is_the_fit_on_medians_and_deterministic():
    rng = np.random.default_rng(0)
    data = seeded(rng, B, 80.0, 400.0, 5, 0.1)
    r = bootstrap_fit(B, data, n_boot=200, seed=3)
    meds = [float(np.median(d)) for d in data]
    assert r["medians"] == meds
    assert r["B_crit"] == fit_scaling(B, meds)["B_crit"]
    assert r == bootstrap_fit(B, data, n_boot=200, seed=3)
    assert r["B_crit_ci"] != bootstrap_fit(B, data, n_boot=200, seed=4)["B_crit_ci"]
    assert r["n_valid"] == r["n_boot"] == 200 and r["excluded_b"] == []
    for k in ("S_min", "E_min", "B_crit"):
        lo, hi = r[f"{k}_ci"]
        assert lo <= r[k] <= hi


def test_bootstrap_intervals_cover_the_truth_on_synthetic_seed_noise():
    rng = np.random.default_rng(12)
    b = [2.0**k for k in range(15)]
    hits = {"S_min": 0, "B_crit": 0, "E_min": 0}
    widths = []
    trials = 40
    for t in range(trials):
        r = bootstrap_fit(b, seeded(rng, b, 50.0, 300.0, 7, 0.15), n_boot=200, seed=t)
        for k, truth in (("S_min", 50.0), ("B_crit", 300.0), ("E_min", 15_000.0)):
            lo, hi = r[f"{k}_ci"]
            hits[k] += lo <= truth <= hi
        widths.append(r["B_crit_ci"][1] / r["B_crit_ci"][0])
    for k, h in hits.items():
        assert h / trials >= 0.8, (k, h)  # nominal 95 %
    assert np.median(widths) < 1.6  # informative, not vacuous


def test_more_seeds_give_narrower_intervals():
    rng = np.random.default_rng(5)
    few = bootstrap_fit(B, seeded(rng, B, 50.0, 300.0, 3, 0.2), n_boot=300)
    many = bootstrap_fit(B, seeded(rng, B, 50.0, 300.0, 30, 0.2), n_boot=300)
    assert np.diff(many["B_crit_ci"])[0] < 0.6 * np.diff(few["B_crit_ci"])[0]


def test_seeds_that_never_reach_the_target():
    rng = np.random.default_rng(0)
    b = [1.0, 4.0, 16.0, 64.0, 256.0]
    data = seeded(rng, b, 30.0, 50.0, 5, 0.05)
    data[0][:2] = [None, math.inf]  # 2 of 5 fail: the median is finite, some replicates are not
    data[4] = [None] * 5  # never reached: left out
    r = bootstrap_fit(b, data, n_boot=500)
    assert r["excluded_b"] == [256.0] and r["b"] == b[:4]
    assert 0 < r["n_valid"] < 500
    assert r["B_crit"] == fit_scaling(b[:4], r["medians"])["B_crit"]


@pytest.mark.parametrize(
    "kw, data, match",
    [
        ({"n_boot": 0}, None, "n_boot"),
        ({"n_boot": 10.0}, None, "n_boot"),
        ({"level": 1.0}, None, "level"),
        ({"level": 0}, None, "level"),
        ({"seed": -1}, None, "seed"),
        ({}, [[10.0]], "one list per b"),
        ({}, [[10.0], []], "non-empty"),
        ({}, [[10.0], [0.0]], "positive"),
        ({}, [[10.0], [math.nan]], "positive"),
        ({}, [[10.0], [None, None]], "fewer than 2"),
    ],
)
def test_bootstrap_refuses_bad_inputs(kw, data, match):
    with pytest.raises(ValueError, match=match):
        bootstrap_fit([1, 2], data or [[10.0, 11.0], [6.0, 5.0]], **kw)


# --- regimes -------------------------------------------------------------------------------


def test_regimes_by_the_fitted_slope():
    b = [1, 10, 33, 34, 100, 299, 300, 1000]
    got = regimes(b, model_steps(b, 10.0, 100.0), {"B_crit": 100.0})
    p, d, m = "perfect scaling", "diminishing returns", "maximal data parallelism"
    assert got == [p, p, p, d, d, d, m, m]  # b ≤ 100/3, b ≥ 300
    wide = regimes(b, model_steps(b, 10.0, 100.0), {"B_crit": 100.0}, perfect_slope=-0.5)
    assert wide[:5] == [p] * 5 and wide[5] == d  # −1/2: b ≤ B_crit
    assert set(regimes(b, b, {"B_crit": math.inf})) == {p}
    assert set(regimes(b, b, {"B_crit": 0.0})) == {m}


def test_regimes_by_the_data_follow_the_measured_slopes():
    b = np.array([2.0 ** (k / 2) for k in range(31)])  # √2 apart
    s = model_steps(b, 10.0, 500.0)
    ub, slope = local_slopes(b, s)
    assert np.allclose(slope[1:-1], -500 / (ub[1:-1] + 500), atol=0.02)
    by_data = regimes(b, s, {}, by="data")
    by_fit = regimes(b, s, fit_scaling(b, s))
    exact = -500 / (b + 500)
    far = (np.abs(exact + 0.75) > 0.05) & (np.abs(exact + 0.25) > 0.05)
    assert [x for x, f in zip(by_data, far, strict=True) if f] == [
        x for x, f in zip(by_fit, far, strict=True) if f
    ]
    assert set(regimes([1, 2, 4], [400, 200, 100], {}, by="data")) == {"perfect scaling"}
    assert set(regimes([1, 2, 4], [40, 40, 40], {}, by="data")) == {"maximal data parallelism"}


@pytest.mark.parametrize(
    "fit, kw, match",
    [
        ({}, {}, "B_crit"),
        ({"B_crit": -1.0}, {}, "B_crit"),
        ({"B_crit": math.nan}, {}, "B_crit"),
        ({"B_crit": 1.0}, {"by": "model"}, "by"),
        ({"B_crit": 1.0}, {"perfect_slope": -0.2}, "perfect_slope"),
        ({"B_crit": 1.0}, {"maximal_slope": 0.0}, "maximal_slope"),
        ({"B_crit": 1.0}, {"perfect_slope": -1.0}, "perfect_slope"),
    ],
)
def test_regimes_refuse_bad_inputs(fit, kw, match):
    with pytest.raises(ValueError, match=match):
        regimes([1, 2], [10, 6], fit, **kw)


# --- lr_scaling ----------------------------------------------------------------------------


def test_lr_scaling_recovers_a_planted_mccandlish_curve():
    b = np.array(B)
    lr = 0.8 / (1 + 300.0 / b)
    r = lr_scaling(b, lr, b_noise=300.0)["rules"]
    free = r["mccandlish_fit"]
    assert free["B_noise"] == pytest.approx(300.0, rel=1e-6)
    assert free["eps_max"] == pytest.approx(0.8, rel=1e-6)
    assert free["error"] == pytest.approx(1.0, abs=1e-6)
    assert r["mccandlish"]["eps_max"] == pytest.approx(0.8, rel=1e-12)
    assert r["mccandlish"]["error"] == pytest.approx(1.0, abs=1e-12)
    assert r["linear"]["error"] > 4 and r["sqrt"]["error"] > 3  # 4.54, 3.50


def test_lr_scaling_with_noise_and_with_a_wrong_b_noise():
    rng = np.random.default_rng(3)
    b = np.array(B)
    lr = 0.5 / (1 + 1000.0 / b) * np.exp(rng.normal(0, 0.05, b.size))
    r = lr_scaling(b, lr, b_noise=100.0)["rules"]
    assert r["mccandlish_fit"]["B_noise"] == pytest.approx(1000.0, rel=0.3)
    assert r["mccandlish_fit"]["eps_max"] == pytest.approx(0.5, rel=0.1)
    assert r["mccandlish_fit"]["error"] < r["mccandlish"]["error"]


def test_lr_scaling_on_the_simple_rules_and_their_limits():
    b = np.array([1.0, 2.0, 8.0, 64.0])
    lin = lr_scaling(b, 0.01 * b)["rules"]
    assert lin["linear"]["error"] == pytest.approx(1.0, abs=1e-12)
    assert lin["linear"]["lr"] == pytest.approx((0.01 * b).tolist())
    assert lin["mccandlish_fit"]["B_noise"] == math.inf
    assert lin["mccandlish_fit"]["error"] == pytest.approx(1.0, abs=1e-12)
    assert "mccandlish" not in lin
    sq = lr_scaling(b, 0.1 * np.sqrt(b))["rules"]
    assert sq["sqrt"]["error"] == pytest.approx(1.0, abs=1e-12)
    const = lr_scaling(b, [0.3] * 4)["rules"]["mccandlish_fit"]
    assert const["B_noise"] == 0.0 and const["eps_max"] == pytest.approx(0.3)
    # the error: exp(mean |log ratio|); linear from lr 1 at b=1 predicts 2 at b=2
    assert lr_scaling([1, 2], [1.0, 1.0])["rules"]["linear"]["error"] == pytest.approx(math.sqrt(2))
    # the anchor: the geometric mean of the lrs at the smallest b
    r = lr_scaling([1, 1, 4], [0.1, 0.4, 0.8])
    assert r["anchor_b"] == 1.0 and r["rules"]["linear"]["lr"][2] == pytest.approx(0.8)


@pytest.mark.parametrize(
    "b, lr, kw, match",
    [
        ([1, 2], [0.1, 0.2], {"b_noise": -1.0}, "b_noise"),
        ([1, 2], [0.1, 0.2], {"b_noise": math.inf}, "b_noise"),
        ([1, 2], [0.1, 0.0], {}, "positive"),
        ([1, 2], [0.1], {}, "same length"),
        ([2, 2], [0.1, 0.2], {}, "2 distinct"),
    ],
)
def test_lr_scaling_refuses_bad_inputs(b, lr, kw, match):
    with pytest.raises(ValueError, match=match):
        lr_scaling(b, lr, **kw)
