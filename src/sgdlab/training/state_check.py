"""A checkpoint's content checked against its run before anything is restored from it.

:func:`sgdlab.training.checkpoint.load` verifies the file (header, SHA-256, unpickling without
code, weight shapes). A file can pass all that and still hold nonsense: written by a buggy or
hostile tool that computed a valid hash, or by hand. :func:`check` compares every field a
resume reads with what the run's config and data allow, so a bad field is one line naming it
(:class:`~sgdlab.errors.CheckpointError`, exit 2), never a traceback from deep inside the
sampler or the optimizer, and never a run that silently continues from an impossible state
(a step beyond the run's last, say, whose later checkpoints would sort wrongly).
"""

from __future__ import annotations

import math
import numbers
from pathlib import Path
from typing import Any

import torch

from sgdlab.errors import CheckpointError
from sgdlab.optim import OptimState
from sgdlab.training import early_stop

#: Every history record has these (``val_cost``/``val_accuracy`` too with a validation split).
RECORD_FIELDS = (
    "epoch",
    "steps",
    "train_seconds",
    "mean_minibatch_cost",
    "order_sha256",
    "train_cost",
    "train_accuracy",
    "test_cost",
    "test_accuracy",
)


class _Bad(Exception):
    def __init__(self, field: str, why: str) -> None:
        super().__init__(f"{field}: {why}")


def check(state: dict[str, Any], *, cfg: Any, n: int, steps_per_epoch: int, path: Path) -> None:
    """Raise :class:`CheckpointError` ``"PATH: bad field F: why"`` unless ``state`` (a loaded
    checkpoint) is a state the run ``cfg`` (a :class:`~sgdlab.config.TrainConfig`, after
    resume's reconciliation) on ``n`` training samples can be in. ``steps_per_epoch`` is the
    run's (1 for full GD)."""
    try:
        _check(state, cfg, n, steps_per_epoch)
    except _Bad as e:
        raise CheckpointError(f"{path}: bad field {e}; the checkpoint cannot be resumed") from None


def _check(s: dict[str, Any], cfg: Any, n: int, spe: int) -> None:
    total = cfg.epochs * spe
    step = _int(s, "step", 0, total)
    epoch = _int(s, "epoch", 0, cfg.epochs)
    history = s["history"]
    if not isinstance(history, list):
        raise _Bad("history", "must be a list of the finished epochs' records")
    if len(history) != epoch:
        raise _Bad("epoch", f"{epoch}, but the history holds {len(history)} epochs")
    sgd = cfg.method == "sgd"
    sampler = _sampler(s.get("sampler"), cfg, n, spe, epoch if sgd else 0)
    inside = sampler["batch"] if sgd else 0  # steps done in the unfinished epoch
    if step != epoch * spe + inside:
        raise _Bad("step", f"{step} does not match epoch {epoch} and minibatch {inside}")
    costs = s.get("epoch_costs")
    if not (isinstance(costs, torch.Tensor) and costs.dtype == torch.float64 and costs.ndim == 1):
        raise _Bad("epoch_costs", "must be a float64 vector")
    if len(costs) != inside or not bool(torch.isfinite(costs).all()):
        raise _Bad("epoch_costs", f"must hold {inside} finite minibatch costs")
    seconds = s.get("epoch_seconds")
    if not _real(seconds) or seconds < 0:
        raise _Bad("epoch_seconds", "must be a finite number of seconds ≥ 0")
    _bytes_state(s.get("torch_rng"), "torch_rng")
    _optim(s, spe)
    for i, rec in enumerate(history):
        _record(rec, i, spe, bool(cfg.validation))
    if cfg.early_stop:
        why = early_stop.check(s.get("early_stop"), history, cfg.early_stop)
        if why:
            raise _Bad("early_stop", why)


def _int(s: dict[str, Any], key: str, lo: int, hi: int) -> int:
    v = s.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise _Bad(key, f"{v!r} is not an integer in [{lo}, {hi}] for this run")
    return v


def _real(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def _bytes_state(t: Any, name: str) -> None:
    want = torch.get_rng_state().shape
    if not (isinstance(t, torch.Tensor) and t.dtype == torch.uint8 and t.shape == want):
        raise _Bad(name, f"is not a generator state (a uint8 tensor of shape {tuple(want)})")


def _sampler(sm: Any, cfg: Any, n: int, spe: int, epoch: int) -> dict[str, Any]:
    if not isinstance(sm, dict):
        raise _Bad("sampler", "must be the sampler's state dict")
    expect = {"n": n, "batch_size": cfg.batch_size, "drop_last": cfg.drop_last, "epoch": epoch}
    for key, want in expect.items():
        if sm.get(key) != want or isinstance(sm.get(key), float):
            raise _Bad(f"sampler.{key}", f"{sm.get(key)!r}, but this run needs {want!r}")
    batch = sm.get("batch")
    if isinstance(batch, bool) or not isinstance(batch, int) or not 0 <= batch < max(spe, 1):
        raise _Bad("sampler.batch", f"{batch!r} is not a minibatch index in [0, {spe})")
    _bytes_state(sm.get("generator_state"), "sampler.generator_state")
    inner = sm.get("epoch_generator_state")
    if inner is not None or (cfg.method == "sgd" and batch > 0):
        _bytes_state(inner, "sampler.epoch_generator_state")
    return sm


def _optim(s: dict[str, Any], spe: int) -> None:
    o = s.get("optim")
    if o is None:  # written before momentum existed: a fresh state
        return
    if not isinstance(o, dict):
        raise _Bad("optim", "must be the optimizer's state dict")
    try:
        st = OptimState.from_state_dict(o)
    except (KeyError, TypeError, ValueError) as e:
        raise _Bad("optim", str(e).strip("'") or type(e).__name__) from None
    for name in ("buf_w", "buf_b", "avg_w", "avg_b"):
        if not bool(torch.isfinite(getattr(st, name)).all()):
            raise _Bad(f"optim.{name}", "is not finite")
    count = o.get("avg_count")
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= spe:
        raise _Bad("optim.avg_count", f"{count!r} is not a step count in [0, {spe}]")
    for key, shape in (("average_weight", (10, 784)), ("average_bias", (10,))):
        t = s.get(key)
        if t is not None and not (
            isinstance(t, torch.Tensor) and t.shape == shape and bool(torch.isfinite(t).all())
        ):
            raise _Bad(key, f"is not a finite {shape} tensor")


def _record(rec: Any, i: int, spe: int, validation: bool) -> None:
    where = f"history[{i}]"
    need = RECORD_FIELDS + (("val_cost", "val_accuracy") if validation else ())
    if not isinstance(rec, dict) or any(k not in rec for k in need):
        raise _Bad(where, f"must be a record with {', '.join(need)}")
    if rec["epoch"] != i + 1 or rec["steps"] != (i + 1) * spe:
        raise _Bad(where, f"epoch {rec['epoch']!r}, steps {rec['steps']!r} out of sequence")
    for key in need[2:]:
        if key == "order_sha256":
            v = rec[key]
            if v is not None and not (isinstance(v, str) and len(v) <= 64):
                raise _Bad(f"{where}.{key}", "must be a hex digest or null")
            continue
        v = rec[key]
        if not _real(v) or v < 0 or (key.endswith("accuracy") and v > 1):
            raise _Bad(f"{where}.{key}", f"{v!r} is not a valid value")
