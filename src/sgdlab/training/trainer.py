"""Training: epochs of minibatch SGD (or full GD), per-epoch evaluation, checkpoints, resume.

>>> from sgdlab.data import load_sample
>>> run = train(batch_size=16, epochs=1, lr=0.005, seed=0, data=load_sample(), progress=False)
>>> sorted(run.history[0])[:4]
['epoch', 'mean_minibatch_cost', 'order_sha256', 'steps']

Resume is exact: a run stopped after any step (``kill -9`` included) and resumed from its newest
valid checkpoint gives bitwise the same weights, minibatch order and history (except the
wall-clock ``train_seconds``) as the run that never stopped, on CPU with the same engine.

Data-parallel: under ``torchrun`` (a process group is initialized, see
:mod:`sgdlab.training.dist`) the same loop runs on every rank, the steps through
:class:`~sgdlab.training.data_parallel.DataParallel`: the global minibatches, their order and
every update are those of the single-process run (up to float rounding); rank 0 alone writes
checkpoints. At world size 1 the loop is the ordinary run (the fast engine then keeps its fused
stretch-of-steps call).
"""

from __future__ import annotations

import hashlib
import signal
import threading
import time
import warnings
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from sgdlab import engines, optim, schedules
from sgdlab.config import TrainConfig, resolve_device
from sgdlab.config import checkpoint_every as _valid_every
from sgdlab.data import FashionMNIST
from sgdlab.data.split import hold_out
from sgdlab.errors import CheckpointError, ConfigError, DivergenceError, TrainingInterrupted
from sgdlab.measure.machine import quiet_torch_for
from sgdlab.measure.provenance import environment
from sgdlab.model import SoftmaxRegression
from sgdlab.sampler import MinibatchSampler
from sgdlab.training import checkpoint, dist, elastic, runs, stretch
from sgdlab.training.data_parallel import DataParallel

__all__ = ["train", "TrainResult", "TrainConfig", "resolve_device"]


