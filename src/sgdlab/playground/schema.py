"""A run request's body -> a checked :class:`~sgdlab.config.TrainConfig` (no web framework here).

The body is a JSON object of ``--config``-style keys: the long option names of ``sgdlab train``
(``{"batch-size": 128, "lr": 0.05, "epochs": 2, "seed": 1}``; ``batch_size`` works too). Each
value goes through the command line's own conversion (``convert``: :func:`sgdlab.cli.configfile.
values` over ``sgdlab train``'s parser, handed in by the caller so the library never imports the
CLI), then :meth:`TrainConfig.validate` with the data's N and :meth:`TrainConfig.refuse_unused`:
a bad key or value gives the same one-line message as ``sgdlab train``. Options that name files
or outputs (``--checkpoint-dir``, ``--save-weights``, ``--data-dir``, ...) are refused: no request
names a path. A run's work is capped: ``epochs`` ≤ :data:`MAX_EPOCHS` and epochs × ⌈N/b⌉ ≤
:data:`MAX_STEPS` steps.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from sgdlab.config import TrainConfig
from sgdlab.errors import ConfigError

#: The largest request body accepted, in bytes.
MAX_BODY = 4096
#: Epochs of one run (the page's slider: 1..50).
MAX_EPOCHS = 50
#: Steps of one run (epochs × steps per epoch): 5 epochs at b = 1 on the 60,000 images.
MAX_STEPS = 300_000

#: Converts ``{key: raw JSON value}`` to ``{field: value}`` as ``sgdlab train --config`` does.
Convert = Callable[[dict[str, Any]], dict[str, Any]]

_FIELDS = frozenset(TrainConfig.field_names())
#: The first words of :meth:`TrainConfig.validate`'s messages -> the option they are about.
_SUBJECTS = {
    "batch size": "batch-size",
    "epochs": "epochs",
    "learning rate": "lr",
    "seed": "seed",
    "method": "method",
    "init": "init",
    "drop last": "drop-last",
    "momentum": "momentum",
    "nesterov": "nesterov",
    "weight decay": "weight-decay",
    "schedule": "schedule",
    "gamma": "gamma",
    "step epochs": "step-epochs",
    "t0": "t0",
    "average": "average",
    "validation size": "validation",
    "validation seed": "validation-seed",
    "early stop patience": "early-stop",
}


class RequestError(ConfigError):
    """A refused request: ``str(e)`` is the one-line message, ``key`` the option it is about
    (the long name, e.g. ``"batch-size"``, or None), ``status`` the HTTP status."""

    def __init__(self, message: str, *, key: str | None = None, status: int = 422) -> None:
        super().__init__(message)
        self.key, self.status = key, status


def parse_run(body: bytes, *, convert: Convert, n: int) -> tuple[TrainConfig, set[str]]:
    """The run a request body asks for, and the fields it set (for ``refuse_unused``).

    ``n``: training images of the server's data (validation included). Raises
    :class:`RequestError` (status 413 for a body over :data:`MAX_BODY` bytes, else 422).
    """
    if len(body) > MAX_BODY:
        raise RequestError(f"request body over {MAX_BODY} bytes", status=413)
    try:
        table = json.loads(body.decode("utf-8")) if body.strip() else {}
    except (UnicodeDecodeError, ValueError) as e:
        raise RequestError(f"the body is not JSON ({e})") from None
    if not isinstance(table, dict):
        raise RequestError(
            'the body must be a JSON object of option names, e.g. {"batch-size": 128, "lr": 0.05}'
        )
    values: dict[str, Any] = {}
    for key, raw in table.items():
        name = _long(key)
        try:
            got = convert({key: raw})
        except ConfigError as e:
            raise RequestError(str(e), key=name) from None
        for dest, value in got.items():
            if dest not in _FIELDS:
                raise RequestError(
                    f"config: key {key!r} is not a training option here (the playground trains "
                    "in memory: no files, outputs or threads)",
                    key=name,
                )
            values[dest] = value
    cfg = TrainConfig(**values)
    explicit = set(values)
    try:
        cfg.validate(n)
        cfg.refuse_unused(explicit)
    except ConfigError as e:
        raise RequestError(str(e), key=_subject(str(e))) from None
    _cap(cfg, n)
    return cfg, explicit


def steps_per_epoch(cfg: TrainConfig, n: int) -> int:
    """Steps of one epoch on ``n`` training images (validation included; 1 for full GD)."""
    if cfg.method == "gd":
        return 1
    fit = n - cfg.validation
    return fit // cfg.batch_size if cfg.drop_last else math.ceil(fit / cfg.batch_size)


def _cap(cfg: TrainConfig, n: int) -> None:
    if cfg.epochs > MAX_EPOCHS:
        raise RequestError(
            f"epochs: the playground trains at most {MAX_EPOCHS} epochs, got {cfg.epochs} "
            "(sgdlab train has no such cap)",
            key="epochs",
        )
    steps = cfg.epochs * steps_per_epoch(cfg, n)
    if steps > MAX_STEPS:
        raise RequestError(
            f"this run is {steps:,} steps (epochs × N/b = {cfg.epochs} × "
            f"{steps // cfg.epochs:,}); the playground caps a run at {MAX_STEPS:,}: raise "
            "batch-size or lower epochs (sgdlab train has no such cap)",
            key="batch-size",
        )


def _long(key: Any) -> str | None:
    return key.replace("_", "-") if isinstance(key, str) else None


def _subject(message: str) -> str | None:
    if message.startswith("--"):  # refuse_unused: "--gamma has no effect with ..."
        return message[2:].split()[0]
    for words, key in _SUBJECTS.items():
        if message.startswith(words):
            return key
    return None
