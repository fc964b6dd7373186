"""Every command's ``--json`` document has one shape (:func:`sgdlab.formatting.document`): the
schema, the command, ``config``, ``environment`` and ``result``; its config, given back to the
command as options, is the same config (train's also rebuilds its TrainConfig)."""

from __future__ import annotations

import argparse
import json

import pytest
from parsers import subparsers

from sgdlab.cli.configfile import resolve
from sgdlab.cli.main import build_parser, main
from sgdlab.config import TrainConfig
from sgdlab.formatting import DOCUMENT_SCHEMA
from sgdlab.measure.provenance import environment

#: command -> its options after --json on the sample: the fastest runs that still do the work
#: (``{w}``: saved weights, ``{tmp}``: a scratch directory)
CASES = {
    "minibatch": ["--sample", "-b", "4"],
    "step": ["--sample", "-b", "8", "--device", "cpu", "--init", "uniform", "--seed", "2"],
    "train": ["--sample", "-q", "-e", "1", "-b", "64", "--engine", "reference", "--lr", "0.01"],
    "evaluate": ["--sample", "--weights", "{w}", "--top", "3"],
    "predict": ["--sample", "--weights", "{w}", "--index", "0", "--index", "7"],
    "bench": ["--sample", "-q", "--quick", "--engine", "reference", "--batch-sizes", "16,64"]
    + ["--repeats", "2", "--device", "cpu"],
    "likelihood": ["--sample", "-q", "--train-epochs", "0", "--draws", "10"]
    + ["--batch-sizes", "1,16", "--p", "2"],
    "experiment": ["--sample", "-q", "--quick", "--no-noise", "--workers", "1"]
    + ["--escape-seeds", "2", "--cache-dir", "{tmp}/cache"],
    "experiment --sweep": ["--sweep", "--quick", "--sample", "-q", "--workers", "1"]
    + ["--escape-seeds", "2"]
    + ["--cache-dir", "{tmp}/cache", "--config", "{tmp}/sweep.toml"],
    "report": ["--quick", "-q", "-o", "{tmp}/r.html", "--cache-dir", "{cache}"],
}

#: a one-run fixed-budget sweep (the [sweep] table overrides the quick grid)
SWEEP_TOML = """\
[sweep]
batch_sizes = [64]
lr_grids = {"64" = [0.02]}
epochs = {"64" = 1}
seeds = [0]
evals_per_epoch = 1
noise_evals = 2
"""


@pytest.fixture(scope="module")
def weights(sample, tmp_path_factory):
    import sgdlab
    from sgdlab.training.weights import save_weights

    run = sgdlab.train(data=sample, epochs=1, engine="reference", progress=False)
    return save_weights(run.model, tmp_path_factory.mktemp("w") / "w.safetensors")


@pytest.fixture
def tiny_study(monkeypatch):
    """The quick batch-size study cut to three batch sizes, one seed, plain SGD, easy targets."""
    from sgdlab.study import StudySpec

    quick = StudySpec.quick
    tiny = dict(batch_sizes=(16, 64, "full"), seeds=(0,), optimizers=("sgd",), grid_points=3)
    tiny.update(max_extensions=1, targets={"train_cost": 1.0, "val_accuracy": 0.6})
    monkeypatch.setattr(StudySpec, "quick", classmethod(lambda cls, **kw: quick(**tiny, **kw)))


def _document(name, capsys, request, tmp_path, weights) -> dict:
    argv = name.split()
    cache = ""
    if name == "experiment":
        request.getfixturevalue("tiny_study")
    if name == "report":  # the session's quick report has filled this cache: nothing recomputed
        cache = str(request.getfixturevalue("quick_reports")["en"][0].parent / "cache")
    (tmp_path / "sweep.toml").write_text(SWEEP_TOML)
    fill = {"{w}": str(weights), "{tmp}": str(tmp_path), "{cache}": cache}
    for a in CASES[name]:
        for k, v in fill.items():
            a = a.replace(k, v)
        argv.append(a)
    code = main([argv[0], "--json", *argv[1:]])
    out, err = capsys.readouterr()
    assert code == 0, err

    def refuse(c):
        raise ValueError(f"not strict JSON: {c}")

    return json.loads(out, parse_constant=refuse)


def _argv(parser: argparse.ArgumentParser, config: dict) -> list[str]:
    """The options that say ``config`` again (dest -> --long-name VALUE, flags, repeats)."""
    argv, dests = [], set()
    for a in parser._actions:
        if a.dest not in config or a.dest in dests:
            continue
        dests.add(a.dest)
        v = config[a.dest]
        if not a.option_strings:  # a positional list (predict's images)
            argv += [str(x) for x in v]
            continue
        flag = next(o for o in a.option_strings if o.startswith("--"))
        if isinstance(a, argparse.BooleanOptionalAction):
            argv.append(flag if v else f"--no-{flag[2:]}")
        elif a.nargs == 0:  # store_true
            argv += [flag] if v else []
        elif v is None:
            continue
        elif isinstance(a, argparse._AppendAction):
            argv += [x for i in v for x in (flag, str(i))]
        elif isinstance(v, list):
            argv += [flag, ",".join(map(str, v))]
        else:
            argv += [flag, str(v)]
    assert dests == set(config), f"config keys that are no option: {set(config) - dests}"
    return argv


@pytest.mark.parametrize("name", list(CASES))
def test_every_command_has_one_document_shape(name, capsys, request, tmp_path, weights):
    doc = _document(name, capsys, request, tmp_path, weights)
    command = name.split()[0]
    assert list(doc) == ["schema", "command", "config", "environment", "result"]
    assert doc["schema"] == DOCUMENT_SCHEMA and doc["command"] == command
    assert set(environment("cpu")) <= set(doc["environment"])  # the one environment record
    assert isinstance(doc["result"], dict) and doc["result"]["data"]["is_sample"]
    assert "schema" not in doc["result"]  # one version per document
    # the config, given back as options, is the same config
    sub = subparsers(build_parser())[command]
    again = build_parser().parse_args([command, *_argv(sub, doc["config"])])
    resolve(sub, again, None)  # the defaults a command fills in itself (train, experiment)
    got = {k: getattr(again, k) for k in doc["config"]}
    assert json.loads(json.dumps(got)) == doc["config"]
    if command == "train":
        assert TrainConfig.from_dict(doc["config"]).to_dict() == doc["config"]
        assert doc["config"]["batch_size"] == 64 and doc["config"]["lr"] == 0.01


def test_predict_of_files_records_them_and_no_data_set(weights, tmp_path, capsys, sample):
    from PIL import Image

    png = tmp_path / "x.png"
    Image.fromarray(sample.test_images[0].numpy()).save(png)
    assert main(["predict", "--json", "--weights", str(weights), str(png)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["config"] == {"weights": str(weights), "images": [str(png)], "index": None}
    assert "data" not in doc["result"] and len(doc["result"]["predictions"]) == 1
