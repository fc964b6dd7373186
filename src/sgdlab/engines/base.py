"""The interface every engine implements (see :mod:`sgdlab.engines`)."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from sgdlab.model import SoftmaxRegression
from sgdlab.optim import OptimState, SGDHyper, apply_gradient

PLAIN = SGDHyper()


def as_lrs(lr: float | torch.Tensor, k: int) -> torch.Tensor:
    """The per-step learning rates of a stretch of ``k`` steps: float64 (k,) on the CPU.

    ``lr`` is one float (every step) or a tensor (k,) from :func:`sgdlab.schedules.lrs`.
    """
    if isinstance(lr, torch.Tensor):
        lrs = lr.detach().to("cpu", torch.float64).reshape(-1)
        if lrs.shape != (k,):
            raise ValueError(f"{k} steps need {k} learning rates, got {tuple(lr.shape)}")
        return lrs
    return torch.full((k,), float(lr), dtype=torch.float64)


def check_state(hyper: SGDHyper, state: OptimState | None) -> SGDHyper:
    """``hyper`` (default: plain SGD); refuses momentum or averaging without a state."""
    hyper = PLAIN if hyper is None else hyper
    if state is None and (hyper.momentum != 0 or hyper.average):
        raise ValueError("momentum and averaging need an OptimState (sgdlab.optim.init())")
    return hyper


class Engine(ABC):
    """Holds the training set on ``device``; runs SGD steps and full gradients in place.

    ``sgd_steps(model, perm, batch_size, lr, start, stop, *, hyper=None, state=None)`` runs
    minibatches ``start..stop-1`` of the epoch permutation ``perm`` (int64 (N,)) with the
    learning rates ``lr`` (a float, or float64 (stop-start,) per step), the update
    ``hyper`` (:class:`~sgdlab.optim.SGDHyper`, default plain SGD) and the optimizer ``state``
    (:class:`~sgdlab.optim.OptimState`, CPU, updated in place: momentum buffers, and the sums of
    the iterates when ``hyper.average``). Returns the cost before each step, float64 (stop-start,).
    """

    name: str = "?"

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, *, device: torch.device):
        if images.dtype != torch.uint8 or images.shape[1:] not in ((28, 28), (784,)):
            raise ValueError("engines take uint8 images (N,28,28) or (N,784)")
        if labels.shape != (images.shape[0],):
            raise ValueError(f"labels shape {tuple(labels.shape)} != ({images.shape[0]},)")
        self.device = torch.device(device)
        self.images = images.reshape(-1, 784).to(self.device)  # (N,784) uint8
        self.labels = labels.to(self.device, torch.int64)  # (N,)
        self.n = images.shape[0]

    @classmethod
    def available(cls, device: torch.device) -> bool:
        return True

    @abstractmethod
    def sgd_steps(
        self,
        model: SoftmaxRegression,
        perm: torch.Tensor,
        batch_size: int,
        lr: float | torch.Tensor,
        start: int,
        stop: int,
        *,
        hyper: SGDHyper | None = None,
        state: OptimState | None = None,
    ) -> torch.Tensor: ...

    @abstractmethod
    def full_gradient(
        self, model: SoftmaxRegression
    ) -> tuple[float, torch.Tensor, torch.Tensor]: ...

    @abstractmethod
    def minibatch_gradient(
        self,
        model: SoftmaxRegression,
        idx: torch.Tensor,
    ) -> tuple[float, torch.Tensor, torch.Tensor]:
        """Sums over the samples ``idx`` (int64 (B,), B ≥ 0) at the model's weights, no update:
        (Σ H in nats (float), Σ ∂H/∂W float32 (10,784), Σ ∂H/∂b float32 (10,)).

        Sums, not means, so the shares of one minibatch combine exactly by addition (the
        data-parallel path, :mod:`sgdlab.training.data_parallel`); an empty ``idx`` gives zeros.
        """

    def gd_step(
        self,
        model: SoftmaxRegression,
        lr: float,
        *,
        hyper: SGDHyper | None = None,
        state: OptimState | None = None,
    ) -> float:
        """One full-gradient step with the same update as ``sgd_steps``
        (:func:`sgdlab.optim.apply_gradient`); returns C before it."""
        hyper = check_state(hyper, state)
        c, gw, gb = self.full_gradient(model)
        apply_gradient(model, gw, gb, lr, hyper, state)
        return c

    def synchronize(self) -> None:
        """Wait for queued device work (a no-op on CPU); call before reading a clock."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
