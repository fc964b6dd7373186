"""Pictures (matplotlib is imported here only, lazily, with the headless Agg backend)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import torch

from sgdlab.atomic import atomic_write
from sgdlab.errors import ConfigError


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | os.PathLike) -> Path:
    """Save ``fig`` to ``path`` (format from its extension) atomically; clear error otherwise."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    try:
        atomic_write(path, lambda f: fig.savefig(f, dpi=120, bbox_inches="tight", format=fmt))
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot write {path}: {getattr(e, 'strerror', None) or e}") from None
    finally:
        _plt().close(fig)
    return path


def image_grid(images: torch.Tensor, labels: torch.Tensor, path: str | os.PathLike) -> Path:
    """Draw uint8 images (B,28,28) in a grid titled with their class names; save to ``path``."""
    from sgdlab.data import CLASS_NAMES

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


def bench_figure(result: dict[str, Any], path: str | os.PathLike) -> Path:
    """Time per iteration and per epoch vs batch size (log axes), one colour per engine; full GD
    as a dashed line; third panel: measured / roofline time (when the result has the machine's
    peak). Writes ``path`` (format from the extension)."""
    plt = _plt()
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(16, 4.2))
    for i, res in enumerate(result["results"]):
        color, name = f"C{i}", res["engine"]
        rows = list({r["effective_batch_size"]: r for r in reversed(res["sgd"])}.values())[::-1]
        b = [r["effective_batch_size"] for r in rows]
        it = [r["per_iteration"] for r in rows]
        yerr = [[s["median"] - s["q1"] for s in it], [s["q3"] - s["median"] for s in it]]
        ax1.errorbar(
            b,
            [s["median"] for s in it],
            yerr=yerr,
            marker="o",
            color=color,
            capsize=3,
            label=f"SGD, {name}",
        )
        gd = res["gd"]["per_iteration"]["median"]
        ax1.axhline(gd, color=color, ls="--", lw=1, label=f"full GD (N={res['n']:,}), {name}")
        ax2.plot(
            b,
            [r["epoch_estimate_seconds"] for r in rows],
            marker="o",
            color=color,
            label=f"SGD, {name}: steps × step time",
        )
        meas = [
            (r["effective_batch_size"], r["epoch_measured"]["median"])
            for r in rows
            if r["epoch_measured"]
        ]
        if meas:
            ax2.plot(
                *zip(*meas, strict=True),
                ls="none",
                marker="x",
                ms=9,
                color=color,
                label=f"SGD, {name}: measured epoch",
            )
        ax2.axhline(gd, color=color, ls="--", lw=1, label=f"full GD: 1 iteration, {name}")
        if rows and rows[0].get("vs_peak"):
            ax3.plot(
                b,
                [r["vs_peak"]["over_roofline"] for r in rows],
                marker="o",
                color=color,
                label=f"SGD step, {name}",
            )
            ep = [
                (r["effective_batch_size"], r["epoch_vs_peak"]["over_roofline"])
                for r in rows
                if r["epoch_vs_peak"]
            ]
            if ep:
                ax3.plot(
                    *zip(*ep, strict=True),
                    ls="none",
                    marker="x",
                    ms=9,
                    color=color,
                    label=f"SGD epoch, {name}",
                )
            ax3.axhline(
                res["gd"]["vs_peak"]["over_roofline"],
                color=color,
                ls="--",
                lw=1,
                label=f"full GD, {name}",
            )
    ax3.axhline(1.0, color="k", lw=1)
    for ax, title, ylabel in (
        (ax1, "time per iteration", "seconds"),
        (ax2, "time per epoch", "seconds"),
        (ax3, "measured / roofline time (1 = at the limit)", "ratio"),
    ):
        ax.set(xscale="log", yscale="log", xlabel="batch size b", ylabel=ylabel, title=title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    cfg, env = result["config"], result["environment"]
    where = env["cpu_model"] if cfg["device"] == "cpu" else env["device_name"]
    fig.suptitle(
        f"sgdlab bench on {cfg['device']} ({where}, {env['torch_threads']} threads, "
        f"N = {result['n_train']:,}): median, IQR bars"
    )
    return save_figure(fig, path)


def estimators_figure(mc: dict[str, Any], path: str):
    """Left: relative RMS error of g_B vs b (measured, formula). Right: log10 relative RMS error
    of the ∇L estimators vs b, with ∇C's for contrast. Log axes."""
    plt = _plt()
    bs = [r["batch_size"] for r in mc["rows"]]
    c = [r["cost_grad"]["rms_rel_error"] for r in mc["rows"]]
    cf = [r["cost_grad"]["formula_rms_rel_error"] for r in mc["rows"]]
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(11, 4.2))
    a0.loglog(bs, c, "o", label="measured  √E‖g_B − ∇C‖² / ‖∇C‖")
    a0.loglog(bs, cf, "-", label="formula  √((N−b)/(b(N−1))·σ²) / ‖∇C‖")
    a0.set(
        xlabel="minibatch size b",
        ylabel="relative RMS error",
        title="minibatch gradient of C: unbiased, ∝ 1/√b",
    )
    a1.set_xscale("log", base=2)
    for key, label in (("plugin", "−N·exp(−N·C_B)·∇C_B"), ("rescaled", "(N/b)·∇L_B")):
        a1.plot(
            bs,
            [r["likelihood_grad"][key]["log10_rms_rel_error"] for r in mc["rows"]],
            "o-",
            label=f"∇L estimate {label}",
        )
    a1.plot(bs, [math.log10(v) for v in c], "s-", label="∇C estimate g_B (left panel)")
    a1.set(
        xlabel="minibatch size b",
        ylabel="log10 relative RMS error",
        title="estimating ∇L from a minibatch: off by 10ᵏ",
    )
    for ax in (a0, a1):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Exercise 5: N = {mc['n']:,}, {mc['draws']} minibatches per size")
    return save_figure(fig, path)


