"""Hyperparameters of a training run, validated with clear errors, and device resolution."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from sgdlab.errors import ConfigError

METHODS = ("sgd", "gd")
SCHEDULES = ("constant", "step", "cosine", "inverse")  # see sgdlab.schedules
FLOAT32_MAX = 3.4028234663852886e38  # weights are float32: a larger step overflows at once


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of a run (validated by :meth:`validate`)."""

    batch_size: int = 16
    epochs: int = 5
    lr: float = 0.005
    seed: int = 0
    method: str = "sgd"  # "sgd": minibatches; "gd": one full-gradient step per epoch
    engine: str = "auto"
    device: str = "auto"
    init: str = "zeros"
    drop_last: bool = False
    # the update: torch.optim.SGD(momentum=, nesterov=, weight_decay=, dampening=0)
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    # the step size of global step t (sgdlab.schedules)
    schedule: str = "constant"
    gamma: float = 0.1  # step: factor every step_epochs epochs
    step_epochs: int = 1
    t0: float = 1000.0  # inverse: lr/(1 + t/t0), t0 in steps
    average: bool = False  # Polyak–Ruppert average of each epoch's iterates
    validation: int = 0  # training samples held out for validation
    validation_seed: int = 0  # seed of the split, independent of `seed`

    def validate(self, n: int) -> None:
        """Raise :class:`ConfigError` naming the first bad value (``n`` = training samples,
        validation included)."""
        v = self.validation
        n_fit = n - v if _is_int(v) and 0 <= v < n else n  # samples left for training
        if not _is_int(self.batch_size) or not 1 <= self.batch_size <= n_fit:
            raise ConfigError(
                f"batch size must be an integer in 1..{n_fit}, got {self.batch_size!r}"
            )
        if not _is_int(self.epochs) or self.epochs < 1:
            raise ConfigError(f"epochs must be an integer ≥ 1, got {self.epochs!r}")
        lr_ok = isinstance(self.lr, (int, float)) and math.isfinite(self.lr)
        if not lr_ok or not 0 < self.lr <= FLOAT32_MAX:
            raise ConfigError(
                f"learning rate must be finite, > 0 and ≤ {FLOAT32_MAX:.3g}, got {self.lr!r}"
            )
        if not _is_int(self.seed) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {self.seed!r}")
        if self.method not in METHODS:
            raise ConfigError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.init not in ("zeros", "uniform"):
            raise ConfigError(f"init must be 'zeros' or 'uniform', got {self.init!r}")
        self._validate_update(n)

    def _validate_update(self, n: int) -> None:
        if not _finite(self.momentum) or not 0 <= self.momentum < 1:
            raise ConfigError(f"momentum must be in [0, 1), got {self.momentum!r}")
        if not isinstance(self.nesterov, bool):
            raise ConfigError(f"nesterov must be true or false, got {self.nesterov!r}")
        if self.nesterov and self.momentum == 0:
            raise ConfigError("nesterov needs a momentum > 0 (PyTorch refuses it too)")
        if not _finite(self.weight_decay) or self.weight_decay < 0:
            raise ConfigError(f"weight decay must be finite and ≥ 0, got {self.weight_decay!r}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if not _finite(self.gamma) or self.gamma <= 0:
            raise ConfigError(
                f"gamma must be finite and > 0 (the lr must stay positive), got {self.gamma!r}"
            )
        if not _is_int(self.step_epochs) or self.step_epochs < 1:
            raise ConfigError(f"step epochs must be an integer ≥ 1, got {self.step_epochs!r}")
        if not _finite(self.t0) or self.t0 <= 0:
            raise ConfigError(
                f"t0 must be finite and > 0 (the lr must stay positive), got {self.t0!r}"
            )
        if not isinstance(self.average, bool):
            raise ConfigError(f"average must be true or false, got {self.average!r}")
        if not _is_int(self.validation) or not 0 <= self.validation < n:
            raise ConfigError(
                f"validation size must be an integer in 0..{n - 1} (fewer than "
                f"the {n} training samples), got {self.validation!r}"
            )
        if not _is_int(self.validation_seed) or self.validation_seed < 0:
            raise ConfigError(
                f"validation seed must be a non-negative integer, got {self.validation_seed!r}"
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


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def checkpoint_every(value: int | str | None) -> int | str | None:
    """Validate ``checkpoint_every``: a step count ≥ 1, ``"epoch"``, or None."""
    if value is None or value == "epoch":
        return value
    if _is_int(value) and value >= 1:
        return value
    raise ConfigError(f"checkpoint every must be a number of steps ≥ 1 or 'epoch', got {value!r}")


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> cuda when available, else cpu; refuse cuda when there is none."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    import re

    if not re.fullmatch(r"cpu|cuda(:\d+)?", str(device)):
        raise ConfigError(f"unknown device {device!r}; use cpu, cuda, cuda:N or auto")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda requested but no CUDA GPU is available")
    if dev.type == "cuda" and (dev.index or 0) >= torch.cuda.device_count():
        raise ConfigError(f"device {device} does not exist ({torch.cuda.device_count()} GPUs)")
    return dev
