"""The configuration of a training run: one dataclass, the only place its fields are defined.

:class:`TrainConfig` holds every hyperparameter of a run: its default, its help text, how the
command line reads it (each field's ``metadata``) and its validation rules (:meth:`validate`).
Everything else derives from its fields: ``sgdlab.train``'s keyword shortcut, the options of
``sgdlab train`` and the keys of ``--config`` files (:mod:`sgdlab.cli.train`), the comparison
on resume (:func:`sgdlab.training.runs.reconcile`) and the ``config`` of every JSON output.

:class:`CheckpointConfig` says where and how often a run checkpoints and whether it resumes:
options that cannot change the result, so they are not part of the run's config.

>>> TrainConfig(batch_size=64).lr
0.005
>>> TrainConfig.field_names()[:3]
('batch_size', 'epochs', 'lr')
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

from sgdlab.errors import ConfigError
from sgdlab.schedules import SCHEDULES
from sgdlab.values import (
    FLOAT32_MAX,
    is_finite,
    is_int,
    momentum_float,
    nonneg_float,
    nonneg_int,
    positive_float,
    positive_int,
)

METHODS = ("sgd", "gd")
INITS = ("zeros", "uniform")
#: ``--engine``: auto, then the names of :data:`sgdlab.engines._REGISTRY` (kept here, torch-free,
#: so that parsing refuses an unknown engine at once; a test keeps the two equal)
ENGINES = ("auto", "reference", "fast", "torch")

#: The command line's option groups (``metadata["group"]``), in the order ``--help`` shows them.
GROUPS = {
    "update": "the update: torch.optim.SGD (dampening 0) and averaging",
    "schedule": "learning-rate schedule (steps counted across epochs)",
    "validation": "validation (held out of the training set)",
}


def option(
    default: Any,
    help: str,
    *,
    parse: Callable[[str], Any] | None = None,
    short: str | None = None,
    choices: tuple[str, ...] | None = None,
    group: str | None = None,
    metavar: str | None = None,
    cli: bool = True,
) -> Any:
    """A config field: its default and how the command line reads it.

    ``parse`` turns the option's text into a value and checks its range (an argparse type, from
    :mod:`sgdlab.values`; a bool field is a ``--x/--no-x`` flag); ``short`` is a one-letter
    alias; ``group`` a key of :data:`GROUPS`; ``cli=False`` keeps the field off the command
    line's own options (``seed`` is a common option of every command).
    """
    meta = dict(help=help, parse=parse, short=short, choices=choices, group=group)
    return field(default=default, metadata={**meta, "metavar": metavar, "cli": cli})


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of a run (validated by :meth:`validate`)."""

    batch_size: int = option(16, "minibatch size B in 1..N", parse=positive_int, short="-b")
    epochs: int = option(5, "passes over the training data", parse=positive_int, short="-e")
    lr: float = option(0.005, "step size α (the schedule's base value)", parse=positive_float)
    seed: int = option(0, "seed of the run's torch.Generator", parse=nonneg_int, cli=False)
    method: str = option(
        "sgd", "sgd: minibatch steps; gd: one full-gradient step per epoch", choices=METHODS
    )
    engine: str = option(
        "auto",
        "reference (autograd), fast (numba, CPU) or torch; auto picks the fastest",
        choices=ENGINES,
    )
    device: str = option("auto", "cpu, cuda, cuda:N or auto (cuda when there is one)")
    init: str = option(
        "zeros", "initial weights: zeros, or uniform (nn.Linear's default)", choices=INITS
    )
    drop_last: bool = option(
        False, "drop each epoch's last minibatch when it is smaller than B (N mod B samples)"
    )
    # the update: torch.optim.SGD(momentum=, nesterov=, weight_decay=, dampening=0)
    momentum: float = option(
        0.0,
        "momentum μ in [0, 1) (0: the chapter's plain SGD)",
        parse=momentum_float,
        group="update",
    )
    nesterov: bool = option(False, "Nesterov momentum (needs --momentum > 0)", group="update")
    weight_decay: float = option(
        0.0,
        "L2 weight decay λ ≥ 0 added to the gradient of z.weight and z.bias",
        parse=nonneg_float,
        group="update",
    )
    # the step size of global step t (sgdlab.schedules)
    schedule: str = option(
        "constant",
        "constant; step: lr*gamma every --step-epochs epochs; cosine: PyTorch's "
        "CosineAnnealingLR over all steps; inverse: lr/(1+t/t0)",
        choices=SCHEDULES,
        group="schedule",
    )
    gamma: float = option(0.1, "step schedule factor (> 0)", parse=positive_float, group="schedule")
    step_epochs: int = option(
        1, "step schedule period in epochs", parse=positive_int, group="schedule"
    )
    t0: float = option(
        1000.0, "inverse schedule time scale in steps", parse=positive_float, group="schedule"
    )
    average: bool = option(
        False,
        "Polyak-Ruppert: evaluate (and return) the mean of each epoch's iterates",
        group="update",
    )
    validation: int = option(
        0,
        "hold out N training samples; the history gains val_cost, val_accuracy",
        parse=nonneg_int,
        group="validation",
        metavar="N",
    )
    validation_seed: int = option(
        0,
        "seed of the split, independent of --seed so every training seed is validated on the "
        "same samples",
        parse=nonneg_int,
        group="validation",
    )
    early_stop: int = option(
        0,
        "stop when the validation cost has not improved for PATIENCE evaluations and return "
        "the best validation epoch's weights (0: off; needs --validation)",
        parse=nonneg_int,
        group="validation",
        metavar="PATIENCE",
    )

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The fields, in order."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_dict(cls, values: dict[str, Any], *, where: str = "config") -> TrainConfig:
        """A config from ``{field: value}``; an unknown key raises :class:`ConfigError` naming
        ``where`` and the key (a missing key takes the default)."""
        unknown = sorted(set(values) - set(cls.field_names()))
        if unknown:
            raise ConfigError(f"{where}: unknown option(s) {', '.join(unknown)}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready ``{field: value}``."""
        return asdict(self)

    def non_default(self) -> set[str]:
        """The fields whose value differs from the default."""
        return {f.name for f in fields(self) if getattr(self, f.name) != f.default}

    def validate(self, n: int | None = None) -> None:
        """Raise :class:`ConfigError` naming the first bad value. ``n`` = training samples
        (validation included); without it the bounds that depend on it are not checked."""
        v = self.validation
        n_fit = n - v if n is not None and is_int(v) and 0 <= v < n else n  # samples trained on
        if not is_int(self.batch_size) or not 1 <= self.batch_size <= (n_fit or self.batch_size):
            raise ConfigError(
                f"batch size must be an integer in 1..{n_fit or 'N'}, got {self.batch_size!r}"
            )
        if not is_int(self.epochs) or self.epochs < 1:
            raise ConfigError(f"epochs must be an integer ≥ 1, got {self.epochs!r}")
        if not is_finite(self.lr) or not 0 < self.lr <= FLOAT32_MAX:
            raise ConfigError(
                f"learning rate must be finite, > 0 and ≤ {FLOAT32_MAX:.3g}, got {self.lr!r}"
            )
        if not is_int(self.seed) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {self.seed!r}")
        if self.method not in METHODS:
            raise ConfigError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.init not in INITS:
            raise ConfigError(f"init must be 'zeros' or 'uniform', got {self.init!r}")
        if not isinstance(self.drop_last, bool):
            raise ConfigError(f"drop last must be true or false, got {self.drop_last!r}")
        self._validate_update()
        self._validate_split(n)

    def refuse_unused(self, given: Iterable[str]) -> None:
        """Raise :class:`ConfigError` when a field in ``given`` (set on purpose) has no effect
        under the rest of the config, e.g. ``--method gd -b 64`` or ``--schedule cosine
        --gamma 0.5``: silently ignoring it would run something else than was asked."""
        used_by = {
            "batch_size": ("method", "sgd", "full GD uses all N samples per step"),
            "drop_last": ("method", "sgd", "full GD has no minibatches"),
            "gamma": ("schedule", "step", "only the step schedule multiplies by gamma"),
            "step_epochs": ("schedule", "step", "only the step schedule has steps"),
            "t0": ("schedule", "inverse", "only the inverse schedule uses t0"),
        }
        for name in sorted(set(given) & set(used_by)):
            field_, value, why = used_by[name]
            if getattr(self, field_) != value:
                flag_, other = flag(name), flag(field_)
                raise ConfigError(
                    f"{flag_} has no effect with {other} {getattr(self, field_)} ({why}); "
                    f"drop {flag_}, or use {other} {value}"
                )
        if "validation_seed" in set(given) and not self.validation:
            raise ConfigError(
                "--validation-seed has no effect without --validation N; drop it, or hold out "
                "a validation split"
            )

    def _validate_update(self) -> None:
        if not is_finite(self.momentum) or not 0 <= self.momentum < 1:
            raise ConfigError(f"momentum must be in [0, 1), got {self.momentum!r}")
        if not isinstance(self.nesterov, bool):
            raise ConfigError(f"nesterov must be true or false, got {self.nesterov!r}")
        if self.nesterov and self.momentum == 0:
            raise ConfigError("nesterov needs a momentum > 0 (PyTorch refuses it too)")
        if not is_finite(self.weight_decay) or self.weight_decay < 0:
            raise ConfigError(f"weight decay must be finite and ≥ 0, got {self.weight_decay!r}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if not is_finite(self.gamma) or self.gamma <= 0:
            raise ConfigError(
                f"gamma must be finite and > 0 (the lr must stay positive), got {self.gamma!r}"
            )
        if not is_int(self.step_epochs) or self.step_epochs < 1:
            raise ConfigError(f"step epochs must be an integer ≥ 1, got {self.step_epochs!r}")
        if not is_finite(self.t0) or self.t0 <= 0:
            raise ConfigError(
                f"t0 must be finite and > 0 (the lr must stay positive), got {self.t0!r}"
            )
        if not isinstance(self.average, bool):
            raise ConfigError(f"average must be true or false, got {self.average!r}")

    def _validate_split(self, n: int | None) -> None:
        v = self.validation
        if not is_int(v) or v < 0 or (n is not None and v >= n):
            bound = f"0..{n - 1} (fewer than the {n} training samples)" if n else "≥ 0"
            raise ConfigError(f"validation size must be an integer in {bound}, got {v!r}")
        if not is_int(self.validation_seed) or self.validation_seed < 0:
            raise ConfigError(
                f"validation seed must be a non-negative integer, got {self.validation_seed!r}"
            )
        if not is_int(self.early_stop) or self.early_stop < 0:
            raise ConfigError(
                f"early stop patience must be a non-negative integer, got {self.early_stop!r}"
            )
        if self.early_stop and not v:
            raise ConfigError(
                "--early-stop needs --validation N (it watches the validation cost); hold out "
                "a validation split, or drop --early-stop"
            )

    @property
    def hyper(self):
        """The update as :class:`sgdlab.optim.SGDHyper`."""
        from sgdlab.optim import SGDHyper

        return SGDHyper(
            momentum=float(self.momentum),
            nesterov=self.nesterov,
            weight_decay=float(self.weight_decay),
            average=self.average,
        )


@dataclass(frozen=True)
class CheckpointConfig:
    """Where and how a run checkpoints (none of it changes the result).

    ``checkpoint_dir``: write atomic, verified checkpoints there (None: no checkpoints);
    ``checkpoint_every``: a step count ≥ 1, ``"epoch"`` or None (only the last step and a
    signal's); ``keep``: the newest files kept;
    ``resume``: False (a new run; refuses a directory holding checkpoints), True (continue from
    the newest valid checkpoint; none is an error) or ``"auto"`` (continue, or start when the
    directory has none yet: what ``sgdlab train --resume DIR`` does).
    """

    checkpoint_dir: str | Path | None = None
    checkpoint_every: int | str | None = "epoch"
    keep: int = 2
    resume: bool | str = False

    def __post_init__(self) -> None:
        e = self.checkpoint_every
        if not (e is None or e == "epoch" or (is_int(e) and e >= 1)):
            raise ConfigError(
                f"checkpoint every must be a number of steps ≥ 1 or 'epoch', got {e!r}"
            )
        if not is_int(self.keep) or self.keep < 1:
            raise ConfigError(f"keep must be an integer ≥ 1, got {self.keep!r}")
        if self.resume not in (False, True, "auto"):
            raise ConfigError(f"resume must be False, True or 'auto', got {self.resume!r}")
        if self.resume and self.checkpoint_dir is None:
            from sgdlab.errors import CheckpointError

            raise CheckpointError("resume needs a checkpoint directory")

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> cuda when available, else cpu; refuse cuda when there is none."""
    import torch

    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not re.fullmatch(r"cpu|cuda(:\d+)?", str(device)):
        raise ConfigError(f"unknown device {device!r}; use cpu, cuda, cuda:N or auto")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda requested but no CUDA GPU is available")
    if dev.type == "cuda" and (dev.index or 0) >= torch.cuda.device_count():
        raise ConfigError(f"device {device} does not exist ({torch.cuda.device_count()} GPUs)")
    return dev


def flag(name: str) -> str:
    """The command-line form of a field: ``batch_size`` -> ``--batch-size``."""
    return "--" + name.replace("_", "-")
