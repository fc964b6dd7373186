"""The 2-D non-convex illustration: GD stops in the local minimum, noisy SGD escapes."""

from __future__ import annotations

import pytest
import torch

from sgdlab.analysis.landscape import Landscape, escape_study, run
from sgdlab.errors import ConfigError


def test_cost_gradient_and_critical_points():
    land = Landscape()
    th = torch.tensor([[0.3, -0.7], [1.2, 0.4]], dtype=torch.float64, requires_grad=True)
    land.cost(th).sum().backward()
    assert torch.allclose(th.grad, land.grad(th.detach()))
    x_glob, x_sad, x_loc = land.critical_xs()
    assert x_glob < x_sad < x_loc
    for x in (x_glob, x_sad, x_loc):
        assert abs(float(land.grad(torch.tensor([x, 0.0], dtype=torch.float64))[0])) < 1e-9
    c = land.cost(torch.tensor([[x_glob, 0.0], [x_loc, 0.0]], dtype=torch.float64))
    assert c[0] < c[1]  # the minimum near x = +1 is only local


def test_data_terms_average_out():
    g = Landscape(sigma=3.0).data()
    assert g.shape == (256, 2) and g.mean(0).abs().max() < 1e-12 and g.std() > 2


def test_gd_stops_in_local_minimum_sgd_escapes():
    s = escape_study(seeds=60, batch_sizes=(1, 16))
    x_glob, x_sad, x_loc = s.critical_xs
    assert s.gd_final[0] == pytest.approx(x_loc, abs=1e-6) and s.escape["full"] == 0.0
    assert s.escape["1"] > 0.6  # most seeds escape with b = 1
    assert s.escape["16"] < s.escape["1"]  # less noise, fewer escapes
    assert s.config["seeds"] == list(range(60))


def test_sgd_runs_are_reproducible_and_seeded():
    land = Landscape()
    a = run(land, batch_size=1, lr=0.05, steps=50, anneal=10, start=(1.5, 1.0), seeds=[0, 1])
    b = run(land, batch_size=1, lr=0.05, steps=50, anneal=10, start=(1.5, 1.0), seeds=[0, 1])
    assert torch.equal(a, b) and not torch.equal(a[0], a[1])


@pytest.mark.parametrize(
    "kw", [dict(seeds=0), dict(lr=-1.0), dict(batch_sizes=(0,)), dict(land=None, steps=1.5)]
)
def test_bad_parameters(kw):
    with pytest.raises(ConfigError):
        escape_study(**kw)
    with pytest.raises(ConfigError):
        Landscape(tilt=2.0)
