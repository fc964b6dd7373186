"""What the page draws of a model, as JSON-ready dicts: the 10 templates, the confusion matrix
and misclassified test images (computed in the worker thread, on CPU tensors).

Binary payloads travel as base64: the weights as little-endian float32 (10·784 values, row p =
class p's template, pixel q = row-major 28×28), the images as uint8 (784 bytes each).
"""

from __future__ import annotations

import base64
from typing import Any

import torch

from sgdlab.data.fashion import to_float
from sgdlab.model import SoftmaxRegression

#: Misclassified test images sent per evaluation.
STRIP = 12


def templates(model: SoftmaxRegression) -> dict[str, Any]:
    """``z.weight`` as base64 float32 (10,784) and its largest magnitude (the colour scale)."""
    w = model.z.weight.detach().to("cpu", torch.float32).contiguous()
    return {"w": _b64(w.numpy().astype("<f4").tobytes()), "scale": float(w.abs().max())}


def confusion(
    model: SoftmaxRegression, images: torch.Tensor, labels: torch.Tensor
) -> dict[str, Any]:
    """The confusion matrix of ``model`` on ``images`` (uint8 (M,28,28)) with ``labels``
    (int64 (M,)): ``matrix[t][p]`` = images of true class t predicted p; and the first
    :data:`STRIP` misclassified images (index, true, predicted, pixels)."""
    with torch.no_grad():
        pred = model(to_float(images).to(model.z.weight.device)).argmax(1).cpu()
    matrix = torch.bincount(labels * 10 + pred, minlength=100).reshape(10, 10)
    wrong = (pred != labels).nonzero().flatten()[:STRIP].tolist()
    strip = [
        {
            "index": i,
            "true": int(labels[i]),
            "predicted": int(pred[i]),
            "pixels": _b64(images[i].contiguous().numpy().tobytes()),
        }
        for i in wrong
    ]
    return {"matrix": matrix.tolist(), "misclassified": strip}


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
