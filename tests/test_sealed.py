"""Sealed JSON (sealed.py): an edited or damaged cache file is detected; a full disk is one
clear error and leaves nothing behind."""

from __future__ import annotations

import json
import math

import pytest
from full_disk import fill, full_disk

from sgdlab import sealed
from sgdlab.errors import ConfigError


def test_round_trip_keeps_nan_and_key_order_independent(tmp_path):
    doc = {"b": [1.5, float("nan")], "a": {"z": None, "y": "é"}}
    p = sealed.write(tmp_path / "x.json", doc)
    got = sealed.read(p)
    assert got.problem is None and got.content["a"] == doc["a"]
    assert math.isnan(got.content["b"][1])
    assert sealed.digest({"x": 1, "y": 2}) == sealed.digest({"y": 2, "x": 1})


def test_int_keys_and_tuples_read_back_intact(tmp_path):
    p = sealed.write(tmp_path / "x.json", {2: (1, 2), 16: "a", 128: None})
    assert sealed.read(p).content == {"2": [1, 2], "16": "a", "128": None}


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda d: d["content"].update(val_cost=0.1234), "fails its checksum"),
        (lambda d: d["content"].update(val_cost=float("nan")), "fails its checksum"),
        (lambda d: d["content"].pop("val_cost"), "fails its checksum"),
        (lambda d: d.pop("sha256"), "fails its checksum"),
        (lambda d: d.pop("sealed"), "is not sealed"),
    ],
)
def test_any_edit_is_detected(tmp_path, edit, problem):
    p = sealed.write(tmp_path / "x.json", {"val_cost": 0.5, "lr": 0.01})
    doc = json.loads(p.read_text())
    edit(doc)
    p.write_text(json.dumps(doc))
    got = sealed.read(p)
    assert got.content is None and got.problem == problem
    assert got.tampered == (problem == "fails its checksum")


def test_missing_and_unparsable(tmp_path):
    assert sealed.read(tmp_path / "none.json") == sealed.Read()
    (tmp_path / "bad.json").write_text("{not json")
    assert sealed.read(tmp_path / "bad.json").problem == "does not parse"


def test_a_full_disk_is_one_line_and_leaves_no_temporary(tmp_path):
    with full_disk(tmp_path / "disk") as d:
        fill(d)
        with pytest.raises(ConfigError, match=r"cannot write the cache file .*No space left"):
            sealed.write(d / "x.json", {"big": "x" * 100_000})
        assert sorted(p.name for p in d.iterdir()) == ["filler"]
