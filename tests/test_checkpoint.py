"""Checkpoint files: atomic, verified, validated, never executing code; newest valid wins."""

import hashlib
import os
import pickle
import random

import pytest
import torch

from sgdlab import train
from sgdlab.errors import CheckpointError, ConfigError
from sgdlab.training import checkpoint


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, sample):
    d = tmp_path_factory.mktemp("ckpt")
    train(
        epochs=2,
        data=sample,
        engine="reference",
        progress=False,
        checkpoint_dir=d,
        checkpoint_every=20,
        keep=3,
    )
    return d


def test_keeps_newest_k_and_they_load(run_dir):
    files = checkpoint.list_checkpoints(run_dir)
    assert [f.name for f in files] == [
        "ckpt-0000000100.sgdlab",
        "ckpt-0000000120.sgdlab",
        "ckpt-0000000126.sgdlab",
    ]
    s = checkpoint.load(files[-1])
    assert s["step"] == 126 and s["epoch"] == 2 and len(s["history"]) == 2
    assert s["provenance"]["seed"] == 0 and s["provenance"]["engine"] == "reference"
    assert s["provenance"]["data"]["sha256"] and s["provenance"]["torch_version"]
    assert not [p for p in os.listdir(run_dir) if p.endswith(".tmp")]


def _variants(blob: bytes, rng: random.Random):
    for _ in range(50):
        yield "truncated", blob[: rng.randrange(0, len(blob))]
    for _ in range(50):
        i = rng.randrange(len(blob))
        yield "bitflip", blob[:i] + bytes([blob[i] ^ (1 << rng.randrange(8))]) + blob[i + 1 :]


def test_every_truncation_and_bit_flip_is_rejected_and_previous_offered(run_dir, tmp_path):
    files = checkpoint.list_checkpoints(run_dir)
    blob = files[-1].read_bytes()
    previous = tmp_path / files[-2].name
    previous.write_bytes(files[-2].read_bytes())
    newest = tmp_path / files[-1].name
    rejected = 0
    for _kind, bad in _variants(blob, random.Random(0)):
        newest.write_bytes(bad)
        with pytest.raises(CheckpointError):
            checkpoint.load(newest)
        warnings = []
        path, state = checkpoint.latest_valid(tmp_path, warn=warnings.append)
        assert path == previous and state["step"] == 120 and len(warnings) == 1
        rejected += 1
    assert rejected == 100


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch sgdlab-pwned",))


def test_checkpoint_crafted_to_run_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    payload = pickle.dumps({"weight": _Evil()})
    blob = checkpoint.MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload
    path = tmp_path / "ckpt-0000000001.sgdlab"
    path.write_bytes(blob)  # the attacker can compute the hash: it guards against damage only
    with pytest.raises(CheckpointError, match="refused to load"):
        checkpoint.load(path)
    assert not (tmp_path / "sgdlab-pwned").exists()


def test_shapes_and_finiteness_are_validated(tmp_path):
    good = {
        "weight": torch.zeros(10, 784),
        "bias": torch.zeros(10),
        "epoch": 0,
        "step": 1,
        "sampler": {},
        "config": {},
        "history": [],
    }
    for bad, words in [
        ({"weight": torch.zeros(10, 783)}, "10x784"),
        ({"bias": torch.zeros(9)}, "bias"),
        ({"weight": torch.full((10, 784), float("nan"))}, "not finite"),
    ]:
        path = checkpoint.save({**good, **bad}, tmp_path, step=1)
        with pytest.raises(CheckpointError, match=words):
            checkpoint.load(path)
    incomplete = {k: v for k, v in good.items() if k != "sampler"}
    with pytest.raises(CheckpointError, match="missing fields"):
        checkpoint.load(checkpoint.save(incomplete, tmp_path, step=2))


def test_empty_dir_and_unwritable_dir_are_clear(tmp_path, sample):
    with pytest.raises(CheckpointError, match="no checkpoint found"):
        checkpoint.latest_valid(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="cannot create checkpoint directory"):
        train(epochs=1, data=sample, progress=False, checkpoint_dir=blocker / "sub")


def test_resume_on_other_data_is_refused(run_dir, sample):
    from dataclasses import replace

    other = replace(sample, sha256={k: "0" * 64 for k in sample.sha256})
    with pytest.raises(CheckpointError, match="other data"):
        train(data=other, progress=False, checkpoint_dir=run_dir, resume=True)


@pytest.mark.parametrize("every", [0, -3, "often", 2.5])
def test_bad_checkpoint_every(sample, every, tmp_path):
    with pytest.raises(ConfigError, match="checkpoint every"):
        train(data=sample, progress=False, checkpoint_dir=tmp_path, checkpoint_every=every)


def test_resume_under_another_engine_or_device_is_refused(run_dir, sample):
    with pytest.raises(CheckpointError, match=r"--engine 'fast' \(the checkpoint has 'reference'"):
        train(data=sample, progress=False, checkpoint_dir=run_dir, resume=True, engine="fast")
    with pytest.raises(CheckpointError, match=r"--device 'cuda' \(the checkpoint has 'cpu'"):
        train(data=sample, progress=False, checkpoint_dir=run_dir, resume=True, device="cuda")


