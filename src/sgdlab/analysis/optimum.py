"""The reference optimum: the L2-regularised minimum of C for this linear model, by L-BFGS.

    F(W, b) = C(W, b) + λ/2·(‖W‖² + ‖b‖²)

on the standardized pixels (:func:`sgdlab.data.to_float`), float64 throughout, minimised with
full-batch ``torch.optim.LBFGS`` (strong-Wolfe line search). The penalty covers ``z.bias`` too,
so λ is exactly the ``weight_decay`` of :func:`sgdlab.train` (whose update adds λ·p to the
gradient of both parameters). λ is chosen on a held-out validation split of the training set
(:mod:`sgdlab.data.split`) along a decreasing path with warm starts, then the model is refitted on
all training samples with that λ. It is the yardstick for how close SGD recipes get.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from sgdlab.data import FashionMNIST
from sgdlab.data.fashion import to_float
from sgdlab.data.split import hold_out
from sgdlab.model import N_CLASSES, N_PIXELS, SoftmaxRegression, evaluate

LAMBDAS = (3e-2, 1e-2, 3e-3, 1e-3, 3e-4)


@dataclass
class Optimum:
    """The fitted model (float32 copy) and how it was found (λ, validation scores, seconds)."""

    model: SoftmaxRegression
    lam: float
    objective: float  # F at the optimum on all training samples
    seconds: float  # wall time of all fits (path + refit)
    path: list[dict[str, Any]] = field(default_factory=list)  # per λ: val accuracy, cost, iters


Fit = tuple[torch.Tensor, torch.Tensor, float, int]


def fit(
    x: torch.Tensor,
    y: torch.Tensor,
    lam: float,
    *,
    init: tuple | None = None,
    max_iter: int = 500,
    tol: float = 1e-7,
) -> Fit:
    """Minimise F on float64 ``x`` (N,784), int64 ``y`` (N,); returns (W (10,784), b (10,),
    F, evaluations). ``init``: a warm start (W, b)."""
    W = torch.zeros(N_CLASSES, N_PIXELS, dtype=torch.float64)
    b = torch.zeros(N_CLASSES, dtype=torch.float64)
    if init is not None:
        W, b = init[0].clone().double(), init[1].clone().double()
    W.requires_grad_(True)
    b.requires_grad_(True)
    opt = torch.optim.LBFGS(
        [W, b],
        lr=1,
        max_iter=max_iter,
        tolerance_grad=tol,
        tolerance_change=1e-12,
        history_size=20,
        line_search_fn="strong_wolfe",
    )
    evals = 0

    def objective():
        return F.cross_entropy(x @ W.T + b, y) + lam / 2 * (W.square().sum() + b.square().sum())

    def closure():
        nonlocal evals
        evals += 1
        opt.zero_grad()
        f = objective()  # (N,784)@(784,10)
        f.backward()
        return f

    opt.step(closure)
    with torch.no_grad():
        f = objective().item()
    return W.detach(), b.detach(), f, evals


def _model(W: torch.Tensor, b: torch.Tensor) -> SoftmaxRegression:
    m = SoftmaxRegression()
    with torch.no_grad():
        m.z.weight.copy_(W.float())
        m.z.bias.copy_(b.float())
    return m


def reference_optimum(
    ds: FashionMNIST,
    *,
    lambdas: tuple[float, ...] = LAMBDAS,
    validation: int = 10000,
    validation_seed: int = 0,
    max_iter: int = 300,
) -> Optimum:
    """Choose λ from ``lambdas`` on ``validation`` held-out samples (largest first, warm
    starts), then refit on all training samples. Never looks at the test split."""
    t = time.perf_counter()
    fit_ds, (vx, vy), _ = hold_out(ds, validation, seed=validation_seed)
    x = to_float(fit_ds.train_images).reshape(-1, N_PIXELS).double()  # (N−V,784) float64
    y = fit_ds.train_labels
    path, init, best = [], None, None
    for lam in sorted(lambdas, reverse=True):
        W, b, f, evals = fit(x, y, lam, init=init, max_iter=max_iter)
        init = (W, b)
        val_cost, val_acc = evaluate(_model(W, b), vx, vy)
        path.append(
            {
                "lambda": lam,
                "val_accuracy": val_acc,
                "val_cost": val_cost,
                "objective": f,
                "evaluations": evals,
            }
        )
        if best is None or (val_acc, -val_cost) > (best["val_accuracy"], -best["val_cost"]):
            best = path[-1]
    del x
    x = to_float(ds.train_images).reshape(-1, N_PIXELS).double()  # (N,784) float64
    W, b, f, _ = fit(x, ds.train_labels, best["lambda"], init=init, max_iter=max_iter)
    return Optimum(_model(W, b), best["lambda"], f, time.perf_counter() - t, path)
