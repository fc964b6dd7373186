"""How close to the hardware's limit: the machine's peak, and the work model of every figure.

**Peak** (:func:`measure_peak`), measured in the same process as the figures it judges:

- ``sgemm_gflops``: the best of several ``torch.mm`` of two float32 (M, M) matrices
  (M = 2048; 1024 in quick mode), 2·M³ FLOPs each, with the run's thread count (all cores);
  ``sgemm_gflops_1thread`` the same on one thread (CPU only). On a GPU the clock is read
  between two ``torch.cuda.synchronize`` calls.
- ``bandwidth_gbs``: the best of several copies of a 64 MiB float32 buffer (2× the L3 of the
  2-core EPYC this project measures on), counted as bytes read + bytes written.
- ``sgdlab bench`` measures both at the start and at the end of its run and keeps the higher
  (:func:`best_of`): a peak taken while another process ran is too low, never too high.

**Work model** (D = 784 pixels, K = 10 classes; B samples in a minibatch):

- one SGD step: forward Z = X·Wᵀ + b: 2·B·D·K + B·K FLOPs; backward ∂C/∂W = Δᵀ·X: 2·B·D·K,
  ∂C/∂b = ΣΔ: B·K; update W −= α·G, b −= α·g: 2·(D·K + K). Softmax, the pixel normalization
  and the cost are not counted (≈ 2·B·D + 30·B, under 6 %): the model is what a linear layer
  must do. Bytes from main memory: B·(784 + 8 + 8) (the uint8 image row, the int64 label and
  the int64 permutation entry); W and b (31.4 KB) stay in L1/L2 across the steps of one engine
  call, so they are charged once per call of ``SEGMENT`` = 500 steps: 2·4·(D·K + K)/500
  bytes per step.
- one full-GD iteration over N: the same per-sample terms over all N samples plus one update
  (2·(D·K + K) FLOPs); bytes N·(784 + 8 + 8) (images, labels, the sample order) + W and b read
  and written once.
- an epoch at b: the sum over its ⌈N/b⌉ steps (the short last minibatch included).

**Roofline time** = max(FLOPs / sgemm peak, bytes / bandwidth); the figure's ratio is
measured / roofline (1 = at the limit; the table prints it as ``×roof``). Achieved GFLOP/s =
FLOPs / measured seconds. All times in seconds, rates in 1e9/s.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch

from sgdlab.model import N_CLASSES, N_PIXELS

D, K = N_PIXELS, N_CLASSES
#: Bytes read from memory per sample: uint8 image row, int64 label, int64 permutation entry.
BYTES_PER_SAMPLE = D + 8 + 8
#: Bytes of W and b (float32), read and written once per engine call.
WEIGHT_BYTES = 4 * (D * K + K)
#: Steps per engine call (as :func:`sgdlab.train` runs an epoch): W, b charged once per call.
SEGMENT = 500

#: mode -> (sgemm size M, repeats, copy bytes)
PEAK_MODES: dict[str, tuple[int, int, int]] = {
    "full": (2048, 7, 64 << 20),
    "quick": (1024, 3, 64 << 20),
}


def step_flops(b: int) -> int:
    """FLOPs of one SGD step on a minibatch of ``b`` samples (forward, backward, update)."""
    return 4 * b * D * K + 2 * b * K + 2 * (D * K + K)


def step_bytes(b: float, segment: int = SEGMENT) -> float:
    """Main-memory bytes of one SGD step of ``b`` samples (W, b charged 1/segment per step)."""
    return b * BYTES_PER_SAMPLE + 2 * WEIGHT_BYTES / segment


def gd_flops(n: int) -> int:
    """FLOPs of one full-gradient iteration over ``n`` samples (one update)."""
    return 4 * n * D * K + 2 * n * K + 2 * (D * K + K)


def gd_bytes(n: int) -> int:
    """Main-memory bytes of one full-gradient iteration: the set once, W and b once."""
    return n * BYTES_PER_SAMPLE + 2 * WEIGHT_BYTES


def epoch_work(n: int, b: int, segment: int = SEGMENT) -> tuple[int, float]:
    """(FLOPs, bytes) of one epoch of ⌈n/b⌉ steps at batch ``b`` (short last minibatch too)."""
    full, rest = divmod(n, b)
    steps = full + (rest > 0)
    flops = full * step_flops(b) + (step_flops(rest) if rest else 0)
    calls = math.ceil(steps / segment)
    return flops, n * BYTES_PER_SAMPLE + calls * 2 * WEIGHT_BYTES


def roofline_seconds(flops: float, nbytes: float, peak: dict[str, Any]) -> float:
    """max(FLOPs at the sgemm peak, bytes at the copy bandwidth), seconds."""
    return max(flops / (peak["sgemm_gflops"] * 1e9), nbytes / (peak["bandwidth_gbs"] * 1e9))


def versus_peak(
    seconds: float, flops: float, nbytes: float, peak: dict[str, Any]
) -> dict[str, Any]:
    """A measured figure against the limit: achieved GFLOP/s, roofline seconds, the ratio."""
    roof = roofline_seconds(flops, nbytes, peak)
    compute = flops / (peak["sgemm_gflops"] * 1e9) >= nbytes / (peak["bandwidth_gbs"] * 1e9)
    return {
        "flops": float(flops),
        "bytes": float(nbytes),
        "gflops": flops / seconds / 1e9,
        "roofline_seconds": roof,
        "over_roofline": seconds / roof,
        "bound": "compute" if compute else "memory",
    }


def measure_peak(device: torch.device | str = "cpu", *, quick: bool = False) -> dict[str, Any]:
    """The machine's sgemm GFLOP/s and copy bandwidth on ``device``, with the current threads.

    CPU: ``sgemm_gflops`` with ``torch.get_num_threads()`` threads and ``sgemm_gflops_1thread``
    (threads restored afterwards); CUDA: one figure, ``sgemm_gflops_1thread`` None. Takes about
    2 s on 2 CPU cores (0.3 s with ``quick``).
    """
    dev = torch.device(device)
    m, reps, nbytes = PEAK_MODES["quick" if quick else "full"]
    threads = torch.get_num_threads()
    out: dict[str, Any] = {
        "device": str(dev),
        "threads": threads if dev.type == "cpu" else None,
        "sgemm_size": m,
        "repeats": reps,
        "copy_bytes": nbytes,
    }
    out["sgemm_gflops"] = _sgemm(dev, m, reps)
    out["sgemm_gflops_1thread"] = None
    if dev.type == "cpu":
        if threads == 1:
            out["sgemm_gflops_1thread"] = out["sgemm_gflops"]
        else:
            torch.set_num_threads(1)
            try:
                out["sgemm_gflops_1thread"] = _sgemm(dev, m, reps)
            finally:
                torch.set_num_threads(threads)
    out["bandwidth_gbs"] = _copy(dev, nbytes, reps)
    return out


def best_of(*peaks: dict[str, Any]) -> dict[str, Any]:
    """Several :func:`measure_peak` results of one run merged: the highest rate of each kind
    (a peak measured while another process ran is too low, never too high)."""
    out = dict(peaks[0])
    for key in ("sgemm_gflops", "sgemm_gflops_1thread", "bandwidth_gbs"):
        vals = [p[key] for p in peaks if p[key] is not None]
        out[key] = max(vals) if vals else None
    out["measurements"] = len(peaks)
    return out


def _best(dev: torch.device, fn, reps: int) -> float:
    """Fewest seconds of ``reps`` calls of ``fn`` after one warm-up, synchronized on CUDA."""

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    fn()
    best = math.inf
    for _ in range(reps):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best


def _sgemm(dev: torch.device, m: int, reps: int) -> float:
    g = torch.Generator(device=dev).manual_seed(0)
    a = torch.rand(m, m, generator=g, device=dev)
    b = torch.rand(m, m, generator=g, device=dev)
    c = torch.empty(m, m, device=dev)
    return 2 * m**3 / _best(dev, lambda: torch.mm(a, b, out=c), reps) / 1e9


def _copy(dev: torch.device, nbytes: int, reps: int) -> float:
    x = torch.ones(nbytes // 4, device=dev)
    y = torch.empty_like(x)
    return 2 * nbytes / _best(dev, lambda: y.copy_(x), reps) / 1e9
