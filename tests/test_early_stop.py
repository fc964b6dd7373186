"""``--early-stop PATIENCE``: stops when the validation cost stops improving, returns the best
validation epoch's weights, resumes bitwise, needs ``--validation``."""

from __future__ import annotations

import pytest
import torch

from sgdlab.cli.main import main
from sgdlab.config import TrainConfig
from sgdlab.errors import CheckpointError, ConfigError
from sgdlab.training import checkpoint
from sgdlab.training.trainer import train

# a large lr on the sample: the validation cost rises after epoch 2
KW = dict(batch_size=16, epochs=10, lr=1.0, seed=0, engine="fast", validation=200, early_stop=2)


def _strip(history):
    return [{k: v for k, v in h.items() if k != "train_seconds"} for h in history]


def test_refused_without_validation(capsys):
    with pytest.raises(ConfigError, match="--early-stop needs --validation"):
        TrainConfig(early_stop=3).validate()
    TrainConfig(early_stop=3, validation=100).validate()
    assert main(["train", "--sample", "-q", "--early-stop", "2"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--early-stop" in err


def test_stops_when_the_validation_cost_rises_and_returns_the_best_weights(sample):
    run = train(**KW, data=sample, progress=False)
    costs = [h["val_cost"] for h in run.history]
    best = run.best_epoch
    assert run.stopped_early and len(run.history) == best + 2 < KW["epochs"]
    assert costs[best - 1] == min(costs) and all(c >= costs[best - 1] for c in costs[best:])
    plain = {**KW, "epochs": best, "early_stop": 0}  # the same run, stopped at the best epoch
    short = train(**plain, data=sample, progress=False)
    assert torch.equal(run.model.z.weight, short.model.z.weight)
    assert torch.equal(run.model.z.bias, short.model.z.bias)
    assert run.to_dict()["stopped_early"] is True and run.to_dict()["best_epoch"] == best


def test_not_triggered_returns_the_best_epoch(sample):
    run = train(**{**KW, "lr": 0.005, "epochs": 3}, data=sample, progress=False)
    assert not run.stopped_early and len(run.history) == 3 and run.best_epoch == 3


def test_save_weights_are_the_best_epochs(sample, tmp_path, capsys):
    out = tmp_path / "w.pt"
    argv = ["train", "--sample", "-q", "-e", "10", "--lr", "1", "--validation", "200"]
    assert main([*argv, "--early-stop", "2", "--save-weights", str(out)]) == 0
    text = capsys.readouterr().out
    assert "early stop: no lower validation cost in 2 evaluation(s) after epoch 2" in text
    run = train(**{**KW, "epochs": 2, "early_stop": 0}, data=sample, progress=False)
    w = torch.load(out, weights_only=True)
    assert torch.equal(w["z.weight"], run.model.z.weight.detach())


def test_resume_from_any_checkpoint_is_bitwise_identical(sample, tmp_path):
    full = train(
        **KW, data=sample, progress=False, checkpoint_dir=tmp_path / "all",
        checkpoint_every=20, keep=1000,
    )  # fmt: skip
    assert full.stopped_early
    files = checkpoint.list_checkpoints(tmp_path / "all")
    for f in [files[1], files[len(files) // 2], files[-2], files[-1]]:
        d = tmp_path / f.stem
        d.mkdir()
        (d / f.name).write_bytes(f.read_bytes())
        again = train(checkpoint_dir=d, resume=True, data=sample, progress=False)
        assert torch.equal(again.model.z.weight, full.model.z.weight), f.name
        assert torch.equal(again.model.z.bias, full.model.z.bias), f.name
        assert _strip(again.history) == _strip(full.history), f.name
        assert (again.stopped_early, again.best_epoch) == (True, full.best_epoch)
    # a finished (stopped) run resumed with more epochs trains nothing
    d = tmp_path / files[-1].stem
    again = train(checkpoint_dir=d, resume=True, data=sample, progress=False, epochs=12)
    assert len(again.history) == len(full.history)


def test_a_checkpoints_early_stop_state_is_checked(sample, tmp_path):
    train(**{**KW, "epochs": 3}, data=sample, progress=False, checkpoint_dir=tmp_path / "a")
    f = checkpoint.list_checkpoints(tmp_path / "a")[-1]
    state = checkpoint.load(f)
    state["early_stop"]["waited"] += 1
    d = tmp_path / "b"
    d.mkdir()
    checkpoint.save(state, d, step=checkpoint.step_of(f))
    with pytest.raises(CheckpointError, match="bad field early_stop: waited"):
        train(checkpoint_dir=d, resume=True, data=sample, progress=False)
