"""Exercise 5: ∇L = −N·L·∇C underflows; minibatch ∇C is unbiased (finite-population variance),
minibatch estimates of ∇L are off by orders of magnitude. ``sgdlab likelihood`` CLI."""

from __future__ import annotations

import json
import math

import pytest
import torch

from sgdlab.analysis.estimators import finite_population_mse, gradient_variance, monte_carlo
from sgdlab.analysis.likelihood import (
    LN10,
    ascent_vs_descent,
    autograd_grad_L,
    closed_form_grad_L,
    gradient_figures,
    likelihood_figures,
    log_grad_L,
    per_sample,
    underflow_n,
    underflow_nats,
    zero_nats,
)
from sgdlab.cli.main import main
from sgdlab.errors import ConfigError
from sgdlab.model import SoftmaxRegression


def _model(seed: int = 1) -> SoftmaxRegression:
    return SoftmaxRegression(init="uniform", generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def sample_ps(sample):
    return per_sample(_model(), sample.train_images, sample.train_labels)


# --- (a) thresholds, closed form, log-space, ascent vs descent ------------------------------


def test_underflow_thresholds():
    assert underflow_nats(torch.float32) == pytest.approx(149 * math.log(2))  # 103.28
    assert underflow_nats(torch.float64) == pytest.approx(1074 * math.log(2))  # 744.44
    assert zero_nats(torch.float32) == pytest.approx(103.97, abs=0.01)
    assert zero_nats(torch.float64) == pytest.approx(745.13, abs=0.01)

    def e(x, dt):
        return float(torch.exp(torch.tensor(-x, dtype=dt)))

    assert e(103.3, torch.float32) > 0 and e(103.9, torch.float32) > 0  # subnormal, not 0
    assert e(104.0, torch.float32) == 0.0
    assert e(744.4, torch.float64) > 0 and e(745.0, torch.float64) > 0
    assert e(745.2, torch.float64) == 0.0
    h = torch.full((400,), math.log(10.0), dtype=torch.float64)  # zero init: L = 10^-N
    assert underflow_n(h, torch.float32) == 46 and underflow_n(h, torch.float64) == 324
    for dt in (torch.float32, torch.float64):  # the direct running product agrees
        zero = (torch.cumprod(torch.full((400,), 0.1, dtype=dt), 0) == 0).nonzero()[0, 0] + 1
        assert abs(int(zero) - underflow_n(h, dt)) <= 1
    assert underflow_n(h[:40], torch.float32) is None


def test_closed_form_and_log_space_equal_autograd_when_L_is_representable(sample):
    x, t = sample.train_images[:20], sample.train_labels[:20]  # N = 20: L ≈ 1e-20
    m = _model()
    ps = per_sample(m, x, t)
    cw, cb, lik = closed_form_grad_L(ps)
    assert 0 < lik == pytest.approx(math.exp(-20 * ps.cost), rel=1e-12)
    for form in ("exp", "prod"):
        aw, ab, la = autograd_grad_L(m, ps.x, t, dtype=torch.float64, form=form)
        assert la == pytest.approx(lik, rel=1e-9)
        torch.testing.assert_close(cw, aw, rtol=1e-9, atol=0)
        torch.testing.assert_close(cb, ab, rtol=1e-9, atol=0)
    gw, gb = ps.gradient()  # ∂L/∂w = −N·L·∂C/∂w
    torch.testing.assert_close(cw, -20 * lik * gw, rtol=1e-9, atol=0)
    lg = log_grad_L(ps)
    torch.testing.assert_close(lg["sign_w"] * lg["log_w"].exp(), cw, rtol=1e-9, atol=0)
    torch.testing.assert_close(lg["sign_b"] * lg["log_b"].exp(), cb, rtol=1e-9, atol=0)


def test_grad_L_vanishes_on_real_N_but_log_space_does_not(sample, sample_ps):
    lk = likelihood_figures(sample_ps)
    assert lk["n"] == 1000 and lk["log_L"] == pytest.approx(-1000 * sample_ps.cost)
    for d in lk["dtypes"].values():
        assert d["L_exp"] == 0.0 and d["L_prod"] == 0.0 and d["underflow_n"] < 1000
    gr = gradient_figures(_model(), sample_ps, p=3, q=400)
    for a in gr["autograd"].values():  # 0 or NaN: never a usable gradient
        assert a["nonzero_finite"] == 0 and a["zeros"] + a["nans"] == 7850
    assert gr["closed_form_float64"]["nonzero_finite"] == 0
    ls = gr["log_space"]
    expected = -1000 * sample_ps.cost / LN10 + math.log10(1000 * abs(gr["dC_dw_pq"]))
    assert ls["log10_abs_pq"] == pytest.approx(expected, rel=1e-9)
    assert ls["sign_pq"] == -math.copysign(1, gr["dC_dw_pq"])


def test_ascent_on_L_cannot_move_descent_on_C_does(sample_ps):
    st = ascent_vs_descent(_model(), sample_ps, lr=0.005)
    up, down = st["ascent_L"], st["descent_C"]
    assert not up["moved"] and up["step_norm"] == 0 and up["cost_after"] == up["cost_before"]
    assert down["moved"] and down["cost_after"] < down["cost_before"] - 1e-3
    assert st["log10_lr_needed_for_ascent"] > 308  # beyond the largest float64
    with pytest.raises(ConfigError):
        ascent_vs_descent(_model(), sample_ps, lr=float("nan"))


@pytest.mark.full_data
def test_full_set_fresh_model(full):
    ps = per_sample(SoftmaxRegression(), full.train_images, full.train_labels)
    lk = likelihood_figures(ps)
    assert lk["log10_L"] == pytest.approx(-60000)  # every y_t = 1/10
    assert lk["dtypes"]["float32"]["underflow_n"] == 46
    assert lk["dtypes"]["float64"]["underflow_n"] == 324
    st = ascent_vs_descent(SoftmaxRegression(), ps, lr=0.005)
    assert not st["ascent_L"]["moved"] and st["descent_C"]["cost_after"] < math.log(10) - 0.01


# --- (b) minibatch estimators ----------------------------------------------------------------


def test_minibatch_grad_C_unbiased_with_finite_population_variance(sample_ps):
    sizes = (1, 10, 100, 500, 900)
    mc = monte_carlo(
        sample_ps,
        batch_sizes=sizes,
        draws=1000,
        generator=torch.Generator().manual_seed(0),
        p=3,
        q=400,
    )
    for r in mc["rows"]:
        c, b = r["cost_grad"], r["batch_size"]
        # E‖g_B − g‖² = (N−b)/(b(N−1))·σ²: within 4 standard errors (at b = 900 the
        # with-replacement σ²/b would be 10x too large)
        assert abs(c["mse_over_formula"] - 1) < 4 * c["mse_over_formula_se"] + 0.01, (b, c)
        # the mean over draws converges to ∇C: its error is ~ √(formula/draws)
        assert c["bias_rel"] < 3 * c["bias_rel_expected"], (b, c)
        assert abs(c["mean_pq"] - c["true_pq"]) < 4.5 * c["se_pq"], (b, c)
    assert mc["slope"] == pytest.approx(-0.5, abs=0.05)  # relative error ∝ 1/√b
    ratio = (
        mc["rows"][0]["cost_grad"]["rms_rel_error"] / mc["rows"][2]["cost_grad"]["rms_rel_error"]
    )
    assert ratio == pytest.approx(math.sqrt(100 * 999 / 900), rel=0.05)


def test_minibatch_grad_L_is_off_by_orders_of_magnitude(sample_ps):
    mc = monte_carlo(
        sample_ps,
        batch_sizes=(1, 16, 256),
        draws=300,
        generator=torch.Generator().manual_seed(1),
        p=3,
        q=400,
    )
    for r in mc["rows"]:
        plug, resc = r["likelihood_grad"]["plugin"], r["likelihood_grad"]["rescaled"]
        assert plug["log10_mean_norm_ratio"] > 5 and plug["log10_mean_scale_ratio"] > 5
        assert plug["median_abs_log10_norm_ratio"] > 1  # a typical draw is off by > 10x
        assert plug["ess"] < 3  # the mean is one lucky draw
        assert resc["log10_mean_norm_ratio"] > 300
        assert r["cost_grad"]["rms_rel_error"] < 10
        assert r["sd_log10_factor"] == pytest.approx(r["sd_log10_factor_formula"], rel=0.2)


def test_log_space_estimators_match_brute_force_float64():
    """On N = 30 every quantity is representable: compare with plain float64 arithmetic."""
    g = torch.Generator().manual_seed(5)
    n, draws, sizes, p, q = 30, 40, (1, 4, 12, 25), 2, 100
    x = torch.randn(n, 784, generator=g)
    t = torch.randint(0, 10, (n,), generator=g)
    ps = per_sample(_model(3), x, t)
    idx = torch.stack([torch.randperm(n, generator=g) for _ in range(draws)])  # (draws,n)
    mc = monte_carlo(ps, batch_sizes=sizes, draws=draws, generator=None, p=p, q=q, indices=idx)

    G = torch.cat([(ps.r[:, :, None] * ps.x.double()[:, None, :]).reshape(n, -1), ps.r], 1)
    gbar, c = G.mean(0), ps.cost  # (7850,)
    true = -n * math.exp(-n * c) * gbar
    sigma2 = float(((G - gbar) ** 2).sum(1).mean())
    assert mc["sigma2"] == pytest.approx(sigma2, rel=1e-6)  # ‖x_i‖² summed in float32
    for r, b in zip(mc["rows"], sizes, strict=True):
        gB = torch.stack([G[i[:b]].mean(0) for i in idx])  # (draws,7850)
        cB = torch.stack([ps.h[i[:b]].mean() for i in idx])
        mse = float(((gB - gbar) ** 2).sum(1).mean())
        cg = r["cost_grad"]
        assert cg["rms_rel_error"] == pytest.approx(math.sqrt(mse) / float(gbar.norm()), rel=1e-5)
        fp = finite_population_mse(n, b, sigma2)
        assert cg["mse_over_formula"] == pytest.approx(mse / fp, rel=1e-5)
        assert cg["bias_rel"] == pytest.approx(
            float((gB.mean(0) - gbar).norm() / gbar.norm()), rel=1e-4
        )
        scales = {"plugin": -n * torch.exp(-n * cB), "rescaled": -n * torch.exp(-b * cB)}
        for name, scale in scales.items():
            est = scale[:, None] * gB  # (draws,7850)
            want = {
                "log10_mean_norm_ratio": math.log10(float(est.norm(dim=1).mean() / true.norm())),
                "log10_mean_abs_pq_ratio": math.log10(
                    float(est[:, p * 784 + q].abs().mean() / abs(true[p * 784 + q]))
                ),
                "log10_rms_rel_error": math.log10(
                    float(((est - true) ** 2).sum(1).mean().sqrt() / true.norm())
                ),
                "log10_rel_error_of_mean": math.log10(
                    float((est.mean(0) - true).norm() / true.norm())
                ),
                "ess": float(scale.sum() ** 2 / (scale**2).sum()),
                "median_abs_log10_norm_ratio": float(
                    torch.log10(est.norm(dim=1) / true.norm()).abs().median()
                ),
            }
            if name == "plugin":
                want["log10_mean_scale_ratio"] = math.log10(float(torch.exp(-n * (cB - c)).mean()))
            got = r["likelihood_grad"][name]
            for k, v in want.items():
                assert got[k] == pytest.approx(v, rel=1e-5, abs=1e-6), (b, name, k)


def test_gradient_variance_and_validation(sample_ps):
    gw, gb = sample_ps.gradient()
    g = torch.cat([gw.reshape(-1), gb])
    G = torch.cat(
        [
            (sample_ps.r[:100, :, None] * sample_ps.x[:100, None, :].double()).reshape(100, -1),
            sample_ps.r[:100],
        ],
        1,
    )
    sub = per_sample(_model(), sample_ps.x[:100], sample_ps.labels[:100])
    gs = G.mean(0)
    assert gradient_variance(sub, gs) == pytest.approx(
        float(((G - gs) ** 2).sum(1).mean()), rel=1e-6
    )
    assert g.shape == (7850,)
    gen = torch.Generator().manual_seed(0)
    for kw in (
        {"batch_sizes": (0,)},
        {"batch_sizes": (1000,)},
        {"draws": 1},
        {"p": 10},
        {"q": 784},
        {"indices": torch.zeros(5, 4, dtype=torch.int64), "draws": 5, "batch_sizes": (4,)},
    ):
        with pytest.raises(ConfigError):
            monte_carlo(sample_ps, generator=gen, **{"draws": 10, **kw})


# --- CLI -----------------------------------------------------------------------------------


def _numbers(o, path=""):
    if isinstance(o, dict):
        for k, v in o.items():
            yield from _numbers(v, f"{path}.{k}")
    elif isinstance(o, list):
        for i, v in enumerate(o):
            yield from _numbers(v, f"{path}[{i}]")
    else:
        yield path, o


def test_cli_json_schema_and_finite_figures(capsys):
    code = main(
        [
            "likelihood",
            "--sample",
            "--json",
            "--quiet",
            "--init",
            "uniform",
            "--draws",
            "50",
            "--batch-sizes",
            "1,16,256",
            "--p",
            "3",
            "--q",
            "400",
        ]
    )
    out = capsys.readouterr().out
    top = json.loads(out)
    assert code == 0 and set(top) >= {"config", "environment", "result"}
    assert top["config"]["p"] == 3 and top["config"]["batch_sizes"] == [1, 16, 256]
    doc = top["result"]
    assert set(doc) >= {"model", "likelihood", "gradient", "steps", "monte_carlo", "data"}
    assert doc["data"]["is_sample"] and doc["likelihood"]["n"] == 1000
    assert doc["monte_carlo"]["batch_sizes"] == [1, 16, 256]
    row = doc["monte_carlo"]["rows"][0]
    assert set(row) >= {"batch_size", "draws", "cost_grad", "likelihood_grad", "sd_log10_factor"}
    assert set(row["likelihood_grad"]) == {"plugin", "rescaled"}
    assert doc["steps"]["ascent_L"]["moved"] is False and doc["steps"]["descent_C"]["moved"]
    for path, v in _numbers(
        {k: doc[k] for k in ("likelihood", "gradient", "steps", "monte_carlo")}
    ):
        assert isinstance(v, (int, float, bool)) and math.isfinite(v), path
    assert "NaN" not in out and "Infinity" not in out


def test_cli_table_plot_and_weights(capsys, tmp_path):
    from sgdlab.training.weights import save_weights

    w = save_weights(_model(), tmp_path / "w.pt")
    png = tmp_path / "err.png"
    code = main(
        [
            "likelihood",
            "--sample",
            "-q",
            "--weights",
            str(w),
            "--draws",
            "20",
            "--batch-sizes",
            "1,64",
            "--plot",
            str(png),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "SAMPLE" in out and "did not move" in out and "weights" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--batch-sizes", "1000"], "1..999"),
        (["--p", "10"], "0..9"),
        (["--q", "784"], "0..783"),
        (["--draws", "1"], "≥ 2"),
        (["--train-epochs", "1", "--weights", "w.pt"], "exclude"),
        (["--plot", "x.txt"], ".png"),
        (["--batch-sizes", "a"], "--batch-sizes"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(capsys, argv, words):
    with pytest.raises(SystemExit) as e:
        raise SystemExit(main(["likelihood", "--sample", "-q", *argv]))
    err = capsys.readouterr().err
    assert e.value.code == 2 and words in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv, epochs", [([], 1), (["--train-epochs", "0"], 0), (["-e", "2"], 2)])
def test_cli_default_trains_first_and_says_which_model(capsys, argv, epochs):
    """At the zero init every H = ln 10 (part (b) is degenerate), so by default the command
    studies the model after one epoch of SGD, and says so."""
    code = main(
        ["likelihood", "--sample", "--json", "-q", "--draws", "20", "--batch-sizes", "1,16", *argv]
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["config"]["train_epochs"] == epochs
    r = doc["result"]
    assert f"--train-epochs {epochs}" in r["model"]
    if epochs:
        assert f"after {epochs} epoch(s) of SGD" in r["model"]
        assert r["likelihood"]["sd_H"] > 0.1
    else:
        assert "untrained" in r["model"] and r["likelihood"]["sd_H"] < 1e-9
