"""Pictures (matplotlib is imported here only, lazily, with the headless Agg backend).

The report's figures take ``lang`` (``"en"`` or ``"he"``: every title, label and legend through
:func:`sgdlab.figure_text.words`) and ``narrow`` (``True``: the panels stacked in one column,
for a phone's screen; ``False``: side by side). Time axes are labelled in readable units
(``1 ms``), one label per decade or, on a short axis, at 1, 2 and 5 of each decade.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import torch

from sgdlab.atomic import atomic_write
from sgdlab.errors import ConfigError
from sgdlab.figure_text import class_names, visual, words


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


def panel_grid(plt, n: int, *, narrow: bool, width: float, height: float, **kw):
    """``n`` panels side by side (``width`` × ``height`` inches each), or stacked in one column
    when ``narrow``; returns (figure, list of axes)."""
    rows, cols = (n, 1) if narrow else (1, n)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False, **kw)
    return fig, list(axes.flat)


def log_axis(ax, which: str = "y", *, seconds: bool = False) -> None:
    """A readable log axis: labels only at the major ticks (never the crowded minor ones); on an
    axis spanning under two decades, majors at 1, 2 and 5 of each decade. ``seconds``: labels
    with a unit (``500 µs``, ``2 ms``) instead of powers of ten."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    from sgdlab.formatting import fmt_seconds

    axis = ax.yaxis if which == "y" else ax.xaxis
    lo, hi = ax.get_ylim() if which == "y" else ax.get_xlim()
    decades = math.log10(hi / lo) if lo > 0 and hi > lo else 0.0
    subs = (1.0, 2.0, 5.0) if decades < 2 else (1.0,)
    axis.set_major_locator(LogLocator(base=10, subs=subs, numticks=12))
    axis.set_minor_locator(LogLocator(base=10, subs=tuple(range(2, 10)), numticks=12))
    axis.set_minor_formatter(NullFormatter())
    if seconds:
        axis.set_major_formatter(FuncFormatter(lambda v, _p: fmt_seconds(v)))
    else:
        axis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))


def image_grid(
    images: torch.Tensor,
    labels: torch.Tensor,
    path: str | os.PathLike,
    *,
    lang: str = "en",
    narrow: bool = False,
) -> Path:
    """Draw uint8 images (B,28,28) in a grid titled with their class names (8 columns, 4 when
    ``narrow``); save to ``path``."""
    tr, names = words(lang), class_names(lang)
    plt = _plt()
    b = images.shape[0]
    cols = min(4 if narrow else 8, b)
    rows = math.ceil(b / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.8 * rows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < b:
            ax.imshow(images[k].reshape(28, 28).numpy(), cmap="gray_r", vmin=0, vmax=255)
            ax.set_title(names[int(labels[k])], fontsize=8)
    fig.suptitle(tr("Fashion-MNIST minibatch of {b}", b=b))
    return save_figure(fig, path)


def bench_figure(
    result: dict[str, Any], path: str | os.PathLike, *, lang: str = "en", narrow: bool = False
) -> Path:
    """(a) Time per iteration and (b) per epoch vs batch size (log axes), one colour per engine;
    full GD as a dashed line; (c) measured / roofline time, when the result has the machine's
    peak. Writes ``path`` (format from the extension)."""
    tr = words(lang)
    plt = _plt()
    peak = any(res["sgd"] and res["sgd"][0].get("vs_peak") for res in result["results"])
    fig, axes = panel_grid(plt, 3 if peak else 2, narrow=narrow, width=5.3, height=4.2)
    ax1, ax2 = axes[:2]
    ax3 = axes[2] if peak else None
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
            label=tr("SGD, {engine}", engine=name),
        )
        gd = res["gd"]["per_iteration"]["median"]
        n = f"{res['n']:,}"
        ax1.axhline(
            gd,
            color=color,
            ls="--",
            lw=1,
            label=tr("full GD (N = {n}), {engine}", n=n, engine=name),
        )
        ax2.plot(
            b,
            [r["epoch_estimate_seconds"] for r in rows],
            marker="o",
            color=color,
            label=tr("SGD, {engine}: steps × step time", engine=name),
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
                label=tr("SGD, {engine}: measured epoch", engine=name),
            )
        ax2.axhline(
            gd, color=color, ls="--", lw=1, label=tr("full GD: 1 iteration, {engine}", engine=name)
        )
        if ax3 is not None and rows and rows[0].get("vs_peak"):
            ax3.plot(
                b,
                [r["vs_peak"]["over_roofline"] for r in rows],
                marker="o",
                color=color,
                label=tr("SGD step, {engine}", engine=name),
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
                    label=tr("SGD epoch, {engine}", engine=name),
                )
            ax3.axhline(
                res["gd"]["vs_peak"]["over_roofline"],
                color=color,
                ls="--",
                lw=1,
                label=tr("full GD, {engine}", engine=name),
            )
    panels = [
        (ax1, "(a) time per iteration", "seconds"),
        (ax2, "(b) time per epoch", "seconds"),
    ]
    if ax3 is not None:
        ax3.axhline(1.0, color="k", lw=1)
        panels.append((ax3, "(c) measured / roofline time (1 = at the limit)", "ratio"))
    for ax, title, ylabel in panels:
        ax.set(xscale="log", yscale="log", xlabel=tr("batch size b"), ylabel=tr(ylabel))
        ax.set_title(tr(title, width=40), fontsize=10)
        log_axis(ax, "x")
        log_axis(ax, "y", seconds=ylabel == "seconds")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    cfg, env = result["config"], result["environment"]
    where = env["cpu_model"] if cfg["device"] == "cpu" else env["device_name"]
    fig.suptitle(
        tr(
            "sgdlab bench on {where}, {threads} threads, N = {n}: median, IQR bars",
            width=60 if narrow else 0,
            where=f"{cfg['device']} ({where})",
            threads=env["torch_threads"],
            n=f"{result['n_train']:,}",
        )
    )
    fig.tight_layout()
    return save_figure(fig, path)


