"""Checkpoints with a valid header and hash but bad content (training/state_check.py): every
field a resume reads is checked first; the CLI says one line naming the field, exit 2."""

from __future__ import annotations

import copy

import pytest
import torch

from sgdlab import train
from sgdlab.cli.main import main
from sgdlab.training import checkpoint


@pytest.fixture(scope="module")
def mid_epoch(tmp_path_factory, sample):
    """A checkpoint inside epoch 2 (step 100 of 126) of a momentum run with a validation split."""
    d = tmp_path_factory.mktemp("mid")
    train(
        epochs=2,
        data=sample,
        momentum=0.9,
        validation=100,
        progress=False,
        checkpoint_dir=d,
        checkpoint_every=50,
        keep=10,
    )
    return checkpoint.load(d / "ckpt-0000000100.sgdlab")


def _set(path):
    def edit(state, value):
        *parents, last = path
        node = state
        for k in parents:
            node = node[k]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value

    return edit


_DELETE = object()
CASES = [  # (what, path in the state, bad value, the field the message must name)
    ("negative step", ("step",), -1, "step"),
    ("step past the run's end", ("step",), 10**12, "step"),
    ("step off its epoch", ("step",), 99, "step"),
    ("float step", ("step",), 100.0, "step"),
    ("epoch past the history", ("epoch",), 2, "epoch"),
    ("sampler not a dict", ("sampler",), [1, 2], "sampler"),
    ("sampler batch size", ("sampler", "batch_size"), 32, "sampler.batch_size"),
    ("sampler position", ("sampler", "batch"), 10**6, "sampler.batch"),
    ("sampler position type", ("sampler", "batch"), "37", "sampler.batch"),
    (
        "sampler generator",
        ("sampler", "generator_state"),
        torch.zeros(3),
        "sampler.generator_state",
    ),
    (
        "epoch generator",
        ("sampler", "epoch_generator_state"),
        None,
        "sampler.epoch_generator_state",
    ),
    ("torch RNG state", ("torch_rng",), torch.zeros(10, dtype=torch.uint8), "torch_rng"),
    ("torch RNG missing", ("torch_rng",), _DELETE, "torch_rng"),
    ("epoch costs length", ("epoch_costs",), torch.zeros(5, dtype=torch.float64), "epoch_costs"),
    ("epoch costs dtype", ("epoch_costs",), torch.zeros(37), "epoch_costs"),
    (
        "epoch costs NaN",
        ("epoch_costs",),
        torch.full((37,), float("nan"), dtype=torch.float64),
        "epoch_costs",
    ),
    ("epoch seconds", ("epoch_seconds",), "soon", "epoch_seconds"),
    ("history not a list", ("history",), {"epoch": 1}, "history"),
    ("history record", ("history", 0), {"epoch": 1}, "history[0]"),
    ("history value", ("history", 0, "test_accuracy"), 7.5, "history[0].test_accuracy"),
    ("history NaN", ("history", 0, "val_cost"), float("nan"), "history[0].val_cost"),
    ("optimizer buffer", ("optim", "buf_w"), torch.zeros(3), "optim"),
    ("optimizer missing key", ("optim", "buf_b"), _DELETE, "optim"),
    ("optimizer non-finite", ("optim", "buf_b"), torch.full((10,), float("inf")), "optim.buf_b"),
    ("optimizer count", ("optim", "avg_count"), -3, "optim.avg_count"),
]


@pytest.mark.parametrize(("what", "path", "value", "field"), CASES, ids=[c[0] for c in CASES])
def test_bad_field_is_one_line_naming_it(mid_epoch, tmp_path, capsys, what, path, value, field):
    state = copy.deepcopy(mid_epoch)
    _set(path)(state, value)
    checkpoint.save(state, tmp_path, step=100, keep=0)  # a valid header and hash
    rc = main(["train", "--sample", "--resume", str(tmp_path), "-q"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"bad field {field}" in err, err
    assert checkpoint.list_checkpoints(tmp_path)[-1].name == "ckpt-0000000100.sgdlab"


def test_the_untouched_state_resumes(mid_epoch, tmp_path, capsys):
    checkpoint.save(copy.deepcopy(mid_epoch), tmp_path, step=100, keep=0)
    assert main(["train", "--sample", "--resume", str(tmp_path), "-q"]) == 0
    assert "final test accuracy" in capsys.readouterr().out
