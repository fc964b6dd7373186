"""sgdlab.config: TrainConfig is the one place the run's options are defined; the CLI, the
``--config`` keys, ``train()``'s keyword shortcut and the JSON output derive from its fields."""

from __future__ import annotations

import argparse
import dataclasses

import pytest
import torch
from parsers import subparsers

import sgdlab
from sgdlab.cli.configfile import resolve
from sgdlab.cli.main import build_parser
from sgdlab.cli.train import CONFIG_FIELDS
from sgdlab.config import GROUPS, CheckpointConfig, TrainConfig
from sgdlab.errors import CheckpointError, ConfigError


def _train_parser() -> argparse.ArgumentParser:
    return subparsers(build_parser())["train"]


def test_public_and_field_names():
    assert sgdlab.TrainConfig is TrainConfig
    names = TrainConfig.field_names()
    assert names == tuple(f.name for f in dataclasses.fields(TrainConfig))
    assert set(names) == CONFIG_FIELDS
    assert TrainConfig().to_dict() == {f: getattr(TrainConfig(), f) for f in names}


def test_every_field_is_a_train_option_with_its_default_in_the_help():
    p = _train_parser()
    by_dest = {a.dest: a for a in p._actions if a.option_strings}
    for f in dataclasses.fields(TrainConfig):
        a = by_dest[f.name]  # seed comes from the common options, the others from the field
        assert f"--{f.name.replace('_', '-')}" in a.option_strings
        if f.metadata["cli"]:
            assert a.help.startswith(f.metadata["help"]) and str(f.default) in a.help
            assert (a.choices or None) == f.metadata["choices"]
    groups = {g.title for g in p._action_groups}
    assert set(GROUPS.values()) <= groups
    assert by_dest["batch_size"].option_strings == ["--batch-size", "-b"]
    assert isinstance(by_dest["nesterov"], argparse.BooleanOptionalAction)


def test_cli_options_build_the_same_config_as_the_dataclass():
    p = build_parser()
    args = p.parse_args(["train", "-b", "64", "--lr", "0.02", "--momentum", "0.9", "--nesterov"])
    resolve(args.parser, args, None, fields=CONFIG_FIELDS)
    cfg = TrainConfig(**{k: getattr(args, k) for k in CONFIG_FIELDS})
    assert cfg == TrainConfig(batch_size=64, lr=0.02, momentum=0.9, nesterov=True)
    assert args._explicit == {"batch_size", "lr", "momentum", "nesterov"}


def test_validate_without_n_checks_what_does_not_depend_on_it():
    TrainConfig(batch_size=10**9, validation=10**9).validate()  # bounds need N
    with pytest.raises(ConfigError, match="batch size must be an integer in 1..1000"):
        TrainConfig(batch_size=1001).validate(1000)
    with pytest.raises(ConfigError, match="epochs"):
        TrainConfig(epochs=0).validate()
    with pytest.raises(ConfigError, match="nesterov needs a momentum"):
        TrainConfig(nesterov=True).validate()
    with pytest.raises(ConfigError, match="drop last"):
        TrainConfig(drop_last="yes").validate()


def test_from_dict_names_unknown_keys():
    assert TrainConfig.from_dict({"lr": 0.1}) == TrainConfig(lr=0.1)
    with pytest.raises(ConfigError, match="unknown option.*bogus"):
        TrainConfig.from_dict({"bogus": 1}, where="x.toml")


@pytest.mark.parametrize(
    "kw, err, match",
    [
        ({"checkpoint_every": 0}, ConfigError, "checkpoint every"),
        ({"keep": 0}, ConfigError, "keep"),
        ({"resume": "yes", "checkpoint_dir": "d"}, ConfigError, "resume must be"),
        ({"resume": True}, CheckpointError, "needs a checkpoint directory"),
    ],
)
def test_checkpoint_config_validation(kw, err, match):
    with pytest.raises(err, match=match):
        CheckpointConfig(**kw)


def test_train_takes_a_config_or_keywords_alike(sample):
    cfg = TrainConfig(batch_size=32, epochs=1, lr=0.01, seed=2, engine="reference")
    a = sgdlab.train(cfg, data=sample, progress=False)
    b = sgdlab.train(data=sample, progress=False, **cfg.to_dict())
    c = sgdlab.train(TrainConfig(epochs=1), data=sample, progress=False, **cfg.to_dict())
    for r in (b, c):
        assert torch.equal(a.model.z.weight, r.model.z.weight)
        assert r.config == a.config
    assert a.config["engine"] == "reference" and a.config["device"] == "cpu"


def test_train_refuses_unknown_keywords_and_mixed_checkpoint_options(sample, tmp_path):
    with pytest.raises(TypeError, match="bogus"):
        sgdlab.train(data=sample, progress=False, bogus=1)
    with pytest.raises(TypeError, match="checkpoints="):
        sgdlab.train(
            data=sample,
            progress=False,
            checkpoints=CheckpointConfig(checkpoint_dir=tmp_path),
            keep=3,
        )


def test_callback_gets_each_history_record(sample):
    seen = []
    run = sgdlab.train(epochs=2, data=sample, progress=False, callback=seen.append)
    assert seen == run.history and [r["epoch"] for r in seen] == [1, 2]


@pytest.mark.parametrize(
    ("kw", "given", "said"),
    [
        (
            {"method": "gd", "batch_size": 64},
            {"batch_size"},
            "--batch-size has no effect with --method gd",
        ),
        ({"method": "gd", "drop_last": True}, {"drop_last"}, "--drop-last has no effect"),
        (
            {"schedule": "cosine", "gamma": 0.5},
            {"gamma"},
            "--gamma has no effect with --schedule cosine",
        ),
        (
            {"schedule": "constant", "step_epochs": 2},
            {"step_epochs"},
            "--step-epochs has no effect",
        ),
        ({"schedule": "step", "t0": 5.0}, {"t0"}, "--t0 has no effect with --schedule step"),
        ({"validation_seed": 3}, {"validation_seed"}, "--validation-seed has no effect"),
    ],
)
def test_an_option_that_would_be_ignored_is_refused(kw, given, said):
    with pytest.raises(ConfigError, match=said):
        TrainConfig(**kw).refuse_unused(given)


def test_options_that_take_effect_pass():
    TrainConfig(method="gd").refuse_unused({"method", "lr"})  # the default batch size untouched
    TrainConfig(schedule="step", gamma=0.5, step_epochs=2).refuse_unused({"gamma", "step_epochs"})
    TrainConfig(schedule="inverse", t0=5.0).refuse_unused({"t0"})
    TrainConfig(validation=100, validation_seed=2).refuse_unused({"validation_seed"})


def test_train_refuses_an_ignored_keyword(sample):
    with pytest.raises(ConfigError, match="--batch-size has no effect with --method gd"):
        sgdlab.train(method="gd", batch_size=64, data=sample, progress=False)
