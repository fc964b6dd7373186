"""Every engine against ``reference`` on the same inputs and the same minibatch order."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from sgdlab import engines
from sgdlab.data.fashion import to_float
from sgdlab.model import SoftmaxRegression
from sgdlab.training.trainer import train

CPU = torch.device("cpu")
#: The engines under test on this machine's CPU (reference excluded: it is the yardstick).
FAST = [n for n in engines.engine_names() if n != "reference" and engines.available(n, CPU)]
LR = 0.02


def _model() -> SoftmaxRegression:
    return SoftmaxRegression(init="uniform", generator=torch.Generator().manual_seed(0))


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """‖a − b‖ / ‖b‖ (on the CPU, in float64)."""
    a, b = a.detach().cpu().double(), b.detach().cpu().double()
    return ((a - b).norm() / b.norm()).item()


def _perm(n: int) -> torch.Tensor:
    return torch.randperm(n, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def built(sample):
    """name -> engine on the CPU over the sample's 1,000 training images."""
    x, y = sample.train_images, sample.train_labels
    return {n: engines.get_engine(n, x, y, CPU) for n in ["reference", *FAST]}


def _epoch(eng, model, b: int, split: bool = True) -> torch.Tensor:
    """One epoch of minibatch SGD, in two calls (start..stop ranges) if ``split``; its costs."""
    perm, nb = _perm(eng.n), -(-eng.n // b)
    parts = [(0, nb // 2), (nb // 2, nb)] if split else [(0, nb)]
    return torch.cat([eng.sgd_steps(model, perm, b, LR, i, j) for i, j in parts])


def _close(m: SoftmaxRegression, ref: SoftmaxRegression, rel: float) -> None:
    for p, q in ((m.z.weight, ref.z.weight), (m.z.bias, ref.z.bias)):
        p, q = p.detach().cpu(), q.detach()
        assert p.dtype == torch.float32
        assert _rel(p, q) < rel
        torch.testing.assert_close(p, q, rtol=rel, atol=rel * q.abs().max().item())


@pytest.mark.parametrize("name", FAST)
@pytest.mark.parametrize("b", [16, 7, 1000])  # 1000 % 7 and 1000 % 16 leave a short last batch
def test_epoch_matches_reference(built, name, b):
    ref_m, m = _model(), _model()
    c_ref = _epoch(built["reference"], ref_m, b, split=False)
    c = _epoch(built[name], m, b)
    assert c.dtype == torch.float64 and c.shape == (-(-1000 // b),)
    _close(m, ref_m, 1e-5)
    torch.testing.assert_close(c, c_ref, rtol=1e-5, atol=1e-6)
    assert _rel(m.z.weight, _model().z.weight) > 0.05  # the epoch did move the weights


@pytest.mark.parametrize("name", FAST)
def test_full_gradient_matches_reference_and_float64(built, sample, name):
    m = _model()
    c_ref, gw_ref, gb_ref = built["reference"].full_gradient(m)
    c, gw, gb = built[name].full_gradient(m)
    assert gw.shape == (10, 784) and gb.shape == (10,) and gw.dtype == gb.dtype == torch.float32
    assert _rel(gw, gw_ref) < 1e-6 and _rel(gb, gb_ref) < 1e-6
    assert c == pytest.approx(c_ref, rel=1e-6)
    # ... and against the float64 truth, element by element
    x, y = to_float(sample.train_images).double(), sample.train_labels
    w, b = m.z.weight.detach().double(), m.z.bias.detach().double()
    d = torch.softmax(x @ w.T + b, 1) - torch.nn.functional.one_hot(y, 10)  # (N,10)
    torch.testing.assert_close(gw.double(), d.T @ x / len(y), rtol=0, atol=1e-6 * gw.abs().max())
    torch.testing.assert_close(gb.double(), d.mean(0), rtol=0, atol=1e-6 * gb.abs().max())
    torch.testing.assert_close(m.z.weight, _model().z.weight, rtol=0, atol=0)  # model untouched


@pytest.mark.parametrize("name", FAST)
def test_bitwise_deterministic(built, name):
    runs = []
    for _ in range(2):
        m = _model()
        c = _epoch(built[name], m, 16)
        runs.append(
            (
                c,
                m.z.weight.detach().clone(),
                m.z.bias.detach().clone(),
                *built[name].full_gradient(m),
            )
        )
    for a, b in zip(*runs, strict=True):
        assert a == b if isinstance(a, float) else torch.equal(a, b)


def test_fast_full_gradient_independent_of_thread_count(built):
    if "fast" not in built:
        pytest.skip("numba not installed")
    import numba

    m, eng, n0 = _model(), built["fast"], numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = eng.full_gradient(m)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = eng.full_gradient(m)
    finally:
        numba.set_num_threads(n0)
    assert one[0] == many[0] and torch.equal(one[1], many[1]) and torch.equal(one[2], many[2])


def test_train_fast_same_history_as_reference(sample):
    if "fast" not in FAST:
        pytest.skip("numba not installed")
    kw = dict(batch_size=16, epochs=2, lr=0.005, seed=3, data=sample, progress=False)
    ref, run = train(engine="reference", **kw), train(engine="fast", **kw)
    assert run.config["engine"] == "fast" and len(run.history) == 2
    for h, r in zip(run.history, ref.history, strict=True):
        assert h["order_sha256"] == r["order_sha256"] and h["steps"] == r["steps"]
        for key in ("mean_minibatch_cost", "train_cost", "test_cost"):
            assert h[key] == pytest.approx(r[key], rel=1e-5)
        for key in ("train_accuracy", "test_accuracy"):  # ≤ 1 borderline sample may flip
            assert h[key] == pytest.approx(r[key], abs=1.5e-3)
    _close(run.model, ref.model, 1e-5)


def test_auto_and_availability(monkeypatch):
    assert engines.available("reference", CPU) and engines.available("torch", CPU)
    assert not engines.available("fast", torch.device("cuda"))  # CPU-only engine
    from sgdlab.engines.fast import engine as numba_cpu

    expected = "fast" if numba_cpu._numba() is not None else "torch"
    assert engines.resolve("auto", CPU) == expected
    monkeypatch.setitem(sys.modules, "numba", None)  # `import numba` now raises ImportError
    numba_cpu._numba.cache_clear()
    try:
        assert not engines.available("fast", CPU)
        assert engines.resolve("auto", CPU) == "torch"
    finally:
        numba_cpu._numba.cache_clear()


def test_importing_sgdlab_does_not_import_numba():
    code = (
        "import sys, sgdlab, sgdlab.engines, sgdlab.training.trainer; print('numba' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("name", FAST)
def test_rejects_bad_ranges(built, name):
    with pytest.raises(ValueError):
        built[name].sgd_steps(_model(), _perm(1000), 16, LR, 0, 64)  # only 63 minibatches
    assert built[name].sgd_steps(_model(), _perm(1000), 16, LR, 5, 5).shape == (0,)


# -- CUDA (the graph path): skipped cleanly without a GPU ------------------------------------


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("b", [16, 7])  # b=7: 32-step and 1-step graphs and a short last batch
def test_torch_cuda_graphs_match_reference(built, sample, b):
    eng = engines.get_engine("torch", sample.train_images, sample.train_labels, "cuda")
    ref_m, runs = _model(), []
    c_ref = _epoch(built["reference"], ref_m, b, split=False)
    for _ in range(2):  # the second run replays the captured graphs
        m = _model().cuda()
        runs.append((_epoch(eng, m, b), m.z.weight.detach().cpu(), m.z.bias.detach().cpu()))
        _close(m, ref_m, 1e-5)
        torch.testing.assert_close(runs[-1][0], c_ref, rtol=1e-5, atol=1e-6)
    assert all(torch.equal(p, q) for p, q in zip(*runs, strict=True))
    m = _model()
    c_ref, gw_ref, gb_ref = built["reference"].full_gradient(m)
    c, gw, gb = eng.full_gradient(m.cuda())
    assert _rel(gw, gw_ref) < 1e-6 and _rel(gb, gb_ref) < 1e-6 and c == pytest.approx(c_ref)
