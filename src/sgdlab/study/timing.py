"""Seconds per step on this machine: what turns steps to target into seconds to target.

For each batch size, the engine ``sgdlab train`` uses (``engine="auto"``, all threads unless
set otherwise) runs calls of steps on the study's training images, each call long enough to
last ≥ ``min_seconds``; the figure is the median over ``repeats`` calls of wall seconds per
step (full batch: one full-gradient step per call). Measured in the same run as the study, after
its passes (the worker processes are gone, so the cores are free).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch

from sgdlab import engines
from sgdlab.model import SoftmaxRegression


def seconds_per_step(
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_sizes: list[int],
    *,
    engine: str = "auto",
    repeats: int = 3,
    min_seconds: float = 0.02,
) -> dict[str, Any]:
    """``{"engine", "threads", "seconds": {b: s per step}}`` for uint8 ``images`` (n,784),
    ``labels`` (n,) int64, each b in ``batch_sizes`` (b ≥ n: a full-gradient step)."""
    from sgdlab.measure.machine import quiet_torch_for, thread_info

    eng = engines.get_engine(engine, images, labels, "cpu")
    n = int(images.shape[0])
    gen = torch.Generator().manual_seed(0)
    perm = torch.randperm(n, generator=gen)
    out: dict[int, float] = {}
    with quiet_torch_for(eng):
        for b in batch_sizes:
            model = SoftmaxRegression()
            if b >= n:
                eng.gd_step(model, 0.01)  # warm-up
                times = []
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    eng.gd_step(model, 0.01)
                    times.append(time.perf_counter() - t0)
                out[b] = statistics.median(times)
                continue
            spe = -(-n // b)
            k, per = 1, []
            eng.sgd_steps(model, perm, b, 0.001, 0, 1)  # warm-up (compiles once)
            while True:  # grow the call until it lasts min_seconds (or is a whole epoch)
                t0 = time.perf_counter()
                eng.sgd_steps(model, perm, b, 0.001, 0, k)
                dt = time.perf_counter() - t0
                if dt >= min_seconds or k == spe:
                    break
                k = min(spe, k * 4)
            for _ in range(repeats):
                t0 = time.perf_counter()
                eng.sgd_steps(model, perm, b, 0.001, 0, k)
                per.append((time.perf_counter() - t0) / k)
            out[b] = statistics.median(per)
    return {"engine": eng.name, "threads": thread_info(), "seconds": out}
