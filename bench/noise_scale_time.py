"""Time :func:`sgdlab.analysis.noise_scale.gradient_noise_scale` on the study's 50,000 training
images (the full training set less the 10,000-image validation split, seed 0): the before/after
check of its symmetric-kernel speed-up.

    PYTHONPATH=src python bench/noise_scale_time.py [--dtype float64|float32] [--repeats 1]
        [--n 50000] [--threads T] [--module OLD.py] [--out result.json]

The model: ``SoftmaxRegression(init="uniform")`` (seed 0) with its weights scaled by 20, so the
outputs are far from uniform (the timing does not depend on the weights; the figures, written
with ``--out``, let two versions be compared to 1e-9). Prints the wall and CPU times (the CPU
time, summed over threads, is the less load-sensitive on a shared machine), the figures, the
torch thread count and the 1-minute load average before and after. ``--module FILE`` times the
``gradient_noise_scale`` defined in FILE instead (e.g. the version before a change, saved with
``git show REV:src/sgdlab/analysis/noise_scale.py > old.py``), for alternating A/B runs.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import statistics
import time

import torch


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--n", type=int, default=50_000)
    p.add_argument("--block", type=int, default=1024)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--module", default=None)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from sgdlab.analysis.noise_scale import gradient_noise_scale
    from sgdlab.data import load, to_float
    from sgdlab.data.split import validation_split
    from sgdlab.model import SoftmaxRegression

    if args.module:
        gradient_noise_scale = runpy.run_path(args.module)["gradient_noise_scale"]  # noqa: F811
    ds = load(download=False)
    fit, _ = validation_split(ds.train_images.shape[0], 10_000, seed=0)
    fit = fit[: args.n]
    x, y = to_float(ds.train_images[fit]), ds.train_labels[fit]
    model = SoftmaxRegression(init="uniform", generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        model.z.weight.mul_(20.0)
    dtype = getattr(torch, args.dtype)
    load_before = os.getloadavg()[0]
    times, cpu, r = [], [], {}
    for _ in range(args.repeats):
        t, c = time.perf_counter(), time.process_time()
        r = gradient_noise_scale(model, x, y, block=args.block, kernel_dtype=dtype)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    out = {
        "module": args.module or "sgdlab.analysis.noise_scale",
        "n": int(x.shape[0]),
        "kernel_dtype": args.dtype,
        "block": args.block,
        "seconds": times,
        "median_s": statistics.median(times),
        "cpu_seconds": cpu,  # CPU time of all this process's threads: less sensitive to load
        "median_cpu_s": statistics.median(cpu),
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load1_before": load_before,
        "load1_after": os.getloadavg()[0],
        "result": r,
    }
    print(json.dumps(out, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
