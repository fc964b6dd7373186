"""sgdlab.study.protocol, .tune, .search's pure parts and .verdict: the grid, its extension,
the choice of the best lr, the evaluation schedule, exact evaluation and the words."""

from __future__ import annotations

import math
import re

import pytest
import torch

from sgdlab.errors import ConfigError
from sgdlab.model import SoftmaxRegression, evaluate
from sgdlab.study.protocol import FULL, Pass, StudySpec, extend, lr_grid
from sgdlab.study.search import exact, schedule
from sgdlab.study.tune import Row, next_lrs, summarize
from sgdlab.study.verdict import verdict


def test_grid_is_sqrt2_apart_and_extensions_continue_it():
    g = lr_grid(0.01, 7, math.sqrt(2))
    ratios = [b / a for a, b in zip(g, g[1:], strict=False)]
    assert len(g) == 7 and all(abs(r - math.sqrt(2)) < 1e-3 for r in ratios)
    hi, lo = extend(g, "high", math.sqrt(2)), extend(g, "low", math.sqrt(2))
    assert hi[0] / g[-1] == pytest.approx(math.sqrt(2), rel=1e-3) and hi[1] > hi[0]
    assert g[0] / lo[-1] == pytest.approx(math.sqrt(2), rel=1e-3) and lo[0] < lo[1]


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"lr_ratio": 2.0}, "lr ratio"),
        ({"resolution": 1.1}, "resolution"),
        ({"optimizers": ("adam",)}, "unknown optimizer"),
        ({"batch_sizes": (0,)}, "batch sizes"),
        ({"targets": {"train_cost": 0.45}}, "targets"),
        ({"targets": {"train_cost": 0.45, "val_accuracy": 1.5}}, "val_accuracy"),
        ({"seeds": (1, 1)}, "seeds"),
    ],
)
def test_spec_refuses_bad_settings(kw, match):
    with pytest.raises(ConfigError, match=match):
        StudySpec(**kw)


def test_spec_defaults_are_the_protocol():
    s = StudySpec.full()
    assert s.batch_sizes[0] == 1 and s.batch_sizes[-2] == 32768 and s.batch_sizes[-1] == FULL
    assert s.targets == {"train_cost": 0.45, "val_accuracy": 0.835}
    assert s.validation == 10_000 and len(s.seeds) >= 3 and s.lr_ratio <= math.sqrt(2)
    assert s.budget(1, 50_000) == 100_000 and s.budget(50_000, 50_000) == 200
    assert s.seeds_for(FULL) == s.seeds[:1]
    p = Pass.of(s, "nesterov", 16, 0, (0.1, 0.2))
    assert p.momentum == 0.9 and p.goal("train_cost") == 0.45 and hash(p)


def test_schedule_is_geometric_and_ends_at_the_budget():
    pts = schedule(1000, 1.25)
    assert pts[0] == 1 and pts[-1] == 1000 and pts == sorted(set(pts))
    assert all(b >= a * 1.25 or b == a + 1 or b == 1000 for a, b in zip(pts, pts[1:], strict=False))


def test_exact_equals_the_models_evaluation(sample):
    from sgdlab.data import to_float

    g = torch.Generator().manual_seed(0)
    models = [SoftmaxRegression(init="uniform", generator=g) for _ in range(3)]
    w = torch.stack([m.z.weight.detach() for m in models])
    b = torch.stack([m.z.bias.detach() for m in models])
    x, y = to_float(sample.test_images), sample.test_labels
    c, a = exact(w, b, x, y, chunk=300)
    for k, m in enumerate(models):
        cost, acc = evaluate(m, sample.test_images, y)
        assert c[k] == pytest.approx(cost, rel=1e-5) and a[k] == acc


def _record(lrs, steps):
    """A pass record: per lr its steps to both targets (None: not reached)."""
    return {
        "trials": [
            {"lr": lr, "steps": {"train_cost": s, "val_accuracy": s}, "diverged": s == "div"}
            for lr, s in zip(lrs, steps, strict=True)
        ]
    }


