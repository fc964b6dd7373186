"""bench/peers.py in --tiny mode (bundled sample, 1 repeat): rows, Markdown table, JSON.

No timing assertions: only that every figure is there, positive and finite.
"""

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "peers.py"
HAS_SKLEARN = importlib.util.find_spec("sklearn") is not None


def _expected_engines() -> list[str]:
    from sgdlab.measure.bench import select_engines

    return select_engines("all", torch.device("cpu"))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("peers")
    cmd = [
        sys.executable,
        str(SCRIPT),
        "--tiny",
        "--json",
        str(d / "p.json"),
        "--markdown",
        str(d / "p.md"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc, json.loads((d / "p.json").read_text()), (d / "p.md").read_text()


@pytest.fixture(scope="module")
def peers():
    spec = importlib.util.spec_from_file_location("peers", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _positive(x) -> bool:
    return isinstance(x, float) and math.isfinite(x) and x > 0


def test_rows_and_figures(tiny):
    _, doc, _ = tiny
    rows = {r["id"] + (r["name"] if r["id"] == "D" else ""): r for r in doc["rows"]}
    assert doc["schema"] == "sgdlab.peers/1" and doc["data"]["is_sample"]
    assert doc["config"]["tiny"] and doc["config"]["repeats"] == 1
    for key in ("torch_version", "torch_threads", "cpu_model", "cpu_count"):
        assert key in doc["environment"]
    d_rows = [f"Dsgdlab engine={n}" for n in _expected_engines()]
    assert {"A", "B", *d_rows} <= set(rows)
    for key in ("A", "B", *d_rows):
        r = rows[key]
        for col in ("epoch_b16", "epoch_b1024", "gd_iteration"):
            assert _positive(r[col]["median"]) and len(r[col]["raw"]) == 1, (key, col)
            assert _positive(r["ratio_to_B"][col])
        assert 0 < r["test_accuracy"] <= 1
    assert all(q == 1.0 for q in rows["B"]["ratio_to_B"].values())
    for key in d_rows:
        tt = rows[key]["time_to_target"]
        assert tt["reached"] == (tt["seconds"] is not None) and 0 < tt["accuracy"] <= 1


@pytest.mark.skipif(not HAS_SKLEARN, reason="scikit-learn not installed (pip install .[bench])")
def test_sklearn_rows(tiny):
    _, doc, _ = tiny
    rows = {r["id"]: r for r in doc["rows"]}
    assert _positive(rows["C"]["epoch_b1"]["median"]) and 0 < rows["C"]["test_accuracy"] <= 1
    assert _positive(rows["C"]["ratio_to_B"]["epoch_b1_vs_B_b16"])
    assert _positive(rows["C*"]["fit_seconds"]) and 0 < rows["C*"]["test_accuracy"] <= 1


def test_markdown_matches_stdout_and_rows(tiny):
    proc, doc, md = tiny
    assert proc.stdout.strip() == md.strip()
    table = [ln for ln in md.splitlines() if ln.startswith("| ")]
    assert len(table) == 1 + len(doc["rows"])  # header + one line per row
    assert all(ln.count("|") == table[0].count("|") for ln in table)
    assert "Median of 1 runs" in md and "torch" in md and "--tiny" in md


def test_tutorial_dataset_equals_preloaded_tensor(peers, sample):
    """Rows A and B see the same numbers: PIL + ToTensor + Normalize == the one-shot tensor."""
    ds = peers.TutorialFashionMNIST(sample.train_images[:5], sample.train_labels[:5])
    x, y = ds[3]
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32 and y == int(sample.train_labels[3])
    torch.testing.assert_close(x.reshape(784), peers.tutorial_float(sample.train_images[3:4])[0])


def test_bad_option_exits_2(peers, capsys):
    with pytest.raises(SystemExit) as e:
        peers.main(["--tiny", "--repeats", "0"])
    assert e.value.code == 2
