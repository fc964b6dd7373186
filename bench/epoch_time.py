"""Time one epoch of plain SGD (constant lr) with the fast engine: the before/after check that
the optimizer options did not slow the plain kernel down.

    PYTHONPATH=src python bench/epoch_time.py [--batch-size 16] [--repeats 7]

Prints the median (and min) wall time of ``engine.sgd_steps`` over a full epoch of the full
training set (60,000 images; the sample if the full set is absent), in segments of 500 steps
(:func:`sgdlab.train`'s first call; it then adapts its calls,
:mod:`sgdlab.training.stretch`). Nothing
is evaluated.
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import time

import torch


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--engine", default="fast")
    args = p.parse_args(argv)
    from sgdlab import engines
    from sgdlab.data import load, load_sample
    from sgdlab.errors import DataNotFoundError
    from sgdlab.model import SoftmaxRegression

    try:
        ds = load(download=False)
    except DataNotFoundError:
        ds = load_sample()
    eng = engines.get_engine(args.engine, ds.train_images, ds.train_labels, "cpu")
    b, n = args.batch_size, ds.train_images.shape[0]
    steps = -(-n // b)
    new_api = "hyper" in inspect.signature(eng.sgd_steps).parameters
    times = []
    for r in range(args.repeats + 1):  # the first run warms caches and is dropped
        model = SoftmaxRegression()
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(r))
        t0 = time.perf_counter()
        for s in range(0, steps, 500):
            stop = min(steps, s + 500)
            lr = torch.full((stop - s,), 0.005, dtype=torch.float64) if new_api else 0.005
            eng.sgd_steps(model, perm, b, lr, s, stop)
        if r:
            times.append(time.perf_counter() - t0)
    print(
        f"engine={eng.name} b={b} n={n} epoch median {statistics.median(times) * 1e3:.1f} ms "
        f"min {min(times) * 1e3:.1f} ms over {len(times)} repeats"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
