"""The interface every engine implements (see :mod:`sgdlab.engines`)."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from ..model import SoftmaxRegression


class Engine(ABC):
    """Holds the training set on ``device``; runs SGD steps and full gradients in place."""

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
    def sgd_steps(self, model: SoftmaxRegression, perm: torch.Tensor, batch_size: int,
                  lr: float, start: int, stop: int) -> torch.Tensor: ...  # fmt: skip

    @abstractmethod
    def full_gradient(self, model: SoftmaxRegression) -> tuple[float, torch.Tensor, torch.Tensor]:
        ...

    @abstractmethod
    def minibatch_gradient(self, model: SoftmaxRegression, idx: torch.Tensor,
                           ) -> tuple[float, torch.Tensor, torch.Tensor]:  # fmt: skip
        """Sums over the samples ``idx`` (int64 (B,), B ≥ 0) at the model's weights, no update:
        (Σ H in nats (float), Σ ∂H/∂W float32 (10,784), Σ ∂H/∂b float32 (10,)).

        Sums, not means, so the shares of one minibatch combine exactly by addition (the
        data-parallel path, :mod:`sgdlab.data_parallel`); an empty ``idx`` gives zeros.
        """

    def gd_step(self, model: SoftmaxRegression, lr: float) -> float:
        c, gw, gb = self.full_gradient(model)
        with torch.no_grad():
            model.z.weight -= lr * gw
            model.z.bias -= lr * gb
        return c

    def synchronize(self) -> None:
        """Wait for queued device work (a no-op on CPU); call before reading a clock."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
