"""Same seed, same engine, CPU -> bitwise identical weights and history, across processes."""

import json
import subprocess
import sys

import pytest
import torch

from sgdlab import engines


def _cpu_engines():
    return [n for n in engines.engine_names() if engines.available(n, torch.device("cpu"))]


def _run(tmp_path, engine, seed, tag):
    out = tmp_path / f"{tag}.pt"
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "sgdlab",
            "train",
            "--sample",
            "-q",
            "--json",
            "-e",
            "2",
            "-b",
            "8",
            "--seed",
            str(seed),
            "--engine",
            engine,
            "--device",
            "cpu",
            "--save-weights",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)["result"]
    return doc, torch.load(out, weights_only=True)


@pytest.mark.parametrize("engine", _cpu_engines())
def test_two_processes_same_seed_bitwise_equal(tmp_path, engine):
    (d1, w1), (d2, w2) = _run(tmp_path, engine, 7, "a"), _run(tmp_path, engine, 7, "b")
    assert torch.equal(w1["z.weight"], w2["z.weight"]) and torch.equal(w1["z.bias"], w2["z.bias"])
    strip = lambda h: [{k: v for k, v in r.items() if k != "train_seconds"} for r in h]  # noqa: E731
    assert strip(d1["history"]) == strip(d2["history"])
    # provenance travels with the weights: str -> JSON str, as safetensors metadata must be
    meta = {k: json.loads(v) for k, v in json.loads(w1["metadata"]).items()}
    assert meta["config"]["seed"] == 7 and meta["config"]["engine"] == engine
    assert meta["environment"]["torch_version"] == torch.__version__
    assert meta["data"]["sha256"] and "git_commit" in meta["environment"]
