"""The batch-size study end to end on the bundled sample: passes (their records, replays,
stopping), caching, the rows, the JSON document, the text and the figures, the command."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sgdlab.study import StudySpec, run_study
from sgdlab.study.protocol import Pass
from sgdlab.study.search import Problem, exact, run_pass

ROOT = Path(__file__).resolve().parent.parent


def _small(**kw) -> StudySpec:
    base = dict(batch_sizes=(4, 32, "full"), seeds=(0, 1), max_extensions=2, grid_points=4)
    return StudySpec.quick(**{**base, **kw})


def test_a_pass_locates_each_crossing_to_the_resolution(sample):
    spec = _small()
    problem = Problem.of(sample, spec.validation, spec.validation_seed)
    task = Pass.of(spec, "sgd", 32, 0, (0.05, 0.1, 0.2))
    rec = run_pass(task, problem)
    assert rec["n_train"] == 800 and rec["batch"] == 32 and rec["steps_per_epoch"] == 25
    reached = [t for t in rec["trials"] if t["steps"]["train_cost"] is not None]
    assert reached, rec["trials"]
    best = min(t["steps"]["train_cost"] for t in reached)
    tr = next(t for t in reached if t["steps"]["train_cost"] == best)
    assert "coarse" not in tr or "train_cost" not in tr["coarse"]
    # replay the winner alone: the target holds at S and not at the previous fine point p,
    # with S ≤ resolution · p (S is located to the resolution)
    from sgdlab.study.search import _Driver
    from sgdlab.study.trials import Trials

    def nxt(p: int) -> int:
        return max(p + 1, math.floor(p * spec.resolution))

    prev = max(p for p in range(1, best) if nxt(p) == best)
    assert best <= spec.resolution * prev
    for s, holds in ((best, True), (prev, False)):
        one = Trials(problem.images, problem.labels, lrs=[tr["lr"]])
        drv = _Driver(one, problem.n, 32, 0)
        drv.to(s)
        c, _ = exact(*one.weights(), problem.x, problem.labels)
        assert (c[0] <= spec.targets["train_cost"]) == holds, (s, c[0])


def test_study_quick_rows_fits_json_and_cache(sample, tmp_path):
    spec = _small()
    st = run_study(spec, data=sample, cache_dir=tmp_path, workers=1, progress=False)
    doc = json.loads(json.dumps(st.to_dict()))
    assert doc["target"] == {"train_cost": 0.45, "val_accuracy": 0.8}
    keys = {
        "optimizer",
        "target",
        "batch_size",
        "lr",
        "lr_grid",
        "steps",
        "steps_per_seed",
        "examples",
        "reached",
        "seconds",
    }
    assert len(doc["scaling"]) == 2 * 2 * 3 and all(keys <= set(r) for r in doc["scaling"])
    for r in doc["scaling"]:
        assert isinstance(r["batch_size"], int) and r["lr"] in r["lr_grid"]
        ratios = [b / a for a, b in zip(r["lr_grid"], r["lr_grid"][1:], strict=False)]
        assert max(ratios) <= math.sqrt(2) * 1.001
        if r["steps"] is not None:
            assert r["examples"] == r["batch_size"] * r["steps"] and r["seconds"] > 0
            assert r["regime"] in (
                None,
                "perfect scaling",
                "diminishing returns",
                "maximal data parallelism",
            )
            if not r["edge"]:
                assert r["lr_grid"][0] < r["lr"] < r["lr_grid"][-1]  # interior
    assert doc["scaling"][2]["batch_size"] == 800  # the full batch is N
    for o in ("sgd", "nesterov"):
        assert set(doc["fit"][o]) == {"train_cost", "val_accuracy"}
    assert doc["verdict"] and all(isinstance(s, str) for s in doc["verdict"])
    assert doc["noise"]["rows"] and "B_noise" in doc["noise"]["rows"][0]
    again = run_study(spec, data=sample, cache_dir=tmp_path, workers=1, progress=False)

    def strip(rows):  # seconds: the time per step is measured again
        return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]

    assert again.work["passes_trained"] == 0 and strip(again.rows) == strip(st.rows)


def test_figures_from_the_document(sample, tmp_path):
    from sgdlab.study.plots import plot_all

    st = run_study(
        _small(optimizers=("sgd",)),
        data=sample,
        cache_dir=tmp_path,
        workers=1,
        progress=False,
        noise=False,
    )
    files = plot_all(st, None, tmp_path / "fig")
    assert len(files) == 6 and all(Path(f).stat().st_size > 5000 for f in files)


def _cli(*args, timeout=600):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(
        [sys.executable, "-m", "sgdlab", "experiment", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_cli_quick_prints_the_tables_and_the_verdict(tmp_path):
    r = _cli(
        "--quick",
        "--quiet",
        "--workers",
        "2",
        "--cache-dir",
        str(tmp_path),
        "--escape-seeds",
        "5",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)["result"]
    assert doc["data"]["is_sample"] and doc["spec"]["name"] == "quick"
    assert doc["peak"]["aggregate_gflops"] is None or doc["peak"]["aggregate_gflops"] > 0
    r = _cli(
        "--quick", "--quiet", "--cache-dir", str(tmp_path), "--escape-seeds", "5", "--no-noise"
    )
    assert r.returncode == 0, r.stderr
    assert "Verdict:" in r.stdout and "B_crit" in r.stdout and "passes trained now" in r.stdout


@pytest.mark.parametrize(
    "args, word",
    [(["--workers", "0"], "--workers"), (["--config", "x.toml"], "--config")],
)
def test_cli_bad_input(args, word):
    r = _cli("--quick", *args, timeout=120)
    assert r.returncode == 2 and word in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_a_target_no_b_reaches_is_an_error_naming_it(sample, tmp_path):
    from sgdlab.errors import ConfigError

    spec = _small(
        batch_sizes=(32,),
        optimizers=("sgd",),
        max_extensions=0,
        max_steps=30,
        targets={"train_cost": 0.01, "val_accuracy": 0.5},
    )
    with pytest.raises(ConfigError, match="train_cost = 0.01"):
        run_study(spec, data=sample, cache_dir=tmp_path, workers=1, progress=False, noise=False)


def test_cached_passes_reads_a_finished_study_back_without_training(sample, tmp_path):
    from sgdlab.study.protocol import TARGETS
    from sgdlab.study.run import cached_passes, run_passes

    spec = _small()
    assert cached_passes(spec, data=sample, cache_dir=tmp_path) is None  # nothing cached yet
    ran = run_passes(spec, data=sample, cache_dir=tmp_path, workers=1, progress=False)
    files = sorted(tmp_path.glob("*.json"))
    stamps = [f.stat().st_mtime_ns for f in files]
    back = cached_passes(spec, data=sample, cache_dir=tmp_path)
    assert back is not None and back.trained == 0 and back.cached == len(ran.records)
    assert (back.rounds, back.round_sizes) == (ran.rounds, ran.round_sizes)
    dump = lambda recs: sorted(json.dumps(r, sort_keys=True) for r in recs)  # noqa: E731
    assert dump(back.records) == dump(ran.records)
    for key, row in ran.rows.items():
        assert [back.rows[key].best(t) for t in TARGETS] == [row.best(t) for t in TARGETS]
    assert [f.stat().st_mtime_ns for f in sorted(tmp_path.glob("*.json"))] == stamps  # read only
    other = _small(seeds=(5,))
    assert cached_passes(other, data=sample, cache_dir=tmp_path) is None  # another protocol
    files[len(files) // 2].unlink()  # one pass missing: not a finished study
    assert cached_passes(spec, data=sample, cache_dir=tmp_path) is None
