"""Early stopping on the validation cost (``TrainConfig.early_stop``: the patience).

After each evaluation, :meth:`EarlyStop.update` compares the epoch's ``val_cost`` with the best
so far: lower (strictly) makes it the best epoch and keeps a copy of the evaluated weights (the
averaged iterate with ``average``); otherwise one more evaluation has passed without
improvement, and ``patience`` of them in a row stop the run. The run then returns the best
epoch's weights. Everything it holds is in each checkpoint (:meth:`state_dict`, checked against
the history by :func:`check` before a resume), so a resumed run stops where the uninterrupted
one stops, with the same weights.

>>> es = EarlyStop(patience=2)
>>> [es.update({"epoch": e, "val_cost": c}, None) for e, c in enumerate([3.0, 2.0, 2.5, 2.1], 1)]
[False, False, False, True]
>>> es.best_epoch, es.waited
(2, 2)
"""

from __future__ import annotations

import math
from typing import Any

import torch

from sgdlab.model import SoftmaxRegression


class EarlyStop:
    """The best validation epoch so far, its weights, and the evaluations since it."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.best_epoch: int | None = None
        self.best_cost = math.inf
        self.waited = 0  # evaluations since the best one
        self.weight: torch.Tensor | None = None  # the best epoch's weights (CPU)
        self.bias: torch.Tensor | None = None

    @property
    def stopped(self) -> bool:
        return self.waited >= self.patience

    def update(self, record: dict[str, Any], model: SoftmaxRegression | None) -> bool:
        """Take the evaluation ``record`` of ``model``'s weights; True: stop the run now."""
        cost = float(record["val_cost"])
        if cost < self.best_cost:
            self.best_cost, self.best_epoch, self.waited = cost, int(record["epoch"]), 0
            if model is not None:
                self.weight = model.z.weight.detach().cpu().clone()
                self.bias = model.z.bias.detach().cpu().clone()
        else:
            self.waited += 1
        return self.stopped

    def model(self, device: torch.device) -> SoftmaxRegression | None:
        """The best epoch's model (None before any evaluation)."""
        if self.weight is None:
            return None
        m = SoftmaxRegression().to(device)
        with torch.no_grad():
            m.z.weight.copy_(self.weight)
            m.z.bias.copy_(self.bias)
        return m

    def state_dict(self) -> dict[str, Any]:
        return {
            "best_epoch": self.best_epoch,
            "best_cost": self.best_cost,
            "waited": self.waited,
            "weight": self.weight,
            "bias": self.bias,
        }

    def load_state_dict(self, s: dict[str, Any]) -> None:
        self.best_epoch, self.best_cost = s["best_epoch"], float(s["best_cost"])
        self.waited, self.weight, self.bias = int(s["waited"]), s["weight"], s["bias"]


def check(s: Any, history: list[dict[str, Any]], patience: int) -> str | None:
    """Why the checkpoint's ``early_stop`` state ``s`` cannot be the run's after ``history``
    (the state :class:`EarlyStop` reaches on it), or None when it is."""
    if not isinstance(s, dict):
        return "must be the early-stopping state (a dict)"
    want = EarlyStop(patience)
    for rec in history:
        want.update(rec, None)
    for key in ("best_epoch", "best_cost", "waited"):
        got, exp = s.get(key), getattr(want, key)
        if type(got) is not type(exp) or got != exp:
            return f"{key} is {got!r}, but the history gives {exp!r}"
    for key, shape in (("weight", (10, 784)), ("bias", (10,))):
        t = s.get(key)
        if want.best_epoch is None:
            if t is not None:
                return f"{key} must be absent before the first evaluation"
            continue
        ok = isinstance(t, torch.Tensor) and t.dtype == torch.float32 and t.shape == shape
        if not (ok and bool(torch.isfinite(t).all())):
            return f"{key} is not a finite float32 {shape} tensor"
    if want.waited > patience:
        return "the history goes on past the run's early stop"
    return None
