"""The fast engine's two-thread SGD steps (engines/numba_threads.py): bitwise the same as one
thread, hence as close to ``reference`` as before; reproducible; a failing thread never hangs
the other; the fall-back rules. No timing assertions."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from sgdlab import engines
from sgdlab.model import SoftmaxRegression

nt = pytest.importorskip("sgdlab.engines.fast.threads")
if not engines.available("fast", torch.device("cpu")):
    pytest.skip("numba not installed", allow_module_level=True)
LR = 0.02


@pytest.fixture(scope="module")
def eng(sample):
    return engines.get_engine("fast", sample.train_images, sample.train_labels, "cpu")


def _epoch(eng, b, split: bool, seed=1, segment=None):
    """One epoch (calls of ``segment`` steps) with the split forced on or off; weights, costs."""
    eng.min_split_batch, eng.min_split_steps = (1, 1) if split else (10**9, 10**9)
    runner, backoff = eng._split_runner()
    backoff.until = 0.0
    calls = runner.calls
    m = SoftmaxRegression(init="uniform", generator=torch.Generator().manual_seed(0))
    perm = torch.randperm(eng.n, generator=torch.Generator().manual_seed(seed))
    nb = -(-eng.n // b)
    segment = segment or nb
    try:
        costs = torch.cat(
            [eng.sgd_steps(m, perm, b, LR, s, min(nb, s + segment)) for s in range(0, nb, segment)]
        )
    finally:
        eng.min_split_batch = eng.min_split_steps = None
    return costs, m.z.weight.detach().clone(), m.z.bias.detach().clone(), runner.calls - calls


@pytest.fixture(autouse=True)
def _two_threads(monkeypatch):
    """Two numba threads, and no fall-back to one thread on a busy machine during a test."""
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has one thread here")
    old = numba.get_num_threads()
    numba.set_num_threads(2)
    monkeypatch.setattr(nt.Backoff, "record", lambda self, *a: None)
    yield
    numba.set_num_threads(old)


@pytest.mark.parametrize("b", [1, 2, 7, 16, 128, 129, 300, 1000])  # blocks of 128: 129, 300
def test_two_threads_bitwise_equal_to_one(eng, b, monkeypatch):
    one = _epoch(eng, b, split=False)
    two = _epoch(eng, b, split=True, segment=5)  # several calls: the pipeline restarts
    assert one[3] == 0 and two[3] >= 1  # the split did (not) run
    for x, y in zip(one[:3], two[:3], strict=True):
        assert torch.equal(x, y)
    assert two[0].shape == (-(-1000 // b),) and torch.isfinite(two[0]).all()


@pytest.mark.parametrize(
    "hyper",
    [
        {"momentum": 0.9},
        {"momentum": 0.9, "nesterov": True, "weight_decay": 1e-3},
        {"weight_decay": 1e-2, "average": True},
        {"momentum": 0.5, "average": True},
    ],
)
def test_update_options_bitwise_equal_on_two_threads(eng, hyper):
    """Momentum, nesterov, weight decay, averaging and per-step learning rates: the same bits."""
    from sgdlab.optim import OptimState, SGDHyper

    h, out = SGDHyper(**hyper), []
    lrs = torch.linspace(0.05, 0.01, 21, dtype=torch.float64)  # a learning rate per step
    for split in (False, True):
        eng.min_split_batch, eng.min_split_steps = (1, 1) if split else (10**9, 10**9)
        m, st = SoftmaxRegression(), OptimState()
        perm = torch.randperm(1000, generator=torch.Generator().manual_seed(2))
        calls = eng._split_runner()[0].calls
        try:
            c = torch.cat(
                [eng.sgd_steps(m, perm, 16, lrs, s, s + 21, hyper=h, state=st) for s in (0, 21, 42)]
            )
        finally:
            eng.min_split_batch = eng.min_split_steps = None
        assert (eng._split_runner()[0].calls > calls) == split
        out.append(
            (
                c,
                m.z.weight.detach(),
                m.z.bias.detach(),
                st.buf_w,
                st.buf_b,
                st.avg_w,
                st.avg_b,
                torch.tensor(st.avg_count),
            )
        )
    for x, y in zip(*out, strict=True):
        assert torch.equal(x, y)


@pytest.mark.parametrize("b", [16, 300])
def test_bail_out_to_one_thread_mid_stretch_same_bits(eng, b, monkeypatch):
    """When the barrier yields too often (forced here: limit −1), both threads stop at the next
    step boundary and this thread finishes the stretch alone: the same bits."""
    runner = eng._split_runner()[0]
    one = _epoch(eng, b, split=False)
    monkeypatch.setattr(runner, "bail_yields", -1)
    two = _epoch(eng, b, split=True, segment=7)
    assert runner.bailed and two[3] >= 1
    for x, y in zip(one[:3], two[:3], strict=True):
        assert torch.equal(x, y)


def test_two_threads_reproducible_and_match_reference(eng, sample):
    a, b = _epoch(eng, 16, split=True), _epoch(eng, 16, split=True)
    assert all(torch.equal(x, y) for x, y in zip(a[:3], b[:3], strict=True))
    ref = engines.get_engine("reference", sample.train_images, sample.train_labels, "cpu")
    m = SoftmaxRegression(init="uniform", generator=torch.Generator().manual_seed(0))
    perm = torch.randperm(1000, generator=torch.Generator().manual_seed(1))
    c = ref.sgd_steps(m, perm, 16, LR, 0, 63)
    torch.testing.assert_close(a[0], c, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(
        a[1], m.z.weight.detach(), rtol=1e-5, atol=1e-5 * m.z.weight.abs().max().item()
    )


def test_auto_split_rules(eng):
    assert not nt.use_split(1, 16, 3750)  # one thread asked for
    assert nt.use_split(2, 16, 500) and nt.use_split(4, nt.MIN_BATCH, 10**6)
    assert not nt.use_split(1, 16, 10**6)  # one thread
    assert not nt.use_split(2, 16, nt.MIN_STEPS - 1)  # too few steps per call to pay the hand-over
    import numba

    numba.set_num_threads(1)
    assert not eng.split_steps(16, 500)


def test_backoff_after_yields(monkeypatch):
    monkeypatch.undo()  # the real Backoff.record
    now = [0.0]
    bo = nt.Backoff(clock=lambda: now[0])
    bo.record(0, 500)
    bo.record(40, 500)  # one hiccup of the host (a core away for ~1 ms): no back-off
    assert not bo.active()
    bo.record(500, 500)  # a yield every step: another process has a core
    assert bo.active() and bo.events == 1
    now[0] += nt.Backoff.SECONDS + 0.01
    assert not bo.active()
    bo.record(500, 500)
    assert bo.seconds == 4 * nt.Backoff.SECONDS  # doubled while it recurs


def test_failing_partner_aborts_instead_of_hanging(eng, monkeypatch):
    def boom(self, tid, args):
        self.sync[nt.ABORT] = 1
        raise MemoryError("worker failed")

    monkeypatch.setattr(nt.SplitRunner, "_guarded", boom)
    eng.min_split_batch = eng.min_split_steps = 1
    t0 = time.perf_counter()
    try:
        with pytest.raises(MemoryError):
            eng.sgd_steps(SoftmaxRegression(), torch.arange(1000), 16, LR, 0, 10)
    finally:
        eng.min_split_batch = eng.min_split_steps = None
    assert time.perf_counter() - t0 < 30


def test_barrier_gives_up_when_partner_never_comes():
    sync = np.zeros(3 * nt.LINE, np.int64)
    done = []
    th = threading.Thread(target=lambda: done.append(nt._wait(sync, 0, 1)))
    th.start()
    time.sleep(0.05)
    assert th.is_alive()  # still waiting for thread 1
    sync[nt.ABORT] = 1
    th.join(10)
    assert not th.is_alive() and done == [-1]
    sync[:] = 0
    sync[2 * nt.LINE] = 1  # the partner already arrived: no wait
    assert nt._wait(sync, 0, 1) == 0 and sync[nt.LINE] == 1


def test_train_full_set_same_bits_on_one_or_two_threads(full, monkeypatch):
    """``sgdlab train`` at b=16 on the full set: two threads (auto rule) = one thread, bitwise."""
    import numba

    from sgdlab.training.trainer import train

    runs = []
    real = nt.SplitRunner.run
    monkeypatch.setattr(nt.SplitRunner, "run", lambda self, *a: runs.append(1) or real(self, *a))
    out = []
    for threads in (1, 2):
        numba.set_num_threads(threads)
        n0 = len(runs)
        r = train(
            batch_size=16,
            epochs=1,
            lr=0.005,
            seed=0,
            engine="fast",
            device="cpu",
            data=full,
            progress=False,
        )
        assert (len(runs) > n0) == (threads == 2)
        out.append(r)
    a, b = out
    assert torch.equal(a.model.z.weight, b.model.z.weight)
    assert torch.equal(a.model.z.bias, b.model.z.bias)
    assert a.history[0]["mean_minibatch_cost"] == b.history[0]["mean_minibatch_cost"]


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_forked_child_gets_its_own_worker(eng):
    """A child forked after the split ran (e.g. a sweep's worker) must not wait for the
    parent's worker thread, which does not exist in the child."""
    import os

    _epoch(eng, 16, split=True)  # the parent's worker thread exists now
    pid = os.fork()
    if pid == 0:  # child: exit code 0 when the split runs and matches one thread
        code = 1
        try:
            one, two = _epoch(eng, 16, split=False), _epoch(eng, 16, split=True)
            code = 0 if two[3] >= 1 and torch.equal(one[1], two[1]) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
