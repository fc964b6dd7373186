#!/usr/bin/env python
"""Where two threads per SGD step pay: one thread vs the pixel split, side by side in one run.

Two sweeps with the fast engine on the full set (or ``--sample``), each point timed with the
split forced off and forced on (thresholds overridden on the engine; the results are bitwise
the same either way), alternating, best and median of ``--repeats``:

- **batch size** b (whole epochs in calls of 500 steps, as ``sgdlab train`` runs them): the
  per-step work shrinks with b while the barrier's cost does not;
- **samples per call** at b = 16 (calls of k steps over one epoch): each call hands the stretch
  to the worker thread once, so small calls (small N, or the short stretches of
  ``--checkpoint-every``) pay that hand-over more often.

The crossover sets ``numba_threads.MIN_BATCH`` and ``MIN_STEPS``.

    python bench/split_crossover.py [--json out.json] [--sample] [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sample", action="store_true")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--batch-sizes", default="1,2,4,8,16,32,64,256")
    p.add_argument("--calls", default="1,2,4,8,16,32,64,128,500", help="steps per call, b=16")
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args(argv)

    import numba
    import torch

    from sgdlab import engines
    from sgdlab.data import load, load_sample
    from sgdlab.engines.fast import threads as nt
    from sgdlab.measure.machine import LoadMonitor
    from sgdlab.model import SoftmaxRegression

    if numba.get_num_threads() < 2:
        sys.exit("needs numba with ≥ 2 threads")
    ds = load_sample() if args.sample else load()
    eng = engines.get_engine("fast", ds.train_images, ds.train_labels, "cpu")
    m, g = SoftmaxRegression(), torch.Generator().manual_seed(0)
    nt.Backoff.record = lambda self, *a: None  # measure the split, busy or not
    eng._split_runner()[0].bail_yields = 2**62
    mon = LoadMonitor().start()

    def epoch(b: int, seg: int, split: bool) -> float:
        eng.min_split_batch, eng.min_split_steps = (1, 1) if split else (10**9, 10**9)
        perm = torch.randperm(eng.n, generator=g)
        nb = -(-eng.n // b)
        t0 = time.perf_counter()
        for s in range(0, nb, seg):
            eng.sgd_steps(m, perm, b, 1e-4, s, min(nb, s + seg))
        return time.perf_counter() - t0

    def point(b: int, seg: int) -> dict:
        t = {False: [], True: []}
        for split in (False, True):
            epoch(b, seg, split)  # warm-up
        for _ in range(args.repeats):
            for split in (False, True):
                t[split].append(epoch(b, seg, split))
        one, two = statistics.median(t[False]), statistics.median(t[True])
        return {
            "batch_size": b,
            "steps_per_call": seg,
            "one_thread": t[False],
            "two_threads": t[True],
            "speedup_median": one / two,
            "speedup_best": min(t[False]) / min(t[True]),
        }

    rows_b = [point(int(b), 500) for b in args.batch_sizes.split(",")]
    rows_c = [point(16, int(k)) for k in args.calls.split(",")]
    load = mon.stop()
    print(
        f"N = {eng.n:,}; other processes used {load['other_cpu_share']:.1%} of the CPUs; "
        f"median of {args.repeats} epochs (best in brackets)"
    )
    print(f"{'b':>5} {'steps/call':>10} {'1 thread':>16} {'2 threads':>16} {'speed-up':>14}")
    for r in rows_b + rows_c:
        one, two = r["one_thread"], r["two_threads"]
        print(
            f"{r['batch_size']:>5} {r['steps_per_call']:>10} "
            f"{statistics.median(one) * 1e3:>8.2f} ({min(one) * 1e3:.2f}) "
            f"{statistics.median(two) * 1e3:>8.2f} ({min(two) * 1e3:.2f}) "
            f"{r['speedup_median']:>6.2f} ({r['speedup_best']:.2f})"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(
                {"n": eng.n, "by_batch_size": rows_b, "by_call_size": rows_c, "machine_load": load},
                f,
                indent=1,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
