"""K models ("trials") trained together on one minibatch order: the batch-size study's engine.

A trial is the chapter's softmax regression (``z.weight`` (10,784), ``z.bias`` (10,) float32,
zero init) with its own constant learning rate; all K trials share the momentum μ, the Nesterov
flag, the training set and, in :meth:`Trials.sgd_steps`, the minibatch order. Each minibatch's
uint8 rows are read and converted to float32 once for all K trials.

Paths:

- :meth:`Trials.sgd_steps` (any b ≤ N) and :meth:`Trials.gd_step`: one compiled numba call
  (:mod:`sgdlab.engines.fast.multi`) running the ``fast`` engine's block math for each trial
  on rows converted once per block. Trial k's weights, momentum buffers and costs are
  **bitwise** those of ``sgdlab.train(engine="fast", batch_size=b, lr=lrs[k], momentum=μ,
  nesterov=…)`` on the same minibatch order (plain SGD: the engine's fused plain path;
  momentum: its ``_opt_cols`` rule), and ``gd_step`` those of ``train(method="gd",
  engine="fast")``.
- b ≥ :attr:`Trials.large_batch` (default None: never): batched float32 matrix products in
  torch instead, one ``(B,784)@(784,10K)`` for all K trials' logits and one ``(10K,B)@(B,784)``
  for their gradients, softmax and update in float32 like the reference. Not bitwise (another
  summation order): ≤ 5e-7 relative to the fast and the reference engine after 24 steps at
  lr ≤ 0.1 (up to 1e-5 at lr 0.5 with μ = 0.9; the two engines differ from each other as
  much). Measured on one thread (Xeon, AVX-512, K = 10, b = 256 … 32768) it runs at 0.4–0.5×
  the numba path's speed (see bench/trials_speed.py), hence off by default: kept as an
  independent check.

Units: costs in nats (mean cross-entropy H of the minibatch, before the step), float64; learning
rates are used as float32(lr), like the engines do.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
import torch

from sgdlab.data.fashion import pixel_affine, to_float
from sgdlab.errors import ConfigError
from sgdlab.model import N_CLASSES, N_PIXELS, SoftmaxRegression
from sgdlab.optim import OptimState, SGDHyper, update

#: The default batch size from which :meth:`Trials.sgd_steps` uses the torch (sgemm) path:
#: None, never (the numba path was faster at every b measured, and it is bitwise).
LARGE_BATCH: int | None = None


@functools.cache
def _multi():
    """:mod:`sgdlab.engines.fast.multi` (imports numba), on first use."""
    try:
        from sgdlab.engines.fast import multi
    except ImportError as e:  # pragma: no cover - numba is a dependency
        raise RuntimeError("Trials needs numba (pip install numba)") from e
    return multi


def _check_lrs(lrs: Sequence[float]) -> np.ndarray:
    try:
        vals = [float(v) for v in lrs]
    except (TypeError, ValueError):
        raise ConfigError(f"lrs must be a sequence of numbers, got {lrs!r}") from None
    if not vals:
        raise ConfigError("lrs must hold at least one learning rate (K ≥ 1)")
    for v in vals:
        if not math.isfinite(v) or v <= 0 or np.float32(v) <= 0:
            raise ConfigError(f"every learning rate must be finite and > 0, got {v!r}")
    return np.asarray(vals, np.float64)


class Trials:
    """K softmax-regression models trained together on one training set.

    ``images``: uint8 (N,28,28) or (N,784), ``labels``: int64 (N,) in 0..9 (CPU tensors);
    ``lrs``: K ≥ 1 finite learning rates > 0 (trial k uses float32(lrs[k]));
    ``momentum``: μ in [0, 1) shared by all trials; ``nesterov``: Nesterov momentum (needs
    μ > 0). Weights and momentum buffers start at zero. Raises :class:`ConfigError` (a
    ``ValueError``) for bad arguments.

    Attributes: ``K`` (int), ``n`` (N), ``lrs`` (float64 (K,)), ``momentum``, ``nesterov``;
    ``active``: bool (K,), all True at the start: the caller clears the trials it stops;
    inactive trials are not trained (their weights stay as they are, their costs are NaN);
    ``large_batch``: the batch size from which :meth:`sgd_steps` takes the torch path (None:
    never).
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        lrs: Sequence[float],
        momentum: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8:
            raise ConfigError("images must be a uint8 tensor (N,28,28) or (N,784)")
        if images.ndim < 2 or images.shape[1:] not in ((28, 28), (N_PIXELS,)):
            raise ConfigError(f"images must be (N,28,28) or (N,784), got {tuple(images.shape)}")
        n = images.shape[0]
        if n < 1:
            raise ConfigError("images must hold at least one sample")
        if not isinstance(labels, torch.Tensor) or labels.dtype != torch.int64:
            raise ConfigError("labels must be an int64 tensor (N,)")
        if labels.shape != (n,):
            raise ConfigError(f"labels shape {tuple(labels.shape)} != ({n},)")
        if labels.min() < 0 or labels.max() >= N_CLASSES:
            raise ConfigError("labels must lie in 0..9")
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)):
            raise ConfigError(f"momentum must be a number in [0, 1), got {momentum!r}")
        if not math.isfinite(momentum) or not 0 <= momentum < 1:
            raise ConfigError(f"momentum must be in [0, 1), got {momentum!r}")
        if not isinstance(nesterov, bool):
            raise ConfigError(f"nesterov must be True or False, got {nesterov!r}")
        if nesterov and momentum == 0:
            raise ConfigError("nesterov needs a momentum > 0 (PyTorch refuses it too)")
        self.lrs = _check_lrs(lrs)  # (K,) float64
        self.K = len(self.lrs)
        self.n = n
        self.momentum, self.nesterov = float(momentum), nesterov
        self.active = np.ones(self.K, bool)
        self.large_batch: int | None = LARGE_BATCH
        self._images = images.detach().cpu().reshape(n, N_PIXELS).contiguous()  # (N,784) u8
        self._labels = labels.detach().cpu().contiguous()  # (N,) int64
        self._x = self._images.numpy()
        self._y = self._labels.numpy().astype(np.uint8)  # (N,) uint8, like the fast engine
        scale, shift = pixel_affine("cpu")
        self._scale, self._shift = scale.numpy(), shift.numpy()  # (784,) float32 each
        self._lr32 = self.lrs.astype(np.float32)  # (K,)
        k = self.K
        self._W = torch.zeros(k, N_CLASSES, N_PIXELS)  # (K,10,784) float32
        self._b = torch.zeros(k, N_CLASSES)  # (K,10)
        self._vw = torch.zeros(k, N_CLASSES, N_PIXELS)  # momentum buffers
        self._vb = torch.zeros(k, N_CLASSES)

    # -- training ------------------------------------------------------------------------

    def sgd_steps(self, perm: torch.Tensor, b: int, start: int, stop: int) -> torch.Tensor:
        """Minibatches ``start..stop-1`` of ``perm`` (int64 (N,), a permutation of range(N)):
        minibatch i = ``perm[i*b:(i+1)*b]`` (the last one of the epoch may be shorter); every
        active trial takes one step on each with its own learning rate. Returns the cost before
        each step, float64 (K, stop-start) in nats (NaN for inactive trials; a diverged trial's
        costs and weights turn non-finite without touching the others)."""
        if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or not 1 <= b <= self.n:
            raise ConfigError(f"batch size must be an integer in 1..{self.n}, got {b!r}")
        b = int(b)
        nb = -(-self.n // b)  # minibatches per epoch
        if not (isinstance(start, (int, np.integer)) and isinstance(stop, (int, np.integer))):
            raise ConfigError(f"start and stop must be integers, got {start!r}, {stop!r}")
        if not 0 <= start <= stop <= nb:
            raise ConfigError(f"minibatches {start}..{stop} out of 0..{nb} (batch size {b})")
        p = self._check_perm(perm)
        active = self._active()
        costs = np.full((self.K, stop - start), np.nan)
        if stop == start or not active.any():
            return torch.from_numpy(costs)
        if self.large_batch is not None and b >= self.large_batch:
            pt = torch.from_numpy(p)
            for i in range(start, stop):
                idx = pt[i * b : (i + 1) * b]
                batch = [(to_float(self._images[idx]), self._labels[idx])]
                costs[:, i - start] = self._torch_step(batch, len(idx))
            return torch.from_numpy(costs)
        mu = np.float32(self.momentum)
        _multi()._trials_sgd_kernel(
            self._x,
            self._y,
            p,
            self._W.numpy(),
            self._b.numpy(),
            self._scale,
            self._shift,
            b,
            self._lr32,
            active,
            int(start),
            int(stop),
            costs,
            self.momentum == 0,
            mu,
            self.nesterov,
            self._vw.numpy(),
            self._vb.numpy(),
        )
        return torch.from_numpy(costs)

    def gd_step(self) -> torch.Tensor:
        """One full-batch step (b = N) of every active trial. Returns C before the step,
        float64 (K,) nats (NaN for inactive trials).

        The gradient is the ``fast`` engine's full gradient (:func:`.multi._trials_full_kernel`:
        the same chunks, blocks and float64 sums), the update :func:`sgdlab.optim.apply_gradient`'s
        torch ops on each trial: bitwise ``sgdlab.train(method="gd", engine="fast", …)``."""
        active = self._active()
        act = np.flatnonzero(active)
        costs = np.full(self.K, np.nan)
        if len(act) == 0:
            return torch.from_numpy(costs)
        gw = np.zeros((self.K, N_CLASSES, N_PIXELS))  # float64 sums
        gb = np.zeros((self.K, N_CLASSES))
        c = np.zeros(self.K)
        _multi()._trials_full_kernel(
            self._x,
            self._y,
            self._W.numpy(),
            self._b.numpy(),
            self._scale,
            self._shift,
            active,
            gw,
            gb,
            c,
        )
        hyper = SGDHyper(momentum=self.momentum, nesterov=self.nesterov)
        with torch.no_grad():
            for k in act:  # apply_gradient's ops on trial k's views, per trial (the same bits)
                w, b = self._W[k], self._b[k]
                g_w = torch.from_numpy(gw[k].astype(np.float32))
                g_b = torch.from_numpy(gb[k].astype(np.float32))
                lr = float(self.lrs[k])
                if hyper.plain:
                    w -= lr * g_w
                    b -= lr * g_b
                else:
                    st = OptimState(buf_w=self._vw[k], buf_b=self._vb[k])
                    update(w, b, g_w, g_b, lr, hyper, st)
        costs[act] = c[act]
        return torch.from_numpy(costs)

    def _active(self) -> np.ndarray:
        """``active`` as a contiguous bool (K,) array (the caller may have replaced it)."""
        a = np.ascontiguousarray(self.active, dtype=np.bool_)
        if a.shape != (self.K,):
            raise ConfigError(f"active must be a bool array of shape ({self.K},), got {a.shape}")
        return a

    def _check_perm(self, perm: torch.Tensor) -> np.ndarray:
        if not isinstance(perm, torch.Tensor) or perm.dtype != torch.int64:
            raise ConfigError("perm must be an int64 tensor (N,)")
        p = np.ascontiguousarray(perm.detach().cpu().numpy())
        if p.shape != (self.n,) or p.min() < 0 or p.max() >= self.n:  # no bounds checks inside
            raise ConfigError(f"perm must be int64 ({self.n},) indices in 0..{self.n - 1}")
        return p

    @torch.no_grad()
    def _torch_step(self, chunks, n: int) -> np.ndarray:
        """One step of the active trials on the n samples of the iterable ``chunks`` of
        (x float32 (c,784), y int64 (c,)): logits (c,784)@(784,10K'), softmax in float32,
        Δ = (softmax − onehot)/n, ∂C/∂W = Δᵀ·x (10K',784) summed over chunks (float64 across
        chunks when more than one), then :meth:`_apply`. Returns float64 (K,) costs."""
        act = np.flatnonzero(self._active())
        costs = np.full(self.K, np.nan)
        if len(act) == 0:
            return costs
        everyone = len(act) == self.K
        ia = torch.from_numpy(act)
        W = self._W if everyone else self._W.index_select(0, ia)  # (K',10,784)
        bias = self._b if everyone else self._b.index_select(0, ia)  # (K',10)
        ka = len(act)
        wt = W.reshape(ka * N_CLASSES, N_PIXELS).t()  # (784,10K')
        bflat = bias.reshape(-1)  # (10K',)
        gw = gb = None
        total = torch.zeros(ka, dtype=torch.float64)
        for parts, (x, y) in enumerate(chunks):
            c = x.shape[0]
            z = torch.addmm(bflat, x, wt).view(c, ka, N_CLASSES)  # (c,K',10)
            zs = z - z.amax(dim=2, keepdim=True)
            e = zs.exp()
            s = e.sum(dim=2, keepdim=True)  # (c,K',1)
            yi = y.view(c, 1, 1).expand(c, ka, 1)
            h = s.log().squeeze(2) - zs.gather(2, yi).squeeze(2)  # (c,K') nats
            total += h.sum(0, dtype=torch.float64)
            d = e / s
            d.scatter_add_(2, yi, torch.full((c, ka, 1), -1.0))
            d.mul_(1.0 / n)  # Δ (c,K',10)
            d2 = d.view(c, ka * N_CLASSES)
            pw, pb = d2.t().mm(x), d2.sum(0)  # (10K',784), (10K',)
            if parts == 0:
                gw, gb = pw, pb
            else:
                if parts == 1:
                    gw, gb = gw.double(), gb.double()
                gw += pw
                gb += pb
        gw = gw.float().view(ka, N_CLASSES, N_PIXELS)
        gb = gb.float().view(ka, N_CLASSES)
        self._apply(act, everyone, W, bias, gw, gb)
        costs[act] = (total / n).numpy()
        return costs

    def _apply(self, act, everyone, W, bias, gw, gb) -> None:
        """``torch.optim.SGD``'s update (dampening 0, float32) of the active trials in place."""
        ia = torch.from_numpy(act)
        lr = torch.from_numpy(self._lr32[act])  # (K',) float32
        mu = self.momentum
        if mu != 0:
            vw = self._vw if everyone else self._vw.index_select(0, ia)
            vb = self._vb if everyone else self._vb.index_select(0, ia)
            vw.mul_(mu).add_(gw)
            vb.mul_(mu).add_(gb)
            gw = gw.add(vw, alpha=mu) if self.nesterov else vw
            gb = gb.add(vb, alpha=mu) if self.nesterov else vb
            if not everyone:
                self._vw.index_copy_(0, ia, vw)
                self._vb.index_copy_(0, ia, vb)
        W.sub_(gw * lr.view(-1, 1, 1))
        bias.sub_(gb * lr.view(-1, 1))
        if not everyone:
            self._W.index_copy_(0, ia, W)
            self._b.index_copy_(0, ia, bias)

    # -- state ---------------------------------------------------------------------------

    def _k(self, k) -> int:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k < self.K:
            raise ConfigError(f"trial index must be an integer in 0..{self.K - 1}, got {k!r}")
        return int(k)

    def get(self, k: int) -> dict[str, torch.Tensor]:
        """Copies of trial k's state: ``weight`` (10,784), ``bias`` (10,) float32 and the
        momentum buffers ``buf_w`` (10,784), ``buf_b`` (10,) float32 (zeros for plain SGD)."""
        k = self._k(k)
        return {
            "weight": self._W[k].clone(),
            "bias": self._b[k].clone(),
            "buf_w": self._vw[k].clone(),
            "buf_b": self._vb[k].clone(),
        }

    def put(self, k: int, state: dict[str, torch.Tensor]) -> None:
        """Set trial k's state from :meth:`get`'s dict (all four float32 tensors, copied in),
        e.g. to replay an interval of steps. ``active`` is the caller's to set."""
        k = self._k(k)
        shapes = {
            "weight": (N_CLASSES, N_PIXELS),
            "bias": (N_CLASSES,),
            "buf_w": (N_CLASSES, N_PIXELS),
            "buf_b": (N_CLASSES,),
        }
        if not isinstance(state, dict) or set(state) != set(shapes):
            raise ConfigError(f"state must be a dict with the keys {sorted(shapes)}")
        for key, shape in shapes.items():
            t = state[key]
            if not isinstance(t, torch.Tensor) or t.dtype != torch.float32 or t.shape != shape:
                raise ConfigError(f"state[{key!r}] must be a float32 {shape} tensor")
        self._W[k].copy_(state["weight"])
        self._b[k].copy_(state["bias"])
        self._vw[k].copy_(state["buf_w"])
        self._vb[k].copy_(state["buf_b"])

    def model(self, k: int) -> SoftmaxRegression:
        """A copy of trial k's weights as the chapter's model (CPU)."""
        k = self._k(k)
        m = SoftmaxRegression()
        with torch.no_grad():
            m.z.weight.copy_(self._W[k])
            m.z.bias.copy_(self._b[k])
        return m

    def weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Copies of all trials' weights: float32 (K,10,784) and (K,10), for batched exact
        evaluation (e.g. logits of all trials at once: ``x @ W.reshape(-1, 784).T``)."""
        return self._W.clone(), self._b.clone()
