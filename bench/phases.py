#!/usr/bin/env python
"""Where the fast engine's SGD epoch goes: per-phase times, and memory's share.

    PYTHONPATH=src python bench/phases.py [--batch-size 16] [--repeats 7]

1. **Phases**, one thread: a compiled loop over one epoch's minibatches (a fixed random
   order) runs the block math of ``engines/numba_math.py`` up to phase k, for k = 1..4
   (prefetch; conversion + the logits' share; softmax; Δᵀ·X with W's update); each phase's
   time is the difference of two medians. Once for both pixel halves (what one thread does)
   and once for half 0 alone (a split thread's share).
2. **Memory**: whole epochs through the engine, one thread and two, with a random order and
   with the same b rows in every minibatch (all data in cache), alternating: the difference
   is the time spent waiting for image rows.

Timings move with the machine: compare only figures of one run.
"""

from __future__ import annotations

import argparse
import statistics
import time


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--repeats", type=int, default=7)
    args = p.parse_args(argv)

    import numba
    import numpy as np
    import torch

    from sgdlab import engines
    from sgdlab.data import load
    from sgdlab.engines.base import check_state
    from sgdlab.engines.fast import block as m
    from sgdlab.engines.fast import kernels as c
    from sgdlab.engines.fast import softmax as sm
    from sgdlab.measure.provenance import cpu_model
    from sgdlab.model import SoftmaxRegression

    ds = load()
    eng = engines.get_engine("fast", ds.train_images, ds.train_labels, "cpu")
    x, y, sc, sh = eng._x, eng._y, eng._scale, eng._shift
    n, b = eng.n, args.batch_size
    perm = np.random.default_rng(0).permutation(n).astype(np.int64)
    w = (np.random.default_rng(1).standard_normal((10, 784)) * 0.01).astype(np.float32)
    bias = np.zeros(10, np.float32)
    S = m.SPLIT

    @numba.njit(nogil=True)
    def run(phase, half, x, y, perm, w, bias, sc, sh, b):
        X, P, D, E, G, gb = c._scratch(b)
        j0, j1 = (S if half == 1 else 0), (S if half == 0 else 784)
        tot = 0.0
        for i in range(x.shape[0] // b - 1):
            s0 = i * b
            m._prefetch_rows(x, perm, s0 + b, b, j0, j1)
            if phase >= 2:
                if half != 1:
                    m._logits_half(x, perm, s0, b, sc, sh, w, 0, S, X, P[0], E[3:])
                if half != 0:
                    m._logits_half(x, perm, s0, b, sc, sh, w, S, 784, X, P[1], E[3:])
            if phase >= 3:
                tot += sm._softmax_delta(P[0], P[1], bias, y, perm, s0, b, 1.0 / b, D, E, gb)
            if phase >= 4:
                lr = np.float32(1e-9)
                if half != 1:
                    m._grad_half(X, D, b, G, 0, S, w, lr)
                if half != 0:
                    m._grad_half(X, D, b, G, S, 784, w, lr)
        return tot

    def med(f) -> float:
        f()
        return statistics.median(_timed(f) for _ in range(args.repeats))

    print(f"{cpu_model()}; b = {b}, N = {n}; medians of {args.repeats}")
    names = (
        "prefetch of the next minibatch",
        "conversion + logits' share",
        "softmax, Δ, cost",
        "Δᵀ·X with W's update",
    )
    for half, label in ((2, "both halves (one thread)"), (0, "half 0 (a split thread's)")):
        prev = 0.0
        print(f"  {label}:")
        for ph, name in enumerate(names, 1):
            t = med(lambda ph=ph, half=half: run(ph, half, x, y, perm, w, bias, sc, sh, b))
            print(f"    {name:>32}: {(t - prev) * 1e3:6.2f} ms")
            prev = t
        print(f"    {'total':>32}: {prev * 1e3:6.2f} ms")

    model, g = SoftmaxRegression(), torch.Generator().manual_seed(0)
    hyper, runner = check_state(None, None), eng._split_runner()[0]
    hot = torch.arange(b).repeat(n // b + 1)[:n]
    steps = -(-n // b)
    res: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        for name in (
            "two threads, random rows",
            "two threads, rows in cache",
            "one thread, random rows",
            "one thread, rows in cache",
        ):
            order = hot if name.endswith("cache") else torch.randperm(n, generator=g)
            a = eng._kernel_args(model, order, b, 1e-3, 0, steps, hyper, None)
            fn = (
                (lambda a=a: runner.run(a))
                if name.startswith("two")
                else (lambda a=a: c._sgd_kernel(*a))
            )
            res.setdefault(name, []).append(_timed(fn))
    print("  whole epochs (one call):")
    for name, t in res.items():
        print(f"    {name:>32}: {statistics.median(t) * 1e3:6.2f} ms (best {min(t) * 1e3:.2f})")
    return 0


def _timed(f) -> float:
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


if __name__ == "__main__":
    raise SystemExit(main())
