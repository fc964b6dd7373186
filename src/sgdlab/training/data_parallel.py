"""Synchronous data-parallel SGD and full GD: share gradient → ``all_reduce`` → the same update.

Minibatch SGD (K ranks, every rank holds the whole training set and draws the same epoch
permutation from the same seed, so every rank sees the same global minibatches): minibatch i
(B_i ≤ b samples) is cut into K contiguous shares by :func:`sgdlab.training.dist.split`; rank r
computes
the *sums* over its share (:meth:`Engine.minibatch_gradient`), one ``all_reduce(SUM)`` of the
7,850 float32 gradient entries (31.4 KB) forms Σ over the whole minibatch on every rank, and
every rank applies the same update with ∇C = Σ/B_i: :func:`sgdlab.optim.update` (momentum,
Nesterov, weight decay; the optimizer state is replicated, identical on every rank) and the
Polyak average, exactly as the single-process engines do. The per-step costs (share sums of H) are
all-reduced once per stretch of steps, not per step.

Full GD: rank r's engine holds only its shard of the training set (n_r = N/K samples, split by
the same rule); it returns the shard's mean gradient g_r, every rank contributes n_r·g_r/N in
float64, one ``all_reduce`` gives the exact full gradient Σ_r n_r·g_r/N. At K = 1 the weight
n_r/N is exactly 1 and nothing is reduced: the ordinary run, bit for bit.

Evaluation (train/test cost and accuracy after each epoch) is split the same way: each rank
evaluates its shard, the sums are all-reduced (float64), so K = 1 is ``evaluate`` exactly.
"""

from __future__ import annotations

import time

import torch

from sgdlab.engines import Engine
from sgdlab.engines.base import as_lrs, check_state
from sgdlab.model import N_CLASSES, N_PIXELS, SoftmaxRegression, evaluate_sums
from sgdlab.optim import OptimState, SGDHyper, apply_gradient
from sgdlab.training import dist

#: Gradient entries reduced per step: z.weight (10·784) then z.bias (10).
N_PARAMS = N_CLASSES * N_PIXELS + N_CLASSES
_NW = N_CLASSES * N_PIXELS


class DataParallel:
    """The data-parallel inner loops of :func:`sgdlab.train` over one :class:`Engine`.

    ``eng`` holds the whole training set (SGD) or this rank's shard (GD); ``n_total`` is N.
    Counts the all-reduces of gradients and their wall time (``reduce_calls``,
    ``reduce_seconds``) so benchmarks can separate communication from compute.
    """

    def __init__(self, eng: Engine, *, n_total: int, world: dist.World | None = None):
        self.eng, self.n_total = eng, int(n_total)
        self.world = world or dist.world()
        # the gradient buffer (7850,) float32, on the engine's device (NCCL reduces GPU memory)
        self._flat = torch.empty(N_PARAMS, dtype=torch.float32, device=eng.device)
        self.reduce_calls, self.reduce_seconds = 0, 0.0

    def _reduce(self, t: torch.Tensor) -> torch.Tensor:
        if self.world.size > 1:
            t0 = time.perf_counter()
            dist.all_reduce_(t)
            self.reduce_seconds += time.perf_counter() - t0
            self.reduce_calls += 1
        return t

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
        """Minibatches ``start..stop-1`` of ``perm`` (int64 (N,)), minibatch i =
        ``perm[i*b:(i+1)*b]``, this rank computing its share; ``lr``, ``hyper``, ``state`` as
        in :class:`~sgdlab.engines.base.Engine`. Returns each step's cost (mean H over the
        whole minibatch, before the step), float64 (stop-start,)."""
        hyper = check_state(hyper, state)
        lrs = as_lrs(lr, stop - start).tolist()
        b, k, r = int(batch_size), self.world.size, self.world.rank
        sums = torch.zeros(stop - start, dtype=torch.float64)  # Σ H of this rank's shares
        sizes = torch.zeros(stop - start, dtype=torch.float64)
        flat = self._flat
        for j, i in enumerate(range(start, stop)):
            mb = perm[i * b : (i + 1) * b]  # the global minibatch (B,)
            lo, hi = dist.split(len(mb), k, r)
            c, gw, gb = self.eng.minibatch_gradient(model, mb[lo:hi])
            flat[:_NW].copy_(gw.reshape(-1))
            flat[_NW:].copy_(gb)
            self._reduce(flat)  # Σ over the whole minibatch, the same bits on every rank
            g = flat / len(mb)  # ∇C of the minibatch, float32 (7850,)
            apply_gradient(model, g[:_NW].view(N_CLASSES, N_PIXELS), g[_NW:], lrs[j], hyper, state)
            sums[j], sizes[j] = c, len(mb)
        dist.all_reduce_(sums)  # once per stretch: the costs are for the history only
        return sums / sizes

    def gd_step(
        self,
        model: SoftmaxRegression,
        lr: float,
        *,
        hyper: SGDHyper | None = None,
        state: OptimState | None = None,
    ) -> float:
        """One full-gradient step from the shards' weighted sum; returns C before it."""
        hyper = check_state(hyper, state)
        c, gw, gb = self.eng.full_gradient(model)  # means over this rank's n_r samples
        w = self.eng.n / self.n_total  # n_r / N (exactly 1.0 at K = 1)
        buf = torch.empty(N_PARAMS + 1, dtype=torch.float64)
        buf[:_NW].copy_(gw.reshape(-1)).mul_(w)
        buf[_NW:N_PARAMS].copy_(gb).mul_(w)
        buf[N_PARAMS] = c * w
        self._reduce(buf)
        gw = buf[:_NW].to(torch.float32).view(N_CLASSES, N_PIXELS)
        apply_gradient(model, gw, buf[_NW:N_PARAMS].to(torch.float32), lr, hyper, state)
        return float(buf[N_PARAMS])

    def evaluate(
        self, model: SoftmaxRegression, images: torch.Tensor, labels: torch.Tensor
    ) -> tuple[float, float]:
        """(C, accuracy) over all of ``images`` (N,...), each rank evaluating its shard."""
        n = images.shape[0]
        lo, hi = dist.split(n, self.world.size, self.world.rank)
        total, correct = evaluate_sums(model, images[lo:hi], labels[lo:hi])
        t = dist.all_reduce_(torch.tensor([total, float(correct)], dtype=torch.float64))
        return t[0].item() / n, int(t[1].item()) / n