def test_divergence_keeps_only_good_checkpoints(sample, tmp_path):
    import re

    from sgdlab.errors import DivergenceError

    with pytest.raises(DivergenceError, match=r"at step \d+") as e:
        train(
            data=sample,
            progress=False,
            lr=1e36,
            engine="reference",
            checkpoint_dir=tmp_path,
            checkpoint_every=1,
            keep=100,
        )
    bad_step = int(re.search(r"at step (\d+)", str(e.value)).group(1))
    files = checkpoint.list_checkpoints(tmp_path)
    assert files, "expected checkpoints before the divergence"
    for f in files:  # every kept checkpoint is valid (finite) and from before the bad step
        assert checkpoint.load(f)["step"] < bad_step


def _copy_run(run_dir, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    for f in checkpoint.list_checkpoints(run_dir):
        (d / f.name).write_bytes(f.read_bytes())
    return d


@pytest.mark.parametrize("damage", ["truncated", "garbage", "symlink"])
def test_pruning_never_keeps_a_damaged_file_over_a_valid_one(run_dir, tmp_path, damage):
    """A valid checkpoint plus a newer damaged file (an interrupted copy, garbage, a symlink):
    resuming with --keep 1 keeps the run's valid checkpoints and never counts the damaged one."""
    d = _copy_run(run_dir, tmp_path)
    newest = checkpoint.list_checkpoints(d)[-1]
    state = checkpoint.load(newest)
    for f in checkpoint.list_checkpoints(d)[:-1]:
        f.unlink()
    for f in checkpoint.list_checkpoints(d):  # only the step-126 checkpoint of a 2-epoch run
        assert checkpoint.step_of(f) == 126
    bad = d / "ckpt-0000000999.sgdlab"
    if damage == "truncated":
        bad.write_bytes(newest.read_bytes()[:1000])
    elif damage == "garbage":
        bad.write_bytes(b"not a checkpoint")
    else:
        target = tmp_path / "elsewhere"
        target.write_bytes(b"x")
        bad.symlink_to(target)
    warned = []
    run = train(
        epochs=3,
        data=_sample(),
        engine="reference",
        progress=False,
        checkpoint_dir=d,
        checkpoint_every=20,
        keep=1,
        resume=True,
    )
    assert state["step"] == 126 and run.history[-1]["epoch"] == 3
    names = sorted(p.name for p in checkpoint.list_checkpoints(d))
    assert names == ["ckpt-0000000189.sgdlab", bad.name]  # the newest valid one, and the
    assert checkpoint.is_valid(d / names[0]) and not checkpoint.is_valid(bad)  # untouched one
    _p, latest = checkpoint.latest_valid(d, warn=warned.append)
    assert latest["step"] == 189 and warned  # a crash now still has the run
    if damage == "symlink":
        assert (tmp_path / "elsewhere").read_bytes() == b"x"


def _sample():
    from sgdlab.data import load_sample

    return load_sample()


def test_prune_deletes_older_damaged_and_surplus_valid_files_only(run_dir, tmp_path):
    d = _copy_run(run_dir, tmp_path)  # valid 100, 120, 126
    (d / "ckpt-0000000050.sgdlab").write_bytes(b"damaged")
    (d / "ckpt-0000000110.sgdlab").write_bytes(b"damaged")
    (d / "ckpt-0000000500.sgdlab").write_bytes(b"newer and damaged")
    deleted = checkpoint.prune(d, step=126, keep=2)
    assert sorted(p.name for p in deleted) == [
        "ckpt-0000000050.sgdlab",
        "ckpt-0000000100.sgdlab",
        "ckpt-0000000110.sgdlab",
    ]
    left = [p.name for p in checkpoint.list_checkpoints(d)]
    assert left == ["ckpt-0000000120.sgdlab", "ckpt-0000000126.sgdlab", "ckpt-0000000500.sgdlab"]


def test_long_step_names_are_listed_in_step_order(tmp_path):
    for step in (5, 10**10 + 1, 9_999_999_999):
        (tmp_path / f"ckpt-{step:010d}.sgdlab").write_bytes(b"x")
    assert [checkpoint.step_of(p) for p in checkpoint.list_checkpoints(tmp_path)] == [
        5,
        9_999_999_999,
        10**10 + 1,
    ]


def test_a_checkpoint_dir_without_directory_fsync_does_not_abort_the_run(
    sample, tmp_path, monkeypatch
):
    """EINVAL from fsync of a directory (some FUSE, SMB, vboxsf mounts): one warning, the run
    and its checkpoints go on."""
    import errno
    import stat
    import warnings

    from sgdlab import atomic

    monkeypatch.setattr(atomic, "_warned_dir_fsync", False)
    real = os.fsync

    def fsync(fd):
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = train(
            epochs=2, data=sample, progress=False, checkpoint_dir=tmp_path, checkpoint_every=20
        )
    fsync_warnings = [w for w in caught if "cannot fsync directory" in str(w.message)]
    assert len(fsync_warnings) == 1 and len(run.history) == 2
    assert checkpoint.latest_valid(tmp_path)[1]["step"] == 126


def test_planted_symlinks_at_old_temporary_names_are_not_followed(sample, tmp_path, capsys):
    """sgdlab 0.1 wrote ``.P.tmp`` next to ``--save-weights P`` and ``report -o P``: a link
    planted there must not make sgdlab overwrite the link's target."""
    from sgdlab.cli.main import main

    victim = tmp_path / "victim"
    victim.write_text("precious")
    out = tmp_path / "w.pt"
    (tmp_path / ".w.pt.tmp").symlink_to(victim)
    assert main(["train", "--sample", "--epochs", "1", "-q", "--save-weights", str(out)]) == 0
    assert victim.read_text() == "precious" and out.stat().st_size > 30_000
