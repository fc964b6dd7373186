"""The compare mode's preset buttons: each a list of run requests (``--config``-style keys).

- ``chapter``: the chapter's settings (configs/chapter.toml: b = 16, lr 0.005, 5 epochs);
- ``b_sweep``: b = 1, 16, 128, 1024 and the full batch, each at the lr the batch-size study
  chose for it (plain SGD, target C ≤ 0.45: the table in docs/experiments.md, measured by
  ``sgdlab experiment`` on the full data set); on other data (the sample) the lrs are only a
  starting point. Every b trains 5 epochs (b = 1: 2, the playground's step cap) so the curves
  against epochs show the chapter's claim: per epoch, the smaller minibatch gets further;
- ``momentum``: b = 16 plain SGD at lr 0.005 against momentum 0.9 and Nesterov at lr 0.0005
  (the same effective step lr/(1 − μ)).
"""

from __future__ import annotations

from typing import Any

#: The study's tuned lr per b (plain SGD, C target; docs/experiments.md, "full" = N).
STUDY_LRS: dict[int | str, float] = {
    1: 0.000702,
    16: 0.0204,
    128: 0.0977,
    1024: 0.131,
    "full": 0.15,
}


def presets(n: int) -> dict[str, list[dict[str, Any]]]:
    """The presets for a training set of ``n`` images (batch sizes above ``n`` left out)."""
    sweep = []
    for b, lr in STUDY_LRS.items():
        if b == "full":
            sweep.append({"method": "gd", "lr": lr, "epochs": 5})
        elif b <= n:
            sweep.append({"batch-size": b, "lr": lr, "epochs": 5 if b > 1 else 2})
    return {
        "chapter": [{"batch-size": 16, "lr": 0.005, "epochs": 5}],
        "b_sweep": sweep,
        "momentum": [
            {"batch-size": 16, "lr": 0.005, "epochs": 5},
            {"batch-size": 16, "lr": 0.0005, "momentum": 0.9, "epochs": 5},
            {"batch-size": 16, "lr": 0.0005, "momentum": 0.9, "nesterov": True, "epochs": 5},
        ],
    }
