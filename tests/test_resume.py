"""Crash tests: kill -9 training at seeded-random moments (some inside a checkpoint write),
resume, and require the bitwise-identical result of an uninterrupted run; SIGTERM/SIGINT too.

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

from sgdlab import checkpoint

CASES = {  # method -> CLI args: runs of ~1-2 s of training with frequent checkpoints
    "sgd": ["--method", "sgd", "-b", "2", "-e", "3", "--lr", "0.002", "--checkpoint-every", "37"],
    "gd": ["--method", "gd", "-e", "150", "--lr", "0.1", "--checkpoint-every", "3"],
    # every update option at once: momentum buffers and average sums go through checkpoints
    "sgd-options": ["--method", "sgd", "-b", "2", "-e", "3", "--lr", "0.001",
                    "--checkpoint-every", "37", "--momentum", "0.9", "--nesterov",
                    "--weight-decay", "0.01", "--schedule", "cosine", "--average",
                    "--validation", "100"],
}


def _cmd(args, out: Path) -> list[str]:
    return [sys.executable, "-m", "sgdlab", "train", "--sample", "-q", "--json",
            "--engine", "reference", "--save-weights", str(out), *args]  # fmt: skip


def _env(pause: float | None = None) -> dict:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    env.pop("SGDLAB_FAULT_CKPT_PAUSE", None)
    if pause:
        env["SGDLAB_FAULT_CKPT_PAUSE"] = str(pause)
    return env


def _finish(args, d: Path, out: Path) -> dict:
    """Resume (or start, if no checkpoint survived) and run to the end; return the JSON."""
    start = ["--resume", str(d)] if checkpoint.list_checkpoints(d) else ["--checkpoint-dir", str(d)]
    p = subprocess.run(_cmd([*args, *start], out), env=_env(), capture_output=True, text=True,
                       timeout=300)  # fmt: skip
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def _strip(history):
    return [{k: v for k, v in h.items() if k != "train_seconds"} for h in history]


def _reference(args, tmp: Path):
    t0 = time.monotonic()
    doc = _finish(args, tmp / "ref-ckpt", tmp / "ref.pt")
    return doc, torch.load(tmp / "ref.pt", weights_only=True), time.monotonic() - t0


def _kill_matrix(method: str, tmp: Path, n_random: int, n_in_write: int, seed: int) -> int:
    args = CASES[method]
    ref_doc, ref_w, lifetime = _reference(args, tmp)
    rng = random.Random(seed)
    equal = 0
    moments = [("random", rng.uniform(0.2, 0.95) * lifetime) for _ in range(n_random)]
    moments += [("in-write", rng.randrange(1, 6)) for _ in range(n_in_write)]
    for k, (kind, when) in enumerate(moments):
        d, out = tmp / f"run{k}", tmp / f"run{k}.pt"
        if kind == "random":
            p = subprocess.Popen(_cmd([*args, "--checkpoint-dir", str(d)], out), env=_env(),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            time.sleep(when)
        else:  # kill inside the when-th checkpoint write, while it is half written
            p = subprocess.Popen(_cmd([*args, "--checkpoint-dir", str(d)], out),
                                 env=_env(pause=30), stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True)  # fmt: skip
            seen = 0
            while seen < when:
                line = p.stdout.readline()
                assert line, "child ended before the checkpoint write"
                seen += "inside checkpoint write" in line
            assert any(n.endswith(".tmp") for n in os.listdir(d))  # really mid-write
        p.kill()  # SIGKILL: no handler runs
        p.wait(timeout=30)
        doc = _finish(args, d, out)
        w = torch.load(out, weights_only=True)
        same = (torch.equal(w["z.weight"], ref_w["z.weight"])
                and torch.equal(w["z.bias"], ref_w["z.bias"])
                and _strip(doc["history"]) == _strip(ref_doc["history"]))  # fmt: skip
        assert same, f"{method} kill #{k} ({kind} {when}) differs from the uninterrupted run"
        equal += same
    return equal


@pytest.mark.parametrize("method", ["sgd", "gd", "sgd-options"])
def test_kill_9_then_resume_is_bitwise_identical_short(method, tmp_path):
    assert _kill_matrix(method, tmp_path, n_random=1, n_in_write=2, seed=1) == 3


@pytest.mark.slow
@pytest.mark.parametrize("method", ["sgd", "gd", "sgd-options"])
def test_kill_9_then_resume_is_bitwise_identical_20_moments(method, tmp_path):
    assert _kill_matrix(method, tmp_path, n_random=14, n_in_write=6, seed=2026) == 20


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_and_ctrl_c_checkpoint_within_5s_and_resume_exactly(sig, code, tmp_path):
    args = CASES["sgd"]
    ref_doc, ref_w, _ = _reference(args, tmp_path)
    d, out = tmp_path / "run", tmp_path / "run.pt"
    p = subprocess.Popen(_cmd([*args, "--checkpoint-dir", str(d)], out), env=_env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
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
    assert torch.equal(w["z.weight"], ref_w["z.weight"]) and torch.equal(w["z.bias"],
                                                                          ref_w["z.bias"])
    assert _strip(doc["history"]) == _strip(ref_doc["history"])


# -- in process: resume from every kind of checkpoint with every option, every CPU engine -------

OPTIONS = dict(momentum=0.9, nesterov=True, weight_decay=0.01, schedule="cosine", average=True,
               validation=100)  # fmt: skip


@pytest.mark.parametrize("engine", ["reference", "fast", "torch"])
@pytest.mark.parametrize("options", [OPTIONS, dict(momentum=0.5, schedule="step", gamma=0.5),
                                     dict(average=True, schedule="inverse", t0=30.0)])
def test_resume_with_options_is_bitwise_identical(sample, tmp_path, engine, options):
    from sgdlab.engines import available
    from sgdlab.train import train

    if not available(engine, torch.device("cpu")):
        pytest.skip(f"engine {engine} not available")
    kw = dict(batch_size=16, epochs=3, lr=0.01, seed=2, engine=engine, data=sample,
              progress=False, **options)  # fmt: skip
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
