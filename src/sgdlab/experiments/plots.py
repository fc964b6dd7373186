"""Figures of :mod:`sgdlab.experiments` and :mod:`sgdlab.analysis.landscape` (matplotlib imported
lazily).

Every function takes a result object and a path ending in .png, .svg or .pdf, writes the figure
atomically (:func:`sgdlab.plots.save_figure`) and returns the path. Time axes are training
seconds: CPU time of the single training thread, evaluation outside it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from sgdlab.plots import _plt, save_figure

COLORS = {
    "1": "tab:red",
    "16": "tab:orange",
    "128": "tab:green",
    "1024": "tab:blue",
    "full": "black",
}


#: Dots per panel of :func:`plot_noise` (more steps are subsampled evenly).
NOISE_POINTS = 2500


def _color(b: str) -> str:
    return COLORS.get(b, "tab:purple")


def _chosen_runs(sweep) -> dict[str, list[dict[str, Any]]]:
    from sgdlab.experiments.summary import by_batch_lr

    groups, chosen = by_batch_lr(sweep.records()), sweep.chosen()
    return {b: groups[b][c["lr"]] for b, c in chosen.items() if c["lr"] is not None}


def plot_curves(sweep, path: str | os.PathLike) -> Path:
    """Train cost C and validation accuracy vs epochs and vs training seconds, per batch size
    at its chosen lr: mean over seeds (line) and min..max (band)."""
    from sgdlab.experiments.summary import aggregate

    plt = _plt()
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    for b, runs in _chosen_runs(sweep).items():
        lr = runs[0]["spec"]["lr"]
        label = f"b={b}, lr={lr:g} ({len(runs)} seed{'s' if len(runs) > 1 else ''})"
        for row, field in enumerate(("train_cost", "val_accuracy")):
            a = aggregate(runs, field)
            k = 100 if field == "val_accuracy" else 1  # accuracy in %
            for col, x in enumerate((a["epoch"], a["seconds"])):
                ax = axes[row][col]
                xs = x[1:]
                lo, hi, mean = ([k * v for v in a[s][1:]] for s in ("min", "max", "mean"))
                ax.plot(xs, mean, color=_color(b), label=label, lw=1.4)
                ax.fill_between(xs, lo, hi, color=_color(b), alpha=0.2, lw=0)
    for row, name in enumerate(
        ("train cost C (exact, all training images)", "validation accuracy (%)")
    ):
        for col, xl in enumerate(("epochs", "training seconds (CPU of the training thread)")):
            ax = axes[row][col]
            ax.set_xscale("log")
            ax.set_xlabel(xl + " (log)")
            ax.set_ylabel(name)
            ax.grid(alpha=0.3, which="both")
            if row == 0:
                ax.set_ylim(top=1.0)
            else:
                ax.set_ylim(70, None)
                for t in sweep.spec.targets:
                    ax.axhline(100 * t, color="gray", ls=":", lw=0.8)
    axes[0][0].legend(fontsize=8)
    data = "sample" if sweep.data.get("is_sample") else "Fashion-MNIST"
    fig.suptitle(f"Minibatch size vs convergence ({data}, chosen lr per b; band = seed range)")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_lr(sweep, path: str | os.PathLike) -> Path:
    """The lr rule: mean final validation cost vs lr for each batch size, chosen lr marked."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for b, c in sweep.chosen().items():
        pts = [(float(lr), v) for lr, v in c["grid"].items() if v is not None]
        div = [float(lr) for lr, v in c["grid"].items() if v is None]
        if pts:
            ax.plot(*zip(*pts, strict=True), "o-", color=_color(b), label=f"b={b}")
        if div:
            ax.plot(div, [1.0] * len(div), "x", color=_color(b), ms=9)
        if c["lr"] is not None:
            ax.plot([c["lr"]], [c["val_cost"]], "*", color=_color(b), ms=14)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (log)")
    ax.set_ylabel("validation cost at the end of the budget")
    ax.set_ylim(top=min(1.0, ax.get_ylim()[1]))
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ax.set_title("lr rule: lowest mean validation cost (star); x = diverged")
    return save_figure(fig, path)


