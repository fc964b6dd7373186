"""Figures: one colour scale for the gradient images, stacked panels for phones, readable log
axes, Hebrew words in Hebrew figures (each checked on the matplotlib figure before saving)."""

from __future__ import annotations

import math

import pytest
import torch

import sgdlab.plots as plots


@pytest.fixture
def captured(monkeypatch):
    """The figures the functions would save, instead of saving them."""
    figs = []

    def keep(fig, path):
        figs.append(fig)
        return path

    monkeypatch.setattr(plots, "save_figure", keep)
    yield figs
    plots._plt().close("all")


def _grads():
    g = torch.Generator().manual_seed(0)
    return {"SGD, b = 16": torch.randn(10, 784, generator=g) * 3, "GD": torch.randn(10, 784) * 0.1}


@pytest.mark.parametrize("narrow", [False, True])
def test_gradient_images_share_one_colour_scale_with_a_colour_bar(captured, narrow):
    grads = _grads()
    plots.gradient_images(grads, "g.png", narrow=narrow)
    fig = captured[0]
    images = [im for ax in fig.axes for im in ax.get_images()]
    assert len(images) == 20
    m = max(float(g.abs().max()) for g in grads.values())
    assert {im.get_clim() for im in images} == {(-m, m)}  # one scale for every panel
    colorbars = [ax for ax in fig.axes if not ax.get_images() and ax.get_label() == "<colorbar>"]
    assert len(colorbars) == 1
    rows = {round(ax.get_position().y0, 3) for ax in fig.axes if ax.get_images()}
    assert len(rows) == (4 if narrow else 2)  # two rows of 5 per gradient on a phone


def _bench_result():
    def it(t):
        return {"median": t, "q1": 0.9 * t, "q3": 1.1 * t, "noisy": False}

    rows = [
        {
            "effective_batch_size": b,
            "per_iteration": it(1e-4 + 1e-6 * b),
            "epoch_estimate_seconds": (1e-4 + 1e-6 * b) * 1000 / b,
            "epoch_measured": None,
        }
        for b in (1, 16, 256, 1000)
    ]
    return {
        "results": [
            {"engine": "reference", "n": 1000, "sgd": rows, "gd": {"per_iteration": it(2e-3)}}
        ],
        "config": {"device": "cpu"},
        "environment": {"cpu_model": "a CPU", "torch_threads": 1},
        "n_train": 1000,
    }


@pytest.mark.parametrize("narrow", [False, True])
def test_bench_figure_panels_and_time_axis(captured, narrow):
    plots.bench_figure(_bench_result(), "b.png", narrow=narrow)
    fig = captured[0]
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title()[:3] for ax in axes] == ["(a)", "(b)"]  # no roofline: two panels
    xs = {round(ax.get_position().x0, 3) for ax in axes}
    ys = {round(ax.get_position().y0, 3) for ax in axes}
    assert (len(xs), len(ys)) == ((1, 2) if narrow else (2, 1))  # stacked on a phone
    fig.canvas.draw()
    for ax in axes:
        labels = [t.get_text() for t in ax.get_yticklabels(minor=True) if t.get_text()]
        assert labels == []  # the crowded minor tick labels are off
        major = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
        assert major and all(s.endswith(("s", "ms", "µs", "ns")) for s in major), major
        # the labelled ticks do not overlap one another
        boxes = sorted(
            (t.get_window_extent().y0, t.get_window_extent().y1)
            for t in ax.get_yticklabels()
            if t.get_text() and t.get_visible()
        )
        assert all(a1 <= b0 + 0.5 for (_, a1), (b0, _) in zip(boxes, boxes[1:], strict=False))


def test_hebrew_figure_has_hebrew_words(captured):
    plots.bench_figure(_bench_result(), "b.png", lang="he")
    fig = captured[0]
    texts = [ax.get_title() for ax in fig.axes] + [fig._suptitle.get_text()]
    texts += [ax.get_xlabel() for ax in fig.axes] + [ax.get_ylabel() for ax in fig.axes]
    assert all(any("\u0590" <= ch <= "\u05ff" for ch in t) for t in texts if t)
    assert "זמן לאיטרציה" in fig.axes[0].get_title()


def test_log_axis_short_range_gets_1_2_5():
    plt = plots._plt()
    fig, ax = plt.subplots()
    ax.plot([1e-3, 3e-3], [1e-3, 3e-3])
    ax.set(xscale="log", yscale="log")
    plots.log_axis(ax, "y", seconds=True)
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    lo, hi = ax.get_ylim()
    assert "2 ms" in labels and math.isfinite(lo) and hi > lo
    plt.close(fig)


def test_noise_panel_of_b_1_is_subsampled(monkeypatch):
    """60,000 minibatch costs of b = 1 are drawn as at most NOISE_POINTS dots, not a block."""
    from types import SimpleNamespace

    import sgdlab.experiments.plots as ep

    figs = []
    monkeypatch.setattr(ep, "save_figure", lambda fig, path: figs.append(fig) or path)
    rec = {
        "spec": {"batch_size": 1, "lr": 0.001, "seed": 0},
        "minibatch_costs": [1.0 + (i % 7) / 10 for i in range(60_000)],
        "curve": [{"step": s, "train_cost": 1.0} for s in (0, 30_000, 60_000)],
    }
    ep.plot_noise(SimpleNamespace(noise=[SimpleNamespace(record=rec)]), "n.png")
    dots = figs[0].axes[0].lines[0]
    assert len(dots.get_xdata()) <= ep.NOISE_POINTS and dots.get_xdata()[-1] > 59_000
    assert "1 step in" in dots.get_label()
    plots._plt().close("all")
