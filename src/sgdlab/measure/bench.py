"""Exercise 4 measured properly: one SGD iteration vs one full-gradient iteration, per engine.

For every registered engine that is available on the device, and every batch size b:

- **per iteration** (forward + backward + update, seconds): after a warm-up, blocks of k
  consecutive steps ``engine.sgd_steps(model, perm, b, lr, i, i+k)`` are timed between two
  ``engine.synchronize()`` calls and divided by k (k adaptive so a block lasts ≥ a few ms, so
  the clock's resolution and the sync cost vanish); ``repeats`` blocks give the median and the
  interquartile range. Only full minibatches are timed. Full GD (``engine.gd_step``) likewise.
  A batch size larger than N is dropped (named in ``dropped_batch_sizes``): a minibatch cannot
  exceed the set, and timing b = N under its name would repeat a row as another.
- **per sample** = per iteration / b; **per epoch** estimated = ⌈N/b⌉ steps × per iteration,
  and measured: real epochs of ⌈N/b⌉ steps (short last minibatch included) in calls of the
  lengths :func:`sgdlab.train` picks (:mod:`sgdlab.training.stretch`: about 50 ms of work, at least
  500 steps), permutation drawn outside the timer (up to 3 per
  batch size within a 60 s budget; see :data:`MODES`).
- the **ratios** GD/SGD(b): measured time vs the FLOP ratio N/b, and a fit
  t(b) ≈ overhead + b·(seconds per sample) that says where they differ (:mod:`.stats`), and
  exercise 4's answer at b = 16 (``exercise4``: :func:`sgdlab.measure.stats.exercise4`).
- **foreign load** (``interpretation``): when other processes used more than
  :data:`sgdlab.measure.machine.BUSY` of the CPUs during the run, the timings are contaminated:
  the numbers stay, but the fitted explanation and the regime labels are withheld (None) and
  ``interpretation`` says so and why.
- **against the machine's limit** (key ``peak`` of the result, ``vs_peak`` of every figure):
  the sgemm GFLOP/s (all threads and one) and the copy bandwidth measured at the start of the
  same run with the run's threads (:func:`sgdlab.measure.roofline.measure_peak`); per figure the
  achieved GFLOP/s, the roofline time of its work and measured/roofline. The FLOP and byte
  model (forward 2·b·784·10, backward 2·b·784·10, update, bytes of the uint8 rows …) is stated
  in :mod:`sgdlab.measure.roofline`.

Nothing but updates is inside a timer (no evaluation, no progress bar, garbage collector off).
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from sgdlab import engines
from sgdlab.config import resolve_device
from sgdlab.data import FashionMNIST
from sgdlab.errors import ConfigError, DivergenceError
from sgdlab.formatting import fmt_seconds
from sgdlab.measure.machine import LoadMonitor, restore_threads, set_threads, thread_info
from sgdlab.measure.provenance import cpu_model, environment
from sgdlab.measure.roofline import (
    best_of,
    epoch_work,
    gd_bytes,
    gd_flops,
    measure_peak,
    step_bytes,
    step_flops,
    versus_peak,
)
from sgdlab.measure.stats import (
    answer_engine,
    exercise4,
    explain,
    overhead_fit,
    regime,
    stats,
    withhold_if_foreign,
)
from sgdlab.model import SoftmaxRegression
from sgdlab.training.stretch import Stretch

SCHEMA = "sgdlab.measure.bench/3"  # /3: b > N dropped, interpretation, exercise4 (/2: peak)
DEFAULT_BATCH_SIZES: tuple[int, ...] = (1, 16, 64, 256, 1024, 4096)
SEGMENT = 500  # steps per sgd_steps call in the per-iteration blocks (the first of sgdlab.train's)

#: name -> (repeats, min block seconds, warm-up seconds, measured epochs, epoch budget seconds):
#: up to that many real epochs per batch size, fewer so they take about the budget in all, none
#: when one epoch is estimated to take longer than the budget.
MODES: dict[str, tuple[int, float, float, int, float]] = {
    "full": (25, 0.010, 0.20, 3, 60.0),
    "quick": (5, 0.001, 0.01, 1, 0.5),
}


def benchmark(
    data: FashionMNIST,
    *,
    engine: str = "all",
    device: str = "cpu",
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    quick: bool = False,
    repeats: int | None = None,
    lr: float = 1e-3,
    seed: int = 0,
    threads: int | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Time SGD iterations at each batch size and full-GD iterations; return a JSON-ready dict.

    ``engine``: ``"all"`` (every registered engine available on ``device``), a name, or names
    separated by commas. ``device``: cpu, cuda or auto. ``repeats``: timed blocks per figure
    (default 25, or 5 with ``quick``). ``lr``: small step size so the weights stay sane over
    thousands of timed steps. ``threads``: set torch's (and numba's) thread count for the run,
    restored afterwards. Batch sizes larger than N are dropped (``dropped_batch_sizes``). All
    times are in seconds; see the module docstring for what each is. Raises
    :class:`ConfigError` for bad values, every batch size > N, or an unknown/unavailable engine.
    """
    mode = "quick" if quick else "full"
    reps, min_block, warmup, epoch_reps, budget = MODES[mode]
    reps = _check_int("repeats", reps if repeats is None else repeats, 1)
    sizes = [_check_int("batch size", b, 1) for b in batch_sizes]
    if not sizes:
        raise ConfigError("give at least one batch size")
    if not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise ConfigError(f"learning rate must be finite and > 0, got {lr!r}")
    seed = _check_int("seed", seed, 0)
    dev = resolve_device(device)
    skipped: dict[str, str] = {}
    names = select_engines(engine, dev, skipped)
    n = int(data.train_images.shape[0])
    requested, dropped = sizes, [b for b in sizes if b > n]
    sizes = [b for b in sizes if b <= n]
    if not sizes:
        raise ConfigError(f"every batch size is larger than N = {n:,}: give b ≤ {n:,}")
    old_threads = set_threads(threads)
    bar = _bar(progress, len(names) * (2 * len(sizes) + 1))
    gc_was_enabled = gc.isenabled()
    monitor = LoadMonitor().start()
    try:
        gc.collect()
        peak = measure_peak(dev, quick=quick)
        gc.disable()
        results = []
        for name in names:
            t0 = time.perf_counter()
            eng = engines.get_engine(name, data.train_images, data.train_labels, dev)
            runner = _Runner(
                eng, lr=lr, seed=seed, reps=reps, min_block=min_block, warmup=warmup, bar=bar
            )
            res = runner.run(sizes, epoch_reps=epoch_reps, budget=budget)
            res["bench_seconds"] = time.perf_counter() - t0
            results.append(res)
        peak = best_of(peak, measure_peak(dev, quick=quick))
        for res in results:
            add_roofline(res, peak)
        env = {
            **environment(dev),
            **thread_info(),
            "cpu_model": cpu_model(),
            "machine_load": monitor.stop(),
        }
        interpretation = withhold_if_foreign(results, env["machine_load"])
    finally:
        if gc_was_enabled:
            gc.enable()
        if bar is not None:
            bar.close()
        restore_threads(old_threads)
    config = {
        "engines": names,
        "device": str(dev),
        "batch_sizes": sizes,
        "batch_sizes_requested": requested,
        "mode": mode,
        "repeats": reps,
        "min_block_seconds": min_block,
        "warmup_seconds": warmup,
        "epoch_repeats": epoch_reps,
        "epoch_budget_seconds": budget,
        "lr": lr,
        "seed": seed,
        "segment_steps": SEGMENT,
        "epoch_calls": "sgdlab.training.stretch",
        "threads_requested": threads,
    }
    info = data.provenance()
    return {
        "schema": SCHEMA,
        "config": config,
        "n_train": n,
        "environment": env,
        "data": info,
        "peak": peak,
        "results": results,
        "skipped_engines": skipped,
        "dropped_batch_sizes": dropped,
        "interpretation": interpretation,
        "exercise4": exercise4(
            answer_engine(results), batch_size=16, withheld=interpretation["reason"]
        ),
    }


