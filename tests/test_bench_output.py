"""What ``sgdlab bench`` prints (cli/bench.py) and what it may claim: the default fits 100
columns and ``--verbose`` holds the long form; under foreign load (the load reading
monkeypatched) the explanation and the regime labels are withheld; batch sizes above N are
dropped; exercise 4's one-line answer agrees with the medians in the JSON
(:func:`sgdlab.measure.stats.exercise4`). No timing assertions: the machine may be shared."""

import copy
import json
import math
import re

import pytest

from sgdlab.cli.bench import WIDTH, format_table
from sgdlab.cli.main import main
from sgdlab.formatting import fmt_seconds
from sgdlab.measure.bench import DEFAULT_BATCH_SIZES, benchmark
from sgdlab.measure.stats import exercise4, overhead_fit, withhold_if_foreign

REGIMES = ("per-step overhead", "SGD costlier per sample", "GD costlier per sample", "≈ N/b")
ANSWER = re.compile(r"costs ([\d,.]+) SGD iterations at b = ([\d,]+) \(N/b = ([\d,.]+)\)")


def fake_load(mp, share):
    """The run's load reading: other processes used ``share`` of the CPUs."""
    from sgdlab.measure.machine import LoadMonitor

    load = {"wall_seconds": 1.0, "other_cpu_seconds": 0.0, "loadavg_1min_at_start": None}
    mp.setattr(LoadMonitor, "stop", lambda self: {**load, "other_cpu_share": share})


@pytest.fixture(scope="module")
def quiet(sample):
    """The reference engine on the sample, default batch sizes, the load reading quiet."""
    with pytest.MonkeyPatch.context() as mp:
        fake_load(mp, 0.0)
        return benchmark(sample, engine="reference", quick=True)


