"""What a sweep runs: one :class:`RunSpec` per (batch size, lr, seed), from a :class:`SweepSpec`.

A batch size of ``"full"`` means full-batch gradient descent (one step per epoch over all N
training samples). Every hyperparameter is keyword-only and validated with a clear
:class:`~sgdlab.errors.ConfigError`; a spec is JSON-ready (:meth:`RunSpec.to_dict`) and is the
cache key of its result (with the data hash and the sgdlab version, see :mod:`.cache`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from sgdlab.errors import ConfigError

FULL = "full"  # the batch size that means full-batch GD
KINDS = ("curve", "noise")


def _int(name: str, v: Any, lo: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise ConfigError(f"{name} must be an integer ≥ {lo}, got {v!r}")
    return v


def _lr(name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        raise ConfigError(f"{name} must be a finite number > 0, got {v!r}")
    return float(v)


def batch_label(b: int | str) -> str:
    """``16`` -> ``"16"``, ``"full"`` -> ``"full"`` (used as a dict key and in tables)."""
    return str(b)


@dataclass(frozen=True)
class RunSpec:
    """One training run of a sweep (all fields recorded in its result and its cache key).

    ``kind="curve"``: evaluate ``evals_per_epoch`` times per epoch (SGD) or every
    ``eval_every_steps`` steps (GD). ``kind="noise"``: one run that records every minibatch cost
    and the exact C every ``eval_every_steps`` steps. ``validation``: held-out training images
    chosen by ``validation_seed`` (:func:`sgdlab.data.split.hold_out`, as ``sgdlab train
    --validation``): the same split for every seed, so lrs are compared on the same images.
    """

    batch_size: int | str
    lr: float
    seed: int
    epochs: int
    kind: str = "curve"
    evals_per_epoch: int = 5
    eval_every_steps: int = 5
    validation: int = 10_000
    validation_seed: int = 0
    engine: str = "auto"
    init: str = "zeros"

    def __post_init__(self) -> None:
        if self.batch_size != FULL:
            _int("batch size", self.batch_size, 1)
        _lr("lr", self.lr)
        _int("seed", self.seed, 0)
        _int("epochs", self.epochs, 1)
        _int("evals per epoch", self.evals_per_epoch, 1)
        _int("eval every steps", self.eval_every_steps, 1)
        _int("validation", self.validation, 1)
        _int("split seed", self.validation_seed, 0)
        if self.kind not in KINDS:
            raise ConfigError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.init not in ("zeros", "uniform"):
            raise ConfigError(f"init must be 'zeros' or 'uniform', got {self.init!r}")

    @property
    def is_gd(self) -> bool:
        return self.batch_size == FULL

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _grid(center: float, points: int, factor: float) -> tuple[float, ...]:
    half = (points - 1) / 2
    return tuple(float(f"{center * factor ** (k - half):.3g}") for k in range(points))


@dataclass(frozen=True)
class SweepSpec:
    """The grid: batch sizes × per-batch-size lr grids × seeds, each with an epoch budget.

    ``lr_grids``: batch label -> learning rates (log-spaced, centred per b: the best constant
    lr grows roughly like 3e-4·b until the step is limited by the curvature of C, so one grid
    for all b would waste most of its points). ``epochs``: batch label -> epoch budget (full GD
    gets many more epochs: one epoch is a single step). ``targets``: validation accuracies whose
    training time to reach is tabled. GD from zero weights is deterministic, so it runs only
    the first seed when ``gd_one_seed``.
    """

    batch_sizes: tuple[int | str, ...] = (1, 16, 128, 1024, FULL)
    lr_grids: dict[str, tuple[float, ...]] = field(default_factory=dict)
    seeds: tuple[int, ...] = (0, 1, 2)
    epochs: dict[str, int] = field(default_factory=dict)
    evals_per_epoch: int = 10
    gd_eval_every: int = 5
    validation: int = 10_000
    validation_seed: int = 0
    targets: tuple[float, ...] = (0.83, 0.84)
    noise_epochs: int = 1
    noise_evals: int = 100
    gd_one_seed: bool = True
    engine: str = "auto"
    name: str = "custom"

    def __post_init__(self) -> None:
        if not self.batch_sizes:
            raise ConfigError("give at least one batch size")
        for b in self.batch_sizes:
            if b != FULL:
                _int("batch size", b, 1)
            key = batch_label(b)
            if key not in self.lr_grids or not self.lr_grids[key]:
                raise ConfigError(f"no lr grid for batch size {key}")
            for lr in self.lr_grids[key]:
                _lr(f"lr (batch size {key})", lr)
            _int(f"epochs (batch size {key})", self.epochs.get(key), 1)
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds must be distinct and non-empty, got {self.seeds!r}")
        for s in self.seeds:
            _int("seed", s, 0)
        _int("evals per epoch", self.evals_per_epoch, 1)
        _int("gd eval every", self.gd_eval_every, 1)
        _int("validation", self.validation, 1)
        _int("noise evals", self.noise_evals, 1)
        _int("noise epochs", self.noise_epochs, 1)
        for t in self.targets:
            if not isinstance(t, (int, float)) or not 0 < t < 1:
                raise ConfigError(f"targets must be accuracies in (0, 1), got {t!r}")

    @classmethod
    def full(cls, **overrides: Any) -> SweepSpec:
        """The real-data sweep (~5-10 minutes on 2 cores): b ∈ {1,16,128,1024,full}, 5 lrs
        each (factor √10 apart), 3 seeds, 10 epochs for SGD and 200 for full GD."""
        r10 = math.sqrt(10)
        kw: dict[str, Any] = dict(
            lr_grids={
                "1": _grid(3e-4, 5, r10),
                "16": _grid(3e-3, 5, r10),
                "128": _grid(3e-2, 5, r10),
                "1024": _grid(0.1, 5, r10),
                FULL: _grid(0.1, 5, r10),
            },
            epochs={"1": 10, "16": 10, "128": 10, "1024": 10, FULL: 200},
            evals_per_epoch=5,
            name="full",
        )
        return cls(**{**kw, **overrides})

    @classmethod
    def quick(cls, **overrides: Any) -> SweepSpec:
        """A small grid that finishes in well under a minute (sample or real data)."""
        kw: dict[str, Any] = dict(
            batch_sizes=(1, 16, 128, FULL),
            lr_grids={"1": (1e-4, 1e-3), "16": (3e-3, 3e-2), "128": (3e-2, 3e-1), FULL: (0.1, 0.3)},
            seeds=(0, 1),
            epochs={"1": 2, "16": 2, "128": 2, FULL: 20},
            evals_per_epoch=4,
            gd_eval_every=2,
            validation=200,
            noise_evals=20,
            name="quick",
        )
        return cls(**{**kw, **overrides})

    def runs(self) -> list[RunSpec]:
        """Every curve run of the grid, batch size by batch size."""
        out = []
        for b in self.batch_sizes:
            key = batch_label(b)
            seeds = self.seeds[:1] if (b == FULL and self.gd_one_seed) else self.seeds
            for lr in self.lr_grids[key]:
                for s in seeds:
                    out.append(self._run(b, lr, s, self.epochs[key], "curve"))
        return out

    def noise_run(self, b: int | str, lr: float, *, n_train: int) -> RunSpec:
        """The run whose every minibatch cost is recorded (first seed, ``noise_epochs``)."""
        steps = self.noise_epochs * (1 if b == FULL else -(-n_train // int(b)))
        every = max(1, steps // self.noise_evals)
        return RunSpec(
            batch_size=b,
            lr=lr,
            seed=self.seeds[0],
            epochs=self.noise_epochs,
            kind="noise",
            eval_every_steps=every,
            validation=self.validation,
            validation_seed=self.validation_seed,
            engine=self.engine,
        )

    def _run(self, b, lr, seed, epochs, kind) -> RunSpec:
        return RunSpec(
            batch_size=b,
            lr=lr,
            seed=seed,
            epochs=epochs,
            kind=kind,
            evals_per_epoch=self.evals_per_epoch,
            eval_every_steps=self.gd_eval_every,
            validation=self.validation,
            validation_seed=self.validation_seed,
            engine=self.engine,
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["lr_grids"] = {k: list(v) for k, v in self.lr_grids.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, base: str = "full") -> SweepSpec:
        """A spec from (possibly partial) settings over the ``base`` preset ("full"/"quick");
        ``lr_grids`` and ``epochs`` entries replace the preset's for the batch sizes named."""
        known = set(cls.__dataclass_fields__)
        bad = sorted(set(d) - known)
        if bad:
            raise ConfigError(f"unknown experiment setting {bad[0]!r}; known: {sorted(known)}")
        d = dict(d)
        for k in ("batch_sizes", "seeds", "targets"):
            if k in d:
                d[k] = tuple(d[k])
        preset = cls.quick() if base == "quick" else cls.full()
        for k in ("lr_grids", "epochs"):  # per-b tables are merged into the preset's
            if k in d:
                if not isinstance(d[k], dict):
                    raise ConfigError(f"{k} must be a table batch size -> value")
                new = {str(b): (tuple(v) if k == "lr_grids" else v) for b, v in d[k].items()}
                d[k] = {**getattr(preset, k), **new}
        return (cls.quick if base == "quick" else cls.full)(**d)
