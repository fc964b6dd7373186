"""sgdlab.measure.machine: thread settings (``quiet_torch_for``: one torch thread while the fast
engine may split SGD steps, restored after; nothing changes for other engines)."""

from __future__ import annotations

import types

import pytest
import torch

from sgdlab.measure.machine import quiet_torch_for


@pytest.fixture
def two_threads():
    numba = pytest.importorskip("numba")
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has one thread here")
    old = torch.get_num_threads(), numba.get_num_threads()
    torch.set_num_threads(2)
    numba.set_num_threads(2)
    yield numba
    torch.set_num_threads(old[0])
    numba.set_num_threads(old[1])


def test_fast_engine_runs_torch_on_one_thread_and_restores(two_threads):
    with quiet_torch_for(types.SimpleNamespace(name="fast")):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    with pytest.raises(RuntimeError), quiet_torch_for(types.SimpleNamespace(name="fast")):
        raise RuntimeError("restored on errors too")
    assert torch.get_num_threads() == 2


def test_other_engines_and_one_numba_thread_leave_torch_alone(two_threads):
    with quiet_torch_for(types.SimpleNamespace(name="reference")):
        assert torch.get_num_threads() == 2
    two_threads.set_num_threads(1)  # the fast engine cannot split: nothing to protect
    with quiet_torch_for(types.SimpleNamespace(name="fast")):
        assert torch.get_num_threads() == 2


def test_set_threads_leaves_torch_on_the_count_asked_for():
    """numba's thread pool starting (on OpenMP) resets torch's count: set_threads sets torch's
    last. A fresh process, so that the pool starts inside set_threads."""
    import subprocess
    import sys

    pytest.importorskip("numba")
    code = (
        "import torch; from sgdlab.measure.machine import set_threads, restore_threads; "
        "torch.set_num_threads(2); old = set_threads(1); a = torch.get_num_threads(); "
        "restore_threads(old); print(a, torch.get_num_threads())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "2"]


@pytest.mark.parametrize(
    ("machine_load", "contaminated"),
    [
        ({"other_cpu_share": 0.30}, True),
        ({"other_cpu_share": 0.051}, True),
        ({"other_cpu_share": 0.05}, False),  # the threshold itself is still clean
        ({"other_cpu_share": 0.0}, False),
        ({"other_cpu_share": None}, False),  # not measurable (not Linux): not flagged
        (None, False),
    ],
)
def test_contamination_is_the_share_of_other_processes_above_busy(machine_load, contaminated):
    from sgdlab.measure.machine import BUSY, contamination

    env = {} if machine_load is None else {"machine_load": machine_load}
    got = contamination({"environment": env})
    assert got["contaminated"] is contaminated and got["threshold"] == BUSY == 0.05
    assert got["other_cpu_share"] == (machine_load or {}).get("other_cpu_share")
