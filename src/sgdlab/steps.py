"""One iteration of SGD (exercise 2) and of full-gradient descent (exercise 3).

Both update ``model.z.weight`` and ``model.z.bias`` in place: (W, b) ← (W, b) − α·∇C.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .data import to_float
from .model import SoftmaxRegression, cost


def sgd_step(model: SoftmaxRegression, x: torch.Tensor, y: torch.Tensor, *, lr: float) -> float:
    """One SGD iteration on a minibatch, the chapter's exercise 2 literally.

    ``x`` float (B,784)/(B,28,28) or uint8 images; ``y`` int64 (B,). Zeroes the grads, computes
    C on the minibatch, calls ``backward()``, reads ``z.weight.grad`` / ``z.bias.grad`` and
    steps under ``no_grad``. Returns the minibatch cost *before* the step (float, nats).
    """
    model.zero_grad(set_to_none=False)
    c = cost(model, to_float(x), y)
    c.backward()
    with torch.no_grad():
        model.z.weight -= lr * model.z.weight.grad  # (10,784)
        model.z.bias -= lr * model.z.bias.grad  # (10,)
    return c.item()


def gradient_sum(model: SoftmaxRegression, x: torch.Tensor, y: torch.Tensor,
                 ) -> tuple[float, torch.Tensor, torch.Tensor]:  # fmt: skip
    """Autograd on ``Σ H`` over a (share of a) minibatch, no update: (Σ H in nats,
    Σ ∂H/∂W (10,784), Σ ∂H/∂b (10,)). ``x`` uint8/float (B,...), ``y`` int64 (B,); B = 0 gives
    zeros. Leaves the same gradients in ``.grad``.
    """
    model.zero_grad(set_to_none=False)
    c = F.cross_entropy(model(to_float(x)), y, reduction="sum")
    c.backward()
    return c.item(), model.z.weight.grad.clone(), model.z.bias.grad.clone()


def full_gradient(
    model: SoftmaxRegression, images: torch.Tensor, labels: torch.Tensor, *,
    chunk_size: int = 4096,
) -> tuple[float, torch.Tensor, torch.Tensor]:  # fmt: skip
    """The exact gradient of C over all N samples, accumulated chunk by chunk.

    Each chunk contributes ``Σ_chunk H / N`` to one autograd graph at a time, so the extra memory
    is O(chunk_size·784) whatever N is. ``images`` uint8 (N,28,28) or float (N,784) on any
    device (chunks are moved to the model's device). Returns (C, ∂C/∂W (10,784), ∂C/∂b (10,)),
    leaving the same gradients in ``.grad``.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be ≥ 1, got {chunk_size}")
    n, dev = images.shape[0], model.z.weight.device
    model.zero_grad(set_to_none=False)
    total = 0.0
    for i in range(0, n, chunk_size):
        x = to_float(images[i : i + chunk_size].to(dev))  # (c,784)
        y = labels[i : i + chunk_size].to(dev)
        part = F.cross_entropy(model(x), y, reduction="sum") / n
        part.backward()
        total += part.item()
    return total, model.z.weight.grad.clone(), model.z.bias.grad.clone()


def gd_step(
    model: SoftmaxRegression, images: torch.Tensor, labels: torch.Tensor, *, lr: float,
    chunk_size: int = 4096,
) -> float:  # fmt: skip
    """One full-gradient-descent iteration over the whole set (exercise 3); returns C before."""
    c, gw, gb = full_gradient(model, images, labels, chunk_size=chunk_size)
    with torch.no_grad():
        model.z.weight -= lr * gw
        model.z.bias -= lr * gb
    return c
