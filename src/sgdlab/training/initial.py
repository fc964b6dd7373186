"""Epoch 0 of a run: its starting weights, evaluated like every epoch's end.

:func:`sgdlab.train` records one history entry per epoch, after it; a curve of cost against
epochs should start where training starts (zero weights: C = ln 10 = 2.3026 on every split).
:func:`initial_record` rebuilds a run's starting model from its config exactly as
:class:`sgdlab.training.core.Core` does (``init`` drawn from ``torch.Generator().manual_seed(seed)``
first) and evaluates it on the same splits (the held-out validation samples removed from the
training set).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from sgdlab.data import FashionMNIST


def initial_model(config: Mapping[str, Any]):
    """The run's weights before its first step (a :class:`sgdlab.model.SoftmaxRegression`, CPU,
    float32): ``config`` is a run's config (``TrainConfig.to_dict()`` or ``RunResult.config``)."""
    from sgdlab.model import SoftmaxRegression

    gen = torch.Generator().manual_seed(int(config["seed"]))
    return SoftmaxRegression(init=config["init"], generator=gen)


def initial_record(config: Mapping[str, Any], data: FashionMNIST) -> dict[str, Any]:
    """The history record of epoch 0: ``{"epoch": 0, "step": 0, "train_cost",
    "train_accuracy", "test_cost", "test_accuracy"[, "val_cost", "val_accuracy"]}`` (costs in
    nats per sample, accuracies as fractions in [0, 1], as in :attr:`RunResult.history`)."""
    from sgdlab.data.split import hold_out
    from sgdlab.model import evaluate

    model = initial_model(config)
    size = int(config.get("validation") or 0)
    ds, (val_x, val_y), _ = hold_out(data, size, seed=int(config.get("validation_seed") or 0))
    rec: dict[str, Any] = {"epoch": 0, "step": 0}
    rec["train_cost"], rec["train_accuracy"] = evaluate(model, ds.train_images, ds.train_labels)
    rec["test_cost"], rec["test_accuracy"] = evaluate(model, ds.test_images, ds.test_labels)
    if size:
        rec["val_cost"], rec["val_accuracy"] = evaluate(model, val_x, val_y)
    return rec
