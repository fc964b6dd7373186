"""Training: epochs of minibatch SGD (or full GD), per-epoch evaluation, checkpoints, resume.

>>> from sgdlab.data import load_sample
>>> run = train(batch_size=16, epochs=1, lr=0.005, seed=0, data=load_sample(), progress=False)
>>> sorted(run.history[0])[:4]
['epoch', 'mean_minibatch_cost', 'order_sha256', 'steps']

The steps themselves are :class:`sgdlab.training.core.Core`'s; this module drives it epoch by
epoch, evaluates, checkpoints and resumes.

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

import contextlib
import dataclasses
import signal
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from sgdlab import engines
from sgdlab.config import CheckpointConfig, TrainConfig, resolve_device
from sgdlab.data import FashionMNIST
from sgdlab.data.split import hold_out
from sgdlab.errors import CheckpointError, TrainingInterrupted
from sgdlab.measure.machine import quiet_torch_for
from sgdlab.measure.provenance import environment
from sgdlab.model import SoftmaxRegression
from sgdlab.training import checkpoint, dist, elastic, runs, state_check, stretch
from sgdlab.training.core import Core
from sgdlab.training.early_stop import EarlyStop
from sgdlab.training.lock import RunLock, describe_holder
from sgdlab.training.signals import SignalFlag

__all__ = ["train", "TrainResult"]

#: Called with each epoch's history record as soon as it is complete (an evaluation point).
EpochCallback = Callable[[dict[str, Any]], None]
#: Called after each engine call with the core and that stretch's minibatch costs (float64, (k,)).
StretchCallback = Callable[[Core, torch.Tensor], None]


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
    #: with ``early_stop``: whether the run stopped before ``epochs``, and the epoch whose
    #: weights ``model`` holds (the best validation cost)
    stopped_early: bool = False
    best_epoch: int | None = None

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
            "stopped_early": self.stopped_early,
            "best_epoch": self.best_epoch,
        }


def train(
    cfg: TrainConfig | None = None,
    /,
    *,
    data: FashionMNIST | None = None,
    data_dir: str | Path | None = None,
    checkpoints: CheckpointConfig | None = None,
    explicit: Iterable[str] | None = None,
    progress: bool = True,
    segment: int | None = None,
    callback: EpochCallback | None = None,
    on_stretch: StretchCallback | None = None,
    on_begin: Callable[[TrainResult], None] | None = None,
    **options: Any,
) -> TrainResult:
    """Train the chapter's classifier as ``cfg`` says; returns a :class:`TrainResult`.

    ``cfg`` is a :class:`~sgdlab.config.TrainConfig`; ``options`` are a shortcut for one-liners:
    fields of :class:`TrainConfig` (``train(batch_size=64, lr=0.02)``: the config built from
    them, or ``cfg`` with them replaced) and of :class:`~sgdlab.config.CheckpointConfig`
    (``checkpoint_dir``, ``checkpoint_every``, ``keep``, ``resume``), unless ``checkpoints``
    is given. Loads the data itself (``data_dir``, see :func:`sgdlab.data.load`) unless
    ``data`` is given. Per epoch the history records ``epoch``, ``steps`` (global),
    ``train_seconds`` (wall time of the updates only; evaluation, checkpoints and the progress
    bar are outside it), ``mean_minibatch_cost``, ``order_sha256`` (of the epoch's minibatch
    order), then the exact ``train_cost`` (C on all N training samples), ``train_accuracy``,
    ``test_cost``, ``test_accuracy`` and, with ``validation``, ``val_cost``, ``val_accuracy``;
    ``callback`` (if given) gets each record as soon as it is complete; ``on_stretch`` (if
    given) gets the :class:`Core` and each engine call's minibatch costs (read-only; an
    exception raised by either stops the run and propagates). ``on_begin`` (if given) is called
    once before the first step with the run as it starts: a :class:`TrainResult` holding the
    resolved config, the data provenance, ``resumed_step`` and the history restored from the
    checkpoint (empty for a new run; a log fed by ``callback`` rewrites itself from it,
    :mod:`sgdlab.training.logs`).

    The update is ``torch.optim.SGD(lr=, momentum=, nesterov=, weight_decay=)`` with dampening
    0 (see :mod:`sgdlab.optim`); the step size of global step t follows ``schedule``
    (:mod:`sgdlab.schedules`). ``average=True`` evaluates, checkpoints and finally returns the
    mean of each epoch's iterates (Polyak–Ruppert; training itself continues from the last
    iterate). ``validation=N`` holds out N training samples chosen by ``validation_seed``
    (independent of ``seed``; see :mod:`sgdlab.data.split`): the engine never sees them,
    ``data["validation"]`` records the split.

    With a checkpoint directory, a checkpoint is written every ``checkpoint_every`` steps (or
    each ``"epoch"``) and at the end, keeping the newest ``keep``; SIGTERM/SIGINT write one and
    raise :class:`TrainingInterrupted`. A new run (``resume=False``) refuses a directory that
    already holds checkpoints (:func:`sgdlab.training.runs.refuse_used_dir`). ``resume=True``
    continues from the newest valid checkpoint there (none: :class:`CheckpointError`);
    ``resume="auto"`` does the same but starts a new run when the directory has no checkpoint
    yet (what ``sgdlab train --resume DIR`` does), so the same call is safe to repeat after any
    crash. A finished run resumes to its result without training.

    On resume the checkpoint's config is used; the fields named in ``explicit`` (default: those
    whose value differs from TrainConfig's default) must agree with it, except a larger
    ``epochs``, which extends the run (see :func:`sgdlab.training.runs.reconcile`); a
    disagreement raises :class:`CheckpointError`.

    The engine runs the steps in stretches of ``segment`` steps per call, or, by default (None),
    of about 50 ms of work each (:mod:`sgdlab.training.stretch`; at least 500 steps;
    data-parallel runs: 500, the same on every rank); the result is the same bits for any
    stretch length.

    Data-parallel (a process group initialized, K ranks): every rank calls this with the same
    arguments; rank 0 picks the checkpoint every rank reads and alone writes checkpoints; full
    GD builds each rank's engine on its shard of N/K samples. Raises :class:`DistributedError`
    when a rank is lost. Raises :class:`ConfigError` for bad values,
    :class:`DivergenceError` on a non-finite cost.
    """
    asked, ck = runs.configs(cfg, checkpoints, options)
    with contextlib.ExitStack() as held:  # the checkpoint directory's lock, for the whole run
        hooks = (callback, on_stretch, on_begin)
        return _train(asked, ck, held, data, data_dir, explicit, progress, segment, hooks)


def _train(asked, ck, held, data, data_dir, explicit, progress, segment, hooks) -> TrainResult:
    asked.validate()  # bad values first (the bounds that need N: once the data is loaded)
    asked.refuse_unused(asked.non_default() if explicit is None else explicit)
    world, ckpt_dir = dist.world(), ck.checkpoint_dir
    saved, path = None, None
    if ck.resume:  # rank 0 picks the file every rank reads (None: the directory has none yet)
        checkpoint.prepare_dir(ckpt_dir)  # a clear error if it cannot be
        _lock(held, ckpt_dir, "resume", world)
        path, saved = elastic.resume_state(ckpt_dir, warn=_warn)
        if saved is None and ck.resume is True:
            raise CheckpointError(f"no checkpoint found in {ckpt_dir}")
    elif ckpt_dir is not None:
        runs.refuse_used_dir(ckpt_dir)
    cfg = asked
    if saved is not None:
        given = asked.non_default() if explicit is None else set(explicit)
        merged = runs.reconcile(
            runs.saved_config(saved), asked.to_dict(), given, done_epochs=len(saved["history"])
        )
        cfg = TrainConfig(**merged)
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
    threads = torch.get_num_threads()
    eng = engines.get_engine(cfg.engine, x, y, dev)
    if torch.get_num_threads() != threads:  # numba's start-up reset the caller's choice
        torch.set_num_threads(threads)
    if saved is not None:
        runs.check_environment(saved, ds.sha256, engine=eng.name)
    cfg = dataclasses.replace(cfg, engine=eng.name, device=str(dev))
    data_info = ds.provenance()
    if cfg.validation:
        data_info["validation"] = split
    if ckpt_dir is not None and not ck.resume:  # refused above without the lock; now under it
        checkpoint.prepare_dir(ckpt_dir)
        _lock(held, ckpt_dir, "new run", world)
        runs.refuse_used_dir(ckpt_dir)
    if ckpt_dir is not None and world.is_main:
        runs.remove_stale_temporaries(ckpt_dir)
    loop = _Loop(Core(cfg, eng, n=n, device=dev, world=world), ds, val, ck, data_info, hooks)
    if saved is not None:
        spe = loop.core.steps_per_epoch
        state_check.check(saved, cfg=cfg, n=n, steps_per_epoch=spe, path=path)
        loop.restore(saved, path)
    if hooks[2] is not None:
        hooks[2](_result(loop, data_info, saved))
    with SignalFlag(enabled=ckpt_dir is not None) as flag, quiet_torch_for(eng):
        if segment is None and world.size > 1:  # every rank must run the same stretches
            segment = stretch.FIRST
        loop.run(flag, progress and world.is_main, stretch.Stretch(segment))
    return _result(loop, data_info, saved)


def _result(loop: _Loop, data_info, saved) -> TrainResult:
    """The run as it stands (its start for ``on_begin``, its end for :func:`train`)."""
    dp, world, stop = loop.core.dp, loop.world, loop.stop
    best = stop.model(loop.core.device) if stop is not None else None
    return TrainResult(
        model=best if best is not None else loop.core.result_model(),
        history=list(loop.history),
        config=loop.cfg.to_dict(),
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
        stopped_early=loop.stopped,
        best_epoch=stop.best_epoch if stop is not None else None,
    )


def _lock(held: contextlib.ExitStack, directory, purpose: str, world: dist.World) -> None:
    """Hold ``directory``'s run lock (rank 0 alone: it alone writes) until the run ends."""
    if not world.is_main:
        return
    lock = held.enter_context(RunLock(directory, purpose=purpose))
    if lock.took_over:
        _warn(f"the last holder of {directory} ({describe_holder(lock.took_over)}) is gone")