@dataclass
class TrainResult:
    """The trained model, one dict per epoch, the resolved config and where it ran."""

    model: SoftmaxRegression
    history: list[dict[str, Any]]
    config: dict[str, Any]
    environment: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None
    #: the global step of the checkpoint this run resumed from (None: a new run)
    resumed_step: int | None = None
    distributed: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: config, environment, data provenance and history (no weights)."""
        return {
            "config": self.config,
            "environment": self.environment,
            "data": self.data,
            "history": self.history,
            "checkpoint": self.checkpoint,
            "resumed_step": self.resumed_step,
            "distributed": self.distributed,
        }


def train(
    *,
    batch_size: int = 16,
    epochs: int = 5,
    lr: float = 0.005,
    seed: int = 0,
    method: str = "sgd",
    engine: str = "auto",
    device: str = "auto",
    init: str = "zeros",
    drop_last: bool = False,
    data_dir: str | None = None,
    data: FashionMNIST | None = None,
    progress: bool = True,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int | str | None = "epoch",
    keep: int = 2,
    resume: bool | str = False,
    explicit: Iterable[str] | None = None,
    segment: int | None = None,
    momentum: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
    schedule: str = "constant",
    gamma: float = 0.1,
    step_epochs: int = 1,
    t0: float = 1000.0,
    average: bool = False,
    validation: int = 0,
    validation_seed: int = 0,
) -> TrainResult:
    """Train the chapter's classifier; returns a :class:`TrainResult`.

    Loads the data itself (``data_dir``, see :func:`sgdlab.data.load`) unless ``data`` is given.
    All randomness comes from one ``torch.Generator`` seeded with ``seed``: the init (if
    ``init="uniform"``), then one permutation per epoch. Per epoch the history records
    ``epoch``, ``steps`` (global), ``train_seconds`` (wall time of the updates only; evaluation,
    checkpoints and the progress bar are outside it), ``mean_minibatch_cost``, ``order_sha256``
    (of the epoch's minibatch order), then the exact ``train_cost`` (C on all N training
    samples), ``test_cost``, ``train_accuracy``, ``test_accuracy`` and, with ``validation``,
    ``val_cost``, ``val_accuracy``.

    The update is ``torch.optim.SGD(lr=, momentum=, nesterov=, weight_decay=)`` with dampening
    0 (see :mod:`sgdlab.optim`); the step size of global step t follows ``schedule``
    (``constant``, ``step`` with ``gamma``/``step_epochs``, ``cosine`` over all the run's
    steps, ``inverse`` with ``t0``; see :mod:`sgdlab.schedules`). ``average=True`` evaluates,
    checkpoints and finally returns the mean of each epoch's iterates (Polyak–Ruppert; training
    itself continues from the last iterate). ``validation=N`` holds out N training samples
    chosen by ``validation_seed`` (independent of ``seed``; see :mod:`sgdlab.data.split`): the
    engine never sees them, ``data["validation"]`` records the split.

    With ``checkpoint_dir``, a checkpoint is written every ``checkpoint_every`` steps (or each
    ``"epoch"``) and at the end, keeping the newest ``keep``; SIGTERM/SIGINT write one and raise
    :class:`TrainingInterrupted`. A new run (``resume=False``) refuses a directory that already
    holds checkpoints (:func:`sgdlab.training.runs.refuse_used_dir`). ``resume=True`` continues from
    the newest valid checkpoint there (none: :class:`CheckpointError`); ``resume="auto"`` does the
    same but starts a new run when the directory has no checkpoint yet (what
    ``sgdlab train --resume DIR`` does), so the same call is safe to repeat after any crash.
    A finished run resumes to its result without training.

    On resume the checkpoint's config is used; the hyperparameters named in ``explicit`` (field
    names of :class:`TrainConfig`; default: those whose value differs from TrainConfig's
    default) must agree with it, except a larger ``epochs``, which extends the run (see
    :func:`sgdlab.training.runs.reconcile`); a disagreement raises :class:`CheckpointError`.

    The engine runs the steps in stretches of ``segment`` steps per call, or, by default (None),
    of about 50 ms of work each (:mod:`sgdlab.training.stretch`; at least 500 steps; data-parallel
    runs: 500, the same on every rank); the result is the same bits for any stretch length.

    Data-parallel (a process group initialized, K ranks): every rank calls this with the same
    arguments; rank 0 picks the checkpoint every rank reads and alone writes checkpoints; full
    GD builds each rank's engine on its shard of N/K samples. Raises :class:`DistributedError`
    when a rank is lost. Raises :class:`ConfigError` for bad values,
    :class:`DivergenceError` on a non-finite cost.
    """
    every = _valid_every(checkpoint_every)
    world = dist.world()
    if resume not in (False, True, "auto"):
        raise ConfigError(f"resume must be False, True or 'auto', got {resume!r}")
    asked = TrainConfig(
        batch_size=batch_size,
        epochs=epochs,
        lr=lr,
        seed=seed,
        method=method,
        engine=engine,
        device=str(device),
        init=init,
        drop_last=drop_last,
        momentum=momentum,
        nesterov=nesterov,
        weight_decay=weight_decay,
        schedule=schedule,
        gamma=gamma,
        step_epochs=step_epochs,
        t0=t0,
        average=average,
        validation=validation,
        validation_seed=validation_seed,
    )
    saved, path = None, None
    if resume and checkpoint_dir is None:
        raise CheckpointError("resume needs a checkpoint directory")
    if resume:  # rank 0 picks the file every rank reads (None: the directory has none yet)
        checkpoint.prepare_dir(checkpoint_dir)  # a clear error if it cannot be
        path, saved = elastic.resume_state(checkpoint_dir, warn=_warn)
        if saved is None and resume is True:
            raise CheckpointError(f"no checkpoint found in {checkpoint_dir}")
    elif checkpoint_dir is not None:
        runs.refuse_used_dir(checkpoint_dir)
    cfg = asked
    if saved is not None:
        given = _non_default(asked) if explicit is None else set(explicit)
        cfg = TrainConfig(
            **runs.reconcile(
                _saved_config(saved), asdict(asked), given, done_epochs=len(saved["history"])
            )
        )
    ds = _load_data(data, data_dir)
    cfg.validate(ds.train_images.shape[0])
    ds, val, split = hold_out(ds, cfg.validation, seed=cfg.validation_seed)
    n = ds.train_images.shape[0]
    dev = resolve_device(cfg.device)
    if world.size > 1 and dev.type == "cuda":  # one GPU per rank (NCCL; untested here)
        dev = torch.device("cuda", world.local_rank)
    x, y = ds.train_images, ds.train_labels
    if cfg.method == "gd" and world.size > 1:  # full GD: this rank's shard only (N/K samples)
        lo, hi = dist.split(n, world.size, world.rank)
        x, y = x[lo:hi].clone(), y[lo:hi].clone()
    eng = engines.get_engine(cfg.engine, x, y, dev)
    if saved is not None:  # after the engine: numba's start-up can change torch's thread count
        _check_compatible(saved, ds)
    cfg = TrainConfig(**{**asdict(cfg), "engine": eng.name, "device": str(dev)})
    data_info = {
        "source": ds.source,
        "is_sample": ds.is_sample,
        "n_train": n,
        "n_test": ds.test_images.shape[0],
        "sha256": ds.sha256,
    }
    if cfg.validation:
        data_info["validation"] = split
    if checkpoint_dir is not None and world.is_main:
        runs.remove_stale_temporaries(checkpoint_dir)
    loop = _Loop(cfg, eng, ds, dev, checkpoint_dir, every, keep, data_info, val)
    if saved is not None:
        loop.restore(saved)
        loop.last_checkpoint = path
    with _SignalFlag(enabled=checkpoint_dir is not None) as flag, quiet_torch_for(eng):
        if segment is None and world.size > 1:  # every rank must run the same stretches
            segment = stretch.FIRST
        loop.run(flag, progress and world.is_main, stretch.Stretch(segment))
    dp = loop.dp
    return TrainResult(
        model=loop.result_model(),
        history=loop.history,
        config=asdict(cfg),
        environment=loop.env,
        data=data_info,
        checkpoint=str(loop.last_checkpoint) if loop.last_checkpoint else None,
        resumed_step=int(saved["step"]) if saved is not None else None,
        distributed={
            "world_size": world.size,
            "backend": world.backend,
            "allreduce_calls": dp.reduce_calls,
            "allreduce_seconds": dp.reduce_seconds,
        },
    )


def _saved_config(saved: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint's config over :class:`TrainConfig`'s fields: a field it lacks (written
    before the option existed) ran with the default; a field unknown here is refused."""
    names = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(saved["config"]) - names)
    if unknown:
        raise CheckpointError(
            f"the checkpoint has options this sgdlab does not know "
            f"({', '.join(unknown)}): written by a newer version?"
        )
    return {**asdict(TrainConfig()), **saved["config"]}


