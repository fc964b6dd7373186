"""Run the whole study: rounds of passes (cached, in parallel worker processes) until every
(optimizer, b) has an interior best lr per target, then the scaling rows.

Round 0 runs every (optimizer, b, seed) on its first grid; each later round only the lrs that
extend a grid whose best lr sat at an edge (:mod:`.tune`). Every pass is cached as JSON keyed by
the pass (optimizer, b, seed, lrs, targets, split, budget, schedule), the data's SHA-256s and
sgdlab's version (:class:`sgdlab.experiments.cache.Cache`), so Ctrl-C keeps the finished passes
and the same command continues from them.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sgdlab.data import FashionMNIST
from sgdlab.errors import ConfigError
from sgdlab.experiments.cache import Cache
from sgdlab.experiments.sweep import check_workers, execute
from sgdlab.study.protocol import FULL, TARGETS, Pass, StudySpec
from sgdlab.study.search import run_on
from sgdlab.study.tune import Row, next_lrs, summarize


@dataclass
class Passes:
    """What :func:`run_passes` returns: one :class:`Row` per (optimizer, b), the pass records,
    and how the work went (passes trained and read from the cache, rounds, wall seconds)."""

    rows: dict[tuple[str, int | str], Row]
    records: list[dict[str, Any]] = field(default_factory=list)
    trained: int = 0
    cached: int = 0
    rounds: int = 0
    wall_seconds: float = 0.0
    round_sizes: list[int] = field(default_factory=list)  # passes per round (records' order)


def run_passes(
    spec: StudySpec,
    *,
    data: FashionMNIST,
    cache_dir: str | Path | None = None,
    workers: int | None = None,
    progress: bool = True,
    scheduler: str | None = None,
) -> Passes:
    """Every pass the protocol needs on ``data`` (cached ones are read back). ``scheduler``:
    None runs them in ``workers`` local processes; ``"local"`` on a Dask ``LocalCluster`` of
    ``workers`` single-thread processes; ``"tcp://HOST:PORT"`` on a running Dask scheduler's
    workers (:mod:`sgdlab.study.cluster`)."""
    from sgdlab._version import __version__

    rows, todo = _first_round(spec, data)
    cluster = None
    if scheduler is not None:
        from sgdlab.study.cluster import Cluster

        cluster = Cluster(scheduler, workers=workers, progress=progress)
    workers = check_workers(workers)
    cache = Cache(cache_dir, data_sha256=data.sha256, version=__version__)
    out = Passes(rows)
    t0 = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if cluster is not None:
            stack.enter_context(cluster)
        _rounds(spec, rows, todo, out, data, cache, workers, progress, cluster)
    out.wall_seconds = time.perf_counter() - t0
    return out


def _first_round(spec: StudySpec, data: FashionMNIST) -> tuple[dict, dict]:
    """One empty :class:`Row` per (optimizer, b) and the first round's lr grids, after checking
    that ``spec`` fits ``data`` (ConfigError otherwise)."""
    n_all = int(data.train_images.shape[0])
    if not 1 <= spec.validation < n_all:
        raise ConfigError(
            f"validation must be in 1..{n_all - 1} images (the data has {n_all}), "
            f"got {spec.validation}"
        )
    n = n_all - spec.validation
    big = [b for b in spec.batch_sizes if b != FULL and b > n]
    if big:
        raise ConfigError(f"batch size {big[0]} exceeds the {n} training images left")
    rows = {(o, b): Row(o, b) for o in spec.optimizers for b in spec.batch_sizes}
    return rows, {key: spec.first_grid(key[0], key[1], n) for key in rows}


def _rounds(spec, rows, todo, out: Passes, data, cache, workers, progress, cluster) -> None:
    while todo:
        tasks = [
            Pass.of(spec, o, b, seed, lrs)
            for (o, b), lrs in todo.items()
            for seed in spec.seeds_for(b)
        ]
        desc = "study passes" if out.rounds == 0 else f"study passes (extension {out.rounds})"
        ex = execute(
            tasks,
            data=data,
            cache=cache,
            workers=workers,
            progress=progress,
            desc=desc,
            runner=run_on,
            backend=None if cluster is None else cluster.run,
        )
        out.trained += ex.trained
        out.cached += len(ex.results) - ex.trained
        for r in ex.results:
            task = r.spec
            rows[(task.optimizer, task.batch_size)].add(r.record)
            out.records.append(r.record)
        out.rounds += 1
        out.round_sizes.append(len(ex.results))
        todo = {}
        for key, row in rows.items():
            new = next_lrs(row, spec)
            if new:
                todo[key] = new


def cached_passes(
    spec: StudySpec, *, data: FashionMNIST, cache_dir: str | Path | None = None
) -> Passes | None:
    """The study's passes read back from the cache alone (nothing trains, nothing is written):
    the same rounds as :func:`run_passes`, or None when any pass they need is not cached for
    ``data`` (its SHA-256s) and this sgdlab version, or ``spec`` does not fit ``data``."""
    from sgdlab._version import __version__

    try:
        rows, todo = _first_round(spec, data)
    except ConfigError:  # the protocol does not fit this data: no study of it can be cached
        return None
    cache = Cache(cache_dir, data_sha256=data.sha256, version=__version__)
    out = Passes(rows)
    while todo:
        found = []
        for (o, b), lrs in todo.items():
            for seed in spec.seeds_for(b):
                record = cache.get(Pass.of(spec, o, b, seed, lrs))
                if record is None:
                    return None
                found.append(((o, b), record))
        for key, record in found:
            rows[key].add(record)
            out.records.append(record)
        out.cached += len(found)
        out.rounds += 1
        out.round_sizes.append(len(found))
        todo = {}
        for key, row in rows.items():
            new = next_lrs(row, spec)
            if new:
                todo[key] = new
    return out


def scaling_rows(passes: Passes, spec: StudySpec, n: int) -> list[dict[str, Any]]:
    """One row per (optimizer, target, batch size), in that order (see :func:`.tune.summarize`),
    with ``batch_size`` an int (N for the full batch) and ``examples`` = b·S."""
    out = []
    for o in spec.optimizers:
        for t in TARGETS:
            for b in spec.batch_sizes:
                row = summarize(passes.rows[(o, b)], t, spec)
                bb = spec.batch(b, n)
                row["batch_size"], row["full_batch"] = bb, b == FULL
                if row["steps"] is not None:
                    row["examples"] = bb * row["steps"]
                    row["epochs"] = row["examples"] / n
                out.append(row)
    return out
