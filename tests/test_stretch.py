"""The training loop's call lengths (sgdlab.training.stretch): adaptive, bounded, and without effect
on the result."""

from __future__ import annotations

import pytest
import torch

from sgdlab.training import stretch
from sgdlab.training.stretch import Stretch
from sgdlab.training.trainer import train


def test_adapts_to_the_measured_rate_within_bounds():
    s = Stretch()
    assert s.steps == stretch.FIRST
    s.record(500, 0.005)  # 10 µs a step: 0.05 s is 5,000 steps
    assert s.steps == 5000
    s.record(5000, 5.0)  # slow (1 ms a step): never fewer than FIRST
    assert s.steps == stretch.FIRST
    s.record(0, 0.0)  # nothing measured: unchanged
    assert s.steps == stretch.FIRST


def test_fixed_length_and_bad_values():
    s = Stretch(7)
    s.record(7, 1e-6)
    assert s.steps == 7
    for bad in (0, -3, 2.5, "500"):
        with pytest.raises(ValueError, match="segment"):
            Stretch(bad)


def test_train_same_bits_for_any_stretch(sample, monkeypatch):
    """Adaptive calls (the default), calls of 7 steps and one call an epoch: the same run."""
    calls = []
    from sgdlab import engines

    real = engines.get_engine

    def spy(*a, **k):
        eng = real(*a, **k)
        inner = eng.sgd_steps
        eng.sgd_steps = lambda m, p, b, lr, i, j, **kw: (
            calls.append(j - i) or inner(m, p, b, lr, i, j, **kw)
        )
        return eng

    monkeypatch.setattr(engines, "get_engine", spy)
    kw = dict(
        batch_size=4,
        epochs=2,
        lr=0.01,
        seed=1,
        engine="fast",
        data=sample,
        progress=False,
        momentum=0.9,
    )
    runs = {}
    for seg in (None, 7, 10_000):
        calls.clear()
        runs[seg] = (train(segment=seg, **kw), list(calls))
    assert set(runs[7][1]) <= {7, 250 % 7} and set(runs[10_000][1]) == {250}
    assert runs[None][1][0] == stretch.FIRST or runs[None][1][0] == 250  # epoch of 250 steps
    ref = runs[7][0].model
    for seg in (None, 10_000):
        m = runs[seg][0].model
        assert torch.equal(m.z.weight, ref.z.weight) and torch.equal(m.z.bias, ref.z.bias)
        assert runs[seg][0].history[-1]["test_cost"] == runs[7][0].history[-1]["test_cost"]
