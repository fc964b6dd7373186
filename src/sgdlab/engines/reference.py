"""The reference engine: plain PyTorch autograd, one minibatch at a time.

Plain SGD is :func:`~sgdlab.steps.sgd_step` (the chapter's exercise 2); with momentum or weight
decay the step is ``torch.optim.SGD`` itself (dampening 0, one parameter group holding
``z.weight`` and ``z.bias``), whose momentum buffers are the :class:`~sgdlab.optim.OptimState`'s.
"""

from __future__ import annotations

import torch

from sgdlab.data.fashion import to_float
from sgdlab.engines.base import Engine, as_lrs, check_state
from sgdlab.model import SoftmaxRegression, cost
from sgdlab.optim import OptimState, SGDHyper, accumulate
from sgdlab.steps import full_gradient, gradient_sum, sgd_step


class ReferenceEngine(Engine):
    """Autograd on every minibatch: the definition of correct, and the slowest engine."""

    name = "reference"

    def sgd_steps(
        self,
        model: SoftmaxRegression,
        perm: torch.Tensor,
        batch_size: int,
        lr: float | torch.Tensor,
        start: int,
        stop: int,
        *,
        hyper: SGDHyper | None = None,
        state: OptimState | None = None,
    ) -> torch.Tensor:
        hyper = check_state(hyper, state)
        lrs = as_lrs(lr, stop - start).tolist()
        costs = torch.empty(stop - start, dtype=torch.float64)
        perm = perm.to(self.device)
        opt = None if hyper.plain else self._optimizer(model, hyper, state, lrs)
        for k, i in enumerate(range(start, stop)):
            idx = perm[i * batch_size : (i + 1) * batch_size]  # (B,)
            x, y = self.images[idx], self.labels[idx]
            if opt is None:
                costs[k] = sgd_step(model, x, y, lr=lrs[k])
            else:
                opt.param_groups[0]["lr"] = lrs[k]
                opt.zero_grad(set_to_none=False)
                c = cost(model, to_float(x), y)
                c.backward()
                opt.step()
                costs[k] = c.item()
            if hyper.average:
                accumulate(model.z.weight, model.z.bias, state)
        if opt is not None and hyper.momentum != 0:  # back into the (CPU) state
            w, b = model.z.weight, model.z.bias
            state.buf_w.copy_(opt.state[w]["momentum_buffer"])
            state.buf_b.copy_(opt.state[b]["momentum_buffer"])
        return costs

    def _optimizer(self, model, hyper: SGDHyper, state, lrs) -> torch.optim.SGD:
        w, b = model.z.weight, model.z.bias
        opt = torch.optim.SGD(
            [w, b],
            lr=lrs[0] if lrs else 0.0,
            momentum=hyper.momentum,
            nesterov=hyper.nesterov,
            weight_decay=hyper.weight_decay,
            dampening=0.0,
        )
        if hyper.momentum != 0:  # a zero buffer gives the same first step as torch's None
            opt.state[w]["momentum_buffer"] = state.buf_w.to(w.device, copy=True)
            opt.state[b]["momentum_buffer"] = state.buf_b.to(b.device, copy=True)
        return opt

    def full_gradient(self, model: SoftmaxRegression) -> tuple[float, torch.Tensor, torch.Tensor]:
        return full_gradient(model, self.images, self.labels)

    def minibatch_gradient(
        self,
        model: SoftmaxRegression,
        idx: torch.Tensor,
    ) -> tuple[float, torch.Tensor, torch.Tensor]:
        idx = idx.to(self.device)
        return gradient_sum(model, self.images[idx], self.labels[idx])