def run_cli(capsys, *argv):
    code = main(["bench", "--sample", "--quick", "-q", "--engine", "reference", *argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def library_doc(out: str) -> dict:
    """``sgdlab bench --json``'s document put back into :func:`benchmark`'s result (what
    :func:`format_table` takes): its result, with the protocol as config and the environment."""
    from sgdlab.measure.bench import SCHEMA

    doc = json.loads(out)
    r = doc["result"]
    return {**r, "schema": SCHEMA, "config": r["protocol"], "environment": doc["environment"]}


def widths(text):
    return [len(line) for line in text.splitlines()]


def busy(result, share=0.5):
    """``result`` as if other processes had used ``share`` of the CPUs during it."""
    doc = copy.deepcopy(result)
    doc["environment"]["machine_load"]["other_cpu_share"] = share
    doc["interpretation"] = withhold_if_foreign(doc["results"], doc["environment"]["machine_load"])
    doc["exercise4"] = exercise4(doc["results"][0], withheld=doc["interpretation"]["reason"])
    return doc


def test_default_fits_100_columns_and_verbose_is_the_long_form(quiet):
    long_words = copy.deepcopy(quiet)
    long_words["environment"]["cpu_model"] = "Some Vendor(R) Processor " * 8
    long_words["data"]["source"] = "/very/long/path/" + "d" * 150
    long_words["skipped_engines"] = {"torch": "not available on cpu " + "because " * 20}
    long_words["plot"] = "/tmp/" + "p" * 140 + ".png"
    for doc in (quiet, busy(quiet), long_words, busy(long_words)):
        text = format_table(doc)
        assert max(widths(text)) <= WIDTH, [ln for ln in text.splitlines() if len(ln) > WIDTH]
        assert "epoch est." not in text and "×roof" not in text  # the long form's columns
    verbose = format_table(quiet, verbose=True)
    assert max(widths(verbose)) > WIDTH  # the wide tables are --verbose's
    for word in ("epoch est.", "epoch meas.", "per sample", "×roof", "sgemm torch.mm"):
        assert word in verbose, word


def test_verbose_flag_prints_the_long_form(capsys):
    out = run_cli(capsys, "--batch-sizes", "16,64", "--verbose")
    assert "epoch est." in out and "sgemm torch.mm" in out and "why GD/SGD ≠ N/b" in out
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--verbose" in help_text and "the long form" in help_text


@pytest.mark.parametrize("share", [0.0, 0.5])
def test_foreign_load_withholds_the_explanation(capsys, monkeypatch, share):
    fake_load(monkeypatch, share)
    doc = library_doc(run_cli(capsys, "--batch-sizes", "1,16,64", "--json"))
    foreign = share > 0
    info, res = doc["interpretation"], doc["results"][0]
    assert info["withheld"] == foreign and info["other_cpu_share"] == share
    assert (info["reason"] is not None) == foreign and (info["advice"] is not None) == foreign
    assert (res["explanation"] is None) == foreign
    assert all((r["regime"] is None) == foreign for r in res["sgd"])
    # the numbers stay: medians, ratios and the fit
    assert all(r["per_iteration"]["median"] > 0 for r in res["sgd"])
    assert res["overhead_fit"]["seconds_per_sample"] >= 0
    ex4 = doc["exercise4"]
    assert (ex4["because"] is None) == foreign and ex4["ratio_measured"] > 0
    assert ANSWER.search(ex4["answer"])  # the ratio is given either way
    env = doc["environment"]
    several = env["torch_threads"] > 1 or (env["numba_threads"] or 1) > 1
    text, verbose = format_table(doc), format_table(doc, verbose=True)
    for out in (text, verbose):
        flat = " ".join(out.split())
        assert ("WARNING" in flat and "withheld" in flat) == foreign
        assert ("rerun with --threads 1 on a quiet machine" in flat) == (foreign and several)
        assert (", because " in flat.split("Exercise 4")[-1]) != foreign
        assert any(label in out for label in REGIMES) != foreign
    assert ("N/b  regime" in text) != foreign  # no empty regime column
    if foreign:
        assert "50%" in info["reason"] and "quiet machine" in text
        one = copy.deepcopy(doc)
        one["environment"].update(torch_threads=1, numba_threads=1)
        assert "--threads 1" not in format_table(one) and "quiet machine" in format_table(one)


def test_batch_sizes_above_n_are_dropped_and_said_so(quiet, sample):
    n = len(sample.train_labels)
    over = [b for b in DEFAULT_BATCH_SIZES if b > n]
    assert over and quiet["dropped_batch_sizes"] == over
    assert [r["batch_size"] for r in quiet["results"][0]["sgd"]] == [
        b for b in DEFAULT_BATCH_SIZES if b <= n
    ]
    text = format_table(quiet)
    sizes = ", ".join(f"{b:,}" for b in over)
    assert f"dropped b = {sizes}: larger than N = {n:,}" in " ".join(text.split())
    shown = [ln.split()[1] for ln in text.splitlines() if ln.startswith("SGD ")]
    assert shown and not set(shown) & {f"{b:,}" for b in over}


def test_exercise4_answer_matches_the_medians_in_the_json(capsys, monkeypatch, sample):
    fake_load(monkeypatch, 0.0)
    doc = library_doc(run_cli(capsys, "--json"))
    ex4 = doc["exercise4"]
    last = " ".join(format_table(doc).split("\n\n")[-1].split())
    assert last == " ".join(ex4["answer"].split()) and last.startswith("Exercise 4")
    x, b, nb = (float(v.replace(",", "")) for v in ANSWER.search(last).groups())
    res = next(r for r in doc["results"] if r["engine"] == ex4["engine"] == "reference")
    row = next(r for r in res["sgd"] if r["batch_size"] == b == 16)
    ratio = res["gd"]["per_iteration"]["median"] / row["per_iteration"]["median"]
    assert abs(x - ratio) <= (0.5 if ratio >= 10 else 0.05 * ratio)
    n = len(sample.train_labels)
    assert nb == pytest.approx(n / 16, rel=1e-3) and ex4["ratio_measured"] == pytest.approx(ratio)
    s, g = row["per_iteration"]["median"] / b, res["gd"]["per_iteration"]["median"] / n
    assert fmt_seconds(s) in ex4["because"] and fmt_seconds(g) in ex4["because"]  # quiet here


def engine_result(t0, c, gd_per_sample, sizes=(1, 16, 64, 256), n=60_000):
    """One engine's result with medians t(b) = t0 + c·b exactly (seconds)."""
    rows = []
    for b in sizes:
        t = t0 + c * b
        rows.append(
            {
                "batch_size": b,
                "effective_batch_size": b,
                "per_iteration": {"median": t, "repeats": 25},
                "ratio_flops": n / b,
            }
        )
    gd = {"per_iteration": {"median": gd_per_sample * n, "repeats": 25}}
    return {"engine": "x", "n": n, "sgd": rows, "gd": gd, "overhead_fit": overhead_fit(rows)}


def test_exercise4_because_follows_the_numbers():
    overhead = exercise4(engine_result(80e-6, 1e-6, 0.8e-6))  # step at 16: 96 µs, 83% fixed
    assert overhead["ratio_measured"] == pytest.approx(0.8e-6 * 60_000 / 96e-6)
    assert "83% of its 96 µs in fixed per-step overhead" in overhead["because"]
    per_sample = exercise4(engine_result(1e-6, 3e-6, 1e-6))
    assert "only 2% of the step in fixed overhead" in per_sample["because"]
    gd_dearer = exercise4(engine_result(0, 1e-6, 2e-6))
    assert gd_dearer["because"].startswith("GD costs 2 µs per sample against 1 µs")
    even = exercise4(engine_result(0, 1e-6, 1e-6))
    assert even["because"].startswith("both cost about the same per sample")
    assert "N/b = 3,750)" in even["answer"] and "costs 3,750 SGD iterations" in even["answer"]
    withheld = exercise4(engine_result(80e-6, 1e-6, 0.8e-6), withheld="busy")
    assert withheld["because"] is None and withheld["answer"].endswith("why is withheld: busy")
    nearest = exercise4(engine_result(0, 1e-6, 1e-6, sizes=(8, 32, 256)))
    assert nearest["batch_size"] == 8  # as near to 16 as 32 on a log scale: the smaller
    assert math.isclose(nearest["ratio_flops"], 60_000 / 8)


@pytest.mark.parametrize(
    "kwargs", [{"batch_size": 0}, {"batch_size": True}, {"batch_size": 2.0}, {"withheld": 3}]
)
def test_exercise4_validates(kwargs):
    with pytest.raises(ValueError):
        exercise4(engine_result(1e-6, 1e-6, 1e-6), **kwargs)