def test_best_lr_median_over_seeds_and_extension():
    spec = StudySpec(grid_points=3)
    row = Row("sgd", 16)
    lrs = (0.1, 0.2, 0.4)
    for seed_steps in ([50, 40, 30], [60, 45, 35], [55, 41, None]):
        row.add(_record(lrs, seed_steps))
    assert row.median(0.4, "train_cost") == 35  # 30, 35, inf
    assert row.best("train_cost") == 0.4 and row.side_to_extend("train_cost") == "high"
    new = next_lrs(row, spec)
    assert len(new) == 2 and new[0] > 0.4 and row.extensions == 1
    for seed_steps in ([None, None], [None, None], [None, None]):
        rec = _record(new, seed_steps)
        for t in rec["trials"]:
            t["diverged"] = True
        row.add(rec)
    assert row.side_to_extend("train_cost") is None  # diverged neighbours: 0.4 is interior
    out = summarize(row, "train_cost", spec)
    assert out["lr"] == 0.4 and out["steps"] == 35 and out["reached"] == 2 and not out["edge"]
    assert out["diverged_lrs"] == list(new)


def test_out_of_extensions_marks_the_row_edge():
    spec = StudySpec(grid_points=3, max_extensions=0)
    row = Row("sgd", 1)
    row.add(_record((0.1, 0.2, 0.4), [10, 20, 30]))
    assert next_lrs(row, spec) == () and summarize(row, "train_cost", spec)["edge"]


def _rows(examples: dict[int, float], opt="sgd", target="train_cost"):
    n = 50_000
    return [
        {
            "optimizer": opt,
            "target": target,
            "batch_size": b,
            "full_batch": b == n,
            "lr": 0.01 * b,
            "steps": e / b,
            "examples": e,
            "epochs": e / n,
            "seconds": e / b * 1e-4,
            "edge": False,
            "steps_per_seed": [e / b] * 3,
        }
        for b, e in examples.items()
    ]


def test_verdict_reads_the_numbers():
    # E = 1000 (1 + b/100): within 15 % of the minimum up to b = 16, growing beyond
    rows = _rows({b: 1000 * (1 + b / 100) for b in (1, 2, 4, 8, 16, 64, 256)})
    fit = {
        "sgd": {
            "train_cost": {
                "B_crit": 100.0,
                "S_min": 10.0,
                "E_min": 1000.0,
                "B_crit_ci": [80.0, 120.0],
            }
        }
    }
    words = verdict(
        rows,
        fit,
        noise=None,
        optimizers=("sgd",),
        targets={"train_cost": 0.45, "val_accuracy": 0.835},
    )
    text = " ".join(words)
    assert "from 1 to 16 needs within 15%" in text and "B_crit ≈ 100" in text
    assert "fastest at b = 256" in text
    rows = _rows({b: 1000 * b**0.5 for b in (1, 4, 16)})
    words = verdict(
        rows,
        {},
        noise=None,
        optimizers=("sgd",),
        targets={"train_cost": 0.45, "val_accuracy": 0.835},
    )
    assert "all the way down to b = 1" in " ".join(words)


def test_verdict_in_hebrew_says_the_same_numbers():
    rows = _rows({b: 1000 * (1 + b / 100) for b in (1, 2, 4, 8, 16, 64, 256)})
    fit = {"sgd": {"train_cost": {"B_crit": 100.0, "S_min": 10.0, "E_min": 1000.0}}}
    kw = dict(noise=None, optimizers=("sgd",), targets={"train_cost": 0.45, "val_accuracy": 0.835})
    en, he = verdict(rows, fit, **kw), verdict(rows, fit, lang="he", **kw)
    assert len(en) == len(he) and "מ-1 עד 16" in " ".join(he) and "B_crit ≈ 100" in he[3]
    for e, h in zip(en, he, strict=True):
        assert re.findall(r"\d[\d,.]*", e) == re.findall(r"\d[\d,.]*", h)
    with pytest.raises(ValueError, match="lang must be one of en, he"):
        verdict(rows, fit, lang="fr", **kw)
