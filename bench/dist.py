"""Data-parallel SGD / full GD over gloo on 127.0.0.1: epoch times and all-reduce cost, K = 1, 2.

    PYTHONPATH=src python bench/dist.py [--sample] [--batch-sizes 16,1024,8192] [--repeats 3]
                                        [--ranks 1,2] [--json out.json]

For each K the script starts K worker processes itself (RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT
set by hand, exactly what torchrun sets), each running :func:`sgdlab.train.train` with the
``fast`` engine on the full training set:

- one SGD epoch per batch size b (median of ``--repeats``): ``train_seconds`` (updates only),
  the number of all-reduces and the wall time spent inside them (which includes waiting for the
  slower rank);
- one full-GD iteration (median of ``--repeats``);
- a bare all-reduce of 7,850 float32 (31.4 KB, one step's gradient), 2,000 times: the pure
  communication latency, without any compute skew.

Threads: K = 1 uses every core (numba/torch threads = cores); at K > 1 each rank gets
cores // K. Prints a markdown table and the machine's load during the run (other processes'
CPU share from /proc/stat). Timings on a shared machine are noisy: check ``uptime`` first.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def worker(args) -> None:
    import torch

    from sgdlab.data import load, load_sample
    from sgdlab.measure.machine import thread_info
    from sgdlab.training import dist
    from sgdlab.training.data_parallel import N_PARAMS
    from sgdlab.training.trainer import train

    out: dict = {"sgd": {}, "gd": None}
    with dist.session(timeout=300) as w:
        ds = load_sample() if args.sample else load()
        kw = dict(epochs=1, lr=0.005, seed=0, engine="fast", data=ds, progress=False)
        for b in args.batch_sizes:
            runs = []
            for _ in range(args.repeats):
                r = train(batch_size=b, **kw)
                runs.append(
                    (
                        r.history[0]["train_seconds"],
                        r.distributed["allreduce_seconds"],
                        r.distributed["allreduce_calls"],
                        r.history[0]["steps"],
                    )
                )
            runs.sort()
            t, ar, calls, steps = runs[len(runs) // 2]
            out["sgd"][str(b)] = {
                "epoch_s": t,
                "allreduce_s": ar,
                "allreduce_calls": calls,
                "steps": steps,
                "all_epoch_s": [x[0] for x in runs],
            }
        gd = sorted(
            train(method="gd", **kw).history[0]["train_seconds"] for _ in range(args.repeats)
        )
        out["gd"] = {"iteration_s": gd[len(gd) // 2], "all_s": gd}
        buf, times = torch.zeros(N_PARAMS), []
        for i in range(2200 if w.size > 1 else 0):
            dist.barrier() if i % 200 == 0 else None
            t0 = time.perf_counter()
            dist.all_reduce_(buf)
            times.append(time.perf_counter() - t0)
        out["bare_allreduce_us"] = statistics.median(times[200:]) * 1e6 if times else 0.0
        out["threads"] = thread_info()
        if w.is_main:
            print(json.dumps(out))


def run_k(k: int, args) -> dict:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    threads = str(max(1, (os.cpu_count() or 1) // k))
    procs = []
    for r in range(k):
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT / "src"),
            "RANK": str(r),
            "LOCAL_RANK": str(r),
            "WORLD_SIZE": str(k),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "OMP_NUM_THREADS": threads,
            "NUMBA_NUM_THREADS": threads,
        }
        cmd = [
            sys.executable,
            __file__,
            "--worker",
            "--batch-sizes",
            ",".join(map(str, args.batch_sizes)),
            "--repeats",
            str(args.repeats),
        ]
        cmd += ["--sample"] if args.sample else []
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True))
    outs = [p.communicate()[0] for p in procs]
    if any(p.returncode for p in procs):
        raise SystemExit(f"K={k}: a worker failed")
    return json.loads(outs[0])


def _own_cpu() -> float:
    """CPU seconds of this process and its finished workers."""
    t = os.times()
    return t.children_user + t.children_system


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--sample", action="store_true")
    p.add_argument(
        "--batch-sizes", type=lambda t: [int(x) for x in t.split(",")], default=[16, 1024, 8192]
    )
    p.add_argument("--ranks", type=lambda t: [int(x) for x in t.split(",")], default=[1, 2])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args()
    if args.worker:
        return worker(args)
    sys.path.insert(0, str(ROOT / "src"))
    from sgdlab.measure.machine import LoadMonitor
    from sgdlab.measure.provenance import cpu_model

    mon, own0 = LoadMonitor().start(), _own_cpu()
    res = {k: run_k(k, args) for k in args.ranks}
    load = mon.stop()
    if load["other_cpu_seconds"] is not None:  # LoadMonitor counts our workers as "other"
        others = max(0.0, load["other_cpu_seconds"] - (_own_cpu() - own0))
        load["other_cpu_share"] = others / (load["wall_seconds"] * (os.cpu_count() or 1))
    print(
        f"CPU: {cpu_model()}, {os.cpu_count()} cores; other processes' CPU share during the "
        f"run: {load['other_cpu_share']:.0%} (of all cores), 1-min load at start "
        f"{load['loadavg_1min_at_start']:.1f}"
    )
    print(
        "\n| workload | K | time (s) | all-reduces | all-reduce total (s) | per all-reduce (µs) |"
    )
    print("|---|---|---|---|---|---|")
    for b in args.batch_sizes:
        for k in args.ranks:
            r = res[k]["sgd"][str(b)]
            per = r["allreduce_s"] / r["allreduce_calls"] * 1e6 if r["allreduce_calls"] else 0
            print(
                f"| SGD epoch b={b} ({r['steps']} steps) | {k} | {r['epoch_s']:.3f} | "
                f"{r['allreduce_calls']} | {r['allreduce_s']:.3f} | {per:.0f} |"
            )
    for k in args.ranks:
        print(f"| full-GD iteration | {k} | {res[k]['gd']['iteration_s']:.4f} | {k > 1:d} | | |")
    for k in args.ranks:
        if k > 1:
            print(
                f"\nbare all-reduce of 7,850 float32 at K={k}: "
                f"{res[k]['bare_allreduce_us']:.0f} µs (median of 2,000)"
            )
    if args.json:
        Path(args.json).write_text(
            json.dumps({"results": res, "load": load, "cpu": cpu_model()}, indent=2)
        )


if __name__ == "__main__":
    main()
