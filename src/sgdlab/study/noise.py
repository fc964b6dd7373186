"""The gradient noise scale along a reference trajectory, exact and estimated.

The trajectory is full-batch gradient descent from zero weights at the study's tuned lr for the
training-cost target (deterministic, so every point is reproducible). At a few steps before,
at and after the step S where C first reaches the target, it records the exact B_simple and
B_noise (:func:`sgdlab.analysis.noise_scale.gradient_noise_scale` on all training images) and
McCandlish's two-batch estimate of B_simple (:func:`sgdlab.study.estimator.estimate_noise`),
which is what a model too large for the exact value has to rely on.
"""

from __future__ import annotations

from typing import Any

import torch

from sgdlab import engines
from sgdlab.analysis.noise_scale import gradient_noise_scale
from sgdlab.model import SoftmaxRegression


def trajectory(
    images: torch.Tensor,
    labels: torch.Tensor,
    x: torch.Tensor,
    *,
    lr: float,
    target: float,
    max_steps: int,
    fractions: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0),
    b_small: int = 16,
    b_big: int = 1024,
    repeats: int = 64,
    seed: int = 0,
) -> dict[str, Any]:
    """Noise scales along GD at ``lr`` on uint8 ``images`` (n,784) (their float inputs ``x``
    (n,784) float32), ``labels`` (n,): the step S where C ≤ ``target`` first holds (None if not
    within ``max_steps``), and one row per point (``step``, ``train_cost``, ``B_simple``,
    ``B_noise``, ``G_norm2``, ``trace_sigma``, ``estimator`` (the two-batch estimate))."""
    from sgdlab.study.estimator import estimate_noise

    eng = engines.get_engine("auto", images, labels, "cpu")
    model = SoftmaxRegression()
    costs = []
    states = {}
    s_cross = None
    while len(costs) < max_steps:
        states[len(costs)] = (model.z.weight.detach().clone(), model.z.bias.detach().clone())
        c = eng.gd_step(model, lr)
        costs.append(c)
        if s_cross is None and c <= target:
            s_cross = len(costs) - 1  # C before step s: C at the weights after s steps
        if s_cross is not None and len(costs) > 2 * s_cross + 1:
            break
    ref = s_cross if s_cross is not None else len(costs) - 1
    n = int(labels.shape[0])
    b_big = min(b_big, n // 2)  # the sample has 800 images
    b_small = min(b_small, max(1, b_big // 8))
    steps = sorted({min(len(costs) - 1, round(f * ref)) for f in fractions})
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for s in steps:
        w, b = states[s]
        m = SoftmaxRegression()
        with torch.no_grad():
            m.z.weight.copy_(w)
            m.z.bias.copy_(b)
        exact = gradient_noise_scale(m, x, labels, kernel_dtype=torch.float32)
        est = estimate_noise(
            m, x, labels, b_small=b_small, b_big=b_big, repeats=repeats, generator=gen
        )
        rows.append(
            {
                "step": s,
                "train_cost": float(costs[s]),
                **exact,
                "estimator": est,
                "at_target": s == s_cross,
            }
        )
    return {
        "method": "full-batch GD from zero weights",
        "lr": lr,
        "target": target,
        "steps_to_target": s_cross,
        "b_small": b_small,
        "b_big": b_big,
        "repeats": repeats,
        "rows": rows,
    }