def likelihood_figure(h: torch.Tensor, path: str | os.PathLike) -> Path:
    """How far the likelihood of the first n samples, Π_{i≤n} y_(i,t_i) = e^{−Σ H_i}, lies below
    1 (−log10 of it, in decades; data in file order) against n, log-log, with the points where
    float32 and float64 round it to exactly 0."""
    from sgdlab.analysis.likelihood import DTYPES, LN10, zero_nats

    plt = _plt()
    decades = (torch.cumsum(h.double(), 0) / LN10).numpy()  # (N,) −log10 Π_{i≤n} y_t
    n = torch.arange(1, len(decades) + 1).numpy()
    fig, ax = plt.subplots(figsize=(7, 3.8))
    ax.plot(n, decades, color="C0", label="−log10 Π_{i≤n} y_(i,t_i)  (= Σ H_i / ln 10)")
    for k, (name, dt) in enumerate(DTYPES.items()):
        ax.axhline(
            zero_nats(dt) / LN10,
            color=f"C{k + 1}",
            ls="--",
            lw=1,
            label=f"{name}: L = 0 exactly above this",
        )
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="number of training samples n",
        ylabel="decades below 1: −log10 L",
        title=f"likelihood L of the first n samples (N = {len(n):,})",
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def gradient_images(grads: dict[str, torch.Tensor], path: str | os.PathLike) -> Path:
    """One row per gradient ∂C/∂W (10,784): each class's 784 weights' gradient as a 28×28 image
    (red > 0, blue < 0, one colour scale per row), titled with the class names."""
    from sgdlab.data import CLASS_NAMES

    plt = _plt()
    fig, axes = plt.subplots(len(grads), 10, figsize=(14, 1.75 * len(grads)), squeeze=False)
    for row, (name, g) in zip(axes, grads.items(), strict=True):
        g = g.detach().cpu().reshape(10, 28, 28)
        m = float(g.abs().max()) or 1.0
        for c, ax in enumerate(row):
            ax.imshow(g[c].numpy(), cmap="RdBu_r", vmin=-m, vmax=m)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(CLASS_NAMES[c], fontsize=8)
        row[0].set_ylabel(name, fontsize=9)
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
            ax_a.plot(
                epochs, [100 * h[f"{split}_accuracy"] for h in history], style, label=split, ms=3
            )
    ax_c.set(xlabel="epoch", ylabel="cost C (nats)", title="cost")
    ax_a.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_c, ax_a):
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


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
