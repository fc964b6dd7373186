"""The ``fast`` engine: a stretch of SGD steps, or one full gradient, in ONE compiled numba call.

Per minibatch i = ``perm[i*b:(i+1)*b]`` (B ≤ b samples, in blocks of ≤ ``block.BLOCK``) the kernel
(:mod:`.kernels`) runs :mod:`.block`'s math on both pixel halves in turn: it gathers the uint8
rows and normalizes them like :func:`sgdlab.data.to_float` (X (B,784) float32, bitwise the
reference's), computes each half's share of the logits and Z = (P₀ + P₁) + b (B,10) float32;
softmax in float32 (like the reference, :mod:`.softmax`), Δ = float32((softmax − onehot)/B)
(B,10), the cost H summed in float64; ∂C/∂W = Δᵀ·X (10,784) float32, ∂C/∂b = ΣΔ; then
:mod:`.update` applies W −= float32(lr_t)·∂C/∂W, b −= float32(lr_t)·∂C/∂b in place on numpy
views of ``model.z.weight`` / ``model.z.bias`` (lr_t: the step's own rate from the float32 (K,)
array of the stretch; plain SGD's W update rides on the accumulation's last pass). With momentum
or weight decay the update is ``torch.optim.SGD``'s in float32 on numpy views of the state's
buffers; with averaging each iterate is added to float64 sums. Costs: float64 nats, before each
step. Scratch: ≤ 0.5 MB. Labels are kept as uint8 (60 KB: the random lookups stay in cache).
The inner loops use explicit 16-lane vectors (:mod:`.simd`) and FMAs.

With numba's thread count ≥ 2 (``--threads``, ``NUMBA_NUM_THREADS``, ``numba.set_num_threads``)
a stretch of ≥ ``threads.MIN_STEPS`` steps runs on two threads, one pixel half each
(:mod:`.threads`), with bitwise the same result; shorter stretches and one thread run the
one-thread kernel.

Full gradient: fixed chunks of ``kernels.CHUNK`` samples (whatever the thread count) dealt
round-robin to the threads (``prange`` over threads, one scratch each), float32 within a block,
float64 across blocks and chunks, chunk partials (1.9 MB for N = 60,000) summed in chunk order:
bitwise reproducible for any thread count.

Differs from the reference only in summation order (vectorized 784-term dot products in two
halves, Δᵀ·X in sample order, chunk sums) and its exp (Cephes' expf, ≈ 1 ulp): an epoch's
weights agree to ~1e-6 relative or better (tested: 1e-5), the full gradient to ~2e-7. This
module imports no numba: the engine imports the kernels on first use (:func:`_kernels`), and
``import sgdlab`` never does.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from sgdlab.data.fashion import pixel_affine
from sgdlab.engines.base import Engine, as_lrs, check_state
from sgdlab.model import N_CLASSES, N_PIXELS, SoftmaxRegression
from sgdlab.optim import OptimState, SGDHyper


@functools.cache
def _numba():
    """The numba module, or None when it cannot be imported."""
    try:
        import numba
    except Exception:  # ImportError, or a numba/numpy version clash
        return None
    return numba


@functools.cache
def _kernels():
    """The kernels' module (:mod:`.kernels`), imported on first use: it imports numba."""
    if _numba() is None:
        raise RuntimeError("the 'fast' engine needs numba (pip install numba)")
    from sgdlab.engines.fast import kernels

    return kernels


def _f32(t: torch.Tensor) -> np.ndarray:
    """A writable numpy view of a contiguous float32 CPU tensor (shares memory)."""
    if t.dtype != torch.float32 or not t.is_contiguous() or t.device.type != "cpu":
        raise ValueError("the fast engine needs contiguous float32 CPU weights")
    return t.detach().numpy()