class _Loop:
    """Epochs of a :class:`Core`: evaluation, history, checkpoints, signals, progress."""

    def __init__(self, core: Core, ds, val, ck: CheckpointConfig, data_info, hooks) -> None:
        self.core, self.cfg, self.ds, self.val = core, core.cfg, ds, val
        self.ck, self.data_info, (self.callback, self.on_stretch, _) = ck, data_info, hooks
        self.history: list[dict[str, Any]] = []
        self.last_checkpoint: Path | None = None
        self.world = core.world
        self.env = {**environment(core.device), "world_size": self.world.size}
        self.stop = EarlyStop(self.cfg.early_stop) if self.cfg.early_stop else None
        self.writer = None  # rank 0 alone writes checkpoints
        if ck.checkpoint_dir is not None and self.world.is_main:
            self.writer = checkpoint.Writer(ck.checkpoint_dir, keep=ck.keep)

    def state(self) -> dict[str, Any]:
        cfg = self.cfg
        return {
            "format": 1,
            **self.core.state_dict(),
            "history": list(self.history),
            **({"early_stop": self.stop.state_dict()} if self.stop is not None else {}),
            "config": cfg.to_dict(),
            "provenance": {
                **self.env,
                "seed": cfg.seed,
                "engine": cfg.engine,
                "data": self.data_info,
            },
        }

    def restore(self, s: dict[str, Any], path: Path | None) -> None:
        self.core.load_state_dict(s)
        self.history = list(s["history"])
        self.last_checkpoint = path
        if self.stop is not None:
            self.stop.load_state_dict(s["early_stop"])

    @property
    def stopped(self) -> bool:
        """Early stopping ended the run."""
        return self.stop is not None and self.stop.stopped

    def save(self) -> None:
        """Snapshot the state and hand it to the background writer (returns at once)."""
        step = self.core.step
        if self.writer is not None:
            self.last_checkpoint = self.writer.submit(self.state(), step=step)
        elif self.ck.checkpoint_dir is not None:  # the name rank 0 writes
            self.last_checkpoint = Path(self.ck.checkpoint_dir) / f"ckpt-{step:010d}.sgdlab"
        dist.barrier()  # no rank runs on past a checkpoint before rank 0 has taken it

    def run(self, flag: SignalFlag, progress: bool, segment: stretch.Stretch) -> None:
        core, cfg, every = self.core, self.cfg, self.ck.checkpoint_every
        bar = _progress(progress, core.total_steps, core.step)
        try:
            while len(self.history) < cfg.epochs and not self.stopped:
                k = segment.steps
                if isinstance(every, int):  # stop on checkpoint boundaries (global steps)
                    k = min(k, every - core.step % every)
                c = core.advance(k)
                if self.on_stretch is not None:
                    self.on_stretch(core, c)
                if cfg.method == "sgd":
                    segment.record(len(c), core.last_seconds)
                if bar is not None:
                    bar.update(len(c))
                done_epoch, saved = core.epoch_done, False
                if done_epoch:
                    self._end_epoch(bar)
                due = isinstance(every, int) and core.step % every == 0
                final = len(self.history) == cfg.epochs or self.stopped
                if due or final or (done_epoch and every == "epoch"):
                    self.save()
                    saved = True
                if dist.any_rank(flag.signum is not None):  # every rank stops at the same step
                    if not saved:
                        self.save()
                    self._interrupted(flag.signum or signal.SIGTERM)
        finally:
            if bar is not None:
                bar.close()
            if self.writer is not None:
                self.writer.close()

    def _interrupted(self, signum: int) -> None:
        if self.writer is not None:
            self.writer.close()  # the checkpoint is on disk before we report it
        name = signal.Signals(signum).name
        raise TrainingInterrupted(
            f"stopped by {name} at step {self.core.step}; checkpoint {self.last_checkpoint}"
            f"; resume with: sgdlab train --resume {self.ck.checkpoint_dir}",
            signum,
        )

    def _end_epoch(self, bar) -> None:
        ds, core = self.ds, self.core
        model = core.result_model()
        rec = core.end_epoch()
        on_cpu = core.device.type == "cpu"  # standardized once per data set, not every epoch
        train_x = ds.standardized("train") if on_cpu else ds.train_images
        test_x = ds.standardized("test") if on_cpu else ds.test_images
        train_cost, train_acc = core.dp.evaluate(model, train_x, ds.train_labels)
        test_cost, test_acc = core.dp.evaluate(model, test_x, ds.test_labels)
        rec.update(
            train_cost=train_cost,
            train_accuracy=train_acc,
            test_cost=test_cost,
            test_accuracy=test_acc,
        )
        if self.cfg.validation:
            val_cost, val_acc = core.dp.evaluate(model, *self.val)
            rec.update(val_cost=val_cost, val_accuracy=val_acc)
        self.history.append(rec)
        if self.stop is not None:
            self.stop.update(rec, model)
        if bar is not None:
            bar.set_postfix(epoch=len(self.history), test_acc=f"{test_acc:.4f}")
        if self.callback is not None:
            self.callback(rec)


def _load_data(data: FashionMNIST | None, data_dir) -> FashionMNIST:
    if data is not None:
        return data
    from sgdlab.data import load

    return load(data_dir)


def _warn(msg: str) -> None:
    import sys

    print(f"sgdlab: {msg}", file=sys.stderr)


def _progress(enabled: bool, total: int, initial: int):
    if not enabled:
        return None
    from sgdlab.progress import bar

    return bar(total=total, initial=initial, unit="step", desc="training")
