"""``sgdlab train``'s logs: --log-csv (rewritten on resume, then appended), --tensorboard (an
optional extra), per-epoch lines that reach a pipe as they come."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time

import pytest

from sgdlab.cli.main import main
from sgdlab.training import checkpoint
from sgdlab.training.logs import CsvLog
from sgdlab.training.trainer import train

KW = dict(batch_size=16, epochs=4, lr=0.01, seed=3, engine="fast", validation=100)


def _rows(path):
    with open(path, newline="") as f:
        return [{k: v for k, v in r.items() if k != "train_seconds"} for r in csv.DictReader(f)]


def test_csv_one_row_per_epoch_with_the_records_keys(sample, tmp_path):
    f = tmp_path / "log.csv"
    log = CsvLog(f)
    seen = []

    def callback(rec):
        log(rec)
        seen.append(len(_rows(f)))  # flushed: the row is on disk when the next one comes

    run = train(**KW, data=sample, progress=False, callback=callback, on_begin=log.begin)
    log.close()
    rows = _rows(f)
    assert seen == [1, 2, 3, 4] and len(rows) == 4
    with open(f, newline="") as fh:
        assert next(csv.reader(fh)) == list(run.history[0])
    assert [float(r["val_cost"]) for r in rows] == [h["val_cost"] for h in run.history]


def test_csv_of_a_resumed_run_equals_the_uninterrupted_one(sample, tmp_path):
    full_csv = tmp_path / "full.csv"
    log = CsvLog(full_csv)
    ck = dict(checkpoint_every=20, keep=1000)
    train(
        **KW,
        data=sample,
        progress=False,
        checkpoint_dir=tmp_path / "all",
        callback=log,
        on_begin=log.begin,
        **ck,
    )
    log.close()
    files = checkpoint.list_checkpoints(tmp_path / "all")
    mid = files[len(files) // 2]  # inside epoch 2 or 3: the CSV holds rows past it
    d = tmp_path / "resumed"
    d.mkdir()
    (d / mid.name).write_bytes(mid.read_bytes())
    again = tmp_path / "again.csv"
    again.write_bytes(full_csv.read_bytes())  # what the killed run had written
    code = main(
        ["train", "--sample", "-q", "--json", "--resume", str(d), "--log-csv", str(again)]
        + ["--checkpoint-every", "20"]
    )
    assert code == 0
    assert _rows(again) == _rows(full_csv) and len(_rows(again)) == 4


def test_per_epoch_lines_reach_a_pipe_as_they_come(tmp_path):
    cmd = [sys.executable, "-m", "sgdlab", "train", "--sample", "--epochs", "3"]
    cmd += ["--engine", "reference", "-b", "2"]  # epochs of a few tenths of a second
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONUNBUFFERED", None)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        running_at_first = None
        for line in p.stdout:
            if line.split()[:2] == ["1", "500"]:
                running_at_first = p.poll() is None
                break
        assert running_at_first, "the first epoch's line came only at the end (or never)"
        rest = p.stdout.read()
        assert "final test accuracy" in rest
    finally:
        p.kill()
        p.wait(timeout=30)


def test_tensorboard_missing_is_one_line_exit_2(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    code = main(["train", "--sample", "-q", "--tensorboard", str(tmp_path / "tb")])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "pip install 'sgdlab[tensorboard]'" in err


def _events(log_dir):
    ea = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator"
    ).EventAccumulator(str(log_dir))
    ea.Reload()
    tags = ea.Tags()["scalars"]
    return {t: [(e.step, e.value) for e in ea.Scalars(t)] for t in tags}


def test_tensorboard_event_file_holds_the_scalars(sample, tmp_path, capsys):
    pytest.importorskip("tensorboard")
    import json

    tb = tmp_path / "tb"
    code = main(
        ["train", "--sample", "-q", "--json", "-e", "3", "--validation", "100"]
        + ["--tensorboard", str(tb)]
    )
    assert code == 0
    history = json.loads(capsys.readouterr().out)["result"]["history"]
    ev = _events(tb)
    assert {"train_cost", "test_accuracy", "val_cost", "steps"} <= set(ev)
    for tag in ("train_cost", "test_accuracy", "val_cost", "mean_minibatch_cost"):
        assert [s for s, _ in ev[tag]] == [1, 2, 3]
        assert [v for _, v in ev[tag]] == pytest.approx([h[tag] for h in history], rel=1e-6)


def test_tensorboard_of_a_resumed_run_has_each_epoch_once(sample, tmp_path):
    pytest.importorskip("tensorboard")
    from sgdlab.training.logs import TensorBoardLog

    tb = tmp_path / "tb"
    log = TensorBoardLog(tb)
    ck = dict(checkpoint_every=20, keep=1000)
    full = train(
        **KW, data=sample, progress=False, checkpoint_dir=tmp_path / "all", callback=log,
        on_begin=log.begin, **ck,
    )  # fmt: skip
    log.close()
    files = checkpoint.list_checkpoints(tmp_path / "all")
    d = tmp_path / "resumed"
    d.mkdir()
    mid = files[len(files) // 2]
    (d / mid.name).write_bytes(mid.read_bytes())
    time.sleep(1.1)  # a new event file (their names carry the second)
    log = TensorBoardLog(tb)
    train(checkpoint_dir=d, resume=True, data=sample, progress=False, callback=log,
          on_begin=log.begin)  # fmt: skip
    log.close()
    ev = _events(tb)
    assert [s for s, _ in ev["test_cost"]] == [1, 2, 3, 4]
    assert [v for _, v in ev["test_cost"]] == pytest.approx(
        [h["test_cost"] for h in full.history], rel=1e-6
    )
