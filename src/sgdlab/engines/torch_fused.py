"""The ``torch`` engine: analytic gradients with batched tensor ops, CUDA graphs on a GPU.

The training set stays on the device as uint8 (N,784) (47 MB for Fashion-MNIST) plus int64
labels (N,). No autograd: one SGD step on a minibatch of B samples is

- x = float32(u8[idx])·scale + shift (B,784) (two roundings, like :func:`sgdlab.data.to_float`);
- z = x·Wᵀ + b (B,10); log p = log_softmax(z); cost = −mean log p[y] (float32, nats);
- Δ = (p − onehot(y))/B (B,10); W −= float32(lr)·Δᵀ·x (10,784); b −= float32(lr)·ΣΔ (10,).

The step reads and writes the engine's own weight buffers W (10,784) and b (10,) float32
(copied from the model before a call and back after it), so the buffers' addresses never change.
On CUDA, K consecutive steps are captured once per batch size into a CUDA graph whose only
inputs are a static index buffer (K·B,) int64, filled by ``copy_`` from the permutation before
each replay, and the learning rate (a device scalar); this removes the per-kernel launch cost of
~20 kernels a step. A 1-step graph runs the leftover full minibatches; a short last minibatch
runs eagerly. On the CPU the same K-step blocks run eagerly (no graphs), so the CPU tests
exercise the same buffers and index bookkeeping as the graph replays.

The full gradient runs over the resident set in chunks of ``CHUNK`` samples: per chunk one
(c,784)@(784,10) and one (10,c)@(c,784) matmul in float32; the chunk sums are accumulated in
float64 and divided by N at the end. Differences from the reference: the gradient is formed
analytically (softmax − onehot) rather than by autograd, and matmul summation orders differ.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext

import torch

from sgdlab.data.fashion import pixel_affine
from sgdlab.engines.base import PLAIN, Engine, as_lrs, check_state
from sgdlab.model import N_CLASSES, N_PIXELS, SoftmaxRegression
from sgdlab.optim import OptimState, SGDHyper, update

#: Steps captured per CUDA graph (a 500-step training segment = 15 replays + 20 1-step ones).
GRAPH_STEPS = 32
#: Samples per chunk of the full gradient: CPU (12 MB of float32 inputs, cache-friendly), CUDA.
CHUNK = {"cpu": 4096, "cuda": 65536}


class TorchEngine(Engine):
    """Batched analytic SGD / full gradient in PyTorch; CUDA graphs over K steps on a GPU."""

    name = "torch"

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, *, device: torch.device):
        super().__init__(images, labels, device=device)
        dev = self.device
        self.scale, self.shift = pixel_affine(dev)  # (784,) float32 each
        self.W = torch.zeros(N_CLASSES, N_PIXELS, device=dev)  # (10,784) working weights
        self.b = torch.zeros(N_CLASSES, device=dev)  # (10,)
        self.opt = OptimState(
            buf_w=torch.zeros(N_CLASSES, N_PIXELS, device=dev),
            buf_b=torch.zeros(N_CLASSES, device=dev),
            avg_w=torch.zeros(N_CLASSES, N_PIXELS, dtype=torch.float64, device=dev),
            avg_b=torch.zeros(N_CLASSES, dtype=torch.float64, device=dev),
        )
        self.hyper = PLAIN  # the update of the current call (captured into graphs)
        self._runners: dict[tuple, tuple] = {}  # (B, K, hyper) -> _runner()
        self._neg1: dict[int, torch.Tensor] = {}  # B -> (B,1) of −1 (onehot subtraction)

    @classmethod
    def available(cls, device: torch.device) -> bool:
        device = torch.device(device)
        return device.type == "cpu" or (device.type == "cuda" and torch.cuda.is_available())

    # -- one minibatch ---------------------------------------------------------------------

    def _step(self, idx: torch.Tensor, cost_out: torch.Tensor, lr: torch.Tensor) -> None:
        """One SGD step on the samples ``idx`` (B,) int64 with the float32 0-dim step size ``lr``;
        writes the cost into ``cost_out``; momentum and averaging as ``self.hyper`` says."""
        B = idx.shape[0]
        x = self.images.index_select(0, idx).to(torch.float32)  # (B,784)
        x.mul_(self.scale).add_(self.shift)
        y = self.labels.index_select(0, idx)[:, None]  # (B,1)
        z = torch.addmm(self.b, x, self.W.t())  # (B,784)@(784,10) + (10,)
        logp = torch.log_softmax(z, dim=1)  # (B,10)
        cost_out.copy_(logp.gather(1, y).mean().neg())
        d = logp.exp_()  # softmax (B,10), in place
        d.scatter_add_(1, y, self._minus_one(B)).mul_(1.0 / B)  # Δ = (p − onehot)/B
        if self.hyper.plain:
            self.W.sub_(torch.mm(d.t(), x).mul_(lr))  # (10,B)@(B,784)
            self.b.sub_(d.sum(0).mul_(lr))
        else:
            update(self.W, self.b, torch.mm(d.t(), x), d.sum(0), lr, self.hyper, self.opt)
        if self.hyper.average:
            self.opt.avg_w.add_(self.W)  # float64 sums of the iterates
            self.opt.avg_b.add_(self.b)

    def _minus_one(self, B: int) -> torch.Tensor:
        if B not in self._neg1:
            self._neg1[B] = torch.full((B, 1), -1.0, device=self.device)
        return self._neg1[B]

    # -- K steps at a time: a CUDA graph on a GPU, the same steps eagerly on the CPU ----------

    def _runner(
        self, B: int, K: int
    ) -> tuple[Callable[[], None], torch.Tensor, torch.Tensor, torch.Tensor]:
        """(run, idx (K·B,) int64, lrs (K,) float32, costs (K,) float32): ``run()`` does K steps
        of batch size B on the minibatches written into ``idx`` with the step sizes written into
        ``lrs``, leaving their costs in ``costs`` (one graph per update ``self.hyper``)."""
        key = (B, K, self.hyper)
        if key in self._runners:
            return self._runners[key]
        idx = torch.zeros(K * B, dtype=torch.int64, device=self.device)  # static input
        lrs = torch.zeros(K, device=self.device)  # static input
        costs = torch.zeros(K, device=self.device)  # static output
        self._minus_one(B)  # allocated outside any capture

        def run() -> None:
            for k in range(K):
                self._step(idx[k * B : (k + 1) * B], costs[k], lrs[k])

        if self.device.type == "cuda":
            run = self._capture(run)
        self._runners[key] = run, idx, lrs, costs
        return self._runners[key]

    def _capture(self, run: Callable[[], None]) -> Callable[[], None]:
        """Capture ``run`` into a CUDA graph (warm-up and capture on one side stream)."""
        with torch.cuda.device(self.device):
            o = self.opt
            saved = [t.clone() for t in (self.W, self.b, o.buf_w, o.buf_b, o.avg_w, o.avg_b)]
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):  # warm-up: cuBLAS handle, allocator, lazy init
                for _ in range(2):
                    run()
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, stream=stream):  # records the kernels, runs nothing
                run()
            torch.cuda.current_stream().wait_stream(stream)
            for t, t0 in zip(
                (self.W, self.b, o.buf_w, o.buf_b, o.avg_w, o.avg_b), saved, strict=True
            ):
                t.copy_(t0)  # undo the warm-up steps
        return graph.replay

    # -- the Engine API --------------------------------------------------------------------

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
        self.hyper = hyper = check_state(hyper, state)
        b, n = int(batch_size), self.n
        if b < 1 or not 0 <= start <= stop <= -(-n // b):
            raise ValueError(f"batch size {b}, minibatches {start}..{stop} of {-(-n // max(b, 1))}")
        lrs = as_lrs(lr, stop - start).to(self.device, torch.float32)  # (K,) float32(α_t)
        perm = perm.to(self.device, torch.int64)  # (N,)
        costs = torch.empty(stop - start, device=self.device)  # float32
        on_gpu = torch.cuda.device(self.device) if self.device.type == "cuda" else nullcontext()
        o = self.opt
        pairs = ((self.W, model.z.weight), (self.b, model.z.bias))
        if state is not None:
            pairs += (
                (o.buf_w, state.buf_w),
                (o.buf_b, state.buf_b),
                (o.avg_w, state.avg_w),
                (o.avg_b, state.avg_b),
            )
        with torch.no_grad(), on_gpu:  # graphs replay on the current stream of self.device
            for mine, theirs in pairs:
                mine.copy_(theirs)
            full_stop = min(stop, n // b)  # minibatches start..full_stop-1 have b samples
            i = start
            for K in (GRAPH_STEPS, 1):  # K steps per call while K full minibatches are left
                if full_stop - i < K:
                    continue
                run, idx, lr_in, out = self._runner(b, K)
                while full_stop - i >= K:
                    idx.copy_(perm[i * b : (i + K) * b])  # the next K minibatches
                    lr_in.copy_(lrs[i - start : i - start + K])
                    run()
                    costs[i - start : i - start + K].copy_(out)
                    i += K
            if i < stop:  # the short last minibatch (eager)
                self._step(perm[i * b : (i + 1) * b], costs[i - start], lrs[i - start])
            for mine, theirs in pairs:
                theirs.copy_(mine)
        if hyper.average:
            state.avg_count += stop - start
        return costs.to("cpu", torch.float64)

    def minibatch_gradient(
        self,
        model: SoftmaxRegression,
        idx: torch.Tensor,
    ) -> tuple[float, torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            idx = idx.to(self.device, torch.int64)
            W, b = model.z.weight.detach().to(self.device), model.z.bias.detach().to(self.device)
            x = self.images.index_select(0, idx).to(torch.float32)  # (B,784)
            x.mul_(self.scale).add_(self.shift)
            y = self.labels.index_select(0, idx)[:, None]  # (B,1)
            logp = torch.log_softmax(torch.addmm(b, x, W.t()), dim=1)  # (B,10)
            total = -logp.gather(1, y).sum(dtype=torch.float64)
            d = logp.exp_()  # softmax (B,10)
            d.scatter_add_(1, y, torch.full_like(y, -1, dtype=d.dtype))  # p − onehot
            return total.item(), torch.mm(d.t(), x), d.sum(0)  # (10,784), (10,)

    def full_gradient(self, model: SoftmaxRegression) -> tuple[float, torch.Tensor, torch.Tensor]:
        dev, n = self.device, self.n
        W, b = model.z.weight.detach().to(dev), model.z.bias.detach().to(dev)
        gw = torch.zeros(N_CLASSES, N_PIXELS, dtype=torch.float64, device=dev)  # (10,784)
        gb = torch.zeros(N_CLASSES, dtype=torch.float64, device=dev)  # (10,)
        total = torch.zeros((), dtype=torch.float64, device=dev)
        c = CHUNK.get(dev.type, CHUNK["cpu"])
        for i in range(0, n, c):
            x = self.images[i : i + c].to(torch.float32)  # (c,784)
            x.mul_(self.scale).add_(self.shift)
            y = self.labels[i : i + c, None]  # (c,1)
            logp = torch.log_softmax(torch.addmm(b, x, W.t()), dim=1)  # (c,784)@(784,10) + b
            total -= logp.gather(1, y).sum(dtype=torch.float64)
            d = logp.exp_()  # softmax (c,10)
            d.scatter_add_(1, y, torch.full_like(y, -1, dtype=d.dtype))  # p − onehot
            gw += torch.mm(d.t(), x)  # (10,c)@(c,784), float32 -> float64
            gb += d.sum(0)
        return (total / n).item(), (gw / n).float(), (gb / n).float()
