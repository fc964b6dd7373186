"""Tuning per (optimizer, b): run the lr grid's passes, choose the best lr per target, extend
the grid while the best lr sits at an edge.

For each lr, S per target is the median over seeds of the steps to target (a seed that did not
reach it counts as infinitely many steps, so an lr that most seeds fail has no finite median);
diverged seeds count as not reached. The best lr minimizes that median; ties go to the smaller
lr. It is *interior* when the grid has a learning rate on each side of it; otherwise the grid
gets 2 more lrs (``lr_ratio`` apart) beyond that edge and the new passes run, up to
``max_extensions`` times per (optimizer, b); a row whose best lr is still at an edge then is
reported with ``edge`` set and left out of the fit. When no lr reaches a target, the grid is
extended downward if its largest lrs diverged and upward otherwise.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from sgdlab.study.protocol import TARGETS, StudySpec, extend


@dataclass
class Row:
    """What the passes say about one (optimizer, b): every lr's per-seed steps per target."""

    optimizer: str
    batch_size: int | str
    grid: tuple[float, ...] = ()
    #: lr -> target -> per-seed steps (None: not reached), in the spec's seed order
    steps: dict[float, dict[str, list[int | None]]] = field(default_factory=dict)
    diverged: dict[float, int] = field(default_factory=dict)  # lr -> diverged seeds
    extensions: int = 0

    def add(self, record: dict[str, Any]) -> None:
        for tr in record["trials"]:
            lr = float(tr["lr"])
            per = self.steps.setdefault(lr, {t: [] for t in TARGETS})
            for t in TARGETS:
                per[t].append(tr["steps"][t])
            self.diverged[lr] = self.diverged.get(lr, 0) + int(bool(tr["diverged"]))

    def median(self, lr: float, target: str) -> float:
        """The median over seeds of the steps to ``target`` at ``lr`` (inf: not reached)."""
        vals = [math.inf if s is None else s for s in self.steps[lr][target]]
        return float(statistics.median(vals)) if vals else math.inf

    def best(self, target: str) -> float | None:
        """The lr with the fewest median steps (None when no lr reaches ``target``)."""
        grid = sorted(self.steps)
        scored = [(self.median(lr, target), lr) for lr in grid]
        s, lr = min(scored)
        return None if math.isinf(s) else lr

    def side_to_extend(self, target: str) -> str | None:
        """``"low"``/``"high"`` when the grid must grow for ``target``, else None."""
        grid = sorted(self.steps)
        lr = self.best(target)
        if lr is None:
            return "low" if self.diverged.get(grid[-1], 0) else "high"
        if lr == grid[0]:
            return "low"
        if lr == grid[-1]:
            return "high"
        return None


def next_lrs(row: Row, spec: StudySpec) -> tuple[float, ...]:
    """The learning rates to add to ``row``'s grid now (empty: done, or out of extensions)."""
    if row.extensions >= spec.max_extensions:
        return ()
    grid = tuple(sorted(row.steps))
    new: list[float] = []
    for side in {row.side_to_extend(t) for t in TARGETS} - {None}:
        new += [lr for lr in extend(grid, side, spec.lr_ratio) if lr not in row.steps]
    if new:
        row.extensions += 1
    return tuple(sorted(new))


def summarize(row: Row, target: str, spec: StudySpec) -> dict[str, Any]:
    """The study's row for (optimizer, target, b): the best lr, its median steps and the
    seeds' spread, examples, whether the best lr is still at an edge of the grid."""
    lr = row.best(target)
    grid = sorted(row.steps)
    out: dict[str, Any] = {
        "optimizer": row.optimizer,
        "target": target,
        "batch_size": row.batch_size,
        "lr": lr,
        "lr_grid": grid,
        "steps": None,
        "steps_per_seed": None,
        "examples": None,
        "reached": 0,
        "edge": False,
        "diverged_lrs": sorted(x for x, d in row.diverged.items() if d),
        "extensions": row.extensions,
    }
    if lr is None:
        return out
    per = row.steps[lr][target]
    s = row.median(lr, target)
    out.update(
        steps=s,
        steps_per_seed=per,
        reached=sum(v is not None for v in per),
        edge=row.side_to_extend(target) is not None,
        lr_median_steps={str(x): _finite(row.median(x, target)) for x in grid},
    )
    return out


def _finite(x: float) -> float | None:
    return None if math.isinf(x) else x
