"""The chapter's classifier: one linear layer ``z`` followed by softmax, and its cost C.

>>> import torch
>>> m = SoftmaxRegression()            # zero-initialised: every class has y_n = 1/10
>>> x = torch.zeros(4, 784); y = torch.tensor([0, 1, 2, 3])
>>> round(cost(m, x, y).item(), 4)     # C = log 10 at the start
2.3026
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

N_PIXELS = 28 * 28
N_CLASSES = 10


class SoftmaxRegression(nn.Module):
    """y = softmax(z(x)) with ``z = nn.Linear(784, 10)``: ``z.weight`` (10,784), ``z.bias`` (10,).

    ``init="zeros"`` (default; the cost is convex so any start works and zeros make every run's
    first cost exactly log 10) or ``"uniform"`` (``nn.Linear``'s default U(±1/√784), drawn from
    ``generator`` so it is reproducible).
    """

    def __init__(self, *, init: str = "zeros", generator: torch.Generator | None = None):
        super().__init__()
        self.z = nn.Linear(N_PIXELS, N_CLASSES)
        with torch.no_grad():
            if init == "zeros":
                self.z.weight.zero_()
                self.z.bias.zero_()
            elif init == "uniform":
                bound = 1 / math.sqrt(N_PIXELS)
                self.z.weight.uniform_(-bound, bound, generator=generator)
                self.z.bias.uniform_(-bound, bound, generator=generator)
            else:
                raise ValueError(f"init must be 'zeros' or 'uniform', got {init!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Float images (B,28,28) or (B,784) -> logits (B,10)."""
        return self.z(x.reshape(x.shape[0], N_PIXELS))  # (B,784)@(784,10) + (10,)

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities y = softmax(z(x)), (B,10), rows sum to 1."""
        return torch.softmax(self(x), dim=1)


def cost(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The chapter's C = 1/B Σ H, H = −Σ_n y_tn·log y_n, from logits (log-softmax: no overflow).

    ``x`` float (B,784) or (B,28,28); ``y`` int64 class indices (B,) (the one-hot y_t is
    implicit). Returns a 0-dim tensor (nats per sample).
    """
    return F.cross_entropy(model(x), y)


@torch.no_grad()
def evaluate_sums(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, chunk_size: int = 8192
) -> tuple[float, int]:
    """(Σ H in nats, number correct) over uint8 or float ``images`` (N,...), ``labels`` (N,).

    Sums, so that shards of a data set combine by addition (data-parallel evaluation).
    """
    from sgdlab.data.fashion import to_float

    total, correct = 0.0, 0
    dev = model.z.weight.device
    for i in range(0, images.shape[0], chunk_size):
        x = to_float(images[i : i + chunk_size].to(dev))
        y = labels[i : i + chunk_size].to(dev)
        logits = model(x)
        total += F.cross_entropy(logits, y, reduction="sum").item()
        correct += int((logits.argmax(1) == y).sum())
    return total, correct


def evaluate(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, chunk_size: int = 8192
) -> tuple[float, float]:
    """(mean cost C, accuracy in [0,1]) over uint8 or float ``images`` (N,...), ``labels`` (N,)."""
    total, correct = evaluate_sums(model, images, labels, chunk_size=chunk_size)
    n = images.shape[0]
    return total / n, correct / n