def plot_noise(sweep, path: str | os.PathLike) -> Path:
    """One run per SGD batch size: every minibatch's cost (dots) over the exact C (line)."""
    plt = _plt()
    runs = [r.record for r in sweep.noise]
    fig, axes = plt.subplots(
        1, max(1, len(runs)), figsize=(4.2 * max(1, len(runs)), 3.8), squeeze=False, sharey=True
    )
    for ax, rec in zip(axes[0], runs, strict=False):
        b, costs = str(rec["spec"]["batch_size"]), rec["minibatch_costs"]
        # at most NOISE_POINTS dots (b = 1 has 60,000 steps: all of them are a solid block)
        k = max(1, math.ceil(len(costs) / NOISE_POINTS))
        ax.plot(
            range(1, len(costs) + 1, k),
            costs[::k],
            ".",
            ms=1.5,
            color=_color(b),
            alpha=0.35 if k == 1 else 0.25,
            label="minibatch cost" + (f" (1 step in {k})" if k > 1 else ""),
        )
        steps = [p["step"] for p in rec["curve"]]
        ax.plot(
            steps,
            [p["train_cost"] for p in rec["curve"]],
            "-",
            color="black",
            lw=1.5,
            label="exact C (all training images)",
        )
        ax.set_ylim(0, 2.5)
        ax.set_xlabel("step")
        ax.set_title(f"b={b}, lr={rec['spec']['lr']:g}, seed {rec['spec']['seed']}")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("cost (nats)")
    axes[0][0].legend(fontsize=8, loc="upper right")
    fig.suptitle("The noise SGD lives with: each step sees a minibatch's cost, not C (1 epoch)")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_escape(study, path: str | os.PathLike) -> Path:
    """Left: contours of the 2-D cost, the GD path and a few SGD paths (b=1). Right: the
    fraction of seeds that end in the global minimum's basin, per batch size."""
    import torch

    from sgdlab.analysis.landscape import Landscape

    plt = _plt()
    land = Landscape(**study.config["landscape"])
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.8), gridspec_kw={"width_ratios": [1.4, 1]})
    xs = torch.linspace(-1.9, 1.9, 200, dtype=torch.float64)
    ys = torch.linspace(-2.0, 2.0, 160, dtype=torch.float64)
    gx, gy = torch.meshgrid(xs, ys, indexing="xy")
    z = land.cost(torch.stack((gx, gy), -1))
    ax.contour(gx.numpy(), gy.numpy(), z.numpy(), levels=30, cmap="viridis", linewidths=0.7)
    b0 = str(study.config["batch_sizes"][0])
    for k, p in enumerate(study.paths.get(b0, [])):
        p = torch.tensor(p)
        ax.plot(
            p[:, 0],
            p[:, 1],
            "-",
            lw=0.6,
            alpha=0.7,
            color="tab:red",
            label=f"SGD b={b0} (a few seeds)" if k == 0 else None,
        )
    g = torch.tensor(study.gd_path)
    ax.plot(g[:, 0], g[:, 1], "-", lw=2.5, color="black", label="GD")
    ax.plot(*study.config["start"], "ko", ms=8)
    x_glob, x_sad, x_loc = study.critical_xs
    ax.plot([x_glob], [0], "w*", ms=14, mec="k", label="global minimum")
    ax.plot([x_loc], [0], "s", color="orange", ms=9, mec="k", label="local minimum (GD stops)")
    ax.axvline(x_sad, color="gray", ls=":", lw=1)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.legend(fontsize=8, loc="lower left")
    ax.set_title(f"C(x,y) = (x²−1)² + {land.tilt:g}x + y²/2 (minibatch noise σ={land.sigma:g})")
    labels = list(study.escape)
    bx.bar(
        labels,
        [study.escape[k] for k in labels],
        color=[_color(k) if k in COLORS else "tab:gray" for k in labels],
    )
    for i, k in enumerate(labels):
        bx.text(i, study.escape[k] + 0.02, f"{study.escape[k]:.0%}", ha="center")
    bx.set_ylim(0, 1.1)
    bx.set_xlabel("batch size b (full = GD)")
    bx.set_ylabel("fraction of seeds ending in the global minimum")
    bx.set_title(f"escape over {len(study.config['seeds'])} seeds, lr={study.config['lr']:g}")
    fig.tight_layout()
    return save_figure(fig, path)
