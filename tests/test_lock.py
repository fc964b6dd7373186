"""One run per checkpoint directory (training/lock.py): a second run is refused naming the
holder, a second resume exits 75 (retry later), a dead holder's lock is taken over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from sgdlab import train
from sgdlab.errors import CheckpointError
from sgdlab.training import checkpoint
from sgdlab.training.lock import EXIT_BUSY, LOCK_NAME, RunBusyError, RunLock, RunLockedError

SGDLAB = [sys.executable, "-m", "sgdlab"]


def test_second_holder_is_refused_by_purpose_and_named(tmp_path):
    with RunLock(tmp_path, purpose="new run"):
        holder = json.loads((tmp_path / LOCK_NAME).read_text())
        assert holder["pid"] == os.getpid() and holder["host"] and holder["started"]
        with pytest.raises(RunLockedError, match=rf"process {os.getpid()} on .*new run, since"):
            RunLock(tmp_path, purpose="new run").acquire()
        with pytest.raises(RunBusyError) as e:
            RunLock(tmp_path, purpose="resume").acquire()
        assert e.value.exit_code == EXIT_BUSY == 75
    assert not (tmp_path / LOCK_NAME).exists()  # released: the file goes with the lock
    with RunLock(tmp_path, purpose="resume") as lock:  # free again
        assert lock.took_over is None


def test_a_dead_holders_lock_is_taken_over(tmp_path):
    code = (
        "import sys, os; from sgdlab.training.lock import RunLock; "
        "RunLock(sys.argv[1], purpose='new run').acquire(); print('locked', flush=True); "
        "os.kill(os.getpid(), 9)"
    )
    p = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
    assert p.returncode == -signal.SIGKILL and "locked" in p.stdout
    assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"]  # the dead holder's record
    with RunLock(tmp_path, purpose="resume") as lock:
        assert lock.took_over and lock.took_over["purpose"] == "new run"


def test_a_symlinked_lock_file_is_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    d = tmp_path / "ck"
    d.mkdir()
    (d / LOCK_NAME).symlink_to(victim)
    with pytest.raises(CheckpointError, match="cannot open the lock file"):
        RunLock(d, purpose="new run").acquire()
    assert victim.read_text() == "precious"


def test_train_holds_the_lock_for_the_whole_run(sample, tmp_path):
    seen = []

    def during(_rec):  # inside train(): the directory is locked
        with pytest.raises(RunLockedError):
            RunLock(tmp_path, purpose="new run").acquire()
        seen.append(True)

    train(epochs=2, data=sample, progress=False, checkpoint_dir=tmp_path, callback=during)
    assert seen == [True, True]
    assert not (tmp_path / LOCK_NAME).exists()


def _start_paused(tmp_path, *args):
    """A CLI run that pauses 30 s inside its first checkpoint write (holding the lock)."""
    env = {**os.environ, "SGDLAB_FAULT_CKPT_PAUSE": "30"}
    p = subprocess.Popen(
        [*SGDLAB, "train", "--sample", "--epochs", "2", "-q", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    line = p.stdout.readline()
    while "inside checkpoint write" not in line and time.monotonic() < deadline:
        line = p.stdout.readline()
    assert "inside checkpoint write" in line, p.stderr.read()
    return p


def test_concurrent_cli_runs_into_one_directory(tmp_path):
    d = tmp_path / "ck"
    first = _start_paused(tmp_path, "--checkpoint-dir", str(d), "--checkpoint-every", "epoch")
    try:
        new = subprocess.run(
            [*SGDLAB, "train", "--sample", "--epochs", "1", "--checkpoint-dir", str(d), "-q"],
            capture_output=True,
            text=True,
        )
        assert new.returncode == 2
        assert new.stderr.count("\n") == 1 and f"process {first.pid} on" in new.stderr
        again = subprocess.run(
            [*SGDLAB, "train", "--sample", "--epochs", "2", "--resume", str(d), "-q"],
            capture_output=True,
            text=True,
        )
        assert again.returncode == EXIT_BUSY, again.stderr
        assert again.stderr.count("\n") == 1 and "try again later" in again.stderr
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # the holder died mid-write: the same --resume command now takes over and finishes the run
    done = subprocess.run(
        [*SGDLAB, "train", "--sample", "--epochs", "2", "--resume", str(d), "-q", "--json"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "is gone" in done.stderr
    assert len(json.loads(done.stdout)["result"]["history"]) == 2
    assert checkpoint.list_checkpoints(d) and not (d / LOCK_NAME).exists()
