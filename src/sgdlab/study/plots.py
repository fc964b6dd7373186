"""The study's figures (matplotlib imported lazily), each drawn from the JSON document
(:meth:`sgdlab.study.Study.to_dict`), so a cached study is re-plotted without training.

One panel per (optimizer, target) where a figure compares batch sizes. Every function writes its
file atomically (:func:`sgdlab.plots.save_figure`) and returns the path.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from sgdlab.figure_text import visual, words
from sgdlab.plots import _plt, log_axis, save_figure

OPT_NAMES = {"sgd": "plain SGD", "nesterov": "Nesterov μ=0.9"}
TGT_NAMES = {"train_cost": "C ≤ {goal}", "val_accuracy": "val. acc. ≥ {goal}"}
COLORS = {"sgd": "tab:blue", "nesterov": "tab:red"}


def _rows(doc, o, t) -> list[dict[str, Any]]:
    rs = [
        r
        for r in doc["scaling"]
        if r["optimizer"] == o and r["target"] == t and r["steps"] is not None
    ]
    return sorted(rs, key=lambda r: r["batch_size"])


def _title(doc, o: str, t: str, lang: str = "en") -> str:
    """The panel's optimizer and target, e.g. ``plain SGD, C ≤ 0.45`` (accuracy in %), in
    logical order (draw it through ``visual``)."""
    g = doc["target"][t]
    goal = f"{g:g}" if t == "train_cost" else f"{g:.1%}"
    tr = words(lang, logical=True)
    name = tr(OPT_NAMES[o]) if o in OPT_NAMES else o
    return f"{name}, {tr(TGT_NAMES[t], goal=goal)}"


def _panels(doc, plt, narrow: bool = False):
    """A figure with one panel per (optimizer, target), and the panels as (ax, o, t): a row per
    optimizer, or (``narrow``) every panel in one column."""
    opts = doc["spec"]["optimizers"]
    if not opts:
        raise ValueError("no optimizer in the study")
    cells_ot = [(o, t) for o in opts for t in ("train_cost", "val_accuracy")]
    if narrow:
        fig, axes = plt.subplots(len(cells_ot), 1, figsize=(5.6, 4.2 * len(cells_ot)))
        flat = list(getattr(axes, "flat", [axes]))
    else:
        fig, axes = plt.subplots(len(opts), 2, figsize=(11, 4.2 * len(opts)), squeeze=False)
        flat = list(axes.flat)
    return fig, [(ax, o, t) for ax, (o, t) in zip(flat, cells_ot, strict=True)]


def _b_label(v: float, _pos=None) -> str:
    """1, 16, 256, 4k, 64k: short enough for every power of 2 on a log axis."""
    return f"{v / 1024:g}k" if v >= 1024 else f"{v:g}"


def _loglog(ax, xlabel: str, ylabel: str) -> None:
    from matplotlib.ticker import FuncFormatter

    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(FuncFormatter(_b_label))
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.25)


def _fit_curve(fit, bs, kind: str):
    if not fit or fit.get("B_crit") is None:
        return None
    s_min, bc = fit["S_min"], fit["B_crit"]
    return [s_min * (1 + bc / b) if kind == "steps" else s_min * bc * (1 + b / bc) for b in bs]


def plot_steps(
    doc: dict[str, Any],
    path: str | os.PathLike,
    *,
    kind: str = "steps",
    lang: str = "en",
    narrow: bool = False,
) -> Path:
    """Steps (``kind="steps"``) or examples (``"examples"``, right axis in epochs) to target
    against b, log-log: the median over seeds at the best lr with the seeds' range, the fit
    S = S_min(1 + B_crit/b) (E = E_min(1 + b/B_crit)), perfect scaling (S ∝ 1/b through the
    smallest b; E constant) and B_crit with the three regimes shaded. ``lang``, ``narrow``: as
    :mod:`sgdlab.plots`."""
    tr = words(lang)
    plt = _plt()
    fig, cells = _panels(doc, plt, narrow)
    for ax, o, t in cells:
        rs = _rows(doc, o, t)
        if not rs:
            ax.set_title(tr("{title}: not reached", title=_title(doc, o, t, lang)))
            continue
        bs = [r["batch_size"] for r in rs]
        mult = bs if kind == "examples" else [1] * len(bs)
        ys = [r["steps"] * m for r, m in zip(rs, mult, strict=True)]
        reached = [[s for s in r["steps_per_seed"] if s is not None] for r in rs]
        lo = [min(s) * m for s, m in zip(reached, mult, strict=True)]
        hi = [max(s) * m for s, m in zip(reached, mult, strict=True)]
        edge = [r["edge"] for r in rs]
        c = COLORS.get(o, "k")
        ax.fill_between(bs, lo, hi, color=c, alpha=0.15, lw=0, label=tr("seeds' range"))
        ax.plot(bs, ys, "o-", color=c, label=tr("measured (median, best lr)"))
        for b, y, e in zip(bs, ys, edge, strict=True):
            if e:
                ax.plot([b], [y], "x", color="k", ms=9)
        fit = doc["fit"].get(o, {}).get(t)
        fc = _fit_curve(fit, bs, kind)
        if fc:
            ax.plot(
                bs,
                fc,
                "--",
                color="k",
                lw=1.2,
                label=tr("fit, B_crit ≈ {b}", b=f"{fit['B_crit']:,.0f}"),
            )
            bc = fit["B_crit"]
            ax.axvline(bc, color="k", lw=0.8, ls=":")
            ax.axvspan(bs[0] / 2, bc / 3, color="tab:green", alpha=0.06)
            ax.axvspan(3 * bc, bs[-1] * 2, color="tab:gray", alpha=0.08)
            ax.text(bc, max(ys), " B_crit", fontsize=8, va="top")
        ref = [ys[0] * bs[0] / b for b in bs] if kind == "steps" else [ys[0]] * len(bs)
        ax.plot(bs, ref, ":", color="tab:green", label=tr("perfect scaling"))
        _loglog(
            ax,
            tr("batch size b (full batch at the right)"),
            tr("steps to target" if kind == "steps" else "examples to target"),
        )
        ax.set_title(visual(_title(doc, o, t, lang)), fontsize=10)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle(
        tr(
            ("Steps" if kind == "steps" else "Examples")
            + " to target against b (green: perfect scaling b < B_crit/3; grey: maximal data "
            "parallelism b > 3·B_crit; × = lr at the grid's edge)",
            width=70 if narrow else 120,
        ),
        fontsize=10,
    )
    fig.tight_layout()
    return save_figure(fig, path)


def plot_lr(
    doc: dict[str, Any], path: str | os.PathLike, *, lang: str = "en", narrow: bool = False
) -> Path:
    """The tuned lr against b, log-log, with linear scaling, square-root scaling (both through
    the smallest b) and McCandlish's ε_opt(b) = ε_max/(1 + B_noise/b) where fitted."""
    tr = words(lang)
    plt = _plt()
    fig, cells = _panels(doc, plt, narrow)
    for ax, o, t in cells:
        rs = [r for r in _rows(doc, o, t) if r["lr"] is not None]
        if not rs:
            continue
        bs, lrs = [r["batch_size"] for r in rs], [r["lr"] for r in rs]
        ax.plot(bs, lrs, "o-", color=COLORS.get(o, "k"), label=tr("tuned lr"))
        ax.plot(bs, [lrs[0] * b / bs[0] for b in bs], ":", label=tr("linear (Goyal et al.)"))
        ax.plot(bs, [lrs[0] * math.sqrt(b / bs[0]) for b in bs], "-.", label=tr("square root"))
        rules = (doc.get("lr_scaling", {}).get(o, {}).get(t) or {}).get("rules") or {}
        rule = rules.get("mccandlish") or rules.get("mccandlish_fit") or {}
        if rule.get("eps_max") and rule.get("B_noise") and math.isfinite(rule["eps_max"]):
            e, bn = rule["eps_max"], rule["B_noise"]
            ax.plot(
                bs,
                [e / (1 + bn / b) for b in bs],
                "--",
                color="k",
                label=tr("ε_max/(1+B/b), B={b}", b=f"{bn:,.0f}"),
            )
        lo = min(lrs) / 3
        ax.set_ylim(lo, max(lrs) * 3)
        _loglog(ax, tr("batch size b"), tr("learning rate"))
        log_axis(ax, "y")
        ax.set_title(visual(_title(doc, o, t, lang)), fontsize=10)
        ax.legend(fontsize=7)
    fig.suptitle(tr("The tuned learning rate against b, and the scaling rules"), fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_noise(
    doc: dict[str, Any], path: str | os.PathLike, *, lang: str = "en", narrow: bool = False
) -> Path:
    """B_simple and B_noise (exact) and the two-batch estimate along the reference trajectory,
    against the training cost, with the fitted B_crit (plain SGD, training-cost target). One
    panel (``narrow`` only narrows it)."""
    tr = words(lang)
    plt = _plt()
    noise = doc.get("noise") or {}
    rows = noise.get("rows") or []
    fig, ax = plt.subplots(figsize=(5.6 if narrow else 7, 4.5))
    if rows:
        c = [r["train_cost"] for r in rows]
        ax.plot(c, [r["B_simple"] for r in rows], "o-", label=tr("B_simple = tr Σ / |G|² (exact)"))
        ax.plot(c, [r["B_noise"] for r in rows], "s-", label=tr("B_noise = tr HΣ / GᵀHG (exact)"))
        est = [r["estimator"].get("B_simple") for r in rows]
        ax.plot(
            c,
            [e if e is not None else math.nan for e in est],
            "^:",
            label=tr("B_simple, two-batch estimate"),
        )
        fit = doc["fit"].get("sgd", {}).get("train_cost") or {}
        if fit.get("B_crit"):
            ax.axhline(
                fit["B_crit"],
                color="k",
                ls="--",
                lw=1,
                label=tr("fitted B_crit ≈ {b}", b=f"{fit['B_crit']:,.0f}"),
            )
        ax.axvline(doc["target"]["train_cost"], color="gray", ls=":", lw=1, label=tr("target C"))
        ax.invert_xaxis()
        ax.set_yscale("log")
        ax.legend(fontsize=8)
    ax.set_xlabel(
        tr(
            "training cost C along full-batch GD (training proceeds to the right)",
            width=60 if narrow else 0,
        )
    )
    ax.set_ylabel(tr("batch size"))
    ax.set_title(tr("Gradient noise scale along training"), fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_landscape(doc: dict[str, Any], path: str | os.PathLike) -> Path:
    """The tuning landscape: every (b, lr) tried, coloured by the median steps to target (log
    colour; grey ×: not reached by most seeds), the chosen lr circled in red."""
    import numpy as np

    plt = _plt()
    fig, cells = _panels(doc, plt)
    for ax, o, t in cells:
        rs = [r for r in doc["scaling"] if r["optimizer"] == o and r["target"] == t]
        pts = [
            (r["batch_size"], float(x), s)
            for r in rs
            for x, s in (r.get("lr_median_steps") or {}).items()
        ]
        if not pts:
            continue
        ok = [(b, x, s) for b, x, s in pts if s is not None]
        no = [(b, x) for b, x, s in pts if s is None]
        if ok:
            b, x, s = zip(*ok, strict=True)
            sc = ax.scatter(b, x, c=np.log10(s), cmap="viridis_r", marker="s", s=42)
            fig.colorbar(sc, ax=ax, label="log10 median steps to target")
        if no:
            b, x = zip(*no, strict=True)
            ax.scatter(b, x, marker="x", color="0.6", s=20, label="not reached")
        best = [(r["batch_size"], r["lr"]) for r in rs if r["lr"] is not None]
        if best:
            b, x = zip(*best, strict=True)
            ax.scatter(b, x, facecolors="none", edgecolors="red", s=110, label="best lr")
        _loglog(ax, "batch size b", "learning rate")
        ax.set_title(_title(doc, o, t), fontsize=10)
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(
        "Tuning landscape: steps to target for every (b, lr) tried (grids √2 apart, extended "
        "until the best is interior)",
        fontsize=10,
    )
    fig.tight_layout()
    return save_figure(fig, path)


def plot_seconds(doc: dict[str, Any], path: str | os.PathLike) -> Path:
    """Seconds to target on this machine (S × measured seconds per step of sgdlab train's
    engine) against b, log-log, one line per optimizer and target."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    styles = {"train_cost": "-", "val_accuracy": "--"}
    for o in doc["spec"]["optimizers"]:
        for t in ("train_cost", "val_accuracy"):
            rs = [r for r in _rows(doc, o, t) if r.get("seconds")]
            if rs:
                ax.plot(
                    [r["batch_size"] for r in rs],
                    [r["seconds"] for r in rs],
                    "o",
                    ls=styles[t],
                    color=COLORS.get(o, "k"),
                    label=_title(doc, o, t),
                )
    _loglog(ax, "batch size b", "seconds of updates to target")
    tm = doc.get("timing", {})
    ax.set_title(f"Seconds to target on this machine (engine {tm.get('engine', '?')})", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_all(study, escape, directory: str | os.PathLike, fmt: str = "png") -> list[Path]:
    """Every figure of the study (and the escape illustration) into ``directory``."""
    from sgdlab.experiments.plots import plot_escape

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    doc = study.to_dict() if hasattr(study, "to_dict") else study
    out = [
        plot_steps(doc, d / f"study-steps.{fmt}"),
        plot_steps(doc, d / f"study-examples.{fmt}", kind="examples"),
        plot_lr(doc, d / f"study-lr.{fmt}"),
        plot_noise(doc, d / f"study-noise.{fmt}"),
        plot_landscape(doc, d / f"study-landscape.{fmt}"),
        plot_seconds(doc, d / f"study-seconds.{fmt}"),
    ]
    if escape is not None:
        out.append(plot_escape(escape, d / f"study-escape.{fmt}"))
    return out