class NumbaEngine(Engine):
    """Compiled CPU loops (numba): one call per stretch of minibatches / per full gradient."""

    name = "fast"

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, *, device: torch.device):
        super().__init__(images, labels, device=device)
        if self.device.type != "cpu":
            raise ValueError("the fast engine runs on the CPU only")
        _kernels()  # numba, and the kernels (compiled, or loaded from the cache, on first call)
        self._x = self.images.contiguous().numpy()  # (N,784) uint8
        y = self.labels.contiguous().numpy()  # (N,) int64
        if y.size and (y.min() < 0 or y.max() >= N_CLASSES):
            raise ValueError("labels must lie in 0..9")
        self._y = y.astype(np.uint8)  # (N,) uint8: 60 KB stays in cache (random lookups)
        self._order = np.arange(self.n, dtype=np.int64)  # full gradient: samples in order
        scale, shift = pixel_affine("cpu")
        self._scale, self._shift = scale.numpy(), shift.numpy()  # (784,) float32 each
        self._dummy = OptimState()  # stands in for an absent state (plain SGD never reads it)
        self._warm_up()

    def _warm_up(self) -> None:
        """Compile (or load from numba's cache) the kernels now, on a 1-sample problem, so that
        the first timed call measures training, not compilation."""
        m = SoftmaxRegression()
        self.sgd_steps(m, torch.arange(self.n), 1, 0.0, 0, 0)  # zero steps
        self.minibatch_gradient(m, torch.arange(min(self.n, 1)))
        sub = self._x[:1], self._y[:1], _f32(m.z.weight), _f32(m.z.bias)
        _kernels()._full_kernel(
            *sub,
            self._scale,
            self._shift,
            self._order[:1],
            np.zeros((N_CLASSES, N_PIXELS)),
            np.zeros(N_CLASSES),
            1,
        )
        if _numba().get_num_threads() > 1:  # and the two-thread steps, on real work: a first
            # stretch runs slowly on the partner (cold code and data) and would set off Backoff
            b = 16
            steps = min(self.n // b, -(-4096 // b))
            args = self._kernel_args(
                m, torch.arange(self.n), b, 0.0, 0, steps, check_state(None, None), None
            )
            from sgdlab.engines.fast.threads import Backoff

            runner = self._split_runner()[0]
            runner.run(args)
            runner.calls = 0  # count the caller's stretches only
            self._split = runner, Backoff()  # whatever the warm-up met, start afresh

    @classmethod
    def available(cls, device: torch.device) -> bool:
        return torch.device(device).type == "cpu" and _numba() is not None

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
        args = self._kernel_args(model, perm, batch_size, lr, start, stop, hyper, state)
        if self.split_steps(int(batch_size), stop - start):
            runner, backoff = self._split_runner()
            yields = runner.run(args)  # two threads, the same bits
            backoff.record(yields, stop - start, runner.bailed)
        else:
            _kernels()._sgd_kernel(*args)
        if hyper.average:
            state.avg_count += stop - start
        return torch.from_numpy(args.costs)

    def _kernel_args(self, model, perm, batch_size, lr, start, stop, hyper, state):
        """The checked :class:`.kernels.KernelArgs` of a stretch (``costs``: float64
        (stop-start,), written by the kernel)."""
        nb = -(-self.n // max(int(batch_size), 1))  # minibatches per epoch
        if batch_size < 1 or not 0 <= start <= stop <= nb:
            raise ValueError(f"batch size {batch_size}, minibatches {start}..{stop} of {nb}")
        p = np.ascontiguousarray(perm.cpu().numpy(), dtype=np.int64)  # (N,)
        if p.shape != (self.n,) or p.min() < 0 or p.max() >= self.n:  # no bounds checks inside
            raise ValueError(f"perm must be int64 ({self.n},) indices in 0..{self.n - 1}")
        lrs = as_lrs(lr, stop - start).numpy().astype(np.float32)  # (K,) float32(α_t)
        costs = np.empty(stop - start, np.float64)
        w, b = _f32(model.z.weight), _f32(model.z.bias)  # (10,784), (10,) views
        st = state if state is not None else self._dummy
        vw, vb = _f32(st.buf_w), _f32(st.buf_b)  # momentum buffers, updated in place
        aw, ab = st.avg_w.numpy(), st.avg_b.numpy()  # float64 sums, updated in place
        return _kernels().KernelArgs(
            images=self._x,
            labels=self._y,
            perm=p,
            W=w,
            bias=b,
            scale=self._scale,
            shift=self._shift,
            b=int(batch_size),
            lrs=lrs,
            start=int(start),
            stop=int(stop),
            costs=costs,
            plain=hyper.plain,
            mom=np.float32(hyper.momentum),
            wd=np.float32(hyper.weight_decay),
            nesterov=bool(hyper.nesterov),
            VW=vw,
            Vb=vb,
            average=bool(hyper.average),
            AW=aw,
            Ab=ab,
        )

    #: Two-thread steps (:mod:`.threads`) from this batch size and steps per call.
    min_split_batch: int | None = None
    min_split_steps: int | None = None

    def split_steps(self, batch_size: int, steps: int) -> bool:
        """Whether ``steps`` minibatches of ``batch_size`` run on two threads: numba's thread
        count (``sgdlab --threads``, ``numba.set_num_threads``, ``NUMBA_NUM_THREADS``) ≥ 2 and
        the call large enough to pay (:func:`.threads.use_split`)."""
        from sgdlab.engines.fast import threads as nt

        if not nt.use_split(
            _numba().get_num_threads(),
            batch_size,
            steps,
            self.min_split_batch,
            self.min_split_steps,
        ):
            return False
        return not self._split_runner()[1].active()

    def _split_runner(self):
        """(SplitRunner, Backoff), made on first use."""
        if getattr(self, "_split", None) is None:
            from sgdlab.engines.fast.threads import Backoff, SplitRunner

            self._split = SplitRunner(), Backoff()
        return self._split

    def minibatch_gradient(
        self,
        model: SoftmaxRegression,
        idx: torch.Tensor,
    ) -> tuple[float, torch.Tensor, torch.Tensor]:
        rows = np.ascontiguousarray(idx.cpu().numpy(), dtype=np.int64)  # (B,)
        if rows.ndim != 1 or (rows.size and (rows.min() < 0 or rows.max() >= self.n)):
            raise ValueError(f"idx must be int64 (B,) indices in 0..{self.n - 1}")
        gw = np.empty((N_CLASSES, N_PIXELS), np.float32)  # (10,784)
        gb = np.empty(N_CLASSES, np.float64)  # (10,)
        w, b = _f32(model.z.weight), _f32(model.z.bias)
        c = _kernels()._grad_kernel(self._x, self._y, rows, w, b, self._scale, self._shift, gw, gb)
        return float(c), torch.from_numpy(gw), torch.from_numpy(gb.astype(np.float32))

    def full_gradient(self, model: SoftmaxRegression) -> tuple[float, torch.Tensor, torch.Tensor]:
        gw = np.zeros((N_CLASSES, N_PIXELS), np.float64)  # (10,784)
        gb = np.zeros(N_CLASSES, np.float64)  # (10,)
        w, b = _f32(model.z.weight), _f32(model.z.bias)
        c = _kernels()._full_kernel(
            self._x,
            self._y,
            w,
            b,
            self._scale,
            self._shift,
            self._order,
            gw,
            gb,
            _numba().get_num_threads(),
        )
        f32 = np.float32
        return float(c), torch.from_numpy(gw.astype(f32)), torch.from_numpy(gb.astype(f32))