def add_roofline(res: dict[str, Any], peak: dict[str, Any]) -> None:
    """Put ``vs_peak`` (and ``epoch_vs_peak``) next to every figure of one engine's result:
    achieved GFLOP/s, roofline seconds and measured/roofline (:mod:`sgdlab.measure.roofline`)."""
    n = res["n"]
    gd = res["gd"]
    gd["vs_peak"] = versus_peak(gd["per_iteration"]["median"], gd_flops(n), gd_bytes(n), peak)
    for r in res["sgd"]:
        be, ep = r["effective_batch_size"], r["epoch_measured"]
        r["vs_peak"] = versus_peak(
            r["per_iteration"]["median"], step_flops(be), step_bytes(be), peak
        )
        r["epoch_vs_peak"] = (
            None if ep is None else versus_peak(ep["median"], *epoch_work(n, be), peak)
        )


def select_engines(
    engine: str, device: torch.device, skipped: dict[str, str] | None = None
) -> list[str]:
    """``"all"`` -> every registered engine available on ``device``; else the named ones.

    With ``"all"``, an engine that is unavailable here, or whose module fails to import, is
    left out and (when ``skipped`` is given) recorded there with the reason.
    """
    skipped = {} if skipped is None else skipped
    if engine == "all":
        names = []
        for n in engines.engine_names():
            try:
                ok = engines.available(n, device)
            except ImportError as e:
                skipped[n] = f"cannot be imported: {e}"
                continue
            if ok:
                names.append(n)
            else:
                skipped[n] = f"not available on {device.type}"
        return names
    names = [e.strip() for e in str(engine).split(",") if e.strip()]
    if not names:
        raise ConfigError("engine must be 'all' or engine names")
    return list(dict.fromkeys(engines.resolve(e, device) for e in names))


