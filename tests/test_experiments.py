"""sgdlab.experiments: grid, lr rule, runs vs train(), cache, divergence, interruption, verdict,
and the ``sgdlab experiment`` command on the sample."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from sgdlab.errors import ConfigError, TrainingInterrupted
from sgdlab.experiments import FULL, RunSpec, SweepSpec, run_sweep
from sgdlab.experiments import cache as cache_mod
from sgdlab.experiments import run as run_mod
from sgdlab.experiments.summary import choose_lr, table
from sgdlab.experiments.verdict import compare, ladder, verdict

ROOT = Path(__file__).resolve().parents[1]


def tiny(**kw) -> SweepSpec:
    base = dict(
        batch_sizes=(16, FULL),
        lr_grids={"16": (0.01, 0.03), FULL: (0.1,)},
        seeds=(0, 1),
        epochs={"16": 1, FULL: 3},
        evals_per_epoch=2,
        gd_eval_every=1,
        validation=200,
        noise_evals=5,
        name="tiny",
    )
    return SweepSpec(**{**base, **kw})


# ---------------------------------------------------------------- grid and lr rule


def test_full_grid_shape_and_log_spacing():
    spec = SweepSpec.full()
    runs = spec.runs()
    sgd = [r for r in runs if not r.is_gd]
    gd = [r for r in runs if r.is_gd]
    assert {r.batch_size for r in sgd} == {1, 16, 128, 1024}
    assert len(sgd) == 4 * 5 * 3 and len(gd) == 5  # GD from zeros is deterministic: one seed
    for key, grid in spec.lr_grids.items():
        ratios = [b / a for a, b in zip(grid, grid[1:], strict=False)]
        assert all(abs(r - math.sqrt(10)) / math.sqrt(10) < 0.02 for r in ratios), key
    centres = [spec.lr_grids[k][2] for k in ("1", "16", "128", "1024")]
    assert centres == sorted(centres) and centres[0] < centres[-1] / 100  # centred per b
    assert spec.epochs[FULL] > 10 * spec.epochs["16"]


@pytest.mark.parametrize(
    "bad, word",
    [
        (dict(batch_sizes=(0,)), "batch size"),
        (dict(batch_sizes=(16, 32)), "no lr grid for batch size 32"),
        (dict(seeds=(1, 1)), "seeds"),
        (dict(lr_grids={"16": (float("nan"),), FULL: (0.1,)}), "lr"),
        (dict(targets=(1.5,)), "targets"),
    ],
)
def test_spec_validation(bad, word):
    with pytest.raises(ConfigError, match=word):
        tiny(**bad)


def test_from_dict_overrides_and_refuses_unknown():
    spec = SweepSpec.from_dict({"seeds": [4, 5], "epochs": {"16": 3}}, base="quick")
    assert spec.seeds == (4, 5) and spec.epochs["16"] == 3
    assert spec.epochs[FULL] == SweepSpec.quick().epochs[FULL]  # merged, not replaced
    with pytest.raises(ConfigError, match="unknown experiment setting 'bogus'"):
        SweepSpec.from_dict({"bogus": 1})


def _rec(b, lr, seed, val_costs, *, diverged=False, accs=None, secs=None, spe=10):
    accs = accs or [0.5] * len(val_costs)
    secs = secs or [0.1 * i for i in range(len(val_costs))]
    curve = [
        {
            "epoch": i * 1.0,
            "step": i * spe,
            "train_seconds": s,
            "train_cpu_seconds": s,
            "train_cost": v,
            "val_cost": v,
            "val_accuracy": a,
            "minibatch_cost": None,
        }
        for i, (v, a, s) in enumerate(zip(val_costs, accs, secs, strict=True))
    ]
    return {
        "spec": {
            "batch_size": b,
            "lr": lr,
            "seed": seed,
            "epochs": len(val_costs) - 1,
            "kind": "curve",
        },
        "curve": curve,
        "diverged": diverged,
        "steps_per_epoch": spe,
        "test_accuracy": 0.8,
    }


def test_lr_rule_lowest_mean_val_cost_diverged_excluded():
    recs = [
        _rec(16, 0.01, 0, [2.3, 0.6]),
        _rec(16, 0.01, 1, [2.3, 0.5]),  # mean 0.55
        _rec(16, 0.03, 0, [2.3, 0.52]),
        _rec(16, 0.03, 1, [2.3, 0.54]),  # mean 0.53 best
        _rec(16, 0.1, 0, [2.3, 0.1]),
        _rec(16, 0.1, 1, [2.3, 0.2], diverged=True),
    ]
    c = choose_lr(recs)["16"]
    assert c["lr"] == 0.03 and not c["at_edge"] and c["diverged_lrs"] == [0.1]
    assert c["val_cost"] == pytest.approx(0.53)
    c = choose_lr(recs[:4])["16"]
    assert c["lr"] == 0.03 and c["at_edge"]  # best at the largest lr tried
    assert choose_lr([_rec(16, 0.1, 0, [2.3, 0.1], diverged=True)])["16"]["lr"] is None


# ---------------------------------------------------------------- verdict from synthetic data


def _ladder_records(c1, cE):
    """One seed per b; C after 1 and 2 epochs given per b; times proportional to steps."""
    out = []
    for b, a, e in zip((1, 16, 128), c1, cE, strict=True):
        out.append(_rec(b, 0.01, 0, [2.3, a, e], accs=[0.1, 0.82, 0.85 if b == 16 else 0.8]))
    return out


def test_verdict_is_computed_not_hardcoded():
    rows = table(_ladder_records([0.50, 0.45, 0.60], [0.45, 0.40, 0.50]), targets=(0.84,))
    assert ladder(rows, "cost_at_common_epochs")["answer"] == "not always"
    assert ladder(rows, "cost_at_common_epochs")["pays_down_to"] == "16"
    text = verdict(rows)
    assert "**not always**" in text and "b=1 vs b=16: worse" in text
    assert "Fastest: **b=16**" in text and "convex" in text and "(lowest: b=16)" in text
    rows = table(_ladder_records([0.40, 0.45, 0.60], [0.35, 0.40, 0.50]), targets=(0.84,))
    assert ladder(rows, "cost_at_common_epochs")["answer"] == "yes"
    assert "**yes**" in verdict(rows)
    rows = table(_ladder_records([0.60, 0.60, 0.60], [0.5, 0.5, 0.5]), targets=(0.84,))
    assert ladder(rows, "cost_at_common_epochs")["answer"] == "no"


def test_compare_respects_seed_spread():
    a = {"mean": 0.40, "min": 0.39, "max": 0.41}
    assert compare(a, {"mean": 0.45, "min": 0.44, "max": 0.46}) == "better"
    assert compare(a, {"mean": 0.42, "min": 0.40, "max": 0.44}) == "tie"  # ranges overlap
    assert compare({"mean": 0.5, "min": 0.5, "max": 0.5}, a) == "worse"
    assert compare({"mean": None}, a) == "n/a"


# ---------------------------------------------------------------- one run


def test_eval_points():
    assert run_mod.eval_points(3750, 5) == [750, 1500, 2250, 3000, 3750]
    assert run_mod.eval_points(2, 5) == [1, 2]


def test_run_matches_train_bitwise(sample):
    from sgdlab.training.trainer import train

    spec = RunSpec(
        batch_size=16,
        lr=0.01,
        seed=3,
        epochs=2,
        evals_per_epoch=3,
        validation=200,
        validation_seed=1,
        engine="fast",
    )
    rec, model = run_mod._Run(spec, sample).go()
    ref = train(
        batch_size=16,
        epochs=2,
        lr=0.01,
        seed=3,
        data=sample,
        validation=200,
        validation_seed=1,
        engine="fast",
        progress=False,
    )
    assert torch.equal(model.z.weight, ref.model.z.weight)
    assert torch.equal(model.z.bias, ref.model.z.bias)
    assert rec["curve"][-1]["val_accuracy"] == ref.history[-1]["val_accuracy"]
    assert len(rec["curve"]) == 1 + 2 * 3 and rec["curve"][0]["train_cost"] == pytest.approx(
        math.log(10)
    )
    secs = [p["train_cpu_seconds"] for p in rec["curve"]]
    assert secs == sorted(secs) and secs[0] == 0.0


def test_diverged_run_is_recorded(sample):
    rec = run_mod.run_one(RunSpec(batch_size=16, lr=3e38, seed=0, epochs=2, validation=200), sample)
    assert rec["diverged"] and rec["diverged_at_step"] >= 1 and rec["test_accuracy"] is None


# ---------------------------------------------------------------- cache


def test_cache_key_changes_with_config_data_and_version():
    s = RunSpec(batch_size=16, lr=0.01, seed=0, epochs=1)
    k = cache_mod.key(s, {"a": "1"}, "0.1.0")
    assert k == cache_mod.key(
        RunSpec(batch_size=16, lr=0.01, seed=0, epochs=1), {"a": "1"}, "0.1.0"
    )
    assert k != cache_mod.key(
        RunSpec(batch_size=16, lr=0.01, seed=1, epochs=1), {"a": "1"}, "0.1.0"
    )
    assert k != cache_mod.key(s, {"a": "2"}, "0.1.0")
    assert k != cache_mod.key(s, {"a": "1"}, "0.2.0")


def test_cache_ignores_damaged_and_foreign_files(tmp_path):
    c = cache_mod.Cache(tmp_path, data_sha256={"a": "1"}, version="v")
    s = RunSpec(batch_size=16, lr=0.01, seed=0, epochs=1)
    assert c.get(s) is None
    p = c.put(s, {"x": 1})
    assert (
        c.get(s) == {"x": 1} and not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*"))
    )
    p.write_text(p.read_text()[:-5])  # truncated
    assert c.get(s) is None
    other = cache_mod.Cache(tmp_path, data_sha256={"a": "2"}, version="v")
    c.put(s, {"x": 1})
    assert other.get(s) is None


def _counting(monkeypatch):
    calls = []
    real = run_mod.run_one

    def counted(spec, data):
        calls.append(spec)
        return real(spec, data)

    monkeypatch.setattr(run_mod, "run_one", counted)
    return calls


def test_sweep_second_run_reads_cache(sample, tmp_path, monkeypatch):
    calls = _counting(monkeypatch)
    first = run_sweep(tiny(), data=sample, cache_dir=tmp_path, workers=1, progress=False)
    n = len(calls)
    assert n == len(tiny().runs()) + 1 and first.trained == n  # + one noise run (b=16)
    files = {p: p.stat().st_mtime_ns for p in tmp_path.glob("*.json")}
    assert len(files) == n
    second = run_sweep(tiny(), data=sample, cache_dir=tmp_path, workers=1, progress=False)
    assert len(calls) == n and second.trained == 0  # nothing retrained
    assert {p: p.stat().st_mtime_ns for p in tmp_path.glob("*.json")} == files
    assert second.table() == first.table()
    doc = json.loads(json.dumps(second.to_dict()))
    assert doc["runs_cached"] == n and doc["verdict"] == first.verdict()


def test_an_edited_cached_record_is_rerun_and_told_once(sample, tmp_path, monkeypatch, capsys):
    first = run_sweep(tiny(), data=sample, cache_dir=tmp_path, workers=1, progress=False)
    files = sorted(tmp_path.glob("*.json"))
    for f, value in zip(files[:2], (0.001, float("nan")), strict=True):  # a number, a NaN typed in
        doc = json.loads(f.read_text())
        rec = doc["content"]["record"]
        key = "val_cost" if "val_cost" in rec else next(k for k in rec if k.endswith("cost"))
        rec[key] = value
        f.write_text(json.dumps(doc))
    capsys.readouterr()
    calls = _counting(monkeypatch)
    again = run_sweep(tiny(), data=sample, cache_dir=tmp_path, workers=1, progress=False)
    err = capsys.readouterr().err
    assert len(calls) == 2 and again.trained == 2  # exactly the two edited runs
    assert err.count("does not match its checksum") == 1
    assert _timeless(again.table()) == _timeless(first.table())  # the same numbers again
    assert again.chosen() == first.chosen()


def _timeless(rows):  # what does not depend on the measured seconds
    return [{k: r[k] for k in ("batch_size", "lr", "seeds", "epoch1", "final")} for r in rows]


def test_sweep_goes_on_after_divergence(sample, tmp_path):
    spec = tiny(lr_grids={"16": (0.01, 3e38), FULL: (0.1,)}, seeds=(0,))
    sw = run_sweep(spec, data=sample, cache_dir=tmp_path, workers=1, progress=False)
    div = [r for r in sw.runs if r.record["diverged"]]
    assert [r.spec.lr for r in div] == [3e38]
    assert sw.chosen()["16"]["lr"] == 0.01 and sw.chosen()["16"]["diverged_lrs"] == [3e38]


def test_interrupted_sweep_keeps_finished_runs(sample, tmp_path, monkeypatch):
    real, calls = run_mod.run_one, []

    def stop_third(spec, data):
        calls.append(spec)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(spec, data)

    monkeypatch.setattr(run_mod, "run_one", stop_third)
    with pytest.raises(TrainingInterrupted, match="2 of 5 sweep runs are finished and cached"):
        run_sweep(tiny(), data=sample, cache_dir=tmp_path, workers=1, progress=False)
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 2 and not list(tmp_path.glob(".*.tmp"))
    for f in files:
        assert json.loads(f.read_text())["content"]["schema"] == cache_mod.SCHEMA
    monkeypatch.setattr(run_mod, "run_one", real)
    counted = _counting(monkeypatch)
    sw = run_sweep(tiny(), data=sample, cache_dir=tmp_path, workers=1, progress=False)
    assert len(counted) == 3 + 1 and sw.trained == 4  # the 3 not finished + the noise run


def test_parallel_workers_match_in_process(sample, tmp_path):
    spec = tiny(batch_sizes=(16,), seeds=(0,), lr_grids={"16": (0.01, 0.03)})
    par = run_sweep(spec, data=sample, cache_dir=tmp_path / "p", workers=2, progress=False)
    one = run_sweep(spec, data=sample, cache_dir=tmp_path / "o", workers=1, progress=False)
    for a, b in zip(par.runs, one.runs, strict=True):
        assert a.spec == b.spec
        assert [p["val_cost"] for p in a.record["curve"]] == [
            p["val_cost"] for p in b.record["curve"]
        ]
        assert a.record["torch_threads"] == 1


# ---------------------------------------------------------------- the command


def _cli(*args, env=None, **kw):
    e = {**os.environ, "PYTHONPATH": str(ROOT / "src"), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "sgdlab", "experiment", "--sweep", *args],
        env=e,
        capture_output=True,
        text=True,
        **kw,
    )


def test_cli_quick_on_sample_end_to_end(tmp_path):
    args = (
        "--quick",
        "--sample",
        "--quiet",
        "--json",
        "--cache-dir",
        str(tmp_path / "c"),
        "--workers",
        "1",
        "--escape-seeds",
        "20",
        "--plot",
        str(tmp_path / "fig"),
    )
    r = _cli(*args, timeout=600)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)["result"]
    assert [row["batch_size"] for row in doc["table"]] == ["1", "16", "128", "full"]
    assert doc["data"]["is_sample"] and doc["runs_trained"] > 0
    assert "Per epoch" in doc["verdict"] and doc["escape"]["escape"]["full"] == 0.0
    assert all(Path(f).stat().st_size > 1000 for f in doc["figures"])


def test_cli_full_disk_in_the_cache_is_one_line(tmp_path):
    from full_disk import fill, full_disk

    with full_disk(tmp_path / "disk") as d:
        fill(d, leave=2048)
        r = _cli("--sweep", "--quick", "--sample", "-q", "--cache-dir", str(d), timeout=300)
        assert r.returncode == 2, r.stderr
        assert r.stderr.count("\n") == 1 and "No space left on device" in r.stderr
        assert sorted(p.name for p in d.iterdir()) == ["filler"]  # no temporary left


@pytest.mark.slow
def test_cli_rerun_reads_the_cache(tmp_path):
    args = (
        "--quick",
        "--sample",
        "--quiet",
        "--json",
        "--cache-dir",
        str(tmp_path),
        "--escape-seeds",
        "5",
    )
    first = json.loads(_cli(*args, timeout=600).stdout)["result"]
    again = json.loads(_cli(*args, timeout=600).stdout)["result"]
    assert first["runs_trained"] > 0 and again["runs_trained"] == 0
    assert again["table"] == first["table"]


@pytest.mark.parametrize(
    "args, word",
    [
        (["--workers", "0"], "--workers"),
        (["--seeds", "x"], "--seeds"),
        (["--plot", str(ROOT / "README.md")], "--plot"),
        (["--format", "gif"], "--format"),
    ],
)
def test_cli_bad_input_one_line_exit_2(args, word):
    r = _cli("--quick", "--sample", *args, timeout=120)
    assert r.returncode == 2 and word in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_cli_config_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[sweep]\nbogus = 1\n")
    r = _cli("--quick", "--sample", "--config", str(bad), timeout=120)
    assert r.returncode == 2 and "bogus" in r.stderr
    bad.write_text("wrokers = 2\n")
    r = _cli("--quick", "--sample", "--config", str(bad), timeout=120)
    assert r.returncode == 2 and "wrokers" in r.stderr


@pytest.mark.slow
def test_ctrl_c_keeps_finished_runs(tmp_path):
    """A real SIGINT to the command while 2 worker processes train: exit 130, valid files."""
    cache, cfg = tmp_path / "c", tmp_path / "long.toml"
    cfg.write_text('[sweep]\nepochs = {"1" = 30, "16" = 60, "128" = 200, "full" = 500}\n')
    e = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sgdlab",
            "experiment",
            "--sweep",
            "--quick",
            "--sample",
            "--quiet",
            "--config",
            str(cfg),
            "--cache-dir",
            str(cache),
            "--workers",
            "2",
        ],
        env=e,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.time() + 300
    while time.time() < deadline and len(list(cache.glob("*.json"))) < 2:
        assert p.poll() is None, p.communicate()
        time.sleep(0.2)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert "finished and cached" in err
    files = list(cache.glob("*.json"))
    assert 2 <= len(files) < 17 and not list(cache.glob(".*.tmp"))  # stopped mid-sweep
    for f in files:
        assert json.loads(f.read_text())["content"]["record"]["curve"]
