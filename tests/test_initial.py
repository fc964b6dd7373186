"""sgdlab.training.initial: epoch 0 of a run (its starting weights, evaluated), and the
training curves that start there."""

from __future__ import annotations

import math

import pytest
import torch

from sgdlab import TrainConfig
from sgdlab.data.split import hold_out
from sgdlab.model import evaluate
from sgdlab.training.initial import initial_model, initial_record


def test_zero_weights_start_at_ln_10(sample):
    cfg = TrainConfig(epochs=1).to_dict()
    rec = initial_record(cfg, sample)
    assert rec["epoch"] == 0 and rec["step"] == 0 and "val_cost" not in rec
    assert rec["train_cost"] == pytest.approx(math.log(10), abs=1e-6)
    assert rec["test_cost"] == pytest.approx(math.log(10), abs=1e-6)
    # equal logits: argmax is class 0, so the accuracy is the share of class 0
    share0 = float((sample.test_labels == 0).double().mean())
    assert rec["test_accuracy"] == pytest.approx(share0)


def test_uniform_init_is_the_runs_own_start(sample):
    """The same weights the training core starts from (same seed, same draw)."""
    from sgdlab.engines import get_engine
    from sgdlab.training.core import Core

    cfg = TrainConfig(init="uniform", seed=7, epochs=1)
    eng = get_engine("reference", sample.train_images, sample.train_labels)
    core = Core(cfg, eng, n=len(sample.train_labels), device=torch.device("cpu"))
    mine = initial_model(cfg.to_dict())
    assert torch.equal(mine.z.weight, core.model.z.weight.cpu())
    assert torch.equal(mine.z.bias, core.model.z.bias.cpu())
    assert not torch.equal(mine.z.weight, initial_model({"init": "uniform", "seed": 8}).z.weight)


def test_validation_split_is_evaluated_apart(sample):
    cfg = TrainConfig(init="uniform", validation=200, validation_seed=3, epochs=1).to_dict()
    rec = initial_record(cfg, sample)
    fit, (vx, vy), _ = hold_out(sample, 200, seed=3)
    model = initial_model(cfg)
    assert (rec["val_cost"], rec["val_accuracy"]) == evaluate(model, vx, vy)
    assert (rec["train_cost"], rec["train_accuracy"]) == evaluate(
        model, fit.train_images, fit.train_labels
    )


def test_plot_curves_start_at_epoch_0_with_a_readable_title(sample, tmp_path, monkeypatch):
    import sgdlab.plots as plots

    figs = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: figs.append(fig) or path)
    cfg = TrainConfig(epochs=2, momentum=0.9, nesterov=True).to_dict()
    history = [
        {"epoch": e, "train_cost": c, "train_accuracy": a, "test_cost": c, "test_accuracy": a}
        for e, c, a in ((1, 0.6, 0.8), (2, 0.5, 0.83))
    ]
    plots.history_curves(
        history, tmp_path / "c.png", config=cfg, initial=initial_record(cfg, sample)
    )
    fig = figs[0]
    ax_c, ax_a = fig.axes[:2]
    x, y = ax_c.lines[0].get_data()
    assert list(x) == [0, 1, 2] and y[0] == pytest.approx(math.log(10), abs=1e-6)
    assert max(ax_a.lines[0].get_ydata()) > 1  # accuracy in %
    title = fig._suptitle.get_text()
    assert "Minibatch SGD, b = 16" in title and "Nesterov momentum μ = 0.9" in title
    assert "lr=" not in title and "b=" not in title  # no raw config string
    plots._plt().close("all")
