"""The training core: one run's state and its steps, driven by every loop in sgdlab.

:class:`Core` holds what changes during a run (the model, the sampler with its epoch
permutations, the optimizer state, the global step, the clocks) and advances it, one engine
call at a time: sampler → a stretch of steps in one engine call → per-step learning rates
(:mod:`sgdlab.schedules`) → finiteness check → clocks. It never evaluates, prints or writes:
its drivers decide where to stop and what to do there. :func:`sgdlab.train` stops at epoch
ends and checkpoint marks; the batch-size experiments (:mod:`sgdlab.experiments.run`) at their
evaluation points inside epochs. Under data parallelism (K ranks) the same core runs on every
rank, its steps through :class:`~sgdlab.training.data_parallel.DataParallel`; at K = 1 the
engine runs each stretch in one (fused) call.

All randomness comes from one ``torch.Generator`` seeded with ``cfg.seed``: the initial
weights (``init="uniform"``), then one permutation per epoch.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import torch

from sgdlab import optim, schedules
from sgdlab.config import TrainConfig
from sgdlab.engines.base import Engine
from sgdlab.errors import DivergenceError
from sgdlab.model import SoftmaxRegression
from sgdlab.sampler import MinibatchSampler
from sgdlab.training import dist, elastic
from sgdlab.training.data_parallel import DataParallel


class Core:
    """The mutable state of one run and :meth:`advance`, which runs its next steps.

    ``eng`` holds the training set (or, for full GD under data parallelism, this rank's shard);
    ``n`` is the number of training samples N the sampler partitions; ``device`` is where the
    model lives. State: ``model``, ``sampler``, ``opt`` (:class:`sgdlab.optim.OptimState`),
    ``step`` (global steps done), ``epochs_done``, the current epoch's minibatch costs and wall
    seconds, the run's total wall and CPU seconds of updates (``wall_seconds``,
    ``cpu_seconds``: ``time.thread_time`` of this thread), all outside evaluation and I/O.
    """

    def __init__(
        self,
        cfg: TrainConfig,
        eng: Engine,
        *,
        n: int,
        device: torch.device,
        world: dist.World | None = None,
    ) -> None:
        self.cfg, self.eng, self.device = cfg, eng, device
        self.world = world or dist.world()
        gen = torch.Generator().manual_seed(cfg.seed)
        self.model = SoftmaxRegression(init=cfg.init, generator=gen).to(device)
        self.sampler = MinibatchSampler(n, cfg.batch_size, generator=gen, drop_last=cfg.drop_last)
        self.steps_per_epoch = len(self.sampler) if cfg.method == "sgd" else 1
        self.hyper, self.opt = cfg.hyper, optim.init()  # the update and its state (CPU)
        self.dp = DataParallel(eng, n_total=n, world=self.world)
        self.step = self.epochs_done = 0
        self.epoch_costs: list[torch.Tensor] = []  # minibatch costs so far in this epoch
        self.epoch_seconds = 0.0  # wall seconds of this epoch's updates so far
        self.wall_seconds = self.cpu_seconds = 0.0  # of every update this process ran
        self.last_seconds = 0.0  # wall seconds of the last engine call
        self.epoch_done = False  # the last advance() ended an epoch
        self.perm: torch.Tensor | None = None  # the current epoch's permutation (SGD)

    @property
    def total_steps(self) -> int:
        """All steps of the run (``cfg.epochs`` epochs)."""
        return self.cfg.epochs * self.steps_per_epoch

    def lrs(self, k: int) -> torch.Tensor:
        """The step sizes of the next ``k`` global steps, float64 (k,)."""
        c = self.cfg
        return schedules.lrs(
            self.step,
            self.step + k,
            lr=c.lr,
            schedule=c.schedule,
            total_steps=self.total_steps,
            steps_per_epoch=self.steps_per_epoch,
            gamma=c.gamma,
            step_epochs=c.step_epochs,
            t0=c.t0,
        )

    def advance(self, steps: int) -> torch.Tensor:
        """Run the next ``steps`` steps (fewer where the epoch ends first) in one engine call;
        return each step's cost before it (mean H of its minibatch, nats), float64 (k,).

        Raises :class:`DivergenceError` (with ``.step``, the first bad step, 1-based, and
        ``.costs``) when a cost or weight is not finite; the state then holds the bad weights.
        """
        cfg, world = self.cfg, self.world
        at = elastic.fault_step()  # test hook: a rank kills itself at a chosen step
        if at is not None:
            elastic.fault_kill(self.step, at, world)
        if cfg.method == "sgd":
            perm, start = self.sampler.permutation(), self.sampler.batch
            stop = min(self.steps_per_epoch, start + max(1, int(steps)))
            if at is not None and at > self.step:  # every rank ends its stretch there
                stop = min(stop, start + at - self.step)
            if start == 0:
                self.opt.reset_average()  # each epoch averages its own iterates
            # K = 1: the engine's own (fused) stretch; K > 1: per step, share gradient ->
            # all_reduce -> the same update (and optimizer state) on every rank
            run = self.eng.sgd_steps if world.size == 1 else self.dp.sgd_steps
            lrs = self.lrs(stop - start)
            t0, c0 = time.perf_counter(), time.thread_time()
            c = run(
                self.model, perm, cfg.batch_size, lrs, start, stop, hyper=self.hyper, state=self.opt
            )
            self.sampler.advance(stop - start)
            self.perm, self.epoch_done = perm, self.sampler.batch == 0
        else:
            self.perm, self.epoch_done = None, True
            self.opt.reset_average()
            lr = float(self.lrs(1)[0])
            t0, c0 = time.perf_counter(), time.thread_time()
            c = self.dp.gd_step(self.model, lr, hyper=self.hyper, state=self.opt)
            c = torch.tensor([c], dtype=torch.float64)
        self.eng.synchronize()
        self.last_seconds = dt = time.perf_counter() - t0
        self.cpu_seconds += time.thread_time() - c0
        self.wall_seconds += dt
        self.epoch_seconds += dt
        self._check_finite(c)
        self.epoch_costs.append(c)
        self.step += len(c)
        return c

    def _check_finite(self, costs: torch.Tensor) -> None:
        bad = (~torch.isfinite(costs)).nonzero()
        z = self.model.z
        if len(bad) == 0 and bool(torch.isfinite(z.weight).all() and torch.isfinite(z.bias).all()):
            return
        at = self.step + (int(bad[0]) if len(bad) else len(costs)) + 1
        lr = self.cfg.lr
        err = DivergenceError(
            f"training diverged: the cost became non-finite at step {at} "
            f"(epoch {self.epochs_done + 1}) with lr={lr:g}; try a smaller learning rate, "
            f"e.g. --lr {lr / 10:g}"
        )
        err.step, err.costs = at, costs
        raise err

    def end_epoch(self) -> dict[str, Any]:
        """Close the current epoch: its record (``epoch``, ``steps`` (global),
        ``train_seconds``, ``mean_minibatch_cost``, ``order_sha256`` of the minibatch order,
        None for GD), then the per-epoch accumulators start afresh."""
        order = None
        if self.perm is not None:
            order = hashlib.sha256(self.perm.cpu().numpy().tobytes()).hexdigest()[:16]
        self.epochs_done += 1
        rec = {
            "epoch": self.epochs_done,
            "steps": self.step,
            "train_seconds": self.epoch_seconds,
            "mean_minibatch_cost": torch.cat(self.epoch_costs).mean().item(),
            "order_sha256": order,
        }
        self.epoch_costs, self.epoch_seconds, self.epoch_done = [], 0.0, False
        return rec

    def result_model(self) -> SoftmaxRegression:
        """The model a run evaluates and returns: the epoch's averaged iterate with
        ``average`` (once any step was averaged), else the model itself."""
        if not self.hyper.average or self.opt.avg_count == 0:
            return self.model
        m = SoftmaxRegression().to(self.device)
        w, b = self.opt.average()
        with torch.no_grad():
            m.z.weight.copy_(w)
            m.z.bias.copy_(b)
        return m

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint needs to continue bitwise: weights, step, sampler, the epoch's
        costs and seconds so far, torch's global RNG, the optimizer state (and its average)."""
        costs = (
            torch.cat(self.epoch_costs) if self.epoch_costs else torch.empty(0, dtype=torch.float64)
        )
        out = {
            "weight": self.model.z.weight.detach().cpu().clone(),
            "bias": self.model.z.bias.detach().cpu().clone(),
            "epoch": self.epochs_done,
            "step": self.step,
            "sampler": self.sampler.state_dict(),
            "epoch_costs": costs,
            "epoch_seconds": self.epoch_seconds,
            "torch_rng": torch.get_rng_state(),
            "optim": self.opt.state_dict(),
        }
        if self.hyper.average and self.opt.avg_count > 0:
            out["average_weight"], out["average_bias"] = self.opt.average()
        return out

    def load_state_dict(self, s: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict`'s output (``epoch`` may be absent: then
        ``len(s["history"])``)."""
        with torch.no_grad():
            self.model.z.weight.copy_(s["weight"])
            self.model.z.bias.copy_(s["bias"])
        self.sampler.load_state_dict(s["sampler"])
        self.step = int(s["step"])
        self.epochs_done = int(s["epoch"]) if "epoch" in s else len(s["history"])
        self.epoch_costs = [s["epoch_costs"]] if len(s["epoch_costs"]) else []
        self.epoch_seconds = float(s["epoch_seconds"])
        torch.set_rng_state(s["torch_rng"])
        if "optim" in s:
            self.opt = optim.OptimState.from_state_dict(s["optim"])
