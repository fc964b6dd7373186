"""The reference engine: plain PyTorch autograd, one :func:`~sgdlab.steps.sgd_step` per batch."""

from __future__ import annotations

import torch

from ..model import SoftmaxRegression
from ..steps import full_gradient, gradient_sum, sgd_step
from .base import Engine


class ReferenceEngine(Engine):
    """Autograd on every minibatch: the definition of correct, and the slowest engine."""

    name = "reference"

    def sgd_steps(self, model: SoftmaxRegression, perm: torch.Tensor, batch_size: int,
                  lr: float, start: int, stop: int) -> torch.Tensor:  # fmt: skip
        costs = torch.empty(stop - start, dtype=torch.float64)
        perm = perm.to(self.device)
        for k, i in enumerate(range(start, stop)):
            idx = perm[i * batch_size : (i + 1) * batch_size]  # (B,)
            costs[k] = sgd_step(model, self.images[idx], self.labels[idx], lr=lr)
        return costs

    def full_gradient(self, model: SoftmaxRegression) -> tuple[float, torch.Tensor, torch.Tensor]:
        return full_gradient(model, self.images, self.labels)

    def minibatch_gradient(self, model: SoftmaxRegression, idx: torch.Tensor,
                           ) -> tuple[float, torch.Tensor, torch.Tensor]:  # fmt: skip
        idx = idx.to(self.device)
        return gradient_sum(model, self.images[idx], self.labels[idx])
