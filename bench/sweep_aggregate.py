#!/usr/bin/env python
"""How much of the machine a sweep gets: P single-thread processes training at once.

Sweeps fill the cores with one process per core (``sgdlab experiment``). This script measures
what that achieves against the all-core peak of :mod:`sgdlab.measure.roofline`, next to one process
using every core for each step (the fast engine's two-thread steps):

1. the peak (torch.mm sgemm on all threads, copy bandwidth), in this process;
2. **one process, all threads**: ``--epochs`` epochs at ``--batch-size`` in calls of 500 steps
   (``sgdlab train``'s first call length), FLOPs of the work model / wall seconds;
3. **P processes × 1 thread** (``NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1``), each warmed up, then
   released together; aggregate GFLOP/s = the FLOPs of all their epochs / (last end − first
   start), on the system-wide monotonic clock.

    python bench/sweep_aggregate.py                      # 2 processes, 5 epochs each at b=16
    python bench/sweep_aggregate.py --json sweep.json --procs 2 --epochs 10

Prints one table; ``--json`` writes every figure, the peak and the machine load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any


def _epochs(batch_size: int, epochs: int, sample: bool) -> dict[str, Any]:
    """Warm up, then time ``epochs`` epochs of the fast engine (CLOCK_MONOTONIC stamps)."""
    import torch

    from sgdlab import engines
    from sgdlab.data import load, load_sample
    from sgdlab.model import SoftmaxRegression

    ds = load_sample() if sample else load()
    eng = engines.get_engine("fast", ds.train_images, ds.train_labels, "cpu")
    m, g = SoftmaxRegression(), torch.Generator().manual_seed(0)
    nb = -(-eng.n // batch_size)

    def epoch() -> float:
        perm = torch.randperm(eng.n, generator=g)
        t0 = time.perf_counter()
        for s in range(0, nb, 500):
            eng.sgd_steps(m, perm, batch_size, 1e-3, s, min(nb, s + 500))
        return time.perf_counter() - t0

    epoch()  # warm-up
    return {"n": eng.n, "run": lambda: [epoch() for _ in range(epochs)]}


def worker(args: argparse.Namespace) -> int:
    job = _epochs(args.batch_size, args.epochs, args.sample)
    print("ready", flush=True)
    sys.stdin.readline()  # released by the parent
    t0 = time.monotonic()
    secs = job["run"]()
    t1 = time.monotonic()
    print(json.dumps({"start": t0, "end": t1, "epochs": secs, "n": job["n"]}), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--procs", type=int, default=os.cpu_count() or 2)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--sample", action="store_true", help="the bundled 1,000-image sample")
    p.add_argument("--json", metavar="PATH")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args)

    from sgdlab.measure.machine import LoadMonitor
    from sgdlab.measure.roofline import epoch_work, measure_peak

    mon = LoadMonitor().start()
    peak = measure_peak("cpu")
    job = _epochs(args.batch_size, args.epochs, args.sample)
    n = job["n"]
    flops = epoch_work(n, args.batch_size)[0]
    one = job["run"]()
    env = {**os.environ, "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        "--epochs",
        str(args.epochs),
        "--batch-size",
        str(args.batch_size),
    ] + (["--sample"] if args.sample else [])
    procs = [
        subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        for _ in range(args.procs)
    ]
    for pr in procs:
        assert pr.stdout.readline().strip() == "ready"
    for pr in procs:
        pr.stdin.write("go\n")
        pr.stdin.flush()
    res = [json.loads(pr.stdout.readline()) for pr in procs]
    for pr in procs:
        pr.wait()
    load = mon.stop()
    wall = max(r["end"] for r in res) - min(r["start"] for r in res)
    agg = args.procs * args.epochs * flops / wall / 1e9
    one_rate = flops / min(one) / 1e9
    doc = {
        "peak": peak,
        "batch_size": args.batch_size,
        "epochs": args.epochs,
        "n": n,
        "flops_per_epoch": flops,
        "one_process_epoch_seconds": one,
        "one_process_gflops": one_rate,
        "procs": args.procs,
        "proc_epoch_seconds": [r["epochs"] for r in res],
        "procs_wall_seconds": wall,
        "procs_aggregate_gflops": agg,
        "machine_load": load,
        "numba_threads_one_process": _numba_threads(),
    }
    pk = peak["sgemm_gflops"]
    print(
        f"peak: sgemm {pk:.1f} GFLOP/s on {peak['threads']} threads "
        f"({peak['sgemm_gflops_1thread']:.1f} on 1); N = {n:,}, b = {args.batch_size}, "
        f"{args.epochs} epochs; other processes used {load['other_cpu_share']:.1%} of the CPUs"
    )
    print(
        f"one process, {doc['numba_threads_one_process']} numba threads: best epoch "
        f"{min(one) * 1e3:.1f} ms = {one_rate:.1f} GFLOP/s = {one_rate / pk:.0%} of peak"
    )
    per = [min(r["epochs"]) * 1e3 for r in res]
    print(
        f"{args.procs} processes × 1 thread: best epochs "
        f"{', '.join(f'{t:.1f}' for t in per)} ms; aggregate {agg:.1f} GFLOP/s = "
        f"{agg / pk:.0%} of peak (all epochs over {wall:.2f} s of wall time)"
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
    return 0


def _numba_threads() -> int:
    import numba

    return numba.get_num_threads()


if __name__ == "__main__":
    sys.exit(main())
