"""One pass of the study: the trials of one (optimizer, b, seed) trained together, the steps at
which each first reaches each target, located to the spec's resolution.

The trials are evaluated exactly (the cost C over every training image, the accuracy over the
validation images), outside the clock, on a geometric schedule of steps (ratio ``eval_ratio``:
1, 2, 3, 4, 5, 7, 9, … up to the budget). When a trial's target first holds at a point s_b and
did not at the previous point s_a, its state and the sampler's at s_a are replayed alone over
(s_a, s_b] with evaluations ``resolution`` apart, so the recorded S is the first of those fine
points where the target holds: the true first step lies in (S/resolution, S].

A trial stops when it has reached every target, diverged (a non-finite cost or weight), used its
budget, or can no longer win: its step exceeds ``stop_margin`` × the fewest steps another trial
of the pass needed for each target it has not reached (it is then recorded as not reached, with
``stopped_at``). Only the crossings that may be the pass's best are replayed (a trial whose
target first held after another trial's had is left at its coarse point, marked ``coarse``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from sgdlab.data import FashionMNIST, to_float
from sgdlab.data.split import hold_out
from sgdlab.sampler import MinibatchSampler
from sgdlab.study.protocol import FULL, TARGETS, Pass
from sgdlab.study.protocol import budget as protocol_budget


@dataclass
class Problem:
    """The data of a study, prepared once per process: the fit images (uint8, for training)
    and their float32 model inputs (for exact costs), the validation set, the split record."""

    images: torch.Tensor  # (n,784) uint8
    labels: torch.Tensor  # (n,) int64
    x: torch.Tensor  # (n,784) float32, standardized
    val_x: torch.Tensor  # (v,784) float32
    val_y: torch.Tensor  # (v,) int64
    split: dict[str, Any]

    @classmethod
    def of(cls, data: FashionMNIST, validation: int, seed: int) -> Problem:
        fit, (vx, vy), split = hold_out(data, validation, seed=seed)
        images = fit.train_images.reshape(-1, 784).contiguous()
        return cls(images, fit.train_labels, to_float(images), to_float(vx), vy, split)

    @property
    def n(self) -> int:
        return int(self.images.shape[0])


def exact(
    w: torch.Tensor, b: torch.Tensor, x: torch.Tensor, y: torch.Tensor, *, chunk: int = 8192
) -> tuple[np.ndarray, np.ndarray]:
    """Exact mean cost C (nats, float64) and accuracy of K models (``w`` (K,10,784), ``b``
    (K,10) float32) on ``x`` (M,784) float32, ``y`` (M,) int64, summed in chunks of rows."""
    k = w.shape[0]
    wt = w.reshape(k * 10, 784).T.contiguous()  # (784, 10K)
    bias = b.reshape(1, k * 10)
    cost = torch.zeros(k, dtype=torch.float64)
    right = torch.zeros(k, dtype=torch.int64)
    for lo in range(0, x.shape[0], chunk):
        z = torch.addmm(bias, x[lo : lo + chunk], wt).view(-1, k, 10)  # (m,K,10)
        yy = y[lo : lo + chunk]
        lse = torch.logsumexp(z, dim=2)  # (m,K)
        zt = z.gather(2, yy.view(-1, 1, 1).expand(-1, k, 1)).squeeze(2)
        cost += (lse - zt).to(torch.float64).sum(0)
        right += (z.argmax(2) == yy.view(-1, 1)).sum(0)
    m = x.shape[0]
    return (cost / m).numpy(), (right.to(torch.float64) / m).numpy()


def schedule(budget: int, ratio: float) -> list[int]:
    """Evaluation steps 1 ≤ s ≤ budget, each ≥ ratio × the previous (rounded up, at least +1),
    the budget always included."""
    pts, s = [], 1
    while s < budget:
        pts.append(s)
        s = max(s + 1, math.ceil(s * ratio))
    return [*pts, budget]


def _holds(target: str, value: float, goal: float) -> bool:
    return value <= goal if target == "train_cost" else value >= goal


class _Driver:
    """Advances the trials' shared minibatch order step by step across epochs."""

    def __init__(self, trials, n: int, b: int, seed: int) -> None:
        self.trials, self.b, self.gd = trials, b, b >= n
        self.sampler = MinibatchSampler(n, b, generator=torch.Generator().manual_seed(seed))
        self.step = 0

    def to(self, stop: int) -> np.ndarray:
        """Train every active trial up to global step ``stop``; the costs of those steps,
        float64 (K, stop - step)."""
        out = []
        while self.step < stop:
            if self.gd:
                out.append(self.trials.gd_step().reshape(-1, 1))
                self.step += 1
                continue
            s = self.sampler
            k = min(stop - self.step, len(s) - s.batch)
            out.append(self.trials.sgd_steps(s.permutation(), self.b, s.batch, s.batch + k))
            s.advance(k)
            self.step += k
        return torch.cat(out, 1).numpy() if out else np.zeros((self.trials.K, 0))


