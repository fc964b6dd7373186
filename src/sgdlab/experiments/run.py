"""One run of a sweep: SGD (or full GD) with the exact cost evaluated at fixed points.

The run is driven by the same training core as :func:`sgdlab.train`
(:class:`sgdlab.training.core.Core`: the same generator use, sampler, engine calls, update,
finiteness check and clocks), so the weights after each epoch are bitwise those of ``train()``
with the same config; it stops at evaluation points *inside* epochs:
``evals_per_epoch`` evenly spaced minibatch boundaries (SGD) or every ``eval_every_steps`` steps
(GD). At each point it records, outside the clock:

- ``train_cost``: the exact C over all training images (float64 nats, the engine's full pass);
- ``val_cost``, ``val_accuracy``: on the held-out validation images;
- ``minibatch_cost``: the mean minibatch cost of the steps since the previous point;
- ``train_seconds``: cumulative wall time of the updates only (perf_counter around the engine
  calls, after a device synchronize); evaluation, bookkeeping and I/O are outside it;
- ``train_cpu_seconds``: the same updates' CPU time of this thread (``time.thread_time``). A
  sweep runs one thread per process, so this equals the wall time on an idle core and, unlike
  wall time, is not inflated when other processes share the cores; the sweep's tables use it.

A non-finite cost or weight ends the run with ``diverged=True`` (the curve up to there is kept).
"""

from __future__ import annotations

import math
import os
from typing import Any

import torch

from sgdlab import engines
from sgdlab.config import TrainConfig
from sgdlab.data import FashionMNIST
from sgdlab.data.split import hold_out
from sgdlab.errors import ConfigError, DivergenceError
from sgdlab.experiments.spec import RunSpec
from sgdlab.model import SoftmaxRegression, evaluate
from sgdlab.training.core import Core


def eval_points(steps_per_epoch: int, evals: int) -> list[int]:
    """Minibatch boundaries (1..steps_per_epoch) at which to evaluate: ``evals`` evenly spaced
    ones (fewer when an epoch has fewer steps), the epoch end always included."""
    pts = {max(1, round(steps_per_epoch * k / evals)) for k in range(1, evals + 1)}
    return sorted(pts | {steps_per_epoch})


def run_one(spec: RunSpec, data: FashionMNIST) -> dict[str, Any]:
    """Run ``spec`` on ``data``; return its JSON-ready record (see the module docstring)."""
    return _Run(spec, data).go()[0]


def train_config(spec: RunSpec, n: int) -> TrainConfig:
    """The :class:`TrainConfig` of ``spec``'s run on ``n`` training images (after the
    validation split): full GD is ``method="gd"``, one step per epoch."""
    return TrainConfig(
        batch_size=n if spec.is_gd else int(spec.batch_size),
        method="gd" if spec.is_gd else "sgd",
        epochs=spec.epochs,
        lr=spec.lr,
        seed=spec.seed,
        engine=spec.engine,
        device="cpu",
        init=spec.init,
        validation=spec.validation,
        validation_seed=spec.validation_seed,
    )


class _Run:
    def __init__(self, spec: RunSpec, data: FashionMNIST):
        if not 1 <= spec.validation < data.train_images.shape[0]:
            raise ConfigError(
                f"validation must be in 1..{data.train_images.shape[0] - 1} "
                f"images, got {spec.validation}"
            )
        self.spec = spec
        fit, (self.val_x, self.val_y), self.split = hold_out(
            data, spec.validation, seed=spec.validation_seed
        )
        self.n = fit.train_images.shape[0]
        self.test = (data.test_images, data.test_labels)
        eng = engines.get_engine(spec.engine, fit.train_images, fit.train_labels, "cpu")
        self.core = Core(train_config(spec, self.n), eng, n=self.n, device=torch.device("cpu"))
        self.spe = self.core.steps_per_epoch
        self.curve: list[dict[str, Any]] = []
        self.pending: list[torch.Tensor] = []  # minibatch costs since the last point
        self.all_costs: list[torch.Tensor] = []  # noise runs only
        self.diverged_at: int | None = None

    @property
    def model(self) -> SoftmaxRegression:
        return self.core.model

    def go(self) -> tuple[dict[str, Any], SoftmaxRegression]:
        s, core = self.spec, self.core
        self._point()
        for _ in range(s.epochs):
            if not self._epoch():
                break
        test_cost = test_acc = None
        if self.diverged_at is None:
            test_cost, test_acc = evaluate(self.model, *self.test)
        rec = {
            "spec": s.to_dict(),
            "diverged": self.diverged_at is not None,
            "diverged_at_step": self.diverged_at,
            "n_train": self.n,
            "validation": self.split,
            "steps_per_epoch": self.spe,
            "engine": core.eng.name,
            "torch_threads": torch.get_num_threads(),
            "train_seconds": core.wall_seconds,
            "train_cpu_seconds": core.cpu_seconds,
            "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
            "test_cost": test_cost,
            "test_accuracy": test_acc,
            "curve": self.curve,
        }
        if s.kind == "noise":
            costs = torch.cat(self.all_costs) if self.all_costs else torch.empty(0)
            rec["minibatch_costs"] = [float(f"{c:.6g}") for c in costs.tolist()]
        return rec, self.model

    def _epoch(self) -> bool:
        s = self.spec
        if s.is_gd or s.kind == "noise":
            every = s.eval_every_steps
            marks = sorted({*range(every, self.spe + 1, every), self.spe})
        else:
            marks = eval_points(self.spe, s.evals_per_epoch)
        start = 0
        for stop in marks:
            if not self._advance(start, stop):
                return False
            start = stop
            self._point()
        return True

    def _advance(self, start: int, stop: int) -> bool:
        """Steps ``start..stop-1`` of this epoch (GD: ``stop-start`` steps of one epoch
        each); False once the run diverged."""
        core = self.core
        for _ in range(stop - start if self.spec.is_gd else 1):
            try:
                c = core.advance(stop - start)
            except DivergenceError as e:
                self._costs(e.costs)
                self.diverged_at = e.step
                return False
            self._costs(c)
            if core.epoch_done:
                core.end_epoch()
        return True

    def _costs(self, c: torch.Tensor) -> None:
        self.pending.append(c)
        if self.spec.kind == "noise":
            self.all_costs.append(c)

    def _point(self) -> None:
        core = self.core
        train_cost = float(core.eng.full_gradient(self.model)[0])
        val_cost, val_acc = evaluate(self.model, self.val_x, self.val_y)
        mb = torch.cat(self.pending).mean().item() if self.pending else None
        self.pending = []
        if not all(math.isfinite(v) for v in (train_cost, val_cost)):
            self.diverged_at = core.step
        self.curve.append(
            {
                "epoch": core.step / self.spe,
                "step": core.step,
                "train_seconds": core.wall_seconds,
                "train_cpu_seconds": core.cpu_seconds,
                "train_cost": train_cost,
                "val_cost": val_cost,
                "val_accuracy": val_acc,
                "minibatch_cost": mb,
            }
        )
