"""Data-parallel training on torch.distributed (gloo on 127.0.0.1) against the one-process run.

The multi-process tests start the real CLI (``python -m sgdlab train``) as K = 2 ranks with the
launcher's environment variables set by hand (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT); the
elastic test launches ``python -m torch.distributed.run`` (torchrun). All on the bundled sample.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from sgdlab import engines
from sgdlab.model import SoftmaxRegression
from sgdlab.optim import SGDHyper
from sgdlab.optim import init as optim_init
from sgdlab.training import dist
from sgdlab.training.data_parallel import DataParallel

CPU = torch.device("cpu")
HAVE_FAST = engines.available("fast", CPU)
ENGINES = ["reference", "fast"] if HAVE_FAST else ["reference"]
TIMEOUT = 240  # seconds for a whole multi-process run on a loaded 2-core machine


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "RANK",
            "WORLD_SIZE",
            "LOCAL_RANK",
            "MASTER_ADDR",
            "MASTER_PORT",
            "SGDLAB_FAULT_KILL",
            "TORCHELASTIC_RESTART_COUNT",
        )
    }
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    env.update(OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _cmd(args, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "sgdlab",
        "train",
        "--sample",
        "-q",
        "--json",
        "--save-weights",
        str(out),
        *args,
    ]


def _result(stdout: str) -> dict:
    """The result of ``sgdlab train --json``'s document: history, distributed, ..."""
    return json.loads(stdout)["result"]


def _one(args, tmp: Path, name="one") -> tuple[dict, dict]:
    out = tmp / f"{name}.pt"
    p = subprocess.run(_cmd(args, out), env=_env(), capture_output=True, text=True, timeout=TIMEOUT)
    assert p.returncode == 0, p.stderr
    return _result(p.stdout), torch.load(out, weights_only=True)


