"""The compare mode's preset buttons: each a list of run requests (``--config``-style keys).

- ``chapter``: the chapter's settings (configs/chapter.toml: b = 16, lr 0.005, 5 epochs);
- ``b_sweep``: b = 1, 16, 128, 1024 and the full batch, each at the lr the batch-size study
  chose for it (plain SGD, the C target). When this machine's study cache holds a finished
  study of the same data (``sgdlab experiment``, or ``--quick`` on the sample), its chosen lr
  is read from there (:func:`study_lrs`), for every b it studied; otherwise, and for a b it did
  not study, the lr is :data:`STUDY_LRS`, copied from docs/experiments.md (the full data set;
  on the sample only a starting point). Every b trains 5 epochs (b = 1: 2, the playground's
  step cap) so the curves against epochs show the chapter's claim: per epoch, the smaller
  minibatch gets further;
- ``momentum``: b = 16 plain SGD at lr 0.005 against momentum 0.9 and Nesterov at lr 0.0005
  (the same effective step lr/(1 − μ)).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sgdlab.data import FashionMNIST

#: The study's tuned lr per b (plain SGD, C target; docs/experiments.md, "full" = N).
STUDY_LRS: dict[int | str, float] = {
    1: 0.000702,
    16: 0.0204,
    128: 0.0977,
    1024: 0.131,
    "full": 0.15,
}


def study_lrs(data: FashionMNIST, *, cache_dir: str | Path | None = None) -> dict[int | str, float]:
    """The b sweep's lr per b (keys of :data:`STUDY_LRS`): the study's chosen lr for plain SGD
    at the C target where the study cache (``cache_dir``, default the experiment cache) holds a
    finished study of ``data`` (:func:`sgdlab.study.run.cached_passes`: the full protocol, else
    the quick one), else the copied value. Reads files only; never trains."""
    from sgdlab.study.protocol import FULL, StudySpec
    from sgdlab.study.run import cached_passes

    out = dict(STUDY_LRS)
    for spec in (StudySpec.full(), StudySpec.quick()):
        passes = cached_passes(spec, data=data, cache_dir=cache_dir)
        if passes is None:
            continue
        for b in out:
            row = passes.rows.get(("sgd", FULL if b == "full" else b))
            best = row.best("train_cost") if row is not None and row.steps else None
            if best is not None:
                out[b] = best
        break
    return out


def presets(n: int, lrs: dict[int | str, float] | None = None) -> dict[str, list[dict[str, Any]]]:
    """The presets for a training set of ``n`` images (batch sizes above ``n`` left out);
    ``lrs``: the b sweep's lr per b (default :data:`STUDY_LRS`; see :func:`study_lrs`)."""
    sweep = []
    for b, lr in (STUDY_LRS if lrs is None else lrs).items():
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
