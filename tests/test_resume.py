"""Crash tests: kill -9 training at seeded-random moments (before the first checkpoint, at
random, inside a checkpoint write, after the end), run the *same command line* again
(``--checkpoint-dir D --resume D``: it starts the run when D holds no checkpoint, else resumes)
and require the bitwise-identical result of an uninterrupted run; SIGTERM/SIGINT too.

The child is the real CLI (`python -m sgdlab train ...`) on the bundled sample with the reference
engine. Moments are uniform over the measured lifetime of an uninterrupted child; in-write kills
use the test hook SGDLAB_FAULT_CKPT_PAUSE, which pauses halfway through a checkpoint write.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from sgdlab.training import checkpoint

CASES = {  # method -> CLI args: runs of ~1-2 s of training with frequent checkpoints
    "sgd": ["--method", "sgd", "-b", "2", "-e", "3", "--lr", "0.002", "--checkpoint-every", "37"],
    "gd": ["--method", "gd", "-e", "150", "--lr", "0.1", "--checkpoint-every", "3"],
    # every update option at once: momentum buffers and average sums go through checkpoints
    "sgd-options": [
        "--method",
        "sgd",
        "-b",
        "2",
        "-e",
        "3",
        "--lr",
        "0.001",
        "--checkpoint-every",
        "37",
        "--momentum",
        "0.9",
        "--nesterov",
        "--weight-decay",
        "0.01",
        "--schedule",
        "cosine",
        "--average",
        "--validation",
        "100",
    ],
    # early stopping (stops after epoch 4 of 6): the best weights and the counter go through
    # checkpoints
    "sgd-early-stop": ["-b", "8", "-e", "6", "--lr", "0.5", "--checkpoint-every", "37"]
    + ["--validation", "100", "--early-stop", "1"],
}


def _cmd(args, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "sgdlab",
        "train",
        "--sample",
        "-q",
        "--json",
        "--engine",
        "reference",
        "--save-weights",
        str(out),
        *args,
    ]


def _env(pause: float | None = None) -> dict:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    env.pop("SGDLAB_FAULT_CKPT_PAUSE", None)
    if pause:
        env["SGDLAB_FAULT_CKPT_PAUSE"] = str(pause)
    return env


def _one_line(args, d: Path) -> list[str]:
    """The single command line a job scheduler repeats after every crash."""
    return [*args, "--checkpoint-dir", str(d), "--resume", str(d)]


def _finish(args, d: Path, out: Path) -> dict:
    """Run the one command line to the end (it resumes, or starts if no checkpoint survived)."""
    p = subprocess.run(
        _cmd(_one_line(args, d), out), env=_env(), capture_output=True, text=True, timeout=300
    )
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)["result"]


def _strip(history):
    return [{k: v for k, v in h.items() if k != "train_seconds"} for h in history]


def _reference(args, tmp: Path):
    """The uninterrupted run; also when its first checkpoint appeared and how long it lived."""
    d, out = tmp / "ref-ckpt", tmp / "ref.pt"
    t0 = time.monotonic()
    p = subprocess.Popen(
        _cmd(_one_line(args, d), out),
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = None
    while p.poll() is None:
        if first is None and checkpoint.list_checkpoints(d):
            first = time.monotonic() - t0
        time.sleep(0.005)
    stdout, stderr = p.communicate()
    assert p.returncode == 0, stderr
    assert "no checkpoint in" in stderr  # the same command line started the run
    lifetime = time.monotonic() - t0
    doc = json.loads(stdout)["result"]
    return doc, torch.load(out, weights_only=True), first or lifetime, lifetime


def _kill_matrix(
    method: str, tmp: Path, *, n_before: int, n_random: int, n_in_write: int, seed: int
) -> dict[str, int]:
    """Kill the one command line at seeded moments, run it again, compare with the run that
    never stopped. Returns counts: moments, bitwise-equal ones, kills before any checkpoint."""
    args = CASES[method]
    ref_doc, ref_w, first, lifetime = _reference(args, tmp)
    rng = random.Random(seed)
    moments = [("before-first", rng.uniform(0.05, 0.6) * first) for _ in range(n_before)]
    moments += [("random", rng.uniform(0.2, 0.95) * lifetime) for _ in range(n_random)]
    moments += [
        ("in-write", w) for w in [1, *(rng.randrange(2, 6) for _ in range(n_in_write - 1))]
    ][:n_in_write]
    moments.append(("after-end", None))
    counts = {"moments": 0, "equal": 0, "no_checkpoint_at_kill": 0}
    for k, (kind, when) in enumerate(moments):
        d, out = tmp / f"run{k}", tmp / f"run{k}.pt"
        cmd = _cmd(_one_line(args, d), out)
        if kind in ("before-first", "random"):
            p = subprocess.Popen(
                cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            time.sleep(when)
        elif kind == "in-write":  # kill inside the when-th checkpoint write, half written
            p = subprocess.Popen(
                cmd,
                env=_env(pause=30),
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            seen = 0
            while seen < when:
                line = p.stdout.readline()
                assert line, "child ended before the checkpoint write"
                seen += "inside checkpoint write" in line
            assert any(n.endswith(".tmp") for n in os.listdir(d))  # really mid-write
        else:  # after the end: the command finished; the scheduler runs it once more
            p = subprocess.run(cmd, env=_env(), capture_output=True, timeout=300)
            assert p.returncode == 0
        if kind != "after-end":
            p.kill()  # SIGKILL: no handler runs
            p.wait(timeout=30)
        counts["no_checkpoint_at_kill"] += not checkpoint.list_checkpoints(d)
        if kind == "before-first":
            assert not checkpoint.list_checkpoints(d), "killed too late for 'before-first'"
        doc = _finish(args, d, out)
        w = torch.load(out, weights_only=True)
        same = (
            torch.equal(w["z.weight"], ref_w["z.weight"])
            and torch.equal(w["z.bias"], ref_w["z.bias"])
            and _strip(doc["history"]) == _strip(ref_doc["history"])
            and (doc["stopped_early"], doc["best_epoch"])
            == (ref_doc["stopped_early"], ref_doc["best_epoch"])
        )
        assert same, f"{method} kill #{k} ({kind} {when}) differs from the uninterrupted run"
        counts["moments"] += 1
        counts["equal"] += same
    print(
        f"{method}: {counts['equal']}/{counts['moments']} bitwise equal, "
        f"{counts['no_checkpoint_at_kill']} killed before any checkpoint existed"
    )
    return counts


@pytest.mark.parametrize(
    "method",
    [
        "sgd",
        pytest.param("gd", marks=pytest.mark.slow),
        pytest.param("sgd-options", marks=pytest.mark.slow),
        pytest.param("sgd-early-stop", marks=pytest.mark.slow),
    ],
)  # the default run keeps plain SGD; every method is also in the slow 20-moment matrix below
# (early stopping's bitwise resume is also in test_early_stop.py)
def test_kill_9_one_command_line_is_bitwise_identical_short(method, tmp_path):
    """Representative: before the first checkpoint, inside the first write, after the end."""
    c = _kill_matrix(method, tmp_path, n_before=1, n_random=0, n_in_write=1, seed=1)
    assert c["equal"] == c["moments"] == 3 and c["no_checkpoint_at_kill"] >= 2


@pytest.mark.slow
@pytest.mark.parametrize("method", ["sgd", "gd", "sgd-options", "sgd-early-stop"])
def test_kill_9_one_command_line_is_bitwise_identical_20_moments(method, tmp_path):
    c = _kill_matrix(method, tmp_path, n_before=4, n_random=10, n_in_write=5, seed=2026)
    assert c["equal"] == c["moments"] == 20 and c["no_checkpoint_at_kill"] >= 5


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_and_ctrl_c_checkpoint_within_5s_and_resume_exactly(sig, code, tmp_path):
    args = CASES["sgd"]
    ref_doc, ref_w, _, _ = _reference(args, tmp_path)
    d, out = tmp_path / "run", tmp_path / "run.pt"
    p = subprocess.Popen(
        _cmd(_one_line(args, d), out),
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not checkpoint.list_checkpoints(d):  # training has started
        assert time.monotonic() < deadline and p.poll() is None
        time.sleep(0.02)
    before = {f.name for f in checkpoint.list_checkpoints(d)}
    t0 = time.monotonic()
    p.send_signal(sig)
    _, err = p.communicate(timeout=30)
    assert time.monotonic() - t0 < 5.0
    assert p.returncode == code and "resume with: sgdlab train --resume" in err
    assert "Traceback" not in err
    assert {f.name for f in checkpoint.list_checkpoints(d)} - before  # a new checkpoint
    doc = _finish(args, d, out)
    w = torch.load(out, weights_only=True)
    assert torch.equal(w["z.weight"], ref_w["z.weight"]) and torch.equal(
        w["z.bias"], ref_w["z.bias"]
    )
    assert _strip(doc["history"]) == _strip(ref_doc["history"])


# -- in process: resume from every kind of checkpoint with every option, every CPU engine -------

OPTIONS = dict(
    momentum=0.9, nesterov=True, weight_decay=0.01, schedule="cosine", average=True, validation=100
)


@pytest.mark.parametrize("engine", ["reference", "fast", "torch"])
@pytest.mark.parametrize(
    "options",
    [
        OPTIONS,
        dict(momentum=0.5, schedule="step", gamma=0.5),
        dict(average=True, schedule="inverse", t0=30.0),
    ],
)
def test_resume_with_options_is_bitwise_identical(sample, tmp_path, engine, options):
    from sgdlab.engines import available
    from sgdlab.training.trainer import train

    if not available(engine, torch.device("cpu")):
        pytest.skip(f"engine {engine} not available")
    kw = dict(
        batch_size=16,
        epochs=3,
        lr=0.01,
        seed=2,
        engine=engine,
        data=sample,
        progress=False,
        **options,
    )
    full = train(checkpoint_dir=tmp_path / "all", checkpoint_every=20, keep=1000, **kw)
    files = checkpoint.list_checkpoints(tmp_path / "all")
    picks = [files[2], files[len(files) // 2], files[-2]]  # mid-epoch, ..., near the end
    state = checkpoint.load(files[-1])
    if options.get("average"):  # the final checkpoint holds the averaged weights
        assert torch.equal(state["average_weight"], full.model.z.weight.detach())
    if options.get("momentum"):
        assert state["optim"]["buf_w"].abs().max() > 0
    for f in picks:
        d = tmp_path / f.stem
        d.mkdir()
        (d / f.name).write_bytes(f.read_bytes())
        again = train(checkpoint_dir=d, resume=True, data=sample, progress=False)
        assert torch.equal(again.model.z.weight, full.model.z.weight), f.name
        assert torch.equal(again.model.z.bias, full.model.z.bias), f.name
        assert _strip(again.history) == _strip(full.history), f.name
        assert again.config == full.config