def _ranks(args, tmp: Path, k: int = 2, name="dp", fault=None, timeout=TIMEOUT):
    """K ranks of the CLI; returns [(returncode, stdout, stderr)] and rank 0's weights path."""
    out, port = tmp / f"{name}.pt", _port()
    procs = []
    for r in range(k):
        extra = {"SGDLAB_FAULT_KILL": fault} if fault else {}
        env = _env(
            RANK=r, LOCAL_RANK=r, WORLD_SIZE=k, MASTER_ADDR="127.0.0.1", MASTER_PORT=port, **extra
        )
        procs.append(
            subprocess.Popen(
                _cmd(args, out), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    try:
        res = [(p.returncode, *p.communicate(timeout=timeout)) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    res = [(p.returncode, o, e) for p, (_, o, e) in zip(procs, res, strict=True)]
    return res, out


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    return ((a - b).norm() / b.norm()).item()


def _assert_same_run(doc, w, ref_doc, ref_w, rel=1e-6):
    flat = torch.cat([w["z.weight"].flatten(), w["z.bias"]])  # (7850,): a bias can be ~0
    ref = torch.cat([ref_w["z.weight"].flatten(), ref_w["z.bias"]])
    assert _rel(flat, ref) < rel, _rel(flat, ref)
    assert w["z.weight"].abs().max() > 0.01  # training moved the weights
    for h, r in zip(doc["history"], ref_doc["history"], strict=True):
        assert h["order_sha256"] == r["order_sha256"] and h["steps"] == r["steps"]
        for key in ("mean_minibatch_cost", "train_cost", "test_cost", "val_cost"):
            assert (key in h) == (key in r)
            if key in r:
                assert h[key] == pytest.approx(r[key], rel=1e-6), key


# -- world size 1: the same code path, no process group --------------------------------------


def test_split_rule_keeps_the_minibatch_intact():
    for m in (0, 1, 7, 16, 1000):
        for k in (1, 2, 3, 5):
            pieces = [dist.split(m, k, r) for r in range(k)]
            assert pieces[0][0] == 0 and pieces[-1][1] == m
            assert all(a[1] == b[0] for a, b in zip(pieces, pieces[1:], strict=False))  # contiguous
            sizes = [b - a for a, b in pieces]
            assert sizes == [m // k + (r < m % k) for r in range(k)]  # m mod k get +1


def test_world_of_one_without_a_process_group():
    assert not torch.distributed.is_initialized()
    w = dist.world()
    assert (w.rank, w.size, w.is_main) == (0, 1, True) and dist.is_main()
    t = torch.arange(3.0)
    assert dist.all_reduce_(t) is t and t.tolist() == [0.0, 1.0, 2.0]
    assert dist.any_rank(True) and not dist.any_rank(False)
    assert dist.broadcast_object({"a": 1}) == {"a": 1}
    dist.barrier()
    with dist.session() as w2:  # no WORLD_SIZE: nothing is initialized
        assert w2.size == 1 and not torch.distributed.is_initialized()


def test_importing_sgdlab_dist_initializes_nothing():
    code = (
        "import torch, sgdlab, sgdlab.training.dist, sgdlab.training.data_parallel, "
        "sgdlab.training.trainer; "
        "print(torch.distributed.is_initialized())"
    )
    env = _env(WORLD_SIZE=2, RANK=0, MASTER_ADDR="127.0.0.1", MASTER_PORT=_port())
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == "False"


HYPERS = {
    "plain": SGDHyper(),
    "momentum": SGDHyper(momentum=0.9),
    "nesterov+wd+avg": SGDHyper(momentum=0.9, nesterov=True, weight_decay=1e-3, average=True),
}


@pytest.mark.parametrize("hyper", list(HYPERS))
@pytest.mark.parametrize("name", ENGINES)
def test_share_path_at_world_size_1_equals_the_engine(sample, name, hyper):
    """The data-parallel step (gradient sums -> all_reduce (no-op) -> update) at K = 1 gives the
    engine's own stretch of steps, with every SGD option."""
    eng = engines.get_engine(name, sample.train_images, sample.train_labels, CPU)
    h = HYPERS[hyper]
    perm = torch.randperm(1000, generator=torch.Generator().manual_seed(1))
    lrs = torch.linspace(0.01, 0.005, 63, dtype=torch.float64)  # b = 16: 63 steps, last short
    runs = []
    for use_dp in (False, True):
        m, st = SoftmaxRegression(), optim_init()
        step = DataParallel(eng, n_total=1000).sgd_steps if use_dp else eng.sgd_steps
        c = torch.cat(
            [step(m, perm, 16, lrs[i:j], i, j, hyper=h, state=st) for i, j in ((0, 30), (30, 63))]
        )
        runs.append((m, st, c))
    (m0, s0, c0), (m1, s1, c1) = runs
    assert _rel(m1.z.weight.detach(), m0.z.weight.detach()) < 1e-6
    assert _rel(m1.z.bias.detach(), m0.z.bias.detach()) < 1e-6
    torch.testing.assert_close(c1, c0, rtol=1e-6, atol=1e-7)
    if h.momentum:
        assert _rel(s1.buf_w, s0.buf_w) < 1e-5
    if h.average:
        assert s1.avg_count == s0.avg_count == 63 and _rel(s1.avg_w, s0.avg_w) < 1e-6


# -- two ranks over gloo on 127.0.0.1 ---------------------------------------------------------


@pytest.mark.parametrize("name", ENGINES)
def test_two_ranks_sgd_epoch_b16_equals_one_process(tmp_path, name):
    args = ["--engine", name, "-b", "16", "-e", "1"]
    ref_doc, ref_w = _one(args, tmp_path)
    res, out = _ranks(args, tmp_path)
    assert [r[0] for r in res] == [0, 0], res[0][2] + res[1][2]
    assert res[1][1] == ""  # rank 1 prints nothing
    doc = _result(res[0][1])
    assert doc["distributed"]["world_size"] == 2 and doc["distributed"]["backend"] == "gloo"
    assert doc["distributed"]["allreduce_calls"] == 63  # one per step (1000/16 -> 63 steps)
    _assert_same_run(doc, torch.load(out, weights_only=True), ref_doc, ref_w)


@pytest.mark.parametrize(
    "args",
    [
        ["-b", "7", "-e", "1", "--lr", "0.01"],  # uneven shares 4 + 3, last minibatch 6 = 3 + 3
        ["--method", "gd", "-e", "1", "--lr", "0.5"],  # one full-GD step, 500 samples per rank
        pytest.param(
            ["-b", "16", "-e", "1", "--momentum", "0.9"], marks=pytest.mark.slow
        ),  # one epoch with momentum (momentum is also in "sgd-all-options")
        [
            "-b",
            "16",
            "-e",
            "2",
            "--momentum",
            "0.9",
            "--nesterov",
            "--weight-decay",
            "1e-3",
            "--schedule",
            "cosine",
            "--average",
            "--validation",
            "100",
        ],  # every option at once
        pytest.param(
            ["--method", "gd", "-e", "3", "--lr", "0.5", "--momentum", "0.5", "--average"],
            marks=pytest.mark.slow,
        ),
    ],
    ids=["sgd-b7-uneven", "gd-one-step", "sgd-momentum", "sgd-all-options", "gd-momentum"],
)
def test_two_ranks_uneven_shares_and_full_gd_equal_one_process(tmp_path, args):
    ref_doc, ref_w = _one(args, tmp_path)
    res, out = _ranks(args, tmp_path)
    assert [r[0] for r in res] == [0, 0], res[0][2] + res[1][2]
    _assert_same_run(_result(res[0][1]), torch.load(out, weights_only=True), ref_doc, ref_w)


def test_a_rank_that_dies_ends_every_rank_with_a_message(tmp_path):
    t0 = time.monotonic()
    res, _ = _ranks(
        [
            "-b",
            "16",
            "-e",
            "1",
            "--checkpoint-every",
            "10",
            "--checkpoint-dir",
            str(tmp_path / "ck"),
            "--dist-timeout",
            "20",
        ],
        tmp_path,
        fault="1:25",
        timeout=120,
    )
    assert res[1][0] == -9  # killed (SIGKILL) at step 25
    code, _, err = res[0]
    assert code == 3, err
    assert "rank 0 of 2: all_reduce failed, a rank died" in err and "Traceback" not in err
    assert time.monotonic() - t0 < 120


def test_a_rendezvous_that_cannot_form_times_out(tmp_path):
    env = _env(RANK=0, LOCAL_RANK=0, WORLD_SIZE=2, MASTER_ADDR="127.0.0.1", MASTER_PORT=_port())
    t0 = time.monotonic()
    p = subprocess.run(
        _cmd(["--dist-timeout", "2"], tmp_path / "x.pt"),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 3 and "the ranks did not meet at 127.0.0.1:" in p.stderr
    assert "within 2 s" in p.stderr and time.monotonic() - t0 < 60


def test_missing_launcher_variables_are_named(tmp_path):
    env = _env(WORLD_SIZE=2, RANK=0)
    p = subprocess.run(
        _cmd([], tmp_path / "x.pt"), env=env, capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 2 and "MASTER_ADDR, MASTER_PORT is not" in p.stderr


def test_resume_with_another_world_size_equals_up_to_rounding(tmp_path):
    """Killed (kill -9) as one process at step 30, resumed as two ranks: the same run as the
    uninterrupted one-process run, up to rounding (not bitwise)."""
    d = tmp_path / "ck"
    args = ["-b", "16", "-e", "2", "--momentum", "0.9", "--checkpoint-every", "10"]
    p = subprocess.run(
        _cmd([*args, "--checkpoint-dir", str(d)], tmp_path / "x.pt"),
        env=_env(SGDLAB_FAULT_KILL="0:30"),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert p.returncode == -9 and "kill -9 of rank 0 at step 30" in p.stderr
    res, out = _ranks([*args, "--resume", str(d)], tmp_path)
    assert [r[0] for r in res] == [0, 0], res[0][2] + res[1][2]
    doc = _result(res[0][1])
    assert doc["distributed"]["world_size"] == 2 and doc["history"][-1]["steps"] == 126
    ref_doc, ref_w = _one(args[:-2], tmp_path)  # uncheckpointed: no --checkpoint-every
    _assert_same_run(doc, torch.load(out, weights_only=True), ref_doc, ref_w)


# -- elastic: torchrun restarts the group after kill -9 of a rank -------------------------------


def _torchrun(args, tmp: Path, name: str, fault=None) -> tuple[dict, dict, str]:
    d, out = tmp / f"{name}-ck", tmp / f"{name}.pt"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "--max-restarts",
        "1",
        "--monitor-interval",
        "0.2",
        "-m",
        "sgdlab",
        "train",
        "--sample",
        "-q",
        "--json",
        "--save-weights",
        str(out),
        "--checkpoint-dir",
        str(d),
        "--resume",
        str(d),
        "--dist-timeout",
        "60",
        *args,
    ]
    extra = {"SGDLAB_FAULT_KILL": fault} if fault else {}
    p = subprocess.Popen(
        cmd,
        env=_env(**extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = p.communicate(timeout=TIMEOUT)
    finally:  # never leave workers behind: end torchrun's whole process group
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    assert p.returncode == 0, stderr[-3000:]
    return _result(stdout), torch.load(out, weights_only=True), stderr


@pytest.mark.slow
def test_elastic_restart_after_kill_9_equals_the_uninterrupted_run(tmp_path):
    args = [
        "--engine",
        "fast" if HAVE_FAST else "reference",
        "-b",
        "16",
        "-e",
        "2",
        "--checkpoint-every",
        "25",
    ]
    ref_doc, ref_w, _ = _torchrun(args, tmp_path, "ref")
    doc, w, err = _torchrun(args, tmp_path, "killed", fault="1:90")  # mid epoch 2 (63 steps)
    assert "kill -9 of rank 1 at step 90" in err and "no checkpoint in" in err
    for key in ("z.weight", "z.bias"):  # the all-reduce order is fixed: bitwise
        assert torch.equal(w[key], ref_w[key])
    strip = [{k: v for k, v in h.items() if k != "train_seconds"} for h in doc["history"]]
    assert strip == [
        {k: v for k, v in h.items() if k != "train_seconds"} for h in ref_doc["history"]
    ]
    one_doc, one_w = _one(args[:-2], tmp_path)  # and the one-process run, up to rounding
    _assert_same_run(doc, w, one_doc, one_w)


@pytest.mark.slow
def test_two_nodes_of_one_process_via_c10d_rendezvous(tmp_path):
    """Multi-node as far as one machine allows: two torchrun agents ("nodes") meet at a c10d
    rendezvous on 127.0.0.1; the run equals the one-process run."""
    args, port, procs = ["-b", "16", "-e", "1"], _port(), []
    for node in range(2):
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nnodes",
            "2",
            "--nproc-per-node",
            "1",
            "--rdzv-backend",
            "c10d",
            "--rdzv-endpoint",
            f"127.0.0.1:{port}",
            "--rdzv-id",
            "sgdlab-test",
            "--rdzv-conf",
            "join_timeout=120",
            "-m",
            "sgdlab",
            "train",
            "--sample",
            "-q",
            "--json",
            "--save-weights",
            str(tmp_path / f"node{node}.pt"),
            *args,
        ]
        procs.append(
            subprocess.Popen(
                cmd,
                env=_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
        )
    try:
        outs = [p.communicate(timeout=TIMEOUT) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
    assert [p.returncode for p in procs] == [0, 0], outs[0][1][-2000:] + outs[1][1][-2000:]
    main = [i for i, (o, _) in enumerate(outs) if o.strip()]
    assert len(main) == 1  # exactly one node hosts rank 0 and prints
    doc = _result(outs[main[0]][0])
    assert doc["distributed"]["world_size"] == 2
    ref_doc, ref_w = _one(args, tmp_path)
    _assert_same_run(
        doc, torch.load(tmp_path / f"node{main[0]}.pt", weights_only=True), ref_doc, ref_w
    )
