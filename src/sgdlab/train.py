"""Training: epochs of minibatch SGD (or full GD) with per-epoch evaluation and a history.

>>> from sgdlab.data import load_sample
>>> run = train(batch_size=16, epochs=1, lr=0.005, seed=0, data=load_sample(), progress=False)
>>> sorted(run.history[0])[:4]
['epoch', 'mean_minibatch_cost', 'steps', 'test_accuracy']
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from . import engines
from .data import FashionMNIST
from .errors import ConfigError, DivergenceError
from .model import SoftmaxRegression, evaluate
from .provenance import environment
from .sampler import MinibatchSampler

METHODS = ("sgd", "gd")


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
        def is_int(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        if not is_int(self.batch_size) or not 1 <= self.batch_size <= n:
            raise ConfigError(f"batch size must be an integer in 1..{n}, got {self.batch_size!r}")
        if not is_int(self.epochs) or self.epochs < 1:
            raise ConfigError(f"epochs must be an integer ≥ 1, got {self.epochs!r}")
        if not isinstance(self.lr, (int, float)) or not math.isfinite(self.lr) or self.lr <= 0:
            raise ConfigError(f"learning rate must be finite and > 0, got {self.lr!r}")
        if not is_int(self.seed) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {self.seed!r}")
        if self.method not in METHODS:
            raise ConfigError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.init not in ("zeros", "uniform"):
            raise ConfigError(f"init must be 'zeros' or 'uniform', got {self.init!r}")


@dataclass
class TrainResult:
    """The trained model, one dict per epoch, the resolved config and where it ran."""

    model: SoftmaxRegression
    history: list[dict[str, Any]]
    config: dict[str, Any]
    environment: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: config, environment, data provenance and history (no weights)."""
        return {"config": self.config, "environment": self.environment, "data": self.data,
                "history": self.history}  # fmt: skip


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> cuda when available, else cpu; refuse cuda when there is none."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ConfigError(f"unknown device {device!r}; use cpu, cuda or auto") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda requested but no CUDA GPU is available")
    return dev


def _load_data(data: FashionMNIST | None, data_dir) -> FashionMNIST:
    if data is not None:
        return data
    from .data import load

    return load(data_dir)


def train(*, batch_size: int = 16, epochs: int = 5, lr: float = 0.005, seed: int = 0,
          method: str = "sgd", engine: str = "auto", device: str = "auto", init: str = "zeros",
          drop_last: bool = False, data_dir: str | None = None, data: FashionMNIST | None = None,
          progress: bool = True, segment: int = 500) -> TrainResult:  # fmt: skip
    """Train the chapter's classifier; returns a :class:`TrainResult`.

    Loads the data itself (``data_dir``, see :func:`sgdlab.data.load`) unless ``data`` is given.
    All randomness comes from one ``torch.Generator`` seeded with ``seed``: the init (if
    ``init="uniform"``) and then one permutation per epoch. Per epoch the history records
    ``epoch``, ``steps``, ``train_seconds`` (wall time of the updates only; evaluation and the
    progress bar's drawing are outside it), ``mean_minibatch_cost`` (mean cost before each
    step), and after the epoch the exact ``train_cost`` (C on all N) and ``test_cost``,
    ``train_accuracy``, ``test_accuracy``. Raises :class:`ConfigError` for bad values and
    :class:`DivergenceError` when the cost stops being finite.
    """
    ds = _load_data(data, data_dir)
    cfg = TrainConfig(batch_size=batch_size, epochs=epochs, lr=lr, seed=seed, method=method,
                      engine=engine, device=str(device), init=init, drop_last=drop_last)  # fmt: skip
    n = ds.train_images.shape[0]
    cfg.validate(n)
    dev = resolve_device(cfg.device)
    eng = engines.get_engine(cfg.engine, ds.train_images, ds.train_labels, dev)
    cfg = TrainConfig(**{**asdict(cfg), "engine": eng.name, "device": str(dev)})

    gen = torch.Generator().manual_seed(seed)
    model = SoftmaxRegression(init=init, generator=gen).to(dev)
    sampler = MinibatchSampler(n, batch_size, generator=gen, drop_last=drop_last)
    steps_per_epoch = len(sampler) if method == "sgd" else 1
    history: list[dict[str, Any]] = []
    bar = _progress(progress, epochs * steps_per_epoch)
    step = 0
    for epoch in range(1, epochs + 1):
        seconds, costs = 0.0, []
        while True:  # segments of the epoch, so the progress bar moves
            t0 = time.perf_counter()
            if method == "sgd":
                perm, start = sampler.permutation(), sampler.batch
                stop = min(start + segment, len(sampler))
                c = eng.sgd_steps(model, perm, batch_size, lr, start, stop)
                sampler.advance(stop - start)
            else:
                c = torch.tensor([eng.gd_step(model, lr)], dtype=torch.float64)
            eng.synchronize()
            seconds += time.perf_counter() - t0
            _check_finite(c, step, epoch, lr, model)
            costs.append(c)
            step += len(c)
            if bar is not None:
                bar.update(len(c))
            if method == "gd" or sampler.batch == 0:
                break
        train_cost, train_acc = evaluate(model, ds.train_images, ds.train_labels)
        test_cost, test_acc = evaluate(model, ds.test_images, ds.test_labels)
        row = {"epoch": epoch, "steps": step, "train_seconds": seconds,
               "mean_minibatch_cost": torch.cat(costs).mean().item(),
               "train_cost": train_cost, "train_accuracy": train_acc,
               "test_cost": test_cost, "test_accuracy": test_acc}  # fmt: skip
        history.append(row)
        if bar is not None:
            bar.set_postfix(epoch=epoch, test_acc=f"{test_acc:.4f}")
    if bar is not None:
        bar.close()
    return TrainResult(model=model, history=history, config=asdict(cfg),
                       environment=environment(dev),
                       data={"source": ds.source, "is_sample": ds.is_sample,
                             "n_train": n, "n_test": ds.test_images.shape[0],
                             "sha256": ds.sha256})  # fmt: skip


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


def _progress(enabled: bool, total: int):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="step", desc="training", leave=False, dynamic_ncols=True)
