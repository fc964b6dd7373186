"""The study on Dask (sgdlab.study.cluster): the same records as the local processes, a worker
killed by kill -9, a lost scheduler, Ctrl-C, the data check. Real processes on 127.0.0.1 only."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from loopback import closed_port

from sgdlab import sealed
from sgdlab.errors import ConfigError, DistributedError
from sgdlab.study.cluster import DataRequest, _worker_data, parse_scheduler
from sgdlab.study.protocol import StudySpec
from sgdlab.study.run import run_passes

pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[1]
WALL = ("train_seconds", "eval_seconds", "replay_seconds")  # wall-clock fields of a record


def records(cache_dir: Path) -> dict[str, dict]:
    """Every cached pass in ``cache_dir``: file name -> the sealed document, with the record's
    wall-clock fields removed (everything else must be bitwise equal)."""
    out = {}
    for p in sorted(cache_dir.glob("*.json")):
        doc = sealed.read(p).content
        assert isinstance(doc, dict), p
        doc["record"] = {k: v for k, v in doc["record"].items() if k not in WALL}
        out[p.name] = doc
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory, sample):
    """The --quick study's passes in 2 local worker processes (the default path)."""
    d = tmp_path_factory.mktemp("local")
    out = run_passes(StudySpec.quick(), data=sample, cache_dir=d, workers=2, progress=False)
    assert out.trained > 0 and out.cached == 0
    return records(d)


def test_local_cluster_equals_local_processes(reference, sample, tmp_path, capsys):
    out = run_passes(
        StudySpec.quick(), data=sample, cache_dir=tmp_path, workers=2, scheduler="local"
    )
    mine = records(tmp_path)
    assert out.trained == len(reference) and out.cached == 0
    assert mine.keys() == reference.keys()
    for name, doc in reference.items():  # every record and identity, bitwise
        assert json.dumps(mine[name], sort_keys=True) == json.dumps(doc, sort_keys=True), name
    err = capsys.readouterr().err
    assert "local Dask cluster of 2 workers" in err and "study passes" in err
    again = run_passes(
        StudySpec.quick(), data=sample, cache_dir=tmp_path, workers=1, scheduler="local"
    )
    assert again.trained == 0 and again.cached == len(reference)


def _tiny() -> StudySpec:
    return StudySpec.quick(batch_sizes=(64,), optimizers=("sgd",), seeds=(0,), max_extensions=0)


def test_a_worker_with_other_data_is_refused_clearly(sample, tmp_path):
    sha = dict(sample.sha256)
    sha["train-images-idx3-ubyte"] = "0" * 64  # the client's data differs from the workers'
    other = dataclasses.replace(sample, sha256=sha)
    with pytest.raises(ConfigError, match=r"worker tcp://127\.0\.0\.1:\d+ has other data") as e:
        run_passes(
            _tiny(), data=other, cache_dir=tmp_path, workers=1, scheduler="local", progress=False
        )
    assert "train-images-idx3-ubyte" in str(e.value) and "SGDLAB_DATA" in str(e.value)
    assert not list(tmp_path.glob("*.json"))  # nothing cached


def test_worker_data_checks_hashes_and_version(sample):
    good = DataRequest.of(sample)
    assert _worker_data(good).sha256 == sample.sha256
    assert _worker_data(good) is _worker_data(good)  # loaded once per process
    bad = dataclasses.replace(good, sha256=(("train-labels-idx1-ubyte", "f" * 64),))
    with pytest.raises(ConfigError, match="other data than the client"):
        _worker_data(bad)
    with pytest.raises(ConfigError, match="runs sgdlab .*, the client 0.0.0"):
        _worker_data(dataclasses.replace(good, version="0.0.0"))


@pytest.mark.parametrize(
    ("text", "want"),
    [("local", "local"), ("tcp://127.0.0.1:8786", "tcp://127.0.0.1:8786"), (" tls://h:1 ", None)],
)
def test_scheduler_addresses(text, want):
    assert parse_scheduler(text) == (want or text.strip())


@pytest.mark.parametrize(
    "text", ["", "127.0.0.1:8786", "http://127.0.0.1:8786", "tcp://127.0.0.1", "tcp://:80", "x"]
)
def test_bad_scheduler_addresses(text):
    with pytest.raises(ConfigError, match="scheduler must be 'local' or tcp://HOST:PORT"):
        parse_scheduler(text)


def test_workers_go_with_a_local_cluster_only(sample, tmp_path):
    with pytest.raises(ConfigError, match="--workers goes with --scheduler local"):
        run_passes(_tiny(), data=sample, cache_dir=tmp_path, workers=2, scheduler="tcp://h:1")


def test_no_dask_says_how_to_install(sample, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(ConfigError, match=r"pip install 'sgdlab\[cluster\]'"):
        run_passes(_tiny(), data=sample, cache_dir=tmp_path, scheduler="local")


def test_an_unreachable_scheduler_is_one_clear_error(sample, tmp_path):
    from sgdlab.study.cluster import Cluster

    addr = f"tcp://127.0.0.1:{closed_port()}"
    with pytest.raises(DistributedError, match=f"cannot reach the Dask scheduler at {addr}"):
        Cluster(addr, timeout=1, progress=False).open()


# ----------------------------------------------------------- real dask scheduler and workers


def _dask(*args: str, log: Path, env: dict | None = None) -> subprocess.Popen:
    exe = Path(sys.executable).with_name("dask")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "dask"]
    return subprocess.Popen(
        [*cmd, *args],
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
        env={**os.environ, **(env or {})},
    )


