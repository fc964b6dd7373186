"""Pictures (matplotlib is imported here only, lazily, with the headless Agg backend)."""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path

import torch

from .errors import ConfigError


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | os.PathLike) -> Path:
    """Save ``fig`` to ``path`` (format from its extension) atomically; clear error otherwise."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format=fmt)
        os.replace(tmp, path)
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot write {path}: {getattr(e, 'strerror', None) or e}") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        _plt().close(fig)
    return path


def image_grid(images: torch.Tensor, labels: torch.Tensor, path: str | os.PathLike) -> Path:
    """Draw uint8 images (B,28,28) in a grid titled with their class names; save to ``path``."""
    from .data import CLASS_NAMES

    plt = _plt()
    b = images.shape[0]
    cols = min(8, b)
    rows = math.ceil(b / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.8 * rows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < b:
            ax.imshow(images[k].reshape(28, 28).numpy(), cmap="gray_r", vmin=0, vmax=255)
            ax.set_title(CLASS_NAMES[int(labels[k])], fontsize=8)
    fig.suptitle(f"Fashion-MNIST minibatch of {b}")
    return save_figure(fig, path)


def history_curves(history: list[dict], path: str | os.PathLike, *, title: str = "") -> Path:
    """Cost (left) and accuracy (right) against epochs for train, test and (when recorded)
    validation, from a run's history (:func:`sgdlab.train`); save to ``path``."""
    plt = _plt()
    epochs = [h["epoch"] for h in history]
    fig, (ax_c, ax_a) = plt.subplots(1, 2, figsize=(10, 3.8))
    for split, style in (("train", "-o"), ("test", "-s"), ("val", "-^")):
        if all(f"{split}_cost" in h for h in history) and history:
            ax_c.plot(epochs, [h[f"{split}_cost"] for h in history], style, label=split, ms=3)
            ax_a.plot(epochs, [100 * h[f"{split}_accuracy"] for h in history], style,
                      label=split, ms=3)  # fmt: skip
    ax_c.set(xlabel="epoch", ylabel="cost C (nats)", title="cost")
    ax_a.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_c, ax_a):
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)
