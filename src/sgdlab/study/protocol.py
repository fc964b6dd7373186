"""What the batch-size study runs: :class:`StudySpec` (batch sizes, optimizers, targets, seeds,
lr grids, budgets, evaluation schedule) and the pieces of work it is cut into (:class:`Pass`).

A *pass* is one (optimizer, b, seed) with a set of learning rates: its trials are trained
together on the same minibatch order (:mod:`sgdlab.study.trials`) and each records its steps to
every target (:mod:`sgdlab.study.search`). A pass is also the unit of caching and of parallel
work. Every option is keyword-only and validated with a clear :class:`ConfigError`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from sgdlab.errors import ConfigError
from sgdlab.values import is_finite, is_int

FULL = "full"  # the batch size that means full-batch gradient descent (b = N)
#: Optimizer name -> Nesterov momentum μ (0: the chapter's plain SGD).
MOMENTUM = {"sgd": 0.0, "nesterov": 0.9}
TARGETS = ("train_cost", "val_accuracy")


def lr_grid(center: float, points: int, ratio: float) -> tuple[float, ...]:
    """``points`` learning rates ``ratio`` apart, geometric around ``center``, 4 significant
    digits (so grids extended later meet exactly: see :func:`extend`)."""
    half = (points - 1) / 2
    return tuple(_round(center * ratio ** (k - half)) for k in range(points))


def extend(grid: tuple[float, ...], side: str, ratio: float, points: int = 2) -> tuple[float, ...]:
    """``points`` more learning rates beyond the ``"low"`` or ``"high"`` end of ``grid``."""
    if side == "high":
        return tuple(_round(grid[-1] * ratio ** (k + 1)) for k in range(points))
    return tuple(_round(grid[0] / ratio ** (k + 1)) for k in reversed(range(points)))


def _round(x: float) -> float:
    return float(f"{x:.4g}")


def guess_lr(b: int, n: int, momentum: float) -> float:
    """A first guess of the best constant lr at batch size b (only the grid's centre: the grid
    is extended until the best lr is interior). Plain SGD: linear in b for small b, saturating
    near the full-batch step ε_max ≈ 0.15 (standardized pixels): ε_max·b/(b + 150). With
    momentum μ, times (1 − μ) at small b (the same effective step lr/(1 − μ)) rising towards
    0.5 at large b, where momentum lets the step grow. (Fitted by eye to a first full study;
    docs/experiments.md has the tuned values.)"""
    plain = 0.15 * b / (b + 150.0)
    if momentum == 0:
        return plain
    return plain * ((1 - momentum) + (0.5 - (1 - momentum)) * b / (b + 300.0))


@dataclass(frozen=True)
class StudySpec:
    """The study's protocol (see :mod:`sgdlab.study`); :meth:`full` and :meth:`quick` are the
    presets.

    ``batch_sizes``: ints and/or ``"full"`` (b = N); ``optimizers``: keys of :data:`MOMENTUM`;
    ``targets``: ``{"train_cost": C ≤ value (nats), "val_accuracy": ≥ value (fraction)}``;
    ``seeds``: one pass per seed (full batch: the first seed only, GD from zero is
    deterministic); ``lr_ratio``: the grid spacing (≤ √2); ``grid_points``: the first grid's
    size; ``max_extensions``: how often a grid whose best lr is at an edge is extended (2 more
    lrs each time) before the row is reported as "edge"; ``max_steps``, ``max_epochs``: a
    trial's budget (whichever comes first); ``eval_ratio``: the coarse evaluation schedule's
    ratio between consecutive evaluation steps; ``resolution``: the replay's ratio, so S is
    located to ≤ resolution − 1 (5 %); ``stop_margin``: a trial stops once its step exceeds
    ``stop_margin`` × the best steps reached in its pass for every target it has not reached.
    """

    batch_sizes: tuple[int | str, ...] = tuple(2**k for k in range(16)) + (FULL,)
    optimizers: tuple[str, ...] = ("sgd", "nesterov")
    targets: dict[str, float] = field(
        default_factory=lambda: {"train_cost": 0.45, "val_accuracy": 0.835}
    )
    seeds: tuple[int, ...] = (0, 1, 2)
    validation: int = 10_000
    validation_seed: int = 0
    lr_ratio: float = math.sqrt(2)
    grid_points: int = 5
    max_extensions: int = 6
    max_steps: int = 100_000
    max_epochs: int = 200
    eval_ratio: float = 1.6
    resolution: float = 1.05
    stop_margin: float = 1.25
    name: str = "full"

    def __post_init__(self) -> None:
        if not self.batch_sizes:
            raise ConfigError("give at least one batch size")
        for b in self.batch_sizes:
            if b != FULL and (not is_int(b) or b < 1):
                raise ConfigError(f"batch sizes must be integers ≥ 1 or 'full', got {b!r}")
        for o in self.optimizers:
            if o not in MOMENTUM:
                raise ConfigError(f"unknown optimizer {o!r}; choose from {', '.join(MOMENTUM)}")
        if not self.optimizers:
            raise ConfigError("give at least one optimizer")
        if set(self.targets) != set(TARGETS):
            raise ConfigError(f"targets must name {' and '.join(TARGETS)}, got {self.targets}")
        c, a = self.targets["train_cost"], self.targets["val_accuracy"]
        if not is_finite(c) or c <= 0:
            raise ConfigError(f"the train_cost target must be a cost > 0 (nats), got {c!r}")
        if not is_finite(a) or not 0 < a < 1:
            raise ConfigError(f"the val_accuracy target must be in (0, 1), got {a!r}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds must be distinct and non-empty, got {self.seeds!r}")
        for s in self.seeds:
            _int("seed", s, 0)
        _int("validation", self.validation, 1)
        _int("validation seed", self.validation_seed, 0)
        _int("grid points", self.grid_points, 3)
        _int("max extensions", self.max_extensions, 0)
        _int("max steps", self.max_steps, 1)
        _int("max epochs", self.max_epochs, 1)
        if not (is_finite(self.lr_ratio) and 1 < self.lr_ratio <= math.sqrt(2) + 1e-12):
            raise ConfigError(f"lr ratio must be in (1, √2], got {self.lr_ratio!r}")
        if not (is_finite(self.resolution) and 1 < self.resolution <= 1.05 + 1e-12):
            raise ConfigError(f"resolution must be in (1, 1.05], got {self.resolution!r}")
        if not (is_finite(self.eval_ratio) and self.eval_ratio >= self.resolution):
            raise ConfigError(f"eval ratio must be ≥ the resolution, got {self.eval_ratio!r}")
        if not (is_finite(self.stop_margin) and self.stop_margin >= 1):
            raise ConfigError(f"stop margin must be ≥ 1, got {self.stop_margin!r}")

    @classmethod
    def full(cls, **overrides: Any) -> StudySpec:
        """The real-data study: b = 1 … 32768 and N, plain SGD and Nesterov, 3 seeds."""
        return cls(**overrides)

    @classmethod
    def quick(cls, **overrides: Any) -> StudySpec:
        """A reduced study for the bundled sample (800 training, 200 validation images), under a
        minute: fewer batch sizes, 2 seeds, targets the sample can reach."""
        kw: dict[str, Any] = dict(
            batch_sizes=(1, 4, 16, 64, 256, FULL),
            seeds=(0, 1),
            validation=200,
            targets={"train_cost": 0.45, "val_accuracy": 0.80},
            grid_points=5,
            max_extensions=4,
            max_steps=20_000,
            name="quick",
        )
        return cls(**{**kw, **overrides})

    def batch(self, b: int | str, n: int) -> int:
        """The batch size b means on ``n`` training samples (``"full"`` -> n)."""
        return n if b == FULL else min(int(b), n)

    def budget(self, b: int, n: int) -> int:
        """A trial's step budget at batch size b on n samples."""
        return budget(b, n, max_steps=self.max_steps, max_epochs=self.max_epochs)

    def seeds_for(self, b: int | str) -> tuple[int, ...]:
        return self.seeds[:1] if b == FULL else self.seeds

    def first_grid(self, optimizer: str, b: int | str, n: int) -> tuple[float, ...]:
        bb = self.batch(b, n)
        return lr_grid(guess_lr(bb, n, MOMENTUM[optimizer]), self.grid_points, self.lr_ratio)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["batch_sizes"] = list(self.batch_sizes)
        return d


