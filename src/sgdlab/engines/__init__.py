"""Engines: interchangeable implementations of the two inner loops of training.

An engine holds the training set (uint8 images (N,28,28), int64 labels (N,)) on its device and
runs, on a :class:`~sgdlab.model.SoftmaxRegression` whose weights it updates in place:

- ``sgd_steps(model, perm, batch_size, lr, start, stop, *, hyper=None, state=None)``:
  minibatches ``start..stop-1`` of the epoch permutation ``perm`` (int64 (N,)); minibatch i is
  ``perm[i*b:(i+1)*b]``. ``lr`` is one float or the per-step learning rates, float64
  (stop-start,) from :func:`sgdlab.schedules.lrs` (schedules live outside the engines);
  ``hyper`` (:class:`sgdlab.optim.SGDHyper`: momentum, nesterov, weight decay, average) says
  which update, ``state`` (:class:`sgdlab.optim.OptimState`, CPU) holds the momentum buffers and
  the sums of the averaged iterates and is updated in place. Every engine's update is
  ``torch.optim.SGD``'s (dampening 0). Returns the cost before each step, float64 (stop-start,).
- ``minibatch_gradient(model, idx)``: (Σ H, Σ ∂H/∂W, Σ ∂H/∂b) over the samples ``idx``, no
  update: the gradient of one rank's share of a minibatch in data-parallel runs.
- ``full_gradient(model)``: (C, ∂C/∂W (10,784), ∂C/∂b (10,)) over all N samples.
- ``gd_step(model, lr, *, hyper=None, state=None)``: one full-gradient step with the same
  update; returns C before it.

``reference`` (plain autograd, :mod:`sgdlab.steps`) defines what is correct; every other engine
is tested against it on the same inputs and minibatch order. ``fast`` (:mod:`.fast`, CPU
only, numba) runs a whole stretch of steps in one compiled call; ``torch`` (:mod:`.torch_fused`,
any device) uses batched analytic gradients and, on CUDA, graphs of many steps. ``auto`` picks
``fast`` on the CPU (``torch`` without numba) and ``torch`` on CUDA.
"""

from __future__ import annotations

import torch

from sgdlab.engines.base import Engine
from sgdlab.engines.reference import ReferenceEngine
from sgdlab.errors import ConfigError

# name -> (module, class). Optional engines are imported lazily (numba, CUDA).
_REGISTRY: dict[str, tuple[str, str]] = {
    "reference": ("sgdlab.engines.reference", "ReferenceEngine"),
    "fast": ("sgdlab.engines.fast.engine", "NumbaEngine"),
    "torch": ("sgdlab.engines.torch_fused", "TorchEngine"),
}
#: Preference order for ``engine="auto"`` (first available wins).
#: ``fast`` (numba) on CPU, ``torch`` (CUDA graphs) on CUDA; ``fast`` is CPU-only.
AUTO_ORDER: tuple[str, ...] = ("fast", "torch", "reference")


def engine_names() -> list[str]:
    return list(_REGISTRY)


def _engine_class(name: str) -> type[Engine]:
    import importlib

    if name not in _REGISTRY:
        raise ConfigError(f"unknown engine {name!r}; choose from {', '.join(_REGISTRY)} or auto")
    module, cls = _REGISTRY[name]
    return getattr(importlib.import_module(module), cls)


def available(name: str, device: torch.device) -> bool:
    """Whether engine ``name`` can run on ``device`` here (its dependencies are installed)."""
    return _engine_class(name).available(device)


def resolve(name: str, device: torch.device) -> str:
    """Turn ``"auto"`` into the fastest available engine's name; check an explicit one."""
    if name == "auto":
        return next(n for n in AUTO_ORDER if available(n, device))
    if not available(name, device):
        raise ConfigError(f"engine {name!r} is not available on {device.type} here")
    return name


def get_engine(
    name: str, images: torch.Tensor, labels: torch.Tensor, device: torch.device | str = "cpu"
) -> Engine:
    """Build engine ``name`` (or ``"auto"``) holding the training set on ``device``."""
    device = torch.device(device)
    return _engine_class(resolve(name, device))(images, labels, device=device)


__all__ = ["Engine", "ReferenceEngine", "engine_names", "get_engine", "resolve", "available"]
