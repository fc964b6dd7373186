"""Learning-rate schedules: the step size α_t of global step t (0-based, counted across epochs).

Pure functions, no engine involved: the training loop asks for the values of a stretch of steps
(:func:`lrs`) and hands them to the engine as one float64 tensor, so a compiled engine still
runs the whole stretch in one call.

>>> lrs(0, 4, lr=0.1, schedule="inverse", total_steps=4, t0=2).tolist()
[0.1, 0.06666666666666667, 0.05, 0.04]

- ``constant``: α_t = α.
- ``step``: α_t = α·γ^⌊t / (step_epochs·steps_per_epoch)⌋ (``StepLR`` stepped once per epoch).
- ``cosine``: α_t = α·(1 + cos(π·t/T))/2 with T = ``total_steps``: PyTorch's
  ``CosineAnnealingLR(T_max=T, eta_min=0)`` stepped after every step (its recursive form agrees
  with this closed form to ~1e-15 relative). The last step has α_{T−1} > 0.
- ``inverse``: α_t = α/(1 + t/t0) (t0 in steps).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

SCHEDULES = ("constant", "step", "cosine", "inverse")


def lrs(
    start: int,
    stop: int,
    *,
    lr: float,
    schedule: str = "constant",
    total_steps: int = 1,
    steps_per_epoch: int = 1,
    gamma: float = 0.1,
    step_epochs: int = 1,
    t0: float = 1000.0,
) -> torch.Tensor:
    """α_t for the global steps t = start..stop-1: float64 (stop-start,).

    ``total_steps`` (T, the run's number of steps) is used by ``cosine`` only;
    ``steps_per_epoch``, ``gamma``, ``step_epochs`` by ``step``; ``t0`` by ``inverse``.
    """
    import torch

    if not 0 <= start <= stop:
        raise ValueError(f"steps {start}..{stop} are not a stretch")
    t = torch.arange(start, stop, dtype=torch.float64)  # (K,)
    if schedule == "constant":
        return torch.full_like(t, float(lr))
    if schedule == "step":
        k = torch.div(t, step_epochs * steps_per_epoch, rounding_mode="floor")
        return lr * torch.pow(torch.full_like(t, float(gamma)), k)
    if schedule == "cosine":
        return lr * (1 + torch.cos(math.pi * t / total_steps)) / 2
    if schedule == "inverse":
        return lr / (1 + t / t0)
    raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
