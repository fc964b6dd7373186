"""``sgdlab.experiments``: does a smaller minibatch converge faster? Measured on the real data.

The sweep trains the chapter's classifier for every batch size b (1, 16, 128, 1024 and full
GD) × a log-spaced lr grid centred per b × several seeds, each for a fixed epoch budget,
evaluating the exact cost C and the validation accuracy many times per epoch (outside the
clock). For each b the lr with the lowest mean validation cost at the end of the budget is
chosen; the table and the verdict compare the batch sizes at their chosen lr, per epoch and
per second of training. Every finished run is cached as JSON (key: its spec, the data's
SHA-256s and the sgdlab version), so re-running or re-plotting does not retrain.

Library API (for reports and notebooks)::

    from sgdlab.data import load
    from sgdlab.experiments import SweepSpec, run_sweep
    sweep = run_sweep(SweepSpec.full(), data=load(), cache_dir=None, workers=None,
                      progress=True)             # -> Sweep (cached runs are not retrained)
    sweep.runs          # list[RunResult]: .spec (RunSpec), .record (dict), .cached (bool)
    sweep.noise         # list[RunResult]: one noise run per SGD b at its chosen lr
    sweep.chosen()      # {"16": {"lr": 0.00316, "at_edge": False, "grid": {...}}, ...}
    sweep.table()       # list of dicts, one per batch size (see summary.table)
    sweep.verdict()     # Markdown text computed from the data
    sweep.to_dict()     # JSON-ready: spec, data, environment, chosen, table, verdict, runs

    from sgdlab.experiments import plots as ep   # matplotlib is imported only there
    ep.plot_curves(sweep, "curves.png")          # C and val accuracy vs epochs and seconds
    ep.plot_noise(sweep, "noise.svg")            # minibatch costs over the exact C
    ep.plot_lr(sweep, "lr.png")                  # the lr rule: final val cost vs lr per b
    ep.plot_escape(sgdlab.analysis.landscape.escape_study(), "escape.png")

``SweepSpec.full()`` / ``SweepSpec.quick()`` are the presets (keyword overrides allowed);
``SweepSpec.from_dict(settings, base="full")`` builds one from a TOML table. A run's record:
``spec``, ``curve`` (one dict per evaluation point: ``epoch``, ``step``, ``train_seconds``,
``train_cpu_seconds``, ``train_cost``, ``val_cost``, ``val_accuracy``, ``minibatch_cost``),
``diverged``, ``diverged_at_step``, ``test_accuracy``, ``steps_per_epoch``, ``n_train``,
``validation``
(the split's size, seed and index hash).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sgdlab.data import FashionMNIST
from sgdlab.experiments.cache import Cache, default_dir
from sgdlab.experiments.spec import FULL, RunSpec, SweepSpec
from sgdlab.experiments.summary import aggregate, choose_lr, table
from sgdlab.experiments.sweep import RunResult, check_workers, execute, noise_specs
from sgdlab.experiments.verdict import verdict

SCHEMA = "sgdlab.experiment/1"

__all__ = [
    "SweepSpec",
    "RunSpec",
    "RunResult",
    "Sweep",
    "run_sweep",
    "FULL",
    "aggregate",
    "default_dir",
    "SCHEMA",
]


@dataclass
class Sweep:
    """The result of :func:`run_sweep`: the runs with their configs, and what they say."""

    spec: SweepSpec
    runs: list[RunResult]
    noise: list[RunResult] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    wall_seconds: float = 0.0
    trained: int = 0
    workers: int = 1
    cache_dir: str = ""

    def records(self) -> list[dict[str, Any]]:
        return [r.record for r in self.runs]

    def chosen(self) -> dict[str, dict[str, Any]]:
        """batch label -> the lr rule's choice (see :func:`.summary.choose_lr`)."""
        return choose_lr(self.records())

    def table(self) -> list[dict[str, Any]]:
        return table(self.records(), targets=self.spec.targets, chosen=self.chosen())

    def verdict(self) -> str:
        return verdict(self.table())

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "spec": self.spec.to_dict(),
            "data": self.data,
            "environment": self.environment,
            "wall_seconds": self.wall_seconds,
            "runs_trained": self.trained,
            "runs_cached": len(self.runs) + len(self.noise) - self.trained,
            "workers": self.workers,
            "cache_dir": self.cache_dir,
            "lr_rule": LR_RULE,
            "chosen": self.chosen(),
            "table": self.table(),
            "verdict": self.verdict(),
            "runs": self.records(),
            "noise": [r.record for r in self.noise],
        }


LR_RULE = (
    "for each batch size, the lr of its grid with the lowest validation cost at the end "
    "of the epoch budget, averaged over seeds; an lr with any diverged seed is excluded"
)


def run_sweep(
    spec: SweepSpec,
    *,
    data: FashionMNIST,
    cache_dir: str | Path | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> Sweep:
    """Run (or read from the cache) every run of ``spec`` on ``data``; return a :class:`Sweep`.

    ``workers`` processes (default: one per usable core) with one thread each. Then, at each
    SGD batch size's chosen lr, one noise run (every minibatch cost recorded). Raises
    :class:`~sgdlab.errors.TrainingInterrupted` on Ctrl-C (finished runs stay cached) and
    :class:`~sgdlab.errors.ConfigError` for bad settings (e.g. validation ≥ N)."""
    from sgdlab._version import __version__
    from sgdlab.errors import ConfigError
    from sgdlab.measure.provenance import environment

    n = int(data.train_images.shape[0])
    if not 1 <= spec.validation < n:
        raise ConfigError(
            f"validation must be in 1..{n - 1} images (the data has {n} training "
            f"images), got {spec.validation}; use --quick or set [sweep] "
            "validation in --config"
        )
    workers = check_workers(workers)
    cache = Cache(cache_dir, data_sha256=data.sha256, version=__version__)
    t0 = time.perf_counter()
    grid = execute(
        spec.runs(), data=data, cache=cache, workers=workers, progress=progress, desc="sweep runs"
    )
    chosen = choose_lr([r.record for r in grid.results])
    noise = execute(
        noise_specs(spec, chosen, n - spec.validation),
        data=data,
        cache=cache,
        workers=workers,
        progress=progress,
        desc="noise runs",
    )
    info = data.provenance()
    return Sweep(
        spec=spec,
        runs=grid.results,
        noise=noise.results,
        data=info,
        environment=environment("cpu"),
        wall_seconds=time.perf_counter() - t0,
        trained=grid.trained + noise.trained,
        workers=workers,
        cache_dir=str(cache.dir),
    )
