"""The optimizer: ``torch.optim.SGD`` (dampening 0) plus Polyak–Ruppert averaging, as small
engine-agnostic state (the optax init/update pattern).

:class:`SGDHyper` holds the fixed hyperparameters, :class:`OptimState` what changes from step to
step and goes into checkpoints; the per-step learning rate comes from :mod:`sgdlab.schedules`.
One step with gradient g (of C on the minibatch; both ``z.weight`` and ``z.bias``, as PyTorch
does with one parameter group), learning rate α_t, momentum μ, weight decay λ:

    g ← g + λ·p                     (if λ ≠ 0)
    v ← μ·v + g                     (if μ ≠ 0; v starts at 0, so the first v is g exactly)
    g ← g + μ·v  if nesterov  else  g ← v
    p ← p − α_t·g

All in float32, like PyTorch's update of float32 parameters. With ``average``, the iterates
after every step of the current epoch are summed in float64 (``avg_w`` (10,784), ``avg_b``
(10,), ``avg_count``); :meth:`OptimState.average` is their mean, which the training loop
evaluates at the end of each epoch and returns after the last one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from sgdlab.model import N_CLASSES, N_PIXELS


@dataclass(frozen=True)
class SGDHyper:
    """Fixed hyperparameters of the update: μ (momentum ≥ 0), nesterov, λ (weight decay ≥ 0),
    and whether the iterates are averaged."""

    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    average: bool = False

    @property
    def plain(self) -> bool:
        """True for the chapter's update p ← p − α·g (no momentum, no decay)."""
        return self.momentum == 0 and self.weight_decay == 0


def _zeros(*shape: int, dtype=torch.float32) -> torch.Tensor:
    return torch.zeros(*shape, dtype=dtype)


@dataclass
class OptimState:
    """Mutable, CPU, contiguous: ``buf_w`` (10,784) / ``buf_b`` (10,) float32 momentum buffers;
    ``avg_w`` (10,784) / ``avg_b`` (10,) float64 sums of the epoch's iterates, ``avg_count``."""

    buf_w: torch.Tensor = field(default_factory=lambda: _zeros(N_CLASSES, N_PIXELS))
    buf_b: torch.Tensor = field(default_factory=lambda: _zeros(N_CLASSES))
    avg_w: torch.Tensor = field(
        default_factory=lambda: _zeros(N_CLASSES, N_PIXELS, dtype=torch.float64)
    )
    avg_b: torch.Tensor = field(default_factory=lambda: _zeros(N_CLASSES, dtype=torch.float64))
    avg_count: int = 0

    def reset_average(self) -> None:
        """Start a new averaging window (the training loop calls this at each epoch start)."""
        self.avg_w.zero_()
        self.avg_b.zero_()
        self.avg_count = 0

    def average(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The mean iterate of the window: float32 (10,784), (10,). Needs ``avg_count`` ≥ 1."""
        if self.avg_count < 1:
            raise ValueError("no iterate has been averaged yet")
        return (self.avg_w / self.avg_count).float(), (self.avg_b / self.avg_count).float()

    def state_dict(self) -> dict[str, Any]:
        """Tensors (cloned) and an int: loads with ``torch.load(weights_only=True)``."""
        return {
            "buf_w": self.buf_w.clone(),
            "buf_b": self.buf_b.clone(),
            "avg_w": self.avg_w.clone(),
            "avg_b": self.avg_b.clone(),
            "avg_count": int(self.avg_count),
        }

    @classmethod
    def from_state_dict(cls, s: dict[str, Any]) -> OptimState:
        shapes = {
            "buf_w": ((N_CLASSES, N_PIXELS), torch.float32),
            "buf_b": ((N_CLASSES,), torch.float32),
            "avg_w": ((N_CLASSES, N_PIXELS), torch.float64),
            "avg_b": ((N_CLASSES,), torch.float64),
        }
        for k, (shape, dtype) in shapes.items():
            t = s[k]
            if not (isinstance(t, torch.Tensor) and t.shape == shape and t.dtype == dtype):
                raise ValueError(f"optimizer state {k} is not a {dtype} {shape} tensor")
        return cls(**{k: s[k].clone().contiguous() for k in shapes}, avg_count=int(s["avg_count"]))


def init() -> OptimState:
    """A fresh state: zero momentum buffers, an empty average."""
    return OptimState()


@torch.no_grad()
def update(
    w: torch.Tensor,
    b: torch.Tensor,
    gw: torch.Tensor,
    gb: torch.Tensor,
    lr,
    hyper: SGDHyper,
    state: OptimState | None,
) -> None:
    """One step in place on ``w`` (10,784), ``b`` (10,) float32 from gradients ``gw``, ``gb``.

    ``lr``: a float or a float32 0-dim tensor on the weights' device. ``state`` (needed for
    momentum or averaging) must live on the weights' device; ``torch.optim.SGD``'s order of
    operations, so the result matches it to rounding. Averaging is separate (:func:`accumulate`).
    """
    for p, g, buf in (
        (w, gw, None if state is None else state.buf_w),
        (b, gb, None if state is None else state.buf_b),
    ):
        if hyper.weight_decay != 0:
            g = g.add(p, alpha=hyper.weight_decay)
        if hyper.momentum != 0:
            buf.mul_(hyper.momentum).add_(g)
            g = g.add(buf, alpha=hyper.momentum) if hyper.nesterov else buf
        if isinstance(lr, torch.Tensor):
            p.sub_(g * lr)
        else:
            p.add_(g, alpha=-lr)


@torch.no_grad()
def accumulate(w: torch.Tensor, b: torch.Tensor, state: OptimState) -> None:
    """Add the iterate (w, b) to the average's float64 sums."""
    state.avg_w.add_(w.to(state.avg_w.device, torch.float64))
    state.avg_b.add_(b.to(state.avg_b.device, torch.float64))
    state.avg_count += 1


@torch.no_grad()
def apply_gradient(
    model, gw: torch.Tensor, gb: torch.Tensor, lr: float, hyper: SGDHyper, state: OptimState | None
) -> None:
    """One step of ``model`` (a :class:`~sgdlab.model.SoftmaxRegression`) in place from the
    minibatch (or full) gradient ``gw`` (10,784), ``gb`` (10,) float32, then the iterate joins
    the average when ``hyper.average``: the one update of full-gradient steps (every engine's
    ``gd_step``) and of data-parallel SGD. Plain SGD is (W, b) ← (W, b) − lr·(gw, gb);
    otherwise :func:`update` with ``state`` (CPU; copied to the weights' device and back)."""
    w, b = model.z.weight, model.z.bias
    gw, gb = gw.to(w.device), gb.to(w.device)
    if hyper.plain:
        w -= lr * gw
        b -= lr * gb
    else:
        dev = _on(state, w.device) if hyper.momentum != 0 else None
        update(w, b, gw, gb, float(lr), hyper, dev)
        if dev is not None and dev is not state:
            state.buf_w.copy_(dev.buf_w)
            state.buf_b.copy_(dev.buf_b)
    if hyper.average:
        accumulate(w, b, state)


def _on(state: OptimState, device: torch.device) -> OptimState:
    """``state`` itself on the CPU, else a copy of its momentum buffers on ``device``."""
    if device.type == "cpu":
        return state
    return OptimState(buf_w=state.buf_w.to(device), buf_b=state.buf_b.to(device))
