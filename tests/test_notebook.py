"""notebooks/sgd-walkthrough.ipynb: committed without outputs, in sync with its generator, and it
runs top to bottom (on the bundled sample) in a kernel of this very interpreter."""

from __future__ import annotations

import json
import os
import runpy
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "sgd-walkthrough.ipynb"


def test_committed_without_outputs():
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert len(code) >= 7
    for c in code:
        assert c["outputs"] == [] and c["execution_count"] is None, c["source"][:60]
    assert "FULL_DATA = False" in "".join(code[0]["source"])


def test_notebook_is_the_generators_output():
    gen = runpy.run_path(str(ROOT / "scripts" / "make_notebook.py"))
    assert NOTEBOOK.read_text(encoding="utf-8") == gen["text"](), (
        "run: python scripts/make_notebook.py"
    )


def test_notebook_executes_on_the_sample(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    # a kernel spec for this interpreter, with sgdlab's source first on its path
    spec = tmp_path / "jupyter" / "kernels" / "sgdlab-test"
    spec.mkdir(parents=True)
    path = os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "sgdlab test",
                "language": "python",
                "env": {
                    "PYTHONPATH": path,
                    "MPLBACKEND": "Agg",
                    "SGDLAB_EXPERIMENT_CACHE": str(tmp_path / "experiments"),
                },
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, kernel_name="sgdlab-test", timeout=300, resources={"metadata": {"path": str(tmp_path)}}
    )
    t0 = time.perf_counter()
    client.execute()  # raises CellExecutionError on the first cell that fails
    seconds = time.perf_counter() - t0
    print(f"\nnotebook executed in {seconds:.1f} s")
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert errors == []
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "bundled sample" in text and "ascent on L moved: False" in text
    images = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "image/png" in o.get("data", {})
    ]
    # grid, gradients, timing, likelihood, estimators; the study's steps and examples to target
    assert len(images) == 7
    verdicts = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "Verdict" in o.get("data", {}).get("text/markdown", "")
    ]
    assert len(verdicts) == 1
    assert list((tmp_path / "experiments").glob("*.json"))  # the study's passes were cached
