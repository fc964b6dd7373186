"""One run of a sweep: SGD (or full GD) with the exact cost evaluated at fixed points.

The run is the same algorithm as :func:`sgdlab.train` (same generator use: init, then one
permutation per epoch; same engines; the weights after each epoch are bitwise those of
``train()`` on the same training images), but it stops at evaluation points *inside* epochs:
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
import time
from typing import Any

import torch

from sgdlab import engines
from sgdlab.data import FashionMNIST
from sgdlab.data.split import hold_out
from sgdlab.experiments.spec import RunSpec
from sgdlab.model import SoftmaxRegression, evaluate
from sgdlab.sampler import MinibatchSampler


def eval_points(steps_per_epoch: int, evals: int) -> list[int]:
    """Minibatch boundaries (1..steps_per_epoch) at which to evaluate: ``evals`` evenly spaced
    ones (fewer when an epoch has fewer steps), the epoch end always included."""
    pts = {max(1, round(steps_per_epoch * k / evals)) for k in range(1, evals + 1)}
    return sorted(pts | {steps_per_epoch})


def run_one(spec: RunSpec, data: FashionMNIST) -> dict[str, Any]:
    """Run ``spec`` on ``data``; return its JSON-ready record (see the module docstring)."""
    return _Run(spec, data).go()[0]


class _Run:
    def __init__(self, spec: RunSpec, data: FashionMNIST):
        if not 1 <= spec.validation < data.train_images.shape[0]:
            from sgdlab.errors import ConfigError

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
        self.eng = engines.get_engine(spec.engine, fit.train_images, fit.train_labels, "cpu")
        gen = torch.Generator().manual_seed(spec.seed)
        self.model = SoftmaxRegression(init=spec.init, generator=gen)
        self.b = self.n if spec.is_gd else int(spec.batch_size)
        self.sampler = MinibatchSampler(self.n, self.b, generator=gen)
        self.spe = 1 if spec.is_gd else len(self.sampler)
        self.step, self.seconds, self.cpu, self.curve = 0, 0.0, 0.0, []
        self.pending: list[torch.Tensor] = []  # minibatch costs since the last point
        self.all_costs: list[torch.Tensor] = []  # noise runs only
        self.diverged_at: int | None = None

    def go(self) -> tuple[dict[str, Any], SoftmaxRegression]:
        s = self.spec
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
            "engine": self.eng.name,
            "torch_threads": torch.get_num_threads(),
            "train_seconds": self.seconds,
            "train_cpu_seconds": self.cpu,
            "load_average": _loadavg(),
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
            marks = [k for k in range(every, self.spe + 1, every)] + [self.spe]
            marks = sorted(set(marks))
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
        """Steps ``start..stop-1`` of this epoch (or ``stop-start`` GD steps), timed."""
        eng, lr = self.eng, self.spec.lr
        if self.spec.is_gd:
            t0, c0 = time.perf_counter(), time.thread_time()
            c = torch.tensor(
                [eng.gd_step(self.model, lr) for _ in range(stop - start)], dtype=torch.float64
            )
        else:
            perm = self.sampler.permutation()  # drawn outside the clock, as train() does
            t0, c0 = time.perf_counter(), time.thread_time()
            c = eng.sgd_steps(self.model, perm, self.b, lr, start, stop)
        eng.synchronize()
        self.seconds += time.perf_counter() - t0
        self.cpu += time.thread_time() - c0
        if not self.spec.is_gd:
            self.sampler.advance(stop - start)
        self.pending.append(c)
        if self.spec.kind == "noise":
            self.all_costs.append(c)
        bad = (~torch.isfinite(c)).nonzero()
        z = self.model.z
        if len(bad) or not bool(torch.isfinite(z.weight).all() and torch.isfinite(z.bias).all()):
            self.diverged_at = self.step + (int(bad[0]) if len(bad) else len(c)) + 1
            self.step += len(c)
            return False
        self.step += len(c)
        return True

    def _point(self) -> None:
        train_cost = float(self.eng.full_gradient(self.model)[0])
        val_cost, val_acc = evaluate(self.model, self.val_x, self.val_y)
        mb = torch.cat(self.pending).mean().item() if self.pending else None
        self.pending = []
        if not all(math.isfinite(v) for v in (train_cost, val_cost)):
            self.diverged_at = self.step
        self.curve.append(
            {
                "epoch": self.step / self.spe,
                "step": self.step,
                "train_seconds": self.seconds,
                "train_cpu_seconds": self.cpu,
                "train_cost": train_cost,
                "val_cost": val_cost,
                "val_accuracy": val_acc,
                "minibatch_cost": mb,
            }
        )


def _loadavg() -> float | None:
    """The 1-minute load average at the end of the run (how shared the machine was)."""
    import os

    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None
