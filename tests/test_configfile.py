"""--config FILE.toml: values, precedence (command line > file > default), args._explicit."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pytest

from sgdlab.cli.configfile import load_toml, resolve, values
from sgdlab.cli.main import build_parser, main
from sgdlab.cli.train import CONFIG_FIELDS
from sgdlab.config import SCHEDULES as CONFIG_SCHEDULES
from sgdlab.config import TrainConfig
from sgdlab.errors import ConfigError
from sgdlab.schedules import SCHEDULES

ROOT = Path(__file__).resolve().parent.parent


def _parse(*argv):
    args = build_parser().parse_args(["train", *argv])
    resolve(args.parser, args, args.config, fields=CONFIG_FIELDS)
    return args


def test_defaults_file_and_command_line_precedence(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text(
        'batch-size = 32\nweight_decay = 1e-4\nschedule = "cosine"\naverage = true\n'
        "momentum = 0.9\n"
    )
    a = _parse()
    assert (a.batch_size, a.lr, a.momentum, a.average, a.checkpoint_every) == (
        16,
        0.005,
        0.0,
        False,
        "epoch",
    )
    assert a._explicit == set()
    b = _parse("--config", str(f), "--momentum", "0.5", "--no-average", "--lr", "0.01")
    assert (b.batch_size, b.weight_decay, b.schedule) == (32, 1e-4, "cosine")  # from the file
    assert (b.momentum, b.average, b.lr) == (0.5, False, 0.01)  # the command line wins
    assert b._explicit == {"batch_size", "weight_decay", "schedule", "average", "momentum", "lr"}
    assert (b.epochs, b.seed) == (5, 0)  # untouched: defaults, not explicit


def test_explicit_are_train_config_fields():
    assert {f.name for f in fields(TrainConfig)} >= CONFIG_FIELDS
    assert SCHEDULES == CONFIG_SCHEDULES
    assert _parse("--seed", "0", "-b", "16")._explicit == {"seed", "batch_size"}  # even = default


@pytest.mark.parametrize(
    "text, match",
    [
        ("bogus = 1", "unknown key 'bogus'"),
        ("lr = -1", "key 'lr'"),
        ('lr = "fast"', "key 'lr'"),
        ('nesterov = "yes"', "key 'nesterov'"),
        ("engine = 3.5", "key 'engine'"),
        ("batch-size = [1, 2]", "key 'batch-size'"),
        ('config = "x.toml"', "unknown key 'config'"),
    ],
)
def test_bad_keys_and_values_name_the_key(tmp_path, text, match):
    f = tmp_path / "c.toml"
    f.write_text(text + "\n")
    with pytest.raises(ConfigError, match=match):
        _parse("--config", str(f))


def test_values_is_reusable_on_any_parser():
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("--batch-sizes", type=lambda t: tuple(int(v) for v in t.split(",")))
    assert values(p, {"batch-sizes": "1,16"}) == {"batch_sizes": (1, 16)}


def test_shipped_configs_are_valid(sample):
    chapter = values(
        build_parser()._subparsers._group_actions[0].choices["train"],
        load_toml(ROOT / "configs" / "chapter.toml"),
    )
    d = TrainConfig()
    assert all(getattr(d, k) == v for k, v in chapter.items()), chapter
    tuned = _parse("--config", str(ROOT / "configs" / "tuned.toml"))
    TrainConfig(**{k: getattr(tuned, k) for k in CONFIG_FIELDS}).validate(60000)
    assert tuned._explicit >= {"batch_size", "epochs", "lr"}


def test_train_cli_config_json_and_plot(capsys, tmp_path):
    f, png = tmp_path / "c.toml", tmp_path / "curves.png"
    f.write_text("epochs = 2\nvalidation = 100\naverage = true\nmomentum = 0.5\n")
    code = main(["train", "--sample", "-q", "--json", "--config", str(f), "--plot", str(png)])
    doc = json.loads(capsys.readouterr().out)
    r = doc["result"]
    assert code == 0 and len(r["history"]) == 2 and r["plot"] == str(png)
    assert doc["config"]["momentum"] == 0.5 and doc["config"]["average"] is True
    assert r["data"]["validation"]["size"] == 100 and "val_accuracy" in r["history"][-1]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
