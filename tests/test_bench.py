"""``sgdlab bench`` (exercise 4) on the bundled sample: schema, every batch size, sane ratios,
the plot, errors. No timing assertions (the CPU may be shared). The printed output, the
withholding under foreign load and exercise 4's answer: test_bench_output.py."""

import json
import math

import pytest
import torch

from sgdlab import engines
from sgdlab.cli.main import main
from sgdlab.errors import ConfigError
from sgdlab.measure.bench import DEFAULT_BATCH_SIZES, SCHEMA, benchmark, select_engines
from sgdlab.measure.roofline import epoch_work, gd_bytes, gd_flops, step_bytes, step_flops
from sgdlab.measure.stats import overhead_fit, regime

CPU = torch.device("cpu")


def quiet_load(mp, share=0.0):
    """Make the run's load reading say other processes used ``share`` of the CPUs (a test on a
    shared machine must not depend on the neighbours)."""
    from sgdlab.measure.machine import LoadMonitor

    load = {"wall_seconds": 1.0, "other_cpu_seconds": 0.0, "loadavg_1min_at_start": None}
    mp.setattr(LoadMonitor, "stop", lambda self: {**load, "other_cpu_share": share})


@pytest.fixture(scope="module")
def quick(sample):
    with pytest.MonkeyPatch.context() as mp:
        quiet_load(mp)
        return benchmark(sample, quick=True)  # every engine registered and available here


def check_schema(doc, n, sizes):
    assert doc["schema"] == SCHEMA and doc["n_train"] == n
    env = doc["environment"]
    for key in (
        "torch_version",
        "torch_threads",
        "device_name",
        "cpu_model",
        "numba_threads",
        "cpu_count",
        "git_commit",
    ):
        assert key in env
    kept = [b for b in sizes if b <= n]
    assert doc["config"]["batch_sizes"] == kept and doc["config"]["batch_sizes_requested"] == list(
        sizes
    )
    assert doc["dropped_batch_sizes"] == [b for b in sizes if b > n]
    assert [r["engine"] for r in doc["results"]] == doc["config"]["engines"] != []
    json.dumps(doc, allow_nan=False)  # strict JSON: no NaN/inf anywhere
    peak = doc["peak"]
    for key in ("sgemm_gflops", "sgemm_gflops_1thread", "bandwidth_gbs", "threads"):
        assert peak[key] > 0, key
    assert peak["threads"] == env["torch_threads"] and peak["measurements"] == 2
    for res in doc["results"]:
        gd = res["gd"]["per_iteration"]
        assert gd["median"] > 0 and len(gd["raw"]) == gd["repeats"] == doc["config"]["repeats"]
        check_vs_peak(res["gd"]["vs_peak"], gd["median"], gd_flops(n), gd_bytes(n), peak)
        assert [r["batch_size"] for r in res["sgd"]] == kept
        for r in res["sgd"]:
            it, be = r["per_iteration"], r["batch_size"]
            assert r["effective_batch_size"] == be and r["steps_per_epoch"] == math.ceil(n / be)
            assert it["q1"] <= it["median"] <= it["q3"] and it["iqr"] >= 0
            assert len(it["raw"]) == it["repeats"] and it["block_steps"] >= 1
            for key in (
                "ratio_gd_over_sgd_measured",
                "ratio_flops",
                "per_sample_seconds",
                "epoch_estimate_seconds",
                "measured_over_flops",
            ):
                assert math.isfinite(r[key]) and r[key] > 0, key
            assert r["ratio_flops"] == pytest.approx(n / be)
            assert r["epoch_estimate_seconds"] == pytest.approx(r["steps_per_epoch"] * it["median"])
            check_vs_peak(r["vs_peak"], it["median"], step_flops(be), step_bytes(be), peak)
            if r["epoch_measured"] is not None:
                assert r["epoch_measured"]["median"] > 0
                check_vs_peak(
                    r["epoch_vs_peak"], r["epoch_measured"]["median"], *epoch_work(n, be), peak
                )
            else:
                assert r["epoch_vs_peak"] is None
            withheld = doc["interpretation"]["withheld"]
            assert (r["regime"] is None) == withheld and (res["explanation"] is None) == withheld


def check_vs_peak(v, seconds, flops, nbytes, peak):
    """The figure's roofline fields, recomputed by hand from the run's peak."""
    roof = max(flops / (peak["sgemm_gflops"] * 1e9), nbytes / (peak["bandwidth_gbs"] * 1e9))
    assert v["flops"] == flops and v["bytes"] == pytest.approx(nbytes)
    assert v["roofline_seconds"] == pytest.approx(roof)
    assert v["over_roofline"] == pytest.approx(seconds / roof)
    assert v["gflops"] == pytest.approx(flops / seconds / 1e9)


def test_library_quick_every_available_engine(quick, sample):
    check_schema(quick, len(sample.train_labels), DEFAULT_BATCH_SIZES)
    assert quick["config"]["engines"] == select_engines("all", CPU)
    assert "reference" in quick["config"]["engines"]
    assert set(quick["config"]["engines"]).isdisjoint(quick["skipped_engines"])


