"""The sgdlab CLI: exercises 1-3 and the main job, JSON output, saved weights, clear errors."""

import json
import subprocess
import sys

import pytest
import torch
from parsers import subparsers

from sgdlab.cli.main import main


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_minibatch_json_and_grid(capsys, tmp_path):
    png = tmp_path / "grid.png"
    code, out, _ = run_cli(capsys, "minibatch", "--sample", "--json", "--save", str(png))
    top = json.loads(out)
    assert top["config"] == {"seed": 0, "batch_size": 16}
    doc = top["result"]
    assert doc["saved"] == str(png) and doc["data"]["is_sample"]
    assert code == 0 and doc["images_shape"] == [16, 28, 28] and doc["float_shape"] == [16, 784]
    assert len(doc["labels"]) == 16 and len(set(doc["indices"])) == 16
    from sgdlab import CLASS_NAMES

    assert doc["class_names"] == [CLASS_NAMES[i] for i in doc["labels"]]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_step_json_reports_both_iterations(capsys):
    code, out, _ = run_cli(capsys, "step", "--sample", "--json", "--device", "cpu")
    top = json.loads(out)
    assert code == 0
    cfg = {"seed": 0, "batch_size": 16, "lr": 0.005, "init": "zeros", "device": "cpu"}
    assert top["config"] == cfg and top["environment"]["device"] == "cpu"
    doc = top["result"]
    assert (
        doc["sgd"]["full_cost_before"] == doc["gd"]["full_cost_before"] == doc["gd"]["cost_before"]
    )
    assert doc["sgd"]["samples"] == 16 and doc["gd"]["samples"] == 1000
    assert doc["sgd"]["cost_before"] == pytest.approx(2.302585, abs=1e-5)  # zero init: log 10
    assert doc["sgd"]["minibatch_cost_after"] < doc["sgd"]["cost_before"]
    assert doc["gd"]["full_cost_after"] < doc["gd"]["cost_before"]
    assert doc["sgd"]["grad_weight_shape"] == [10, 784]
    assert doc["gd"]["median_seconds"] > 0 and doc["gd"]["cold_seconds"] > 0


@pytest.mark.parametrize("ext", [".pt", ".safetensors"])
def test_train_json_and_saved_weights(capsys, tmp_path, ext):
    path = tmp_path / f"w{ext}"
    code, out, _ = run_cli(
        capsys,
        "train",
        "--sample",
        "-e",
        "2",
        "-q",
        "--json",
        "--engine",
        "reference",
        "--save-weights",
        str(path),
    )
    doc = json.loads(out)
    r = doc["result"]
    assert code == 0 and len(r["history"]) == 2 and doc["config"]["batch_size"] == 16
    assert r["weights"] == str(path) and r["data"]["is_sample"]
    assert doc["environment"]["sgdlab_version"] and doc["config"]["seed"] == 0
    if ext == ".pt":
        w = torch.load(path, weights_only=True)
    else:
        from safetensors.torch import load_file

        w = load_file(str(path))
    assert w["z.weight"].shape == (10, 784) and w["z.bias"].shape == (10,)
    from sgdlab.training.weights import load_weights

    assert torch.equal(load_weights(path).z.weight, w["z.weight"])


def test_train_table_is_readable(capsys):
    code, out, _ = run_cli(capsys, "train", "--sample", "-e", "1", "-q")
    assert code == 0 and "final test accuracy" in out and "SAMPLE" in out


@pytest.mark.parametrize(
    "argv, words",
    [
        (["train", "-b", "0"], "--batch-size"),
        (["train", "--sample", "-b", "1001"], "1..1000"),
        (["train", "--lr", "nan"], "--lr"),
        (["train", "--lr", "-1"], "--lr"),
        (["train", "--epochs", "x"], "--epochs"),
        (["train", "--bogus"], "unrecognized"),
        (["train", "--sample", "--engine", "warp"], "invalid choice: 'warp'"),
        (["train", "--data-dir", "/nonexistent/sgdlab"], "does not exist"),
        (["train", "--sample", "--save-weights", "w.txt"], ".safetensors or .pt"),
    ],
)
def test_bad_input_is_one_line_exit_2(capsys, argv, words):
    with pytest.raises(SystemExit) as e:
        sys.exit(main(argv))
    _, err = capsys.readouterr()
    assert e.value.code == 2
    assert words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_python_dash_m_and_import_has_no_side_effects():
    out = subprocess.run(
        [sys.executable, "-m", "sgdlab", "--help"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and "minibatch" in out.stdout and "train" in out.stdout
    probe = (
        "import sys, sgdlab, sgdlab.cli.main; sgdlab.cli.main.build_parser(); heavy = [m for m in "
        "('numba', 'matplotlib', 'pooch', 'sklearn') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout


def _help_pages():
    """Every ``--help`` page: the top level and each subcommand (found, not listed, so a command
    added later is covered without touching this test)."""
    from sgdlab.cli.main import build_parser

    parser = build_parser()
    pages = {"sgdlab": parser.format_help()}
    pages.update({f"sgdlab {name}": p.format_help() for name, p in subparsers(parser).items()})
    return pages


def test_every_help_page_renders_without_format_artefacts():
    import re

    pages = _help_pages()
    assert {"sgdlab train", "sgdlab likelihood", "sgdlab bench"} <= set(pages)
    for name, text in pages.items():
        assert "%%" not in text, name
        assert not re.search(r"%\([a-z_]+\)[sdrf]", text), name
        assert "usage:" in text, name
    assert "~83% test accuracy" in " ".join(pages["sgdlab train"].split())
