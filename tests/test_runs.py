"""Runs never mix and --resume never ignores a flag (sgdlab.training.runs,
train(resume=...), the CLI)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import torch

from sgdlab import train
from sgdlab.cli.main import main
from sgdlab.errors import CheckpointError, ConfigError
from sgdlab.training import checkpoint, runs

FAST = {"engine": "reference", "progress": False}


def _state(d: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``d``: SHA-256 and mtime (ns)."""
    return {
        str(p.relative_to(d)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(d.rglob("*"))
        if p.is_file()
    }


def _strip(history):
    return [{k: v for k, v in h.items() if k != "train_seconds"} for h in history]


def _same(a, b) -> bool:
    return (
        torch.equal(a.model.z.weight, b.model.z.weight)
        and torch.equal(a.model.z.bias, b.model.z.bias)
        and _strip(a.history) == _strip(b.history)
    )


@pytest.fixture(scope="module")
def finished(tmp_path_factory, sample):
    """A finished 2-epoch run (batch 32, seed 3) with its checkpoint directory."""
    d = tmp_path_factory.mktemp("finished") / "ck"
    run = train(epochs=2, batch_size=32, seed=3, data=sample, checkpoint_dir=d, **FAST)
    return d, run


# ------------------------------------------------------------------ resume where nothing is


@pytest.mark.parametrize("where", ["missing", "empty"])
def test_resume_auto_starts_a_new_run_where_no_checkpoint_is(sample, tmp_path, capsys, where):
    d = tmp_path / "ck"
    if where == "empty":
        d.mkdir()
    run = train(epochs=1, data=sample, checkpoint_dir=d, resume="auto", **FAST)
    assert "no checkpoint in" in capsys.readouterr().err
    assert run.resumed_step is None and checkpoint.list_checkpoints(d)
    assert _same(run, train(epochs=1, data=sample, **FAST))


def test_resume_true_still_needs_a_checkpoint(sample, tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint found"):
        train(data=sample, checkpoint_dir=tmp_path, resume=True, **FAST)
    with pytest.raises(ConfigError, match="resume must be"):
        train(data=sample, checkpoint_dir=tmp_path, resume="yes", **FAST)


def test_stale_half_written_checkpoint_is_ignored_then_removed(sample, tmp_path):
    d = tmp_path / "ck"
    d.mkdir()
    dead = d / ".ckpt-0000000063.sgdlab.999999999.tmp"  # no such pid
    dead.write_bytes(b"SGDLAB-CKPT 1\nhalf")
    run = train(epochs=1, data=sample, checkpoint_dir=d, resume="auto", **FAST)
    assert run.resumed_step is None and not dead.exists()


# --------------------------------------------------------------- a used directory is refused


def test_new_run_refuses_a_used_directory_and_changes_nothing(finished, capsys):
    d, ref = finished
    before = _state(d.parent)
    code = main(["train", "--sample", "-q", "-e", "1", "--checkpoint-dir", str(d)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    steps = ref.history[-1]["steps"]
    for words in ("seed 3", f"step {steps},", "batch_size=32", f"--resume {d}", "empty directory"):
        assert words in err, (words, err)
    assert _state(d.parent) == before


def test_library_new_run_refuses_a_used_directory(finished, sample):
    d, _ = finished
    before = _state(d.parent)
    with pytest.raises(CheckpointError, match="already holds the checkpoints of a run"):
        train(epochs=1, data=sample, checkpoint_dir=d, **FAST)
    assert _state(d.parent) == before


def test_damaged_checkpoints_still_make_a_directory_used(tmp_path):
    (tmp_path / "ckpt-0000000001.sgdlab").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="1 damaged checkpoint file"):
        runs.refuse_used_dir(tmp_path)


def test_resuming_a_finished_run_reprints_it_and_trains_nothing(finished, capsys, monkeypatch):
    from sgdlab.engines.reference import ReferenceEngine

    d, ref = finished
    before = _state(d.parent)

    def boom(*a, **k):
        raise AssertionError("trained")

    monkeypatch.setattr(ReferenceEngine, "sgd_steps", boom)
    code = main(["train", "--sample", "--resume", str(d)])
    out = capsys.readouterr().out
    assert code == 0 and "nothing trained" in out
    assert f"{ref.history[-1]['test_accuracy']:.2%}" in out
    assert _state(d.parent) == before


# ------------------------------------------------------------ explicit flags on --resume


def test_conflicting_flags_are_refused_by_name(finished, capsys):
    d, _ = finished
    before = _state(d.parent)
    code = main(
        ["train", "--sample", "-q", "--resume", str(d), "--lr", "0.5", "--seed", "4", "-b", "32"]
    )
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "--lr 0.5 (the checkpoint has 0.005)" in err and "--seed 4" in err
    assert "--batch-size" not in err  # equal to the checkpoint's: fine
    assert _state(d.parent) == before


def test_flags_that_cannot_change_the_result_may_differ(finished, capsys, tmp_path):
    d, _ = finished
    code = main(
        [
            "train",
            "--sample",
            "-q",
            "--json",
            "--resume",
            str(d),
            "--keep",
            "5",
            "--checkpoint-every",
            "7",
            "-b",
            "32",
            "--seed",
            "3",
            "--engine",
            "auto",
            "--save-weights",
            str(tmp_path / "w.pt"),
        ]
    )
    assert code == 0, capsys.readouterr().err


def test_checkpoint_dir_and_resume_must_agree(finished, tmp_path, capsys):
    d, _ = finished
    code = main(
        ["train", "--sample", "-q", "--resume", str(d), "--checkpoint-dir", str(tmp_path / "other")]
    )
    assert code == 2 and "different directories" in capsys.readouterr().err
    assert not (tmp_path / "other").exists()


@pytest.mark.parametrize("method, every", [("sgd", "epoch"), ("sgd", 40), ("gd", 3)])
def test_more_epochs_extend_the_run_bitwise(sample, tmp_path, method, every):
    e1, e2 = (2, 4) if method == "sgd" else (5, 9)
    kw = {"method": method, "lr": 0.1 if method == "gd" else 0.005, "data": sample, **FAST}
    d = tmp_path / "ck"
    train(epochs=e1, checkpoint_dir=d, checkpoint_every=every, **kw)
    extended = train(
        epochs=e2,
        checkpoint_dir=d,
        checkpoint_every=every,
        resume="auto",
        explicit={"epochs"},
        **kw,
    )
    assert extended.resumed_step is not None and len(extended.history) == e2
    assert extended.config["epochs"] == e2
    assert _same(extended, train(epochs=e2, **kw))


def test_cli_epochs_extend_then_same_command_finds_it_finished(finished, tmp_path, capsys, sample):
    src, _ = finished
    d = tmp_path / "ck"
    d.mkdir()
    for f in checkpoint.list_checkpoints(src):
        (d / f.name).write_bytes(f.read_bytes())
    argv = [
        "train",
        "--sample",
        "-q",
        "--json",
        "--resume",
        str(d),
        "--epochs",
        "3",
        "--save-weights",
        str(tmp_path / "w.pt"),
    ]
    assert main(argv) == 0
    capsys.readouterr()
    ref = train(epochs=3, batch_size=32, seed=3, data=sample, **FAST)
    w = torch.load(tmp_path / "w.pt", weights_only=True)
    assert torch.equal(w["z.weight"], ref.model.z.weight)
    assert main(argv) == 0 and "nothing trained" not in capsys.readouterr().out  # json
    assert checkpoint.load(checkpoint.list_checkpoints(d)[-1])["config"]["epochs"] == 3


@pytest.mark.parametrize(
    "epochs, words",
    [(1, "fewer than the 2 epochs this run has already"), (3, "fewer than the run's 4 epochs")],
)
def test_fewer_epochs_are_refused(sample, tmp_path, epochs, words):
    d = tmp_path / "ck"
    train(epochs=4, data=sample, checkpoint_dir=d, checkpoint_every="epoch", keep=10, **FAST)
    for f in checkpoint.list_checkpoints(d)[2:]:
        f.unlink()  # as if killed after epoch 2
    with pytest.raises(CheckpointError, match=words):
        train(
            epochs=epochs, data=sample, checkpoint_dir=d, resume=True, explicit={"epochs"}, **FAST
        )


@pytest.mark.parametrize("extra, why", [({"schedule": "cosine"}, "cosine")])
def test_length_dependent_schedules_are_not_extended(extra, why):
    saved = {"epochs": 2, "lr": 0.1, "schedule": "constant", "average": False, **extra}
    with pytest.raises(CheckpointError, match=f"cannot extend.*{why}"):
        runs.reconcile(saved, {**saved, "epochs": 3}, {"epochs"}, done_epochs=1)
    assert runs.reconcile(saved, saved, {"epochs", "lr"}, done_epochs=1) == saved  # equal: fine


def test_cosine_run_refuses_more_epochs_end_to_end(sample, tmp_path):
    d = tmp_path / "ck"
    train(epochs=1, schedule="cosine", data=sample, checkpoint_dir=d, **FAST)
    before = _state(d)
    with pytest.raises(CheckpointError, match="cosine"):
        train(
            epochs=2,
            schedule="cosine",
            data=sample,
            checkpoint_dir=d,
            resume=True,
            explicit={"epochs"},
            **FAST,
        )
    assert _state(d) == before


@pytest.mark.parametrize(
    "opts",
    [
        {"average": True, "momentum": 0.9},
        {"schedule": "step", "gamma": 0.5, "weight_decay": 1e-3},
        {"schedule": "inverse", "t0": 50.0, "validation": 100},
    ],
)
def test_options_extend_the_run_bitwise(sample, tmp_path, opts):
    """Averaging restarts every epoch and step/inverse schedules count global steps: more
    epochs on resume give bitwise the uninterrupted longer run."""
    kw = {"data": sample, **FAST, **opts}
    d = tmp_path / "ck"
    train(epochs=2, checkpoint_dir=d, **kw)
    extended = train(epochs=3, checkpoint_dir=d, resume=True, explicit={"epochs"}, **kw)
    assert _same(extended, train(epochs=3, **kw))


def test_length_independent_schedules_are_extended():
    saved = {"epochs": 2, "lr": 0.1, "schedule": "step", "average": False}
    assert runs.reconcile(saved, {**saved, "epochs": 5}, {"epochs"}, done_epochs=2)["epochs"] == 5
    assert runs.reconcile({"epochs": 2}, {"epochs": 5}, {"epochs"}, done_epochs=2)["epochs"] == 5


def test_library_default_explicit_is_what_differs_from_the_defaults(finished, sample):
    d, _ = finished
    with pytest.raises(CheckpointError, match="--lr 0.5"):
        train(data=sample, checkpoint_dir=d, resume=True, lr=0.5, **FAST)
    run = train(data=sample, checkpoint_dir=d, resume=True, **FAST)  # defaults: checkpoint's
    assert run.config["batch_size"] == 32 and run.config["seed"] == 3


def test_stale_checkpoint_temporaries_old_and_new_names_only_dead_writers(tmp_path, monkeypatch):
    import subprocess
    import sys

    seen = {}

    def pause():  # inside checkpoint.save's write: its temporary exists, half written
        seen["names"] = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
        seen["removed"] = runs.remove_stale_temporaries(tmp_path)

    monkeypatch.setattr(checkpoint, "_fault_pause", pause)
    checkpoint.save({"x": torch.zeros(1)}, tmp_path, step=7)
    assert len(seen["names"]) == 1 and runs._TMP.match(seen["names"][0])
    assert seen["removed"] == []  # the one this process is writing is not stale
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead_new = tmp_path / ".ckpt-0000000001.sgdlab.999999999.k2j_x9az.tmp"
        dead_old = tmp_path / ".ckpt-0000000002.sgdlab.999999999.tmp"
        alive = tmp_path / f".ckpt-0000000003.sgdlab.{live.pid}.k2j_x9az.tmp"
        other = tmp_path / ".report.json.999999999.k2j_x9az.tmp"
        for p in (dead_new, dead_old, alive, other):
            p.write_bytes(b"x")
        assert runs.remove_stale_temporaries(tmp_path) == [dead_new, dead_old]
        assert alive.exists() and other.exists()
    finally:
        live.kill()
        live.wait()
    assert [p.name for p in checkpoint.list_checkpoints(tmp_path)] == ["ckpt-0000000007.sgdlab"]


def test_kill_leftovers_are_not_checkpoints(tmp_path):
    (tmp_path / f".ckpt-0000000001.sgdlab.{os.getpid()}.tmp").write_bytes(b"x")
    assert not runs.has_checkpoints(tmp_path)
    runs.refuse_used_dir(tmp_path)  # no error


def test_checkpoint_fields_missing_take_defaults_unknown_ones_are_refused(
    finished, tmp_path, sample
):
    d, ref = finished
    state = checkpoint.load(checkpoint.list_checkpoints(d)[-1])
    older = {**state, "config": {k: v for k, v in state["config"].items() if k != "drop_last"}}
    checkpoint.save(older, tmp_path / "old", step=state["step"])
    run = train(data=sample, checkpoint_dir=tmp_path / "old", resume=True, **FAST)
    assert run.config["drop_last"] is False and _same(run, ref)
    newer = {**state, "config": {**state["config"], "warp_factor": 0.9}}
    checkpoint.save(newer, tmp_path / "new", step=state["step"])
    with pytest.raises(CheckpointError, match=r"does not know \(warp_factor\)"):
        train(data=sample, checkpoint_dir=tmp_path / "new", resume=True, **FAST)


@pytest.mark.parametrize("engine", ["reference", "torch", "fast"])
def test_resume_with_another_thread_count(sample, tmp_path, engine):
    """torch's GEMMs block work by thread count, so the reference and torch engines refuse a
    resume under another count (by name); the fast engine's bits do not depend on it."""
    import torch

    from sgdlab import train
    from sgdlab.errors import CheckpointError
    from sgdlab.training import checkpoint

    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        kw = dict(data=sample, engine=engine, progress=False, checkpoint_dir=tmp_path)
        train(epochs=1, **kw)
        assert checkpoint.latest_valid(tmp_path)[1]["provenance"]["torch_threads"] == 1
        torch.set_num_threads(2)
        if engine == "fast":
            assert len(train(epochs=2, resume=True, **kw).history) == 2
        else:
            with pytest.raises(
                CheckpointError, match=r"--threads 2 differs .* Resume with --threads 1"
            ):
                train(epochs=2, resume=True, **kw)
    finally:
        torch.set_num_threads(old)
