"""One iteration of SGD (exercise 2) and of full-gradient descent (exercise 3).

Both update ``model.z.weight`` and ``model.z.bias`` in place: (W, b) ← (W, b) − α·∇C.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sgdlab.data.fashion import to_float
from sgdlab.model import SoftmaxRegression, cost


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


def gradient_sum(
    model: SoftmaxRegression,
    x: torch.Tensor,
    y: torch.Tensor,
) -> tuple[float, torch.Tensor, torch.Tensor]:
    """Autograd on ``Σ H`` over a (share of a) minibatch, no update: (Σ H in nats,
    Σ ∂H/∂W (10,784), Σ ∂H/∂b (10,)). ``x`` uint8/float (B,...), ``y`` int64 (B,); B = 0 gives
    zeros. Leaves the same gradients in ``.grad``.
    """
    model.zero_grad(set_to_none=False)
    c = F.cross_entropy(model(to_float(x)), y, reduction="sum")
    c.backward()
    return c.item(), model.z.weight.grad.clone(), model.z.bias.grad.clone()


def full_gradient(
    model: SoftmaxRegression,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    chunk_size: int = 4096,
) -> tuple[float, torch.Tensor, torch.Tensor]:
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
    model: SoftmaxRegression,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    lr: float,
    chunk_size: int = 4096,
) -> float:
    """One full-gradient-descent iteration over the whole set (exercise 3); returns C before."""
    c, gw, gb = full_gradient(model, images, labels, chunk_size=chunk_size)
    with torch.no_grad():
        model.z.weight -= lr * gw
        model.z.bias -= lr * gb
    return c


def compare_steps(
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    batch_size: int = 16,
    lr: float = 0.005,
    seed: int = 0,
    init: str = "zeros",
    device: torch.device | str = "cpu",
    repeats: int = 20,
) -> dict:
    """Exercises 2 and 3 side by side: one SGD iteration on the seeded sampler's first minibatch
    and one full-GD iteration over all N samples, from the same initial weights.

    Returns a JSON-ready dict: ``indices`` of the minibatch, and for ``"sgd"`` and ``"gd"``:
    cost before/after (minibatch and full set; ``full_cost_before``: C at the common start),
    gradient norms and shapes, the gradient ``grad_weight`` (10,784) tensor, and its timing:
    ``cold_seconds`` (the first call, with whatever start-up it paid; never put in a ratio) and
    ``median_seconds``, the median wall time of ``repeats`` further calls after 3 warm-up calls,
    each from the same start;
    ``time_ratio_gd_over_sgd`` is the ratio of the two medians (warm).
    """
    import copy
    import statistics
    import time

    from sgdlab.model import evaluate
    from sgdlab.sampler import MinibatchSampler

    dev = torch.device(device)
    n = int(labels.shape[0])
    gen = torch.Generator().manual_seed(seed)
    start = SoftmaxRegression(init=init, generator=gen).to(dev)
    idx = next(iter(MinibatchSampler(n, batch_size, generator=gen)))
    images, labels = images.to(dev), labels.to(dev)
    x, y = images[idx.to(dev)], labels[idx.to(dev)]

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    out: dict = {"indices": idx, "batch_size": batch_size, "lr": lr, "seed": seed, "init": init}
    for name in ("sgd", "gd"):
        model = copy.deepcopy(start)
        sync()
        t0 = time.perf_counter()
        if name == "sgd":
            before = sgd_step(model, x, y, lr=lr)
        else:
            before = gd_step(model, images, labels, lr=lr)
        sync()
        seconds = time.perf_counter() - t0
        with torch.no_grad():
            after_mb = cost(model, to_float(x), y).item()
        after_full, _ = evaluate(model, images, labels)  # chunked: no (N,784) float copy
        out[name] = {
            "samples": len(y) if name == "sgd" else n,
            "cost_before": before,
            "minibatch_cost_after": after_mb if name == "sgd" else None,
            "full_cost_before": before if name == "gd" else None,  # gd_step returns C before
            "full_cost_after": after_full,
            "grad_norm_weight": model.z.weight.grad.norm().item(),
            "grad_norm_bias": model.z.bias.grad.norm().item(),
            "grad_weight_shape": list(model.z.weight.grad.shape),
            "grad_bias_shape": list(model.z.bias.grad.shape),
            "cold_seconds": seconds,
            "grad_weight": model.z.weight.grad.detach().cpu().clone(),
        }
    out["sgd"]["full_cost_before"] = out["gd"]["full_cost_before"]  # the same start: C(W0, b0)
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive integer, got {repeats!r}")
    for name in ("sgd", "gd"):
        times = []
        for r in range(3 + repeats):
            model = copy.deepcopy(start)
            sync()
            t0 = time.perf_counter()
            if name == "sgd":
                sgd_step(model, x, y, lr=lr)
            else:
                gd_step(model, images, labels, lr=lr)
            sync()
            if r >= 3:
                times.append(time.perf_counter() - t0)
        out[name]["median_seconds"] = statistics.median(times)
        out[name]["repeats"] = repeats
    out["time_ratio_gd_over_sgd"] = out["gd"]["median_seconds"] / out["sgd"]["median_seconds"]
    return out
