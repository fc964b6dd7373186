"""The roofline model (sgdlab.measure.roofline): FLOP and byte counts and ratios against
hand-computed cases; the peak measurement's keys (CPU; CUDA skipped cleanly without a GPU)."""

import math

import pytest
import torch

from sgdlab.measure import roofline as rf

PEAK = {"sgemm_gflops": 100.0, "bandwidth_gbs": 10.0}  # 1e11 FLOP/s, 1e10 B/s


def test_step_and_gd_counts_by_hand():
    # b = 16: forward 2·16·7840 + 16·10 bias, backward 2·16·7840 + 16·10, update 2·7850
    assert rf.step_flops(16) == 501_760 + 320 + 15_700 == 517_780
    assert rf.step_flops(1) == 31_360 + 20 + 15_700
    # 800 bytes a sample (784 u8 + 8 label + 8 perm); W,b 31,400 B read+written per 500 steps
    assert rf.step_bytes(16) == pytest.approx(12_800 + 62_800 / 500)
    assert rf.gd_flops(60_000) == 4 * 60_000 * 7840 + 2 * 60_000 * 10 + 15_700
    assert rf.gd_bytes(60_000) == 48_000_000 + 62_800


def test_epoch_work_sums_its_steps():
    flops, nbytes = rf.epoch_work(1000, 16)  # 62 full steps + one of 8 samples, 1 call
    assert flops == 62 * rf.step_flops(16) + rf.step_flops(8)
    assert nbytes == 1000 * 800 + 62_800
    flops, nbytes = rf.epoch_work(60_000, 16)  # 3,750 steps: 8 calls of ≤ 500
    assert flops == 3750 * rf.step_flops(16) and nbytes == 48_000_000 + 8 * 62_800


def test_roofline_is_the_larger_of_compute_and_memory():
    # compute-bound: 1e9 FLOPs at 1e11/s = 10 ms vs 1e6 B at 1e10 B/s = 0.1 ms
    assert rf.roofline_seconds(1e9, 1e6, PEAK) == pytest.approx(0.01)
    # memory-bound: 1e6 FLOPs = 10 µs vs 1e6 B = 100 µs
    assert rf.roofline_seconds(1e6, 1e6, PEAK) == pytest.approx(1e-4)
    v = rf.versus_peak(0.02, 1e9, 1e6, PEAK)
    assert v["gflops"] == pytest.approx(50.0) and v["roofline_seconds"] == pytest.approx(0.01)
    assert v["over_roofline"] == pytest.approx(2.0) and v["bound"] == "compute"
    v = rf.versus_peak(1e-4, 1e6, 1e6, PEAK)
    assert v["over_roofline"] == pytest.approx(1.0) and v["bound"] == "memory"


def test_sgd_epoch_roofline_on_the_issue_machine():
    # 174 GFLOP/s: an epoch at b=16 needs 3750·517,780 FLOPs = 11.2 ms; its 48 MB at 20 GB/s
    # would take 2.4 ms, so it is compute-bound
    peak = {"sgemm_gflops": 174.0, "bandwidth_gbs": 20.0}
    roof = rf.roofline_seconds(*rf.epoch_work(60_000, 16), peak)
    assert roof == pytest.approx(3750 * 517_780 / 174e9)
    assert 1e-3 * 11.1 < roof < 1e-3 * 11.3


def test_best_of_keeps_the_highest_rates():
    a = {"sgemm_gflops": 90.0, "sgemm_gflops_1thread": 60.0, "bandwidth_gbs": 20.0, "x": 1}
    b = {"sgemm_gflops": 100.0, "sgemm_gflops_1thread": 50.0, "bandwidth_gbs": 15.0, "x": 2}
    m = rf.best_of(a, b)
    assert (m["sgemm_gflops"], m["sgemm_gflops_1thread"], m["bandwidth_gbs"]) == (100, 60, 20)
    assert m["measurements"] == 2 and m["x"] == 1


def _check_peak(p, device):
    assert p["device"] == device
    for key in ("sgemm_gflops", "bandwidth_gbs"):
        assert math.isfinite(p[key]) and p[key] > 0


def test_measure_peak_cpu_restores_threads():
    before = torch.get_num_threads()
    p = rf.measure_peak("cpu", quick=True)
    _check_peak(p, "cpu")
    assert p["threads"] == before == torch.get_num_threads()
    assert p["sgemm_gflops_1thread"] > 0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_measure_peak_cuda():
    p = rf.measure_peak("cuda", quick=True)
    _check_peak(p, "cuda")
    assert p["threads"] is None and p["sgemm_gflops_1thread"] is None
