#!/usr/bin/env python
"""Issue 13's check: an SGD epoch and a full-GD iteration of the fast engine against the
all-core roofline measured in the same run.

    PYTHONPATH=src python bench/roofline_ab.py [--batch-size 16] [--repeats 9] [--json out.json]
    PYTHONPATH=<other checkout>/src python bench/roofline_ab.py    # the same for a "before"

One process measures, in this order: the machine's peak
(``sgdlab.measure.roofline.measure_peak``: sgemm of ``torch.mm`` on all threads, copy
bandwidth), then ``--repeats`` epochs at b in calls of the lengths ``sgdlab train`` picks
(``epoch_train``: ``sgdlab.training.stretch``, about 50 ms a call; a checkout without it: calls
of 500 steps, as its train ran them), in calls of 500 steps (``epoch_500``), in one call, and
full-gradient iterations, each a median (and best) of wall times, torch on one thread where
train does so; nothing is evaluated between epochs. Each figure is printed with its ratio to the
roofline time of its work (``sgdlab.measure.roofline``). For a before/after, run it for both
checkouts back to back (alternating) on a quiet machine: only ratios from one run are
comparable (machines of one kind differ by up to 2× in time).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args(argv)

    import torch

    from sgdlab import engines
    from sgdlab.data import load
    from sgdlab.measure import machine, roofline
    from sgdlab.measure.bench import SEGMENT
    from sgdlab.measure.machine import LoadMonitor
    from sgdlab.measure.provenance import cpu_model
    from sgdlab.model import SoftmaxRegression

    try:
        from sgdlab.training.stretch import Stretch
    except ImportError:  # an older checkout
        Stretch = None  # noqa: N806

    ds = load()
    eng = engines.get_engine("fast", ds.train_images, ds.train_labels, "cpu")
    n, b = eng.n, args.batch_size
    steps = -(-n // b)
    peak = roofline.measure_peak("cpu")
    time.sleep(0.2)  # torch's OpenMP workers stop spinning after the peak's matmuls
    quiet = getattr(machine, "quiet_torch_for", None)  # as sgdlab train runs (absent before)
    m, g = SoftmaxRegression(), torch.Generator().manual_seed(0)
    mon = LoadMonitor().start()

    def epoch(segment: int) -> float:
        perm = torch.randperm(n, generator=g)
        t0 = time.perf_counter()
        for s in range(0, steps, segment):
            eng.sgd_steps(m, perm, b, 1e-3, s, min(steps, s + segment))
        return time.perf_counter() - t0

    stretch = Stretch() if Stretch is not None else None

    def epoch_train() -> float:  # call lengths as sgdlab.train picks them (sgdlab.training.stretch)
        if stretch is None:  # a checkout before sgdlab.training.stretch: train ran calls of 500
            return epoch(SEGMENT)
        perm = torch.randperm(n, generator=g)
        t0 = time.perf_counter()
        stretch.run(steps, lambda i, j: eng.sgd_steps(m, perm, b, 1e-3, i, j))
        return time.perf_counter() - t0

    def gd() -> float:
        t0 = time.perf_counter()
        eng.full_gradient(m)
        return time.perf_counter() - t0

    out = {
        "cpu": cpu_model(),
        "threads": torch.get_num_threads(),
        "batch_size": b,
        "n": n,
        "peak": peak,
        "figures": {},
    }
    work = {
        "epoch_train": roofline.epoch_work(n, b),
        "epoch_500": roofline.epoch_work(n, b),
        "epoch_1call": roofline.epoch_work(n, b),
        "gd": (roofline.gd_flops(n), roofline.gd_bytes(n)),
    }
    runs = {
        "epoch_train": epoch_train,
        "epoch_500": lambda: epoch(SEGMENT),
        "epoch_1call": lambda: epoch(steps),
        "gd": gd,
    }
    for name, run in runs.items():
        with quiet(eng) if quiet is not None else contextlib.nullcontext():
            run()  # warm-up
            t = [run() for _ in range(args.repeats)]
        med = statistics.median(t)
        vp = roofline.versus_peak(med, *work[name], peak)
        out["figures"][name] = {"seconds": t, "median": med, "best": min(t), "vs_peak": vp}
    out["machine_load"] = mon.stop()
    split = getattr(eng, "_split", None)
    if split is not None:
        out["split_calls"], out["backoff_events"] = split[0].calls, split[1].events
    print(
        f"{out['cpu']}, torch threads {out['threads']}; peak {peak['sgemm_gflops']:.1f} "
        f"GFLOP/s (sgemm, all threads), copy {peak['bandwidth_gbs']:.1f} GB/s; other "
        f"processes used {out['machine_load']['other_cpu_share'] or 0:.1%} of the CPUs"
    )
    for name, f in out["figures"].items():
        roof = f["vs_peak"]["roofline_seconds"]
        print(
            f"{name:>12}: median {f['median'] * 1e3:7.2f} ms (best {f['best'] * 1e3:.2f}), "
            f"roofline {roof * 1e3:.2f} ms, ×roof {f['median'] / roof:.2f} "
            f"(best {f['best'] / roof:.2f})"
        )
    if split is not None:
        print(f"two-thread calls: {out['split_calls']}, back-offs: {out['backoff_events']}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=1, default=float)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