def estimators_figure(
    mc: dict[str, Any], path: str | os.PathLike, *, lang: str = "en", narrow: bool = False
) -> Path:
    """(a) Relative RMS error of g_B vs b (measured, formula). (b) log10 relative RMS error of
    the ∇L estimators vs b, with ∇C's for contrast. Log axes."""
    tr = words(lang)
    plt = _plt()
    bs = [r["batch_size"] for r in mc["rows"]]
    c = [r["cost_grad"]["rms_rel_error"] for r in mc["rows"]]
    cf = [r["cost_grad"]["formula_rms_rel_error"] for r in mc["rows"]]
    fig, (a0, a1) = panel_grid(plt, 2, narrow=narrow, width=5.5, height=4.2)
    a0.loglog(bs, c, "o", label=tr("measured  √E‖g_B − ∇C‖² / ‖∇C‖"))
    a0.loglog(bs, cf, "-", label=tr("formula  √((N−b)/(b(N−1))·σ²) / ‖∇C‖"))
    a0.set(xlabel=tr("minibatch size b"), ylabel=tr("relative RMS error"))
    a0.set_title(tr("(a) minibatch gradient of C: unbiased, ∝ 1/√b", width=45), fontsize=10)
    log_axis(a0, "x")
    log_axis(a0, "y")
    a1.set_xscale("log", base=2)
    for key, label in (("plugin", "−N·exp(−N·C_B)·∇C_B"), ("rescaled", "(N/b)·∇L_B")):
        a1.plot(
            bs,
            [r["likelihood_grad"][key]["log10_rms_rel_error"] for r in mc["rows"]],
            "o-",
            label=tr("∇L estimate {label}", label=label),
        )
    a1.plot(bs, [math.log10(v) for v in c], "s-", label=tr("∇C estimate g_B (panel a)"))
    a1.set(xlabel=tr("minibatch size b"), ylabel=tr("log10 relative RMS error"))
    a1.set_title(tr("(b) estimating ∇L from a minibatch: off by 10ᵏ", width=45), fontsize=10)
    for ax in (a0, a1):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(
        tr("Exercise 5: N = {n}, {draws} minibatches per size", n=f"{mc['n']:,}", draws=mc["draws"])
    )
    fig.tight_layout()
    return save_figure(fig, path)


