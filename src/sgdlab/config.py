"""Hyperparameters of a training run, validated with clear errors, and device resolution."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from .errors import ConfigError

METHODS = ("sgd", "gd")
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

    def validate(self, n: int) -> None:
        """Raise :class:`ConfigError` naming the first bad value (``n`` = training samples)."""
        if not _is_int(self.batch_size) or not 1 <= self.batch_size <= n:
            raise ConfigError(f"batch size must be an integer in 1..{n}, got {self.batch_size!r}")
        if not _is_int(self.epochs) or self.epochs < 1:
            raise ConfigError(f"epochs must be an integer ≥ 1, got {self.epochs!r}")
        lr_ok = isinstance(self.lr, (int, float)) and math.isfinite(self.lr)
        if not lr_ok or not 0 < self.lr <= FLOAT32_MAX:
            raise ConfigError(f"learning rate must be finite, > 0 and ≤ {FLOAT32_MAX:.3g}, "
                              f"got {self.lr!r}")  # fmt: skip
        if not _is_int(self.seed) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {self.seed!r}")
        if self.method not in METHODS:
            raise ConfigError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.init not in ("zeros", "uniform"):
            raise ConfigError(f"init must be 'zeros' or 'uniform', got {self.init!r}")


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
