"""``sgdlab evaluate --plot``'s figure (matplotlib through :mod:`sgdlab.plots`, lazily)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import torch

from sgdlab.plots import _plt, save_figure


def evaluation_figure(
    evaluation: Any,
    weight: torch.Tensor,
    images: torch.Tensor,
    path: str | os.PathLike,
    *,
    mistakes: int = 16,
) -> Path:
    """``sgdlab evaluate --plot``: the confusion matrix (counts; colour = share of the true
    class), the 10 rows of W (10,784) as 28×28 templates (diverging map, one shared symmetric
    scale, one colour bar) and a gallery of the most confident mistakes among ``images`` (uint8
    (N,28,28), the evaluated split) titled true → predicted. ``evaluation``:
    :class:`sgdlab.inference.evaluation.Evaluation`."""
    from sgdlab.inference.evaluation import confident_mistakes

    plt = _plt()
    ev, names = evaluation, evaluation.class_names
    fig = plt.figure(figsize=(17, 12), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.2, 1])
    left, right = top.subfigures(1, 2, width_ratios=[1, 1.3])
    ax = left.subplots()
    cm = ev.confusion
    share = (cm.double() / cm.sum(1, keepdim=True).clamp_min(1)).numpy()
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for t in range(cm.shape[0]):
        for p in range(cm.shape[1]):
            color = "white" if share[t, p] > 0.5 else "black"
            ax.text(p, t, int(cm[t, p]), ha="center", va="center", fontsize=7, color=color)
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set(xlabel="predicted class", ylabel="true class")
    left.suptitle(f"confusion matrix, {ev.split} (N = {ev.n:,}, accuracy {ev.accuracy:.2%})")
    w = weight.detach().cpu().float().reshape(-1, 28, 28)
    m = float(w.abs().max()) or 1.0
    axes = right.subplots(2, 5)
    for c, a in enumerate(axes.flat):
        im = a.imshow(w[c].numpy(), cmap="RdBu_r", vmin=-m, vmax=m)
        a.set_xticks([])
        a.set_yticks([])
        a.set_title(names[c], fontsize=8)
    right.colorbar(im, ax=axes, shrink=0.8, label="weight w_pq (one scale for all classes)")
    right.suptitle("the rows of W as 28×28 templates (red > 0, blue < 0)")
    idx = confident_mistakes(ev.probabilities, ev.labels, mistakes)
    cols = 8
    gallery = bottom.subplots(max(1, math.ceil(mistakes / cols)), cols, squeeze=False)
    for k, a in enumerate(gallery.flat):
        a.axis("off")
        if k < len(idx):
            i = idx[k]
            t, p = int(ev.labels[i]), int(ev.predictions[i])
            a.imshow(images[i].reshape(28, 28).numpy(), cmap="gray", vmin=0, vmax=255)
            a.set_title(
                f"#{i} {names[t]}\n→ {names[p]} ({float(ev.probabilities[i, p]):.0%})", fontsize=8
            )
    bottom.suptitle(
        f"misclassified {ev.split} images, most confident first: true → predicted (probability)"
        + ("" if idx else ": none")
    )
    return save_figure(fig, path)