def _non_default(cfg: TrainConfig) -> set[str]:
    """The fields of ``cfg`` whose value differs from :class:`TrainConfig`'s default."""
    return {f.name for f in fields(TrainConfig) if getattr(cfg, f.name) != f.default}


class _Loop:
    """The mutable state of a run (weights, sampler, step, history) and the loop over it."""

    def __init__(self, cfg, eng, ds, dev, ckpt_dir, every, keep, data_info, val):
        self.cfg, self.eng, self.ds, self.dev, self.val = cfg, eng, ds, dev, val
        self.ckpt_dir, self.every, self.keep, self.data_info = ckpt_dir, every, keep, data_info
        gen = torch.Generator().manual_seed(cfg.seed)
        self.model = SoftmaxRegression(init=cfg.init, generator=gen).to(dev)
        n = ds.train_images.shape[0]
        self.sampler = MinibatchSampler(n, cfg.batch_size, generator=gen, drop_last=cfg.drop_last)
        self.spe = len(self.sampler) if cfg.method == "sgd" else 1  # steps per epoch
        self.hyper, self.opt = cfg.hyper, optim.init()  # the update and its state (CPU)
        self.step, self.history = 0, []
        self.costs: list[torch.Tensor] = []  # costs so far in the current epoch
        self.seconds = 0.0  # training wall time so far in the current epoch
        self.last_checkpoint: Path | None = None
        self._bar = None  # the progress bar, while run() is active
        self.world = dist.world()
        self.dp = DataParallel(eng, n_total=n, world=self.world)
        self.env = {**environment(dev), "world_size": self.world.size}  # the same all run long
        self.writer = None  # rank 0 alone writes checkpoints
        if ckpt_dir is not None and self.world.is_main:
            self.writer = checkpoint.Writer(ckpt_dir, keep=keep)

    def state(self) -> dict[str, Any]:
        costs = torch.cat(self.costs) if self.costs else torch.empty(0, dtype=torch.float64)
        return {
            "format": 1,
            "weight": self.model.z.weight.detach().cpu().clone(),
            "bias": self.model.z.bias.detach().cpu().clone(),
            "epoch": len(self.history),
            "step": self.step,
            "sampler": self.sampler.state_dict(),
            "epoch_costs": costs,
            "epoch_seconds": self.seconds,
            "history": list(self.history),
            "config": asdict(self.cfg),
            "torch_rng": torch.get_rng_state(),
            "optim": self.opt.state_dict(),
            **self._average_fields(),
            "provenance": {
                **self.env,
                "seed": self.cfg.seed,
                "engine": self.cfg.engine,
                "data": self.data_info,
            },
        }

    def restore(self, s: dict[str, Any]) -> None:
        with torch.no_grad():
            self.model.z.weight.copy_(s["weight"])
            self.model.z.bias.copy_(s["bias"])
        self.sampler.load_state_dict(s["sampler"])
        self.step, self.history = int(s["step"]), list(s["history"])
        self.costs = [s["epoch_costs"]] if len(s["epoch_costs"]) else []
        self.seconds = float(s["epoch_seconds"])
        torch.set_rng_state(s["torch_rng"])
        if "optim" in s:
            self.opt = optim.OptimState.from_state_dict(s["optim"])

    def _average_fields(self) -> dict[str, torch.Tensor]:
        """The averaged weights a checkpoint holds (when averaging and any step was averaged)."""
        if not self.hyper.average or self.opt.avg_count == 0:
            return {}
        w, b = self.opt.average()
        return {"average_weight": w, "average_bias": b}

    def result_model(self) -> SoftmaxRegression:
        """The model a run returns and evaluates: the averaged iterate with ``average``."""
        if not self.hyper.average or self.opt.avg_count == 0:
            return self.model
        m = SoftmaxRegression().to(self.dev)
        w, b = self.opt.average()
        with torch.no_grad():
            m.z.weight.copy_(w)
            m.z.bias.copy_(b)
        return m

    def _lrs(self, k: int) -> torch.Tensor:
        """The step sizes of the next ``k`` global steps, float64 (k,)."""
        c = self.cfg
        return schedules.lrs(
            self.step,
            self.step + k,
            lr=c.lr,
            schedule=c.schedule,
            total_steps=c.epochs * self.spe,
            steps_per_epoch=self.spe,
            gamma=c.gamma,
            step_epochs=c.step_epochs,
            t0=c.t0,
        )

    def save(self) -> None:
        """Snapshot the state and hand it to the background writer (returns at once)."""
        if self.writer is not None:
            self.last_checkpoint = self.writer.submit(self.state(), step=self.step)
        elif self.ckpt_dir is not None:  # the name rank 0 writes
            self.last_checkpoint = Path(self.ckpt_dir) / f"ckpt-{self.step:010d}.sgdlab"
        dist.barrier()  # no rank runs on past a checkpoint before rank 0 has taken it

    def run(self, flag: _SignalFlag, progress: bool, segment: stretch.Stretch) -> None:
        cfg = self.cfg
        self._bar = bar = _progress(progress, cfg.epochs * self.spe, self.step)
        try:
            while len(self.history) < cfg.epochs:
                done_epoch, saved = self._segment(segment), False
                if done_epoch:
                    self._end_epoch(bar)
                due = isinstance(self.every, int) and self.step % self.every == 0
                final = len(self.history) == cfg.epochs
                if due or final or (done_epoch and self.every == "epoch"):
                    self.save()
                    saved = True
                if dist.any_rank(flag.signum is not None):  # every rank stops at the same step
                    if not saved:
                        self.save()
                    if self.writer is not None:
                        self.writer.close()  # the checkpoint is on disk before we report it
                    signum = flag.signum or signal.SIGTERM
                    name = signal.Signals(signum).name
                    raise TrainingInterrupted(
                        f"stopped by {name} at step {self.step}; checkpoint {self.last_checkpoint}"
                        f"; resume with: sgdlab train --resume {self.ckpt_dir}",
                        signum,
                    )
        finally:
            if bar is not None:
                bar.close()
            if self.writer is not None:
                self.writer.close()

    def _segment(self, segment: stretch.Stretch) -> bool:
        """Run the next stretch of steps (``segment.steps``, adapted to the measured rate);
        return True when it finished the epoch."""
        cfg, t0 = self.cfg, time.perf_counter()
        if cfg.method == "sgd":
            self.perm, start = self.sampler.permutation(), self.sampler.batch
            stop = min(len(self.sampler), start + segment.steps)
            if isinstance(self.every, int):  # stop on checkpoint boundaries (global steps)
                stop = min(stop, start + self.every - self.step % self.every)
            if start == 0:
                self.opt.reset_average()  # each epoch averages its own iterates
            at = elastic.fault_step()
            if at is not None:  # test hook: every rank ends its stretch where one is to die
                elastic.fault_kill(self.step, at, self.world)
                if at > self.step:
                    stop = min(stop, start + at - self.step)
            # K = 1: the engine's own (fused) stretch; K > 1: per step, share gradient ->
            # all_reduce -> the same update (and optimizer state) on every rank
            steps = self.eng.sgd_steps if self.world.size == 1 else self.dp.sgd_steps
            c = steps(
                self.model,
                self.perm,
                cfg.batch_size,
                self._lrs(stop - start),
                start,
                stop,
                hyper=self.hyper,
                state=self.opt,
            )
            self.sampler.advance(stop - start)
            done = self.sampler.batch == 0
        else:
            self.perm = None
            self.opt.reset_average()
            at = elastic.fault_step()
            if at is not None:
                elastic.fault_kill(self.step, at, self.world)
            lr = float(self._lrs(1)[0])
            c = self.dp.gd_step(self.model, lr, hyper=self.hyper, state=self.opt)
            c = torch.tensor([c], dtype=torch.float64)
            done = True
        self.eng.synchronize()
        dt = time.perf_counter() - t0
        self.seconds += dt
        if cfg.method == "sgd":
            segment.record(len(c), dt)
        _check_finite(c, self.step, len(self.history) + 1, cfg.lr, self.model)
        self.costs.append(c)
        self.step += len(c)
        if self._bar is not None:
            self._bar.update(len(c))
        return done

    def _end_epoch(self, bar) -> None:
        ds, model = self.ds, self.result_model()
        train_cost, train_acc = self.dp.evaluate(model, ds.train_images, ds.train_labels)
        test_cost, test_acc = self.dp.evaluate(model, ds.test_images, ds.test_labels)
        order = None
        if self.perm is not None:
            order = hashlib.sha256(self.perm.cpu().numpy().tobytes()).hexdigest()[:16]
        self.history.append(
            {
                "epoch": len(self.history) + 1,
                "steps": self.step,
                "train_seconds": self.seconds,
                "mean_minibatch_cost": torch.cat(self.costs).mean().item(),
                "order_sha256": order,
                "train_cost": train_cost,
                "train_accuracy": train_acc,
                "test_cost": test_cost,
                "test_accuracy": test_acc,
            }
        )
        if self.cfg.validation:
            val_cost, val_acc = self.dp.evaluate(model, *self.val)
            self.history[-1].update(val_cost=val_cost, val_accuracy=val_acc)
        self.costs, self.seconds = [], 0.0
        if bar is not None:
            bar.set_postfix(epoch=len(self.history), test_acc=f"{test_acc:.4f}")


