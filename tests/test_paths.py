"""Every default location comes from sgdlab.paths, read from the environment at call time."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sgdlab import paths
from sgdlab.data import fashion
from sgdlab.experiments import cache as experiment_cache

ENV = ("SGDLAB_CACHE_DIR", "SGDLAB_EXPERIMENT_CACHE", "SGDLAB_DATA", "XDG_CACHE_HOME")


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh home directory and none of the variables that move the caches."""
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def every_location() -> dict[str, Path]:
    return {
        "root": paths.cache_root(),
        "data": paths.data_cache_dir(),
        "report": paths.report_cache_dir(),
        "experiments": paths.experiment_cache_dir(),
    }


@pytest.mark.skipif(sys.platform != "linux", reason="~/.cache is the Linux user cache")
def test_defaults_are_under_the_home_cache(home):
    root = home / ".cache" / "sgdlab"
    assert every_location() == {
        "root": root,
        "data": root / "fashion-mnist",
        "report": root / "report",
        "experiments": root / "experiments",
    }
    assert paths.system_data_dir() == Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(sys.platform != "linux", reason="XDG_CACHE_HOME is Linux's")
def test_xdg_cache_home_moves_the_default_root(home, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert paths.cache_root() == tmp_path / "xdg" / "sgdlab"
    assert paths.experiment_cache_dir() == tmp_path / "xdg" / "sgdlab" / "experiments"


def test_sgdlab_cache_dir_moves_every_location(home, tmp_path, monkeypatch):
    c = tmp_path / "c"
    monkeypatch.setenv("SGDLAB_CACHE_DIR", str(c))  # set after import: read at call time
    assert every_location() == {
        "root": c,
        "data": c,  # the downloads lie in it directly, as they always have
        "report": c / "report",
        "experiments": c / "experiments",
    }
    assert not any(home in p.parents for p in every_location().values())
    assert paths.system_data_dir() == paths.SYSTEM_DATA_DIR  # not a cache: not moved


def test_experiment_cache_variable_wins(home, tmp_path, monkeypatch):
    monkeypatch.setenv("SGDLAB_EXPERIMENT_CACHE", str(tmp_path / "runs"))
    assert paths.experiment_cache_dir() == tmp_path / "runs"
    monkeypatch.setenv("SGDLAB_CACHE_DIR", str(tmp_path / "c"))
    assert paths.experiment_cache_dir() == tmp_path / "runs"
    assert paths.report_cache_dir() == tmp_path / "c" / "report"


def test_empty_variables_count_as_unset(home, monkeypatch):
    before = every_location()
    monkeypatch.setenv("SGDLAB_CACHE_DIR", "")
    monkeypatch.setenv("SGDLAB_EXPERIMENT_CACHE", "")
    assert every_location() == before


def test_the_users_of_the_locations_ask_paths(home, tmp_path, monkeypatch):
    monkeypatch.setenv("SGDLAB_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.setattr(paths, "SYSTEM_DATA_DIR", tmp_path / "system")
    assert fashion.search_dirs() == [tmp_path / "c", tmp_path / "system"]
    assert experiment_cache.default_dir() == tmp_path / "c" / "experiments"
    c = experiment_cache.Cache(None, data_sha256={}, version="v")
    assert c.dir == tmp_path / "c" / "experiments"
