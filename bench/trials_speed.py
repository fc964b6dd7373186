#!/usr/bin/env python
"""K trials trained together (``sgdlab.study.trials.Trials``) against K single fast-engine runs,
one thread, on the study's training set (50,000 images after holding out 10,000).

    PYTHONPATH=src python bench/trials_speed.py [--k 10] [--batch-sizes 16,1024] [--repeats 3]
        [--paths numba,torch] [--json out.json]

Per b: the best wall time of ``--repeats`` epochs of K trials together (one ``sgd_steps`` call
an epoch; each path of ``--paths``: ``numba`` (the default), ``torch`` by setting
``large_batch``), and of one epoch of the single ``fast`` engine (one call) times K; the
aggregate GFLOP/s (4·7850·b FLOPs per model and step, :func:`sgdlab.measure.roofline.step_flops`)
and its share of the one-thread sgemm peak (:func:`sgdlab.measure.roofline.measure_peak`,
measured first); the same for :meth:`Trials.gd_step` against K single full-gradient steps.
Learning rates are small (no trial diverges); numba and torch on one thread.
Best, not median: on a shared machine the best is the closest to the code's own speed.
"""

from __future__ import annotations

import argparse
import json
import time


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--batch-sizes", default="16,1024")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--paths", default="numba,torch")
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args(argv)

    import torch

    from sgdlab.data import load
    from sgdlab.data.split import hold_out
    from sgdlab.engines.fast.engine import NumbaEngine
    from sgdlab.measure import machine, roofline
    from sgdlab.model import SoftmaxRegression
    from sgdlab.study.trials import Trials

    machine.set_threads(1)
    peak = roofline.measure_peak("cpu")["sgemm_gflops_1thread"]
    fit, _, _ = hold_out(load(download=False), 10_000, seed=0)
    x, y = fit.train_images, fit.train_labels
    n, k = x.shape[0], args.k
    lrs = [1e-4 * 1.5**i for i in range(k)]
    eng = NumbaEngine(x, y, device=torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    out = {"peak_1thread_gflops": peak, "n": n, "k": k, "rows": []}
    print(f"N = {n}, K = {k}, one thread; sgemm peak {peak:.1f} GFLOP/s (1 thread)")

    def timed(fn) -> float:
        ts = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return min(ts)

    for b in (int(v) for v in args.batch_sizes.split(",")):
        nb = -(-n // b)
        flops = sum(roofline.step_flops(min(b, n - i * b)) for i in range(nb))  # one model
        perm = torch.randperm(n, generator=gen)
        m = SoftmaxRegression()
        single = timed(lambda: eng.sgd_steps(m, perm, b, 1e-4, 0, nb)) * k  # noqa: B023
        row = {"b": b, "single_x_k_s": single}
        print(f"b = {b:5d}: single fast epoch ×{k}: {single * 1e3:8.1f} ms")
        for path in args.paths.split(","):
            t = Trials(x, y, lrs=lrs)
            t.large_batch = None if path == "numba" else 1
            t.sgd_steps(perm, b, 0, 1)  # compile / warm up
            s = timed(lambda: t.sgd_steps(perm, b, 0, nb))  # noqa: B023
            g = k * flops / s / 1e9
            row[path] = {"seconds": s, "gflops": g, "speedup": single / s}
            print(
                f"          {path:5s} K together: {s * 1e3:8.1f} ms = {single / s:4.2f}× faster, "
                f"{g:6.1f} GFLOP/s = {g / peak:5.1%} of the peak"
            )
        out["rows"].append(row)
    t = Trials(x, y, lrs=lrs)
    t.gd_step()
    s = timed(t.gd_step)
    m = SoftmaxRegression()
    single = timed(lambda: eng.gd_step(m, 1e-4)) * k
    g = k * roofline.gd_flops(n) / s / 1e9
    out["gd"] = {"seconds": s, "gflops": g, "single_x_k_s": single, "speedup": single / s}
    print(
        f"gd_step (b = N, K = {k}): single fast ×{k}: {single * 1e3:.1f} ms; together "
        f"{s * 1e3:.1f} ms = {single / s:4.2f}× faster, {g:.1f} GFLOP/s = {g / peak:.1%}"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