def _load_data(data: FashionMNIST | None, data_dir) -> FashionMNIST:
    if data is not None:
        return data
    from sgdlab.data import load

    return load(data_dir)


def _warn(msg: str) -> None:
    import sys

    print(f"sgdlab: {msg}", file=sys.stderr)


def _check_compatible(saved: dict[str, Any], ds: FashionMNIST) -> None:
    """Refuse a resume on other data; warn when versions or threads differ. (Engine, device
    and the other options are checked by :func:`sgdlab.training.runs.reconcile`.)"""
    prov = saved.get("provenance", {})
    if prov.get("data", {}).get("sha256") != ds.sha256:
        raise CheckpointError(
            "the checkpoint was written for other data "
            f"({prov.get('data', {}).get('source')}); resume on the same data"
        )
    here = environment("cpu")
    for key in ("torch_version", "sgdlab_version", "torch_threads"):
        if key in prov and prov[key] != here[key]:
            warnings.warn(
                f"resuming with {key}={here[key]} but the checkpoint was written with "
                f"{prov[key]}: the result may differ from an uninterrupted run",
                stacklevel=3,
            )


def _check_finite(costs: torch.Tensor, step0: int, epoch: int, lr: float, model) -> None:
    bad = (~torch.isfinite(costs)).nonzero()
    w_ok = bool(torch.isfinite(model.z.weight).all() and torch.isfinite(model.z.bias).all())
    if len(bad) == 0 and w_ok:
        return
    at = step0 + (int(bad[0]) if len(bad) else len(costs)) + 1
    raise DivergenceError(
        f"training diverged: the cost became non-finite at step {at} (epoch {epoch}) "
        f"with lr={lr:g}; try a smaller learning rate, e.g. --lr {lr / 10:g}"
    )


def _progress(enabled: bool, total: int, initial: int):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(
        total=total, initial=initial, unit="step", desc="training", leave=False, dynamic_ncols=True
    )


class _SignalFlag:
    """While active (main thread, checkpointing on), SIGTERM/SIGINT set ``signum`` instead of
    killing the process; the loop then writes a checkpoint and stops within one segment."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _SignalFlag:
        if self.enabled:
            for s in (signal.SIGTERM, signal.SIGINT):
                self._old[s] = signal.signal(s, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.signum = signum

    def __exit__(self, *exc) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)
