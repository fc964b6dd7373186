"""sgdlab.formatting: durations with a unit, strict JSON."""

from __future__ import annotations

import json
import math

import pytest

from sgdlab.formatting import finite_or_null, fmt_seconds


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (1.2, "1.2 s"),
        (0.25, "250 ms"),
        (0.2, "200 ms"),
        (0.01, "10 ms"),
        (3.2e-5, "32 µs"),
        (3.2e-7, "320 ns"),
        (1234.0, "1234 s"),
        (-0.0042, "-4.2 ms"),
        (None, "–"),
        (math.nan, "–"),
        (math.inf, "–"),
    ],
)
def test_fmt_seconds(seconds, shown):
    assert fmt_seconds(seconds) == shown


def test_finite_or_null_makes_strict_json():
    doc = {"a": [1.0, math.nan, (math.inf, 2)], "b": {"c": -math.inf, "d": "x"}, "e": None}
    clean = finite_or_null(doc)
    assert clean == {"a": [1.0, None, [None, 2]], "b": {"c": None, "d": "x"}, "e": None}
    assert json.loads(json.dumps(clean, allow_nan=False)) == clean
    assert math.isnan(doc["a"][1])  # the input is left alone