class Dask:
    """A real ``dask scheduler`` and ``dask worker`` processes (no nanny: a killed worker stays
    dead) on 127.0.0.1, on free ports."""

    def __init__(self, tmp: Path, workers: int) -> None:
        self.tmp, self.procs = tmp, []
        tmp.mkdir(parents=True, exist_ok=True)
        sfile = tmp / "scheduler.json"
        sfile.unlink(missing_ok=True)
        self.scheduler = _dask(
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--dashboard-address",  # --no-dashboard still listens on :8787 (all interfaces)
            "127.0.0.1:0",
            "--scheduler-file",
            str(sfile),
            log=tmp / "scheduler.log",
        )
        self.procs.append(self.scheduler)
        deadline = time.monotonic() + 60
        while not sfile.exists() or not sfile.read_text().strip():
            assert self.scheduler.poll() is None, (tmp / "scheduler.log").read_text()
            assert time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.1)
        time.sleep(0.2)  # written atomically? read again until it parses
        self.address = json.loads(sfile.read_text())["address"]
        assert self.address.startswith("tcp://127.0.0.1:")
        self.workers = [
            _dask(
                "worker",
                self.address,
                "--nthreads",
                "1",
                "--no-nanny",
                "--host",
                "127.0.0.1",
                "--dashboard-address",
                "127.0.0.1:0",
                "--local-directory",
                str(tmp / f"w{i}"),
                "--name",
                f"w{i}",
                log=tmp / f"worker{i}.log",
                env={"SGDLAB_CACHE_DIR": str(tmp / "sgdlab-cache")},
            )
            for i in range(workers)
        ]
        self.procs += self.workers
        from distributed import Client

        with Client(self.address, timeout=30, set_as_default=False) as c:
            c.wait_for_workers(workers, timeout=60)

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def _when_cached(cache: Path, count: int, action, stop: threading.Event) -> threading.Thread:
    """Run ``action()`` in a thread once ``count`` passes are cached in ``cache``."""

    def watch() -> None:
        while not stop.is_set():
            if len(list(cache.glob("*.json"))) >= count:
                action()
                return
            time.sleep(0.05)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    return t


def test_a_worker_killed_mid_study_is_rescheduled_and_records_are_equal(
    reference, sample, tmp_path
):
    from distributed import Client

    dask = Dask(tmp_path / "dask", workers=2)
    cache, stop, seen = tmp_path / "cache", threading.Event(), {}
    victim = dask.workers[1]  # named w1

    def kill() -> None:
        with Client(dask.address, timeout=10, set_as_default=False) as c:
            info = c.scheduler_info()["workers"]
            addr = next(a for a, w in info.items() if w.get("name") == "w1")
            seen["busy"] = len(c.processing(workers=[addr]).get(addr, ()))
        os.kill(victim.pid, signal.SIGKILL)
        seen["cached"] = len(list(cache.glob("*.json")))

    try:
        watcher = _when_cached(cache, 4, kill, stop)
        out = run_passes(
            StudySpec.quick(), data=sample, cache_dir=cache, progress=False, scheduler=dask.address
        )
        stop.set()
        watcher.join(5)
        assert victim.wait(5) == -signal.SIGKILL
        assert seen["busy"] >= 1  # it held a pass when it died: Dask ran that pass again
        assert seen["cached"] < len(reference)  # killed mid-study
        assert out.trained == len(reference)
        assert records(cache) == reference
    finally:
        stop.set()
        dask.stop()


@pytest.mark.slow
def test_a_lost_scheduler_is_a_clear_error_and_the_rerun_continues(reference, sample, tmp_path):
    dask = Dask(tmp_path / "d1", workers=1)
    cache, stop = tmp_path / "cache", threading.Event()
    try:
        _when_cached(cache, 3, lambda: os.kill(dask.scheduler.pid, signal.SIGKILL), stop)
        with pytest.raises(DistributedError, match="lost the Dask scheduler at tcp://127") as e:
            run_passes(
                StudySpec.quick(), data=sample, cache_dir=cache, progress=False,
                scheduler=dask.address,
            )  # fmt: skip
        assert "rerun the same command to continue from the cache" in str(e.value)
    finally:
        stop.set()
        dask.stop()
    kept = len(list(cache.glob("*.json")))
    assert 3 <= kept < len(reference)
    dask = Dask(tmp_path / "d2", workers=1)
    try:
        out = run_passes(
            StudySpec.quick(), data=sample, cache_dir=cache, progress=False, scheduler=dask.address
        )
    finally:
        dask.stop()
    assert out.cached >= kept and out.trained == len(reference) - out.cached
    assert records(cache) == reference


@pytest.mark.slow
def test_ctrl_c_cancels_the_tasks_and_keeps_the_finished_records(reference, tmp_path):
    import psutil

    cache = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "SGDLAB_CACHE_DIR": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sgdlab", "experiment", "--quick", "--scheduler", "local",
         "--workers", "2", "--cache-dir", str(cache), "--no-noise", "--escape-seeds", "5"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while len(list(cache.glob("*.json"))) < 3:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    children = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    last = err.strip().splitlines()[-1]
    assert "interrupted after" in last and "finished and cached" in last, err
    assert "Traceback" not in err, err
    kept = records(cache)
    assert 3 <= len(kept) < len(reference)
    assert all(reference[name] == doc for name, doc in kept.items())  # finished ones, intact
    _, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, f"worker processes left running: {alive}"