def run_pass(task: Pass, problem: Problem) -> dict[str, Any]:
    """Run ``task`` on ``problem``; return its JSON-ready record: per trial ``lr``,
    ``steps`` ({target: S or None}), ``diverged``, ``diverged_at``, ``stopped_at`` (the last
    step trained), ``curve`` ([step, C, val accuracy] at the coarse points), ``coarse`` (the
    targets whose S is only the coarse point: reached after another trial of the pass had
    already reached them, so it cannot be the best); and the pass's
    ``steps_per_epoch``, ``budget``, ``evaluations``, ``train_seconds`` (wall, updates only),
    ``eval_seconds``, ``replay_seconds``."""
    from sgdlab.study.trials import Trials

    n = problem.n
    b = n if task.batch_size == FULL else min(int(task.batch_size), n)
    spe = -(-n // b)
    budget = protocol_budget(b, n, max_steps=task.max_steps, max_epochs=task.max_epochs)
    mom = task.momentum
    trials = Trials(problem.images, problem.labels, lrs=task.lrs, momentum=mom, nesterov=mom > 0)
    drv = _Driver(trials, n, b, task.seed)
    k = trials.K
    recs = [
        {
            "lr": lr,
            "steps": dict.fromkeys(TARGETS),
            "diverged": False,
            "diverged_at": None,
            "stopped_at": 0,
            "curve": [],
        }
        for lr in task.lrs
    ]
    best = dict.fromkeys(TARGETS, math.inf)
    prev_step, snaps = 0, [None] * k  # the state at the previous point, per trial
    pending: list[tuple[int, str, int, int, Any]] = []  # replays: (trial, target, s_a, s_b, snap)
    clock = {"train": 0.0, "eval": 0.0, "replay": 0.0}
    evals = 0
    c0, a0 = _evaluate(trials, problem, clock)
    for j in range(k):
        recs[j]["curve"].append([0, float(c0[j]), float(a0[j])])
        snaps[j] = (trials.get(j), drv.sampler.state_dict())
    for s in schedule(budget, task.eval_ratio):
        t0 = time.perf_counter()
        costs = drv.to(s)
        clock["train"] += time.perf_counter() - t0
        c, a = _evaluate(trials, problem, clock)
        evals += 1
        for j in np.flatnonzero(trials.active):
            r = recs[j]
            bad = ~np.isfinite(costs[j])
            if bad.any() or not math.isfinite(c[j]):
                r["diverged"], trials.active[j] = True, False
                r["diverged_at"] = prev_step + (
                    int(np.argmax(bad)) + 1 if bad.any() else s - prev_step
                )
                r["stopped_at"] = s
                continue
            r["curve"].append([s, float(c[j]), float(a[j])])
            r["stopped_at"] = s
            for tgt, value in (("train_cost", c[j]), ("val_accuracy", a[j])):
                if r["steps"][tgt] is None and _holds(tgt, value, task.goal(tgt)):
                    r["steps"][tgt] = s  # refined below
                    pending.append((j, tgt, prev_step, s, snaps[j]))
                    best[tgt] = min(best[tgt], s)
            snaps[j] = (trials.get(j), drv.sampler.state_dict())
        prev_step = s
        _stop(trials, recs, best, s, task.stop_margin)
        if not trials.active.any():
            break
    t0 = time.perf_counter()
    first = {t: min((sb for _, tt, _, sb, _ in pending if tt == t), default=0) for t in TARGETS}
    for j, tgt, sa, sb, snap in pending:
        if sa < first[tgt]:  # it may beat the pass's best: locate it to the resolution
            recs[j]["steps"][tgt] = _replay(task, problem, b, j, tgt, sa, sb, snap)
        else:  # reached only after the best had: its S stays the coarse upper bound
            recs[j].setdefault("coarse", []).append(tgt)
    clock["replay"] += time.perf_counter() - t0
    return {
        "pass": task.to_dict(),
        "n_train": n,
        "batch": b,
        "steps_per_epoch": spe,
        "budget": budget,
        "evaluations": evals,
        "train_seconds": clock["train"],
        "eval_seconds": clock["eval"],
        "replay_seconds": clock["replay"],
        "trials": recs,
    }


def _evaluate(trials, problem: Problem, clock) -> tuple[np.ndarray, np.ndarray]:
    """Exact C and validation accuracy of the active trials (NaN for the others)."""
    t0 = time.perf_counter()
    act = np.flatnonzero(trials.active)
    c, a = np.full(trials.K, np.nan), np.full(trials.K, np.nan)
    if len(act):
        w, b = trials.weights()
        w, b = w[act], b[act]
        c[act] = exact(w, b, problem.x, problem.labels)[0]
        a[act] = exact(w, b, problem.val_x, problem.val_y)[1]
    clock["eval"] += time.perf_counter() - t0
    return c, a


def _stop(trials, recs, best, s: int, margin: float) -> None:
    """Deactivate the trials that reached every target or can no longer win any."""
    for j in np.flatnonzero(trials.active):
        open_ = [t for t in TARGETS if recs[j]["steps"][t] is None]
        if not open_ or all(s > margin * best[t] for t in open_):
            trials.active[j] = False


def _replay(task: Pass, problem: Problem, b: int, j: int, tgt: str, sa: int, sb: int, snap) -> int:
    """The first of the fine points in (sa, sb] at which trial j's target holds (sb if the
    replay never sees it earlier: the same steps, so it holds at sb)."""
    from sgdlab.study.trials import Trials

    state, sampler_state = snap
    mom = task.momentum
    one = Trials(problem.images, problem.labels, lrs=[task.lrs[j]], momentum=mom, nesterov=mom > 0)
    one.put(0, state)
    drv = _Driver(one, problem.n, b, task.seed)
    drv.sampler.load_state_dict(sampler_state)
    drv.step = sa
    x, y = (problem.x, problem.labels) if tgt == "train_cost" else (problem.val_x, problem.val_y)
    s = sa
    while True:
        s = min(sb, max(s + 1, math.floor(s * task.resolution)))
        if s >= sb:
            return sb
        drv.to(s)
        w, bias = one.weights()
        c, a = exact(w, bias, x, y)
        if _holds(tgt, c[0] if tgt == "train_cost" else a[0], task.goal(tgt)):
            return s


_PROBLEMS: dict[tuple[str, int, int], Problem] = {}


def run_on(task: Pass, data: FashionMNIST) -> dict[str, Any]:
    """:func:`run_pass` on ``data``, preparing its :class:`Problem` once per process (a worker
    runs many passes on the same split)."""
    key = (
        data.sha256.get("train-images-idx3-ubyte", data.source),
        task.validation,
        task.validation_seed,
    )
    if key not in _PROBLEMS:
        _PROBLEMS.clear()
        _PROBLEMS[key] = Problem.of(data, task.validation, task.validation_seed)
    return run_pass(task, _PROBLEMS[key])