def likelihood_figure(
    h: torch.Tensor, path: str | os.PathLike, *, lang: str = "en", narrow: bool = False
) -> Path:
    """How far the likelihood of the first n samples, Π_{i≤n} y_(i,t_i) = e^{−Σ H_i}, lies below
    1 (−log10 of it, in decades; data in file order) against n, log-log, with the points where
    float32 and float64 round it to exactly 0. One panel (``narrow`` only narrows it)."""
    from sgdlab.analysis.likelihood import DTYPES, LN10, zero_nats

    tr = words(lang)
    plt = _plt()
    decades = (torch.cumsum(h.double(), 0) / LN10).numpy()  # (N,) −log10 Π_{i≤n} y_t
    n = torch.arange(1, len(decades) + 1).numpy()
    fig, ax = plt.subplots(figsize=(5.5 if narrow else 7, 3.8))
    ax.plot(n, decades, color="C0", label=tr("−log10 Π_{{i≤n}} y_(i,t_i)  (= Σ H_i / ln 10)"))
    for k, (name, dt) in enumerate(DTYPES.items()):
        ax.axhline(
            zero_nats(dt) / LN10,
            color=f"C{k + 1}",
            ls="--",
            lw=1,
            label=tr("{dtype}: L = 0 exactly above this", dtype=name),
        )
    ax.set(
        xscale="log",
        yscale="log",
        xlabel=tr("number of training samples n"),
        ylabel=tr("decades below 1: −log10 L"),
    )
    ax.set_title(tr("likelihood L of the first n samples (N = {n})", n=f"{len(n):,}"))
    log_axis(ax, "x")
    log_axis(ax, "y")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def gradient_images(
    grads: dict[str, torch.Tensor],
    path: str | os.PathLike,
    *,
    lang: str = "en",
    narrow: bool = False,
) -> Path:
    """One block per gradient ∂C/∂W (10,784): each class's 784 weights' gradient as a 28×28
    image (red > 0, blue < 0), titled with the class names; ONE colour scale shared by every
    panel (symmetric, ±the largest |entry| of all gradients) and its colour bar, so sizes
    compare across rows. Blocks are one row of 10, or two rows of 5 when ``narrow``. ``grads``:
    {row label: tensor}, labels as given (already in ``lang``)."""
    tr, names = words(lang), class_names(lang)
    plt = _plt()
    gs = {k: g.detach().cpu().float().reshape(10, 28, 28) for k, g in grads.items()}
    m = max((float(g.abs().max()) for g in gs.values()), default=0.0) or 1.0
    per_row = 5 if narrow else 10
    rows = len(gs) * (10 // per_row)
    fig, axes = plt.subplots(
        rows, per_row, figsize=(1.35 * per_row + 1.2, 1.5 * rows + 0.5), squeeze=False
    )
    im = None
    for k, (name, g) in enumerate(gs.items()):
        for c in range(10):
            ax = axes[k * (10 // per_row) + c // per_row][c % per_row]
            im = ax.imshow(g[c].numpy(), cmap="RdBu_r", vmin=-m, vmax=m)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(names[c], fontsize=8)
            if c == 0:  # the block's name, once, on two lines ("SGD" / "b = 16")
                ax.set_ylabel(visual(name.replace(", ", "\n", 1)), fontsize=9)
    cb = fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.9, pad=0.02)
    cb.set_label(tr("∂C/∂w_pq (the same scale for every panel)"), fontsize=8)
    fig.suptitle(tr("∂C/∂W of each class (red: positive, blue: negative)"), fontsize=10)
    return save_figure(fig, path)


def run_title(config: dict[str, Any]) -> str:
    """A run's config in words, for a figure's title: ``Minibatch SGD, b = 16, α = 0.005
    (constant), 5 epochs, zero init, seed 0`` (+ momentum, weight decay, averaging, schedule
    parameters where set)."""
    c = config
    if c.get("method") == "gd":
        head = "Full-batch gradient descent (b = N)"
    else:
        head = f"Minibatch SGD, b = {c['batch_size']:,}"
    sched = c.get("schedule", "constant")
    if sched == "step":
        sched = f"× {c['gamma']:g} every {c['step_epochs']} epochs"
    elif sched == "inverse":
        sched = f"α/(1 + t/{c['t0']:g})"
    parts = [head, f"α = {c['lr']:g} ({sched})"]
    if c.get("momentum"):
        parts.append(("Nesterov " if c.get("nesterov") else "") + f"momentum μ = {c['momentum']:g}")
    if c.get("weight_decay"):
        parts.append(f"weight decay {c['weight_decay']:g}")
    if c.get("average"):
        parts.append("averaged iterates")
    n = c.get("epochs")
    if n is not None:
        parts.append(f"{n} epoch{'s' if n != 1 else ''}")
    init = c.get("init", "zeros")
    parts.append("zero init" if init == "zeros" else f"{init} init")
    parts.append(f"seed {c.get('seed', 0)}")
    return ", ".join(parts)


def history_curves(
    history: list[dict],
    path: str | os.PathLike,
    *,
    title: str = "",
    config: dict[str, Any] | None = None,
    initial: dict[str, Any] | None = None,
) -> Path:
    """Cost (left) and accuracy in % (right) against epochs for train, test and (when recorded)
    validation, from a run's history (:func:`sgdlab.train`); save to ``path``. ``initial``: the
    epoch-0 record (:func:`sgdlab.training.initial.initial_record`), drawn first, so the
    curves start where training starts (C = ln 10 from zero weights, dotted). ``config``: the
    run's config, titled in words (:func:`run_title`) unless ``title`` is given."""
    plt = _plt()
    history = ([initial] if initial else []) + list(history)
    epochs = [h["epoch"] for h in history]
    fig, (ax_c, ax_a) = plt.subplots(1, 2, figsize=(10, 3.8))
    for split, style in (("train", "-o"), ("test", "-s"), ("val", "-^")):
        if all(f"{split}_cost" in h for h in history) and history:
            ax_c.plot(epochs, [h[f"{split}_cost"] for h in history], style, label=split, ms=3)
            ax_a.plot(
                epochs, [100 * h[f"{split}_accuracy"] for h in history], style, label=split, ms=3
            )
    if initial and abs(initial["train_cost"] - math.log(10)) < 1e-5:
        ax_c.axhline(math.log(10), color="gray", ls=":", lw=1, label="ln 10 (zero weights)")
    ax_c.set(xlabel="epoch", ylabel="cost C (nats)", title="cost")
    ax_a.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    from matplotlib.ticker import MaxNLocator

    for ax in (ax_c, ax_a):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    title = title or (run_title(config) if config else "")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)
