#!/usr/bin/env python
"""The study's passes on 1 against W workers, local processes against Dask, and the per-task
overhead of Dask: the figures behind docs/distributed.md ("The batch-size study on Dask").

    python bench/study_cluster.py                          # --quick study (sample), W = 1, 2
    python bench/study_cluster.py --full --executors dask  # the full study on the full set
    python bench/study_cluster.py --json out.json --trivial 300

For each executor (``processes``: the default local worker processes, a new pool per round;
``dask``: a ``LocalCluster`` of W single-thread workers on 127.0.0.1, kept for every round) and
each W, the study's passes run from an empty cache (a temporary directory; numba's compile
cache is warm after the first run, so run it once before trusting the first row). Per run:

- ``wall``: :func:`sgdlab.study.run.run_passes`, end to end (cluster start included);
- ``start``: the Dask cluster's start (``Cluster.open``), inside ``wall``;
- ``pass_sum``: Σ over passes of the pass's own time (updates + exact evaluations + replays, as
  each record measures it on its worker);
- ``ideal``: Σ over rounds of max(Σ pass times / W, the round's longest pass), the wall of a
  perfect scheduler without overhead (a round waits for its longest pass: the critical path);
- ``overhead_per_pass``: (wall − ideal) / passes: start, process spawns, data and numba
  loading per worker, scheduling, transfers, imbalance beyond the bound.

``--trivial N``: N no-op tasks (a 1 KB record back) on a Dask ``LocalCluster`` of 1 worker, in
completion order as the study takes them: the per-task round trip, without any work.

Every figure is printed with the load average before and after it (``os.getloadavg``), the CPU
model and the threads per worker (1). A load above the machine's own workers means other users'
processes shared the cores: the figures are then upper bounds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sgdlab.measure import provenance  # noqa: E402


def load() -> str:
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def pass_seconds(record: dict[str, Any]) -> float:
    return record["train_seconds"] + record["eval_seconds"] + record["replay_seconds"]


def ideal_wall(times: list[float], round_sizes: list[int], workers: int) -> float:
    out, i = 0.0, 0
    for k in round_sizes:
        r = times[i : i + k]
        i += k
        if r:
            out += max(sum(r) / workers, max(r))
    return out


def run_study(executor: str, workers: int, *, full: bool, data) -> dict[str, Any]:
    from sgdlab.study.protocol import StudySpec
    from sgdlab.study.run import run_passes

    spec = StudySpec.full() if full else StudySpec.quick()
    before = load()
    with tempfile.TemporaryDirectory(prefix="sgdlab-bench-") as cache:
        t0 = time.perf_counter()
        out = run_passes(
            spec,
            data=data,
            cache_dir=cache,
            workers=workers,
            progress=False,
            scheduler="local" if executor == "dask" else None,
        )
        wall = time.perf_counter() - t0
    times = [pass_seconds(r) for r in out.records]
    ideal = ideal_wall(times, out.round_sizes, workers)
    return {
        "executor": executor,
        "workers": workers,
        "study": spec.name,
        "passes": len(out.records),
        "rounds": out.rounds,
        "round_sizes": out.round_sizes,
        "wall": wall,
        "pass_sum": sum(times),
        "pass_max": max(times),
        "pass_times": times,
        "ideal": ideal,
        "overhead_per_pass": (wall - ideal) / len(times),
        "load_before": before,
        "load_after": load(),
    }


def _noop(i: int) -> dict[str, Any]:
    return {"i": i, "pad": "x" * 1000}


def trivial(n: int) -> dict[str, Any]:
    from distributed import Client, LocalCluster, as_completed

    before = load()
    t0 = time.perf_counter()
    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=40,
        ) as lc,
        Client(lc, set_as_default=False) as c,
    ):
        start = time.perf_counter() - t0
        c.submit(_noop, -1, pure=False).result()  # the worker has imported this module
        t1 = time.perf_counter()
        fs = [c.submit(_noop, i, pure=False) for i in range(n)]
        got = sum(1 for f in as_completed(fs, loop=c.loop) if f.result()["i"] >= 0)
        wall = time.perf_counter() - t1
    assert got == n
    return {
        "tasks": n,
        "cluster_start": start,
        "wall": wall,
        "per_task_ms": 1000 * wall / n,
        "load_before": before,
        "load_after": load(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--full", action="store_true", help="the full study on the full data set")
    p.add_argument("--workers", default="1,2", help="worker counts W (default 1,2)")
    p.add_argument("--executors", default="processes,dask", help="processes and/or dask")
    p.add_argument("--trivial", type=int, default=200, help="no-op tasks (0: skip)")
    p.add_argument("--json", metavar="FILE", help="write every figure here")
    args = p.parse_args(argv)
    from sgdlab.data import load as load_full
    from sgdlab.data import load_sample

    data = load_full(progress=False) if args.full else load_sample()
    doc: dict[str, Any] = {
        "cpu": provenance.cpu_model(),
        "cores": len(os.sched_getaffinity(0)),
        "threads_per_worker": 1,
        "runs": [],
        "trivial": None,
    }
    print(f"CPU: {doc['cpu']}, {doc['cores']} usable cores; 1 thread per worker")
    print("| study | executor | W | passes (rounds) | wall s | Σ pass s | max pass s | ideal s "
          "| overhead s/pass | load before → after |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for ex in args.executors.split(","):
        for w in (int(x) for x in args.workers.split(",")):
            r = run_study(ex, w, full=args.full, data=data)
            doc["runs"].append(r)
            print(
                f"| {r['study']} | {ex} | {w} | {r['passes']} ({r['rounds']}) | {r['wall']:.1f} "
                f"| {r['pass_sum']:.1f} | {r['pass_max']:.2f} | {r['ideal']:.1f} "
                f"| {r['overhead_per_pass']:.3f} | {r['load_before']} → {r['load_after']} |",
                flush=True,
            )
    if args.trivial:
        t = trivial(args.trivial)
        doc["trivial"] = t
        print(
            f"trivial tasks on 1 Dask worker: {t['tasks']} in {t['wall']:.2f} s = "
            f"{t['per_task_ms']:.2f} ms per task (cluster start {t['cluster_start']:.1f} s); "
            f"load {t['load_before']} → {t['load_after']}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
