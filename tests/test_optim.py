"""Every update option, in every engine, against a plain loop of torch.optim.SGD (+ lr_scheduler).

One epoch at b = 16 on the sample (two for the step schedule), through :func:`sgdlab.train`,
against ``torch.optim.SGD(momentum=, nesterov=, weight_decay=)`` and PyTorch's schedulers on
the same minibatch order: reference within 1e-5 relative, fast and torch within 1e-4.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from sgdlab import engines, optim
from sgdlab.data.fashion import to_float
from sgdlab.model import SoftmaxRegression
from sgdlab.training.trainer import train

CPU = torch.device("cpu")
ENGINES = [n for n in engines.engine_names() if engines.available(n, CPU)]
TOL = {"reference": 1e-5, "fast": 1e-4, "torch": 1e-4}
B, LR, SEED = 16, 0.02, 7
OPTIONS = {
    "momentum": dict(momentum=0.9),
    "nesterov": dict(momentum=0.9, nesterov=True),
    "weight_decay": dict(weight_decay=0.05),
    "step": dict(schedule="step", gamma=0.3, step_epochs=1, epochs=2),
    "cosine": dict(schedule="cosine"),
    "inverse": dict(schedule="inverse", t0=10.0),
    "average": dict(average=True),
    "everything": dict(
        momentum=0.5, nesterov=True, weight_decay=0.01, schedule="cosine", average=True, epochs=2
    ),
}


def torch_loop(
    sample,
    *,
    epochs=1,
    momentum=0.0,
    nesterov=False,
    weight_decay=0.0,
    schedule="constant",
    gamma=0.1,
    step_epochs=1,
    t0=1000.0,
    average=False,
):
    """(W, b) after a plain PyTorch loop; with ``average``, the mean of the last epoch's
    iterates. Minibatch order as sgdlab's: ``randperm(n)`` per epoch from one seeded generator."""
    x, y = to_float(sample.train_images).reshape(-1, 784), sample.train_labels
    n = len(y)
    spe = math.ceil(n / B)
    m = SoftmaxRegression()
    opt = torch.optim.SGD(
        m.parameters(), lr=LR, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay
    )
    S = torch.optim.lr_scheduler
    sched = {
        "constant": None,
        "step": S.StepLR(opt, step_size=step_epochs * spe, gamma=gamma),
        "cosine": S.CosineAnnealingLR(opt, T_max=epochs * spe, eta_min=0),
        "inverse": S.LambdaLR(opt, lambda t: 1 / (1 + t / t0)),
    }[schedule]
    gen = torch.Generator().manual_seed(SEED)
    for _ in range(epochs):
        perm, sw, sb = torch.randperm(n, generator=gen), 0, 0
        for i in range(spe):
            idx = perm[i * B : (i + 1) * B]
            opt.zero_grad()
            F.cross_entropy(m(x[idx]), y[idx]).backward()
            opt.step()
            if sched is not None:
                sched.step()
            sw = sw + m.z.weight.detach().double()
            sb = sb + m.z.bias.detach().double()
    if average:
        return (sw / spe).float(), (sb / spe).float()
    return m.z.weight.detach(), m.z.bias.detach()


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().double(), b.detach().double()
    return ((a - b).norm() / b.norm()).item()


@pytest.fixture(scope="module")
def plain(sample):
    return torch_loop(sample)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("option", list(OPTIONS))
def test_option_equals_torch_optim_sgd(sample, plain, option, engine):
    kw = {"epochs": 1, **OPTIONS[option]}
    w_ref, b_ref = torch_loop(sample, **kw)
    run = train(batch_size=B, lr=LR, seed=SEED, engine=engine, data=sample, progress=False, **kw)
    rel = max(_rel(run.model.z.weight, w_ref), _rel(run.model.z.bias, b_ref))
    print(f"AGREEMENT option={option} engine={engine} max_rel={rel:.2e}")
    assert rel < TOL[engine]
    assert run.config[next(iter(OPTIONS[option]))] == OPTIONS[option][next(iter(OPTIONS[option]))]
    if kw["epochs"] == 1:  # the option did change the result (this test could fail)
        assert _rel(w_ref, plain[0]) > 10 * TOL[engine]