@dataclass(frozen=True)
class Pass:
    """One unit of work: ``lrs`` trained together at (``optimizer``, ``b``, ``seed``), on the
    split ``validation``/``validation_seed``, with the spec's targets, budget and schedule."""

    optimizer: str
    batch_size: int | str
    seed: int
    lrs: tuple[float, ...]
    targets: tuple[tuple[str, float], ...]  # (name, goal) pairs, TARGETS' order
    validation: int
    validation_seed: int
    max_steps: int
    max_epochs: int
    eval_ratio: float
    resolution: float
    stop_margin: float

    @classmethod
    def of(cls, spec: StudySpec, optimizer: str, b: int | str, seed: int, lrs) -> Pass:
        return cls(
            optimizer=optimizer,
            batch_size=b,
            seed=seed,
            lrs=tuple(float(x) for x in lrs),
            targets=tuple((name, float(spec.targets[name])) for name in TARGETS),
            validation=spec.validation,
            validation_seed=spec.validation_seed,
            max_steps=spec.max_steps,
            max_epochs=spec.max_epochs,
            eval_ratio=spec.eval_ratio,
            resolution=spec.resolution,
            stop_margin=spec.stop_margin,
        )

    @property
    def momentum(self) -> float:
        return MOMENTUM[self.optimizer]

    def goal(self, target: str) -> float:
        """The value ``target`` must reach (C ≤ goal, or accuracy ≥ goal)."""
        return dict(self.targets)[target]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["lrs"], d["targets"] = list(self.lrs), dict(self.targets)
        return d


def budget(b: int, n: int, *, max_steps: int, max_epochs: int) -> int:
    """A trial's step budget at batch size b on n samples: whichever comes first of
    ``max_steps`` steps and ``max_epochs`` epochs (⌈n/b⌉ steps each)."""
    return min(max_steps, max_epochs * (-(-n // b)))


def _int(name: str, v: Any, lo: int) -> None:
    if not is_int(v) or v < lo:
        raise ConfigError(f"{name} must be an integer ≥ {lo}, got {v!r}")