def test_plot_and_table_from_library_result(quick, tmp_path):
    from sgdlab.cli.bench import format_table, plot

    png = plot(quick, tmp_path / "bench.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not quick["interpretation"]["withheld"]  # the load reading says quiet
    rows = len(quick["config"]["batch_sizes"]) * len(quick["results"])
    for verbose in (False, True):
        table = format_table(quick, verbose=verbose)
        assert table.count("\nSGD ") == rows and table.count("\nGD ") == len(quick["results"])
        assert ("why GD/SGD ≠ N/b" in table) == verbose
        assert ("×roof" in table and "sgemm torch.mm" in table and "GB/s" in table) == verbose


@pytest.mark.parametrize(("share", "warned"), [(0.5, True), (0.05, False), (None, False)])
def test_table_and_report_warn_exactly_when_contaminated(quick, share, warned):
    """``sgdlab bench``'s table and the report's exercise 4 both follow measure.contamination."""
    import copy

    from sgdlab.cli.bench import format_table
    from sgdlab.measure.machine import contamination
    from sgdlab.measure.stats import withhold_if_foreign
    from sgdlab.report.page import Page
    from sgdlab.report.render import render_bench

    res = copy.deepcopy(quick)
    res["environment"]["machine_load"]["other_cpu_share"] = share
    res["interpretation"] = withhold_if_foreign(res["results"], res["environment"]["machine_load"])
    assert contamination(res)["contaminated"] is warned
    assert ("WARNING: other processes used 50% of the CPUs" in format_table(res)) is warned
    res["figures"] = {"timing": ""}
    pg = Page("en")
    render_bench(pg, res, "")
    assert ("Other processes used <bdi>50%</bdi> of the CPUs" in "".join(pg.parts)) is warned


def test_cli_json_and_plot(capsys, tmp_path, sample):
    png = tmp_path / "b.png"
    code = main(
        [
            "bench",
            "--sample",
            "--quick",
            "--json",
            "-q",
            "--engine",
            "reference",
            "--plot",
            str(png),
        ]
    )
    out, _ = capsys.readouterr()
    doc = json.loads(out)
    assert code == 0 and doc["config"]["engine"] == "reference" and doc["config"]["quick"]
    assert doc["config"]["batch_sizes"] == list(DEFAULT_BATCH_SIZES)
    r = doc["result"]
    assert r["protocol"]["engines"] == ["reference"] and r["protocol"]["mode"] == "quick"
    # the library's document, put back together from the command's
    lib = {**r, "schema": SCHEMA, "config": r["protocol"], "environment": doc["environment"]}
    check_schema(lib, len(sample.train_labels), DEFAULT_BATCH_SIZES)
    assert r["data"]["is_sample"] and r["plot"] == str(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_table_batch_sizes_threads(capsys):
    before = torch.get_num_threads()
    code = main(
        [
            "bench",
            "--sample",
            "--quick",
            "-q",
            "--engine",
            "reference",
            "--batch-sizes",
            "8,32",
            "--repeats",
            "3",
            "--threads",
            "1",
        ]
    )
    out, _ = capsys.readouterr()
    assert code == 0 and "engine reference" in out and "threads: torch 1" in out
    assert [ln.split()[1] for ln in out.splitlines() if ln.startswith("SGD ")] == ["8", "32"]
    assert torch.get_num_threads() == before  # restored


@pytest.mark.parametrize(
    "argv",
    [
        ["--engine", "nope"],
        ["--batch-sizes", "0"],
        ["--batch-sizes", "a,b"],
        ["--plot", "out.txt"],
        ["--threads", "0"],
        ["--lr", "nan"],
        ["--device", "tpu"],
        ["--batch-sizes", "2000,4096"],  # every b > N = 1,000
        ["--verbose", "--json"],
    ],
)
def test_cli_errors_are_one_line_exit_2(capsys, argv):
    try:
        code = main(["bench", "--sample", "--quick", "-q", *argv])
    except SystemExit as e:  # argparse's own errors
        code = e.code
    _, err = capsys.readouterr()
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"batch_sizes": [0]},
        {"batch_sizes": []},
        {"batch_sizes": [1001, 4096]},  # every b > N
        {"batch_sizes": [2.5]},
        {"repeats": 0},
        {"lr": float("nan")},
        {"lr": -1.0},
        {"threads": 0},
        {"engine": "nope"},
        {"seed": -1},
    ],
)
def test_library_validation(sample, kwargs):
    with pytest.raises(ConfigError):
        benchmark(sample, quick=True, **kwargs)


def test_broken_engine_is_skipped_and_named(sample, monkeypatch):
    real = engines.available

    def available(name, device):
        if name == "broken":
            raise ImportError("No module named 'broken_dep'")
        return real(name, device)

    monkeypatch.setattr(engines, "engine_names", lambda: ["reference", "broken"])
    monkeypatch.setattr(engines, "available", available)
    doc = benchmark(sample, quick=True, batch_sizes=[16])
    assert doc["config"]["engines"] == ["reference"]
    assert "broken_dep" in doc["skipped_engines"]["broken"]


def test_overhead_fit_and_regime():
    t0, c = 80e-6, 1e-6
    rows = [
        {"effective_batch_size": b, "per_iteration": {"median": t0 + c * b}}
        for b in (1, 16, 256, 4096)
    ]
    fit = overhead_fit(rows)
    assert fit["overhead_seconds"] == pytest.approx(t0, rel=1e-6)
    assert fit["seconds_per_sample"] == pytest.approx(c, rel=1e-6)
    assert overhead_fit(rows[:1]) is None
    small = {**rows[0], "measured_over_flops": 0.01}
    big = {**rows[-1], "measured_over_flops": 0.5}
    assert regime(small, fit) == "per-step overhead"
    assert regime(big, fit) == "SGD costlier per sample"
    assert regime({**big, "measured_over_flops": 1.0}, fit) == "≈ N/b (compute)"


def test_load_monitor_reports_other_processes():
    from sgdlab.measure.machine import LoadMonitor

    m = LoadMonitor().start()
    sum(range(10_000))
    load = m.stop()
    assert load["wall_seconds"] > 0 and set(load) >= {"other_cpu_seconds", "other_cpu_share"}
    if load["other_cpu_share"] is not None:  # Linux
        assert load["other_cpu_share"] >= 0
