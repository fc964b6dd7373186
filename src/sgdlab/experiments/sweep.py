"""Run a sweep: cached runs are read back, the others run in parallel worker processes.

Each worker is a spawned process with one torch thread and one numba thread (so ``workers``
processes use ``workers`` cores without oversubscription), ignores SIGINT, and writes every
finished run to the cache itself (atomically) before reporting it. Ctrl-C in the parent
(or SIGTERM) terminates the workers and raises :class:`~sgdlab.errors.TrainingInterrupted`
naming how many runs are kept: running the same sweep again resumes from them.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sgdlab.data import FashionMNIST
from sgdlab.errors import ConfigError, TrainingInterrupted
from sgdlab.experiments.cache import Cache
from sgdlab.experiments.spec import FULL, RunSpec, SweepSpec, batch_label

_W: dict[str, Any] = {}  # worker state: data, cache


def default_workers() -> int:
    """One per usable core."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _single_thread() -> None:
    import torch

    torch.set_num_threads(1)
    try:
        import numba
    except ImportError:
        return
    numba.set_num_threads(1)


def _init_worker(data: FashionMNIST, cache: Cache) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what Ctrl-C does
    _single_thread()
    _W["data"], _W["cache"] = data, cache


def _run_one(spec: RunSpec, data: FashionMNIST) -> dict[str, Any]:
    from sgdlab.experiments.run import run_one

    return run_one(spec, data)


def _work(item: tuple[Callable, Any]) -> tuple[Any, dict[str, Any]]:
    runner, spec = item
    record = runner(spec, _W["data"])
    _W["cache"].put(spec, record)
    return spec, record


@dataclass
class RunResult:
    """One run: its spec, its record (see :mod:`.run`) and whether it came from the cache."""

    spec: RunSpec
    record: dict[str, Any]
    cached: bool


@dataclass
class Executed:
    results: list[RunResult] = field(default_factory=list)
    trained: int = 0


def execute(
    specs: Iterable[RunSpec],
    *,
    data: FashionMNIST,
    cache: Cache,
    workers: int,
    progress: bool = True,
    desc: str = "runs",
    on_result: Callable[[RunResult], None] | None = None,
    runner: Callable[[Any, FashionMNIST], dict[str, Any]] = _run_one,
    backend: Callable[..., None] | None = None,
) -> Executed:
    """Read cached runs, run the others (``workers`` processes; 1 = in this process).

    ``runner(spec, data) -> record`` (a module-level function: workers receive it by name)
    runs one spec; the default trains a sweep's :class:`RunSpec`. Specs must be hashable.
    ``backend(todo, data, runner, finished)``, when given, runs the specs elsewhere (a Dask
    cluster: :class:`sgdlab.study.cluster.Cluster`) and calls ``finished(spec, record)`` as each
    completes; this process then caches the record."""
    specs = list(specs)
    out = Executed()
    todo = []
    for s in specs:
        rec = cache.get(s)
        if rec is None:
            todo.append(s)
        else:
            out.results.append(RunResult(s, rec, cached=True))
    bar = _bar(progress, len(specs), len(specs) - len(todo), desc)
    started = time.perf_counter()

    def done(spec: RunSpec, rec: dict[str, Any]) -> None:
        out.results.append(RunResult(spec, rec, cached=False))
        out.trained += 1
        if bar is not None:
            bar.update(1)
            bar.set_postfix(trained=out.trained, cached=len(specs) - len(todo))
        if on_result is not None:
            on_result(out.results[-1])

    old_term = _term_as_interrupt()
    try:
        if backend is not None and todo:

            def finished(spec: Any, rec: dict[str, Any]) -> None:
                cache.put(spec, rec)
                done(spec, rec)

            backend(todo, data, runner, finished)
        elif workers == 1 or len(todo) <= 1:
            _run_here(todo, data, cache, done, runner)
        else:
            _run_pool(todo, data, cache, min(workers, len(todo)), done, runner)
    except KeyboardInterrupt:
        kept = len(specs) - len(todo) + out.trained
        raise TrainingInterrupted(
            f"interrupted after {time.perf_counter() - started:.0f} s: {kept} of {len(specs)} "
            f"{desc} are finished and cached in {cache.dir}; run the same command again to "
            "continue from them",
            signal.SIGINT,
        ) from None
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
        if bar is not None:
            bar.close()
    order = {s: i for i, s in enumerate(specs)}
    out.results.sort(key=lambda r: order[r.spec])
    return out


def _term_as_interrupt():
    """While a sweep runs in the main thread, SIGTERM stops it like Ctrl-C (runs kept)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, handler)


def _run_here(todo, data, cache, done, runner) -> None:
    from sgdlab.measure.machine import restore_threads, set_threads

    old = set_threads(1)
    try:
        for s in todo:
            rec = runner(s, data)
            cache.put(s, rec)
            done(s, rec)
    finally:
        restore_threads(old)


def _run_pool(todo, data, cache, workers, done, runner) -> None:
    ctx = mp.get_context("spawn")
    pool = ctx.Pool(workers, initializer=_init_worker, initargs=(data, cache))
    try:
        for spec, rec in pool.imap_unordered(_work, [(runner, s) for s in todo]):
            done(spec, rec)
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()


def _bar(enabled: bool, total: int, initial: int, desc: str):
    if not enabled:
        return None
    from sgdlab.progress import bar

    return bar(total=total, initial=initial, unit="run", desc=desc)


def check_workers(workers: int | None) -> int:
    if workers is None:
        return default_workers()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be an integer ≥ 1, got {workers!r}")
    return workers


def noise_specs(spec: SweepSpec, chosen: dict[str, dict[str, Any]], n_train: int) -> list[RunSpec]:
    """One noise run per SGD batch size at its chosen lr (full GD has no minibatch noise)."""
    return [
        spec.noise_run(b, chosen[batch_label(b)]["lr"], n_train=n_train)
        for b in spec.batch_sizes
        if b != FULL and chosen.get(batch_label(b), {}).get("lr") is not None
    ]
