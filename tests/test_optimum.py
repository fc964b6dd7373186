"""sgdlab.analysis.optimum: the L-BFGS optimum is a stationary point of F and beats SGD on F."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sgdlab import train
from sgdlab.analysis.optimum import fit, reference_optimum
from sgdlab.data.fashion import to_float


def _objective(m, x, y, lam):
    w, b = m.z.weight.double(), m.z.bias.double()
    return F.cross_entropy(x @ w.T + b, y) + lam / 2 * (w.square().sum() + b.square().sum())


def test_fit_is_stationary_and_below_sgd(sample):
    x, y = to_float(sample.train_images).reshape(-1, 784).double(), sample.train_labels
    lam = 1e-2
    W, b, f, evals = fit(x, y, lam, max_iter=300)
    Wg, bg = W.clone().requires_grad_(True), b.clone().requires_grad_(True)
    g = torch.autograd.grad(
        F.cross_entropy(x @ Wg.T + bg, y) + lam / 2 * (Wg.square().sum() + bg.square().sum()),
        [Wg, bg],
    )
    assert max(t.abs().max().item() for t in g) < 1e-5 and evals > 1
    run = train(epochs=5, weight_decay=lam, data=sample, progress=False, lr=0.01)
    assert f < _objective(run.model, x, y, lam).item()


def test_reference_optimum_chooses_lambda_on_validation(sample):
    opt = reference_optimum(sample, lambdas=(1e-1, 1e-2), validation=200, max_iter=100)
    assert [p["lambda"] for p in opt.path] == [1e-1, 1e-2]
    best = max(opt.path, key=lambda p: (p["val_accuracy"], -p["val_cost"]))
    assert opt.lam == best["lambda"] and opt.seconds > 0
    assert opt.model.z.weight.dtype == torch.float32 and opt.model.z.weight.shape == (10, 784)