class _Runner:
    """One engine's measurements (all on one model, reset to zeros before each figure)."""

    def __init__(self, eng, *, lr, seed, reps, min_block, warmup, bar):
        self.eng, self.lr, self.reps, self.min_block, self.warmup = eng, lr, reps, min_block, warmup
        self.gen = torch.Generator().manual_seed(seed)
        self.model = SoftmaxRegression().to(eng.device)
        self.bar = bar

    def _tick(self, what: str) -> None:
        if self.bar is not None:
            self.bar.set_description(f"bench {self.eng.name} {what}", refresh=False)
            self.bar.update(1)

    def _reset(self) -> None:
        with torch.no_grad():
            self.model.z.weight.zero_()
            self.model.z.bias.zero_()

    def run(self, sizes: list[int], *, epoch_reps: int, budget: float) -> dict[str, Any]:
        eng, n = self.eng, self.eng.n
        self._reset()
        gd = self._blocks(lambda k: [eng.gd_step(self.model, self.lr) for _ in range(k)])
        self._tick("GD")
        rows = []
        for b in sizes:  # every b ≤ N (benchmark drops the others)
            self._reset()
            it = self._blocks(self._sgd_block(b))
            self._tick(f"b={b}")
            steps = math.ceil(n / b)
            estimate = steps * it["median"]
            epoch, note = None, None
            if estimate <= budget:
                self._reset()
                reps = max(1, min(epoch_reps, int(budget / estimate)))
                epoch = stats(self._epochs(b, reps), 1)
            else:
                note = f"no real epoch: estimated {fmt_seconds(estimate)} > {budget:g} s budget"
            self._tick(f"b={b} epoch")
            rows.append(
                {
                    "batch_size": b,
                    "effective_batch_size": b,  # = b (kept for /2 readers)
                    "steps_per_epoch": steps,
                    "per_iteration": it,
                    "per_sample_seconds": it["median"] / b,
                    "epoch_estimate_seconds": estimate,
                    "epoch_measured": epoch,
                    "ratio_gd_over_sgd_measured": gd["median"] / it["median"],
                    "ratio_flops": n / b,
                    "note": note,
                }
            )
        self._check_finite()
        fit = overhead_fit(rows)
        for row in rows:
            row["measured_over_flops"] = row["ratio_gd_over_sgd_measured"] / row["ratio_flops"]
            row["regime"] = regime(row, fit)
        return {
            "engine": eng.name,
            "device": str(eng.device),
            "n": n,
            "gd": {
                "per_iteration": gd,
                "per_sample_seconds": gd["median"] / n,
                "epoch_seconds": gd["median"],
            },
            "sgd": rows,
            "overhead_fit": fit,
            "explanation": explain(fit, n, gd["median"] / n),
        }

    def _sgd_block(self, b: int) -> Callable[[int], None]:
        """run(k): k full-size minibatch steps, cycling through this epoch's full batches."""
        eng, full = self.eng, self.eng.n // b
        perm = torch.randperm(eng.n, generator=self.gen)
        pos = 0

        def run(k: int) -> None:
            nonlocal pos
            while k > 0:
                m = min(k, full - pos, SEGMENT)
                eng.sgd_steps(self.model, perm, b, self.lr, pos, pos + m)
                pos, k = (pos + m) % full, k - m

        return run

    def _blocks(self, run: Callable[[int], Any]) -> dict[str, Any]:
        """Warm up, pick k, time ``reps`` blocks of k iterations: per-iteration seconds."""
        sync, clock = self.eng.synchronize, time.perf_counter
        t_end, calls = clock() + self.warmup, 0
        while calls < 3 or clock() < t_end:
            run(1)
            calls += 1
        k = 1
        while k < 100_000:  # like timeit's autorange: grow k until a block lasts min_block;
            probes = []  # the fastest of 3 probes, so one disturbed probe cannot fix k too low
            for _ in range(3):
                sync()
                t0 = clock()
                run(k)
                sync()
                probes.append(clock() - t0)
            if (dt := min(probes)) >= self.min_block:
                break
            k = min(100_000, max(2 * k, math.ceil(k * 1.2 * self.min_block / max(dt, 1e-9))))
        raw = []
        for _ in range(self.reps):
            sync()
            t0 = clock()
            run(k)
            sync()
            raw.append((clock() - t0) / k)
        return stats(raw, k)

    def _epochs(self, b: int, reps: int) -> list[float]:
        """Wall seconds of ``reps`` real epochs (fresh permutation each, drawn untimed)."""
        eng, steps, out = self.eng, math.ceil(self.eng.n / b), []
        perm = torch.randperm(eng.n, generator=self.gen)
        eng.sgd_steps(self.model, perm, b, self.lr, steps - 1, steps)  # warm the short tail
        stretch = Stretch()  # call lengths as sgdlab.train picks them (≈ 50 ms, ≥ 500 steps)

        def call(i: int, j: int) -> None:
            eng.sgd_steps(self.model, perm, b, self.lr, i, j)
            eng.synchronize()

        for _ in range(reps):
            perm = torch.randperm(eng.n, generator=self.gen)
            eng.synchronize()
            t0 = time.perf_counter()
            stretch.run(steps, call)
            out.append(time.perf_counter() - t0)
        return out

    def _check_finite(self) -> None:
        w = self.model.z
        if not (torch.isfinite(w.weight).all() and torch.isfinite(w.bias).all()):
            raise DivergenceError(
                f"weights became non-finite while benchmarking {self.eng.name} "
                f"with lr={self.lr:g}; use a smaller --lr"
            )


def _check_int(what: str, v: Any, lo: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
        raise ConfigError(f"{what} must be an integer ≥ {lo}, got {v!r}")
    return int(v)


def _bar(enabled: bool, total: int):
    if not enabled:
        return None
    from sgdlab.progress import bar

    return bar(total=total, unit="figure", desc="bench")
