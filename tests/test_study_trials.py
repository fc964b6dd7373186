"""sgdlab.study.trials: K trials trained together give each trial's numbers of a single run.

Single runs are ``sgdlab.train(engine="fast", validation=V, seed=SEED)`` on the bundled sample;
the trials see the same minibatch order (a MinibatchSampler seeded like train's, on the fit
images of the same hold-out split). The numba path must match bitwise, the torch (sgemm) path
within a measured tolerance.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

import sgdlab
from sgdlab.data.split import hold_out
from sgdlab.errors import ConfigError
from sgdlab.sampler import MinibatchSampler

pytest.importorskip("numba")

from sgdlab.study.trials import Trials  # noqa: E402

V, SEED = 200, 3  # the sample's 1,000 training images: 800 fit, 200 held out
PLAIN = (0.0, False)
NESTEROV = (0.9, True)


@pytest.fixture(scope="module")
def fit(sample):
    return hold_out(sample, V, seed=0)[0]


def _trials(fit, lrs, mu=0.0, nesterov=False) -> Trials:
    return Trials(fit.train_images, fit.train_labels, lrs=lrs, momentum=mu, nesterov=nesterov)


def _epochs(t: Trials, b: int, epochs: int, seed: int = SEED) -> list[torch.Tensor]:
    """Train ``epochs`` epochs in train's minibatch order; each epoch's costs (K, steps)."""
    s = MinibatchSampler(t.n, b, generator=torch.Generator().manual_seed(seed))
    out = []
    for _ in range(epochs):
        perm = s.permutation()
        out.append(t.sgd_steps(perm, b, 0, len(s)))
        s.advance(len(s))
    return out


def _single(sample, lr, mu, nesterov, epochs, *, b=16, engine="fast", method="sgd"):
    return sgdlab.train(
        batch_size=b,
        lr=lr,
        momentum=mu,
        nesterov=nesterov,
        seed=SEED,
        engine=engine,
        method=method,
        epochs=epochs,
        data=sample,
        validation=V,
        progress=False,
    )


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize(
    ("b", "opt", "lrs", "epochs"),
    [
        (1, PLAIN, (0.001, 0.01, 0.03), 1),
        (1, NESTEROV, (0.0005, 0.002, 0.005), 1),
        (7, PLAIN, (0.01, 0.05, 0.2), 1),  # odd: a last sample alone, a short last minibatch
        (16, PLAIN, (0.003, 0.02, 0.1, 0.3), 2),
        (16, NESTEROV, (0.001, 0.005, 0.02, 0.05), 2),
        (100, PLAIN, (0.01, 0.1, 0.5), 2),
        (100, NESTEROV, (0.005, 0.02, 0.1), 2),
        (300, (0.5, False), (0.01, 0.1, 0.5), 3),  # blocks of 128 + 128 + 44, heavy ball
        (300, NESTEROV, (0.01, 0.1), 3),
    ],
)
def test_each_trial_is_bitwise_its_single_fast_run(sample, fit, b, opt, lrs, epochs):
    mu, nesterov = opt
    t = _trials(fit, lrs, mu, nesterov)
    costs = _epochs(t, b, epochs)
    for k, lr in enumerate(lrs):
        run = _single(sample, lr, mu, nesterov, epochs, b=b)
        m = run.model.z
        assert torch.equal(t.get(k)["weight"], m.weight.detach()), (b, lr)
        assert torch.equal(t.get(k)["bias"], m.bias.detach()), (b, lr)
        for c, rec in zip(costs, run.history, strict=True):
            assert c[k].mean().item() == rec["mean_minibatch_cost"]


@pytest.mark.parametrize("opt", [PLAIN, NESTEROV, (0.5, False)])
def test_gd_step_is_bitwise_the_fast_engines_full_batch_step(sample, fit, opt):
    mu, nesterov = opt
    lrs = (0.05, 0.3, 1.0)
    t = _trials(fit, lrs, mu, nesterov)
    costs = [t.gd_step() for _ in range(3)]
    assert all(c.dtype == torch.float64 and c.shape == (3,) for c in costs)
    for k, lr in enumerate(lrs):
        run = _single(sample, lr, mu, nesterov, 3, method="gd")
        assert torch.equal(t.get(k)["weight"], run.model.z.weight.detach())
        assert torch.equal(t.get(k)["bias"], run.model.z.bias.detach())
        assert [c[k].item() for c in costs] == [h["mean_minibatch_cost"] for h in run.history]


@pytest.mark.parametrize("opt", [PLAIN, NESTEROV])
def test_large_batch_torch_path_agrees_with_single_runs(sample, fit, opt):
    """The sgemm path (forced by ``large_batch``), 24 steps of b = 100: measured ≤ 5e-7 relative
    (Frobenius) against the fast and the reference engine at these learning rates (the two
    engines differ from each other by as much); the bound asserted is 2e-6."""
    mu, nesterov = opt
    lrs, b, epochs = (0.01, 0.05, 0.1), 100, 3
    t = _trials(fit, lrs, mu, nesterov)
    t.large_batch = 64
    costs = _epochs(t, b, epochs)
    for k, lr in enumerate(lrs):
        for engine in ("fast", "reference"):
            run = _single(sample, lr, mu, nesterov, epochs, b=b, engine=engine)
            m = run.model.z
            assert _rel(t.get(k)["weight"], m.weight.detach()) < 2e-6, (engine, lr)
            assert _rel(t.get(k)["bias"], m.bias.detach()) < 2e-6, (engine, lr)
            for c, rec in zip(costs, run.history, strict=True):
                assert c[k].mean().item() == pytest.approx(rec["mean_minibatch_cost"], rel=1e-6)


@pytest.mark.parametrize("large", [None, 8])
def test_inactive_trials_stay_unchanged_and_the_others_do_not_notice(fit, large):
    lrs = (0.01, 0.05, 0.2)
    t, ref = _trials(fit, lrs, *NESTEROV), _trials(fit, lrs, *NESTEROV)
    for x in (t, ref):
        x.large_batch = large or x.large_batch
    perm = torch.randperm(t.n, generator=torch.Generator().manual_seed(1))
    t.sgd_steps(perm, 16, 0, 10)
    ref.sgd_steps(perm, 16, 0, 10)
    frozen = t.get(1)
    t.active[1] = False
    c = t.sgd_steps(perm, 16, 10, 30)
    g = t.gd_step()
    c_ref, g_ref = ref.sgd_steps(perm, 16, 10, 30), ref.gd_step()
    assert torch.isnan(c[1]).all() and torch.isnan(g[1])
    for key, v in t.get(1).items():
        assert torch.equal(v, frozen[key]), key
    for k in (0, 2):
        assert torch.equal(c[k], c_ref[k]) and torch.equal(g[k], g_ref[k])
        for key, v in t.get(k).items():
            assert torch.equal(v, ref.get(k)[key]), key
    t.active[:] = False
    assert torch.isnan(t.sgd_steps(perm, 16, 30, 31)).all() and torch.isnan(t.gd_step()).all()


@pytest.mark.parametrize(("b", "opt"), [(1, NESTEROV), (16, PLAIN), (300, (0.5, False))])
def test_get_put_replays_an_interval_to_the_same_bits(fit, b, opt):
    t = _trials(fit, (0.01, 0.05), *opt)
    perm = torch.randperm(t.n, generator=torch.Generator().manual_seed(2))
    nb = -(-t.n // b)
    a, z = nb // 3, nb
    t.sgd_steps(perm, b, 0, a)
    saved = [t.get(k) for k in range(t.K)]
    c1 = t.sgd_steps(perm, b, a, z)
    after = [t.get(k) for k in range(t.K)]
    for k in range(t.K):
        t.put(k, saved[k])
    c2 = t.sgd_steps(perm, b, a, z)
    assert torch.equal(c1, c2)
    for k in range(t.K):
        for key, v in t.get(k).items():
            assert torch.equal(v, after[k][key]), key
    if opt[0]:
        assert t.get(0)["buf_w"].abs().sum() > 0  # the buffers are part of the state


def test_a_diverging_trial_does_not_touch_the_others(fit):
    lrs = (0.01, 1e37, 0.05)  # 1e37: the weights overflow float32 within a few steps
    t, ok = _trials(fit, lrs), _trials(fit, (0.01, 0.05))
    perm = torch.randperm(t.n, generator=torch.Generator().manual_seed(4))
    c, c_ok = t.sgd_steps(perm, 16, 0, 40), ok.sgd_steps(perm, 16, 0, 40)
    assert not torch.isfinite(c[1]).all() and not torch.isfinite(t.get(1)["weight"]).all()
    assert torch.equal(c[[0, 2]], c_ok)
    g, g_ok = t.gd_step(), ok.gd_step()
    assert not torch.isfinite(g[1]) and torch.equal(g[[0, 2]], g_ok)
    for k, j in ((0, 0), (2, 1)):
        assert torch.equal(t.get(k)["weight"], ok.get(j)["weight"])


def test_model_and_weights_are_copies_of_the_trials(fit):
    t = _trials(fit, (0.01, 0.1))
    t.sgd_steps(torch.randperm(t.n), 16, 0, 5)
    w, b = t.weights()
    assert w.shape == (2, 10, 784) and b.shape == (2, 10) and w.dtype == b.dtype == torch.float32
    for k in range(2):
        m = t.model(k)
        assert isinstance(m, sgdlab.SoftmaxRegression)
        assert torch.equal(m.z.weight.detach(), w[k]) and torch.equal(m.z.bias.detach(), b[k])
    w.zero_()
    with torch.no_grad():
        t.model(0).z.weight.zero_()
    assert t.get(0)["weight"].abs().sum() > 0  # the copies did not write through
    t.get(0)["weight"].zero_()
    assert t.get(0)["weight"].abs().sum() > 0


def test_starts_at_zero_with_every_trial_active(fit):
    t = _trials(fit, [0.1, 0.2, 0.3])
    assert t.K == 3 and t.active.dtype == np.bool_ and t.active.all()
    s = t.get(2)
    assert all(v.abs().sum() == 0 for v in s.values())
    c = t.sgd_steps(torch.randperm(t.n), 16, 0, 1)
    assert c.dtype == torch.float64 and c.shape == (3, 1)
    assert torch.allclose(c, torch.full((3, 1), np.log(10.0), dtype=torch.float64))


def test_bad_arguments_raise_clear_errors(fit):
    x, y = fit.train_images, fit.train_labels
    good = {"lrs": (0.1,)}
    bad_init = [
        ((x.float(), y), good, "uint8"),
        ((x[:, :5], y), good, r"\(N,28,28\)"),
        ((x, y.int()), good, "int64"),
        ((x, y[:-1]), good, "labels shape"),
        ((x, y + 10), good, "0..9"),
        ((x, y), {"lrs": ()}, "at least one"),
        ((x, y), {"lrs": (0.1, -1.0)}, "> 0"),
        ((x, y), {"lrs": (float("nan"),)}, "finite"),
        ((x, y), {"lrs": (1e-50,)}, "> 0"),  # float32(1e-50) = 0
        ((x, y), {"lrs": ("a",)}, "numbers"),
        ((x, y), {"lrs": (0.1,), "momentum": 1.0}, r"\[0, 1\)"),
        ((x, y), {"lrs": (0.1,), "momentum": -0.1}, r"\[0, 1\)"),
        ((x, y), {"lrs": (0.1,), "momentum": True}, "number"),
        ((x, y), {"lrs": (0.1,), "nesterov": True}, "momentum > 0"),
        ((x, y), {"lrs": (0.1,), "momentum": 0.9, "nesterov": 1}, "True or False"),
    ]
    for args, kw, match in bad_init:
        with pytest.raises(ConfigError, match=match):
            Trials(*args, **kw)
    t = _trials(fit, (0.1, 0.2))
    perm = torch.randperm(t.n)
    bad_steps = [
        ((perm, 0, 0, 1), "batch size"),
        ((perm, t.n + 1, 0, 1), "batch size"),
        ((perm, True, 0, 1), "batch size"),
        ((perm, 16, 2, 1), "minibatches"),
        ((perm, 16, 0, 51), "minibatches"),
        ((perm, 16, 0.0, 1), "integers"),
        ((perm.int(), 16, 0, 1), "int64"),
        ((perm[:-1], 16, 0, 1), "indices"),
        ((perm + 1, 16, 0, 1), "indices"),
    ]
    for args, match in bad_steps:
        with pytest.raises(ConfigError, match=match):
            t.sgd_steps(*args)
    for k in (-1, 2, 1.0, True):
        with pytest.raises(ConfigError, match="trial index"):
            t.get(k)
    s = t.get(0)
    with pytest.raises(ConfigError, match="keys"):
        t.put(0, {"weight": s["weight"]})
    with pytest.raises(ConfigError, match="float32"):
        t.put(0, {**s, "bias": s["bias"].double()})
    t.active = np.ones(3, bool)
    for call in (lambda: t.sgd_steps(perm, 16, 0, 1), t.gd_step):
        with pytest.raises(ConfigError, match="active"):
            call()
    assert issubclass(ConfigError, ValueError)


def test_importing_trials_does_not_import_numba():
    code = "import sys, sgdlab.study.trials; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