def test_update_is_torch_optim_sgd_step_by_step():
    """optim.update (the torch engine's and GD's update) vs torch.optim.SGD, 5 steps."""
    g = torch.Generator().manual_seed(0)
    w0, b0 = torch.randn(10, 784, generator=g), torch.randn(10, generator=g)
    grads = [(torch.randn(10, 784, generator=g), torch.randn(10, generator=g)) for _ in range(5)]
    hyper = optim.SGDHyper(momentum=0.8, nesterov=True, weight_decay=0.1)
    w, b, state = w0.clone(), b0.clone(), optim.init()
    pw, pb = torch.nn.Parameter(w0.clone()), torch.nn.Parameter(b0.clone())
    opt = torch.optim.SGD([pw, pb], lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1)
    for gw, gb in grads:
        optim.update(w, b, gw, gb, 0.05, hyper, state)
        pw.grad, pb.grad = gw.clone(), gb.clone()
        opt.step()
    torch.testing.assert_close(w, pw.detach(), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(b, pb.detach(), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(state.buf_w, opt.state[pw]["momentum_buffer"])


def test_state_dict_round_trip_and_average():
    s = optim.init()
    optim.accumulate(torch.ones(10, 784), torch.full((10,), 2.0), s)
    optim.accumulate(torch.zeros(10, 784), torch.zeros(10), s)
    t = optim.OptimState.from_state_dict(s.state_dict())
    assert t.avg_count == 2 and torch.equal(t.average()[0], torch.full((10, 784), 0.5))
    assert torch.equal(t.average()[1], torch.ones(10))
    t.reset_average()
    with pytest.raises(ValueError, match="no iterate"):
        t.average()
    with pytest.raises(ValueError, match="buf_w"):
        optim.OptimState.from_state_dict({**s.state_dict(), "buf_w": torch.zeros(3)})


@pytest.mark.parametrize("engine", [e for e in ENGINES if e != "reference"])
def test_engines_refuse_momentum_without_state(sample, engine):
    eng = engines.get_engine(engine, sample.train_images, sample.train_labels, CPU)
    with pytest.raises(ValueError, match="OptimState"):
        eng.sgd_steps(
            SoftmaxRegression(),
            torch.arange(1000),
            16,
            0.1,
            0,
            1,
            hyper=optim.SGDHyper(momentum=0.9),
        )


def test_gd_with_momentum_matches_torch(sample):
    run = train(
        method="gd",
        epochs=3,
        lr=0.3,
        momentum=0.5,
        weight_decay=0.01,
        data=sample,
        engine="reference",
        progress=False,
    )
    x, y = to_float(sample.train_images).reshape(-1, 784), sample.train_labels
    m = SoftmaxRegression()
    opt = torch.optim.SGD(m.parameters(), lr=0.3, momentum=0.5, weight_decay=0.01)
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(m(x), y).backward()
        opt.step()
    assert _rel(run.model.z.weight, m.z.weight) < 1e-5


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("option", ["everything", "step", "weight_decay"])
def test_torch_engine_on_cuda_equals_torch_optim_sgd(sample, option):
    """The CUDA-graph path (per-step lrs and the update captured in graphs) vs the CPU loop."""
    kw = {"epochs": 1, **OPTIONS[option]}
    w_ref, b_ref = torch_loop(sample, **kw)
    run = train(
        batch_size=B,
        lr=LR,
        seed=SEED,
        engine="torch",
        device="cuda",
        data=sample,
        progress=False,
        **kw,
    )
    assert max(_rel(run.model.z.weight.cpu(), w_ref), _rel(run.model.z.bias.cpu(), b_ref)) < 1e-4
