"""The ``fast`` engine: a stretch of SGD steps, or one full gradient, in ONE compiled numba call.

Per minibatch i = ``perm[i*b:(i+1)*b]`` (B ≤ b samples, in blocks of ≤ ``BLOCK``) the kernel
runs :mod:`.numba_math`'s block math on both pixel halves in turn: it gathers the uint8 rows
and normalizes them like :func:`sgdlab.data.to_float` (X (B,784) float32, bitwise the
reference's), computes each half's share of the logits and Z = (P₀ + P₁) + b (B,10) float32;
softmax in float32 (like the reference), Δ = float32((softmax − onehot)/B) (B,10), the cost H
summed in float64; ∂C/∂W = Δᵀ·X (10,784) float32, ∂C/∂b = ΣΔ; then :mod:`.numba_update`
applies W −= float32(lr_t)·∂C/∂W, b −= float32(lr_t)·∂C/∂b in place on numpy views of
``model.z.weight`` / ``model.z.bias`` (lr_t: the step's own rate from the float32 (K,) array of
the stretch; plain SGD's W update rides on the accumulation's last pass). With momentum or
weight decay the update is ``torch.optim.SGD``'s in float32 on numpy views of the state's
buffers; with averaging each iterate is added to float64 sums. Costs: float64 nats, before each
step. Scratch: ≤ 0.5 MB. Labels are kept as uint8 (60 KB: the random lookups stay in cache).
The inner loops use explicit 16-lane vectors (:mod:`.numba_simd`) and FMAs.

With numba's thread count ≥ 2 (``--threads``, ``NUMBA_NUM_THREADS``, ``numba.set_num_threads``)
a stretch of ≥ ``numba_threads.MIN_STEPS`` steps runs on two threads, one pixel half each
(:mod:`.numba_threads`), with bitwise the same result; shorter stretches and one thread run the
kernel below.

Full gradient: fixed chunks of ``CHUNK`` samples (whatever the thread count) dealt round-robin
to the threads (``prange`` over threads, one scratch each), float32 within a block, float64
across blocks and chunks, chunk partials (1.9 MB for N = 60,000) summed in chunk order: bitwise
reproducible for any thread count.

Differs from the reference only in summation order (vectorized 784-term dot products in two
halves, Δᵀ·X in sample order, chunk sums) and its exp (Cephes' expf, ≈ 1 ulp): an epoch's
weights agree to ~1e-6 relative or better (tested: 1e-5), the full gradient to ~2e-7. numba is
imported on first use (:func:`_compile`), never by ``import sgdlab``.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from sgdlab.data.fashion import pixel_affine
from sgdlab.engines.base import Engine, as_lrs, check_state
from sgdlab.engines.fast import block as _m
from sgdlab.engines.fast import update as _u
from sgdlab.model import N_CLASSES, N_PIXELS, SoftmaxRegression
from sgdlab.optim import OptimState, SGDHyper

#: Samples per chunk of the full gradient: the fixed partition the threads share out (30 chunks
#: for N = 60,000; from 512, the f64 reduction over chunks shrank 4× and a GD iteration took
#: ≈ 0.5 ms less, measured).
CHUNK = 2048
#: Samples per block (X block 400 KB, L2-resident); a full-gradient chunk sums its blocks in f64.
BLOCK = _m.BLOCK
#: The first pixel of the second half (:mod:`.numba_math`).
SPLIT = _m.SPLIT

prange = range  # replaced by numba.prange in _compile()

# --------------------------------------------------------------------------------------------
# Kernels. Plain Python here; _compile() turns each into a cached numba dispatcher (helpers
# first: the kernels call them by global name). The block math is :mod:`.numba_math`'s.
# --------------------------------------------------------------------------------------------


def _block(images, labels, rows, s0, n, W, bias, scale, shift, inv, buf, lr):
    """Samples rows[s0:s0+n], n ≤ BLOCK: G += Δᵀ·X, gb += ΣΔ with Δ = (softmax − onehot)·inv.

    ``buf`` = :func:`_scratch` (G (10,784) float32, gb (10,) float64 accumulate); returns Σ H.
    ``lr`` > 0: plain SGD's last block, W −= lr·G in the accumulation's last pass. Both pixel
    halves in turn, as the two threads of a split step compute them (the same bits). Prefetches
    the next block's rows (``rows[s0+n:]``).
    """
    X, P, D, E, G, gb = buf
    T = E[3:]  # (1, ≥32): the lane sums' scratch (the softmax uses rows 0..2 of E)
    _m._prefetch_rows(images, rows, s0 + n, min(BLOCK, rows.shape[0] - s0 - n), 0, N_PIXELS)
    _m._logits_half(images, rows, s0, n, scale, shift, W, 0, SPLIT, X, P[0], T)
    _m._logits_half(images, rows, s0, n, scale, shift, W, SPLIT, N_PIXELS, X, P[1], T)
    total = _m._softmax_delta(P[0], P[1], bias, labels, rows, s0, n, inv, D, E, gb)
    _m._grad_half(X, D, n, G, 0, SPLIT, W, lr)
    _m._grad_half(X, D, n, G, SPLIT, N_PIXELS, W, lr)
    return total


def _scratch(m):
    """Scratch for ≤ m samples: X (m,784) float32; P (2,10,m16) float32 (the halves' logits),
    D (10,m16) and E (4,≥32) float32 (softmax; row 3: the lane sums'), m16 = m rounded up to 16
    lanes; G (10,784) float32, gb (10,) float64."""
    m16 = (max(m, 1) + 15) // 16 * 16
    z = _m._zeros64  # every array and row on a 64-byte boundary
    return (
        z(max(m, 1), N_PIXELS),
        z(2 * N_CLASSES, m16).reshape((2, N_CLASSES, m16)),
        z(N_CLASSES, m16),
        z(4, max(m16, 32)),
        z(N_CLASSES, N_PIXELS),
        np.zeros(N_CLASSES),
    )


def _sgd_kernel(
    images,
    labels,
    perm,
    W,
    bias,
    scale,
    shift,
    b,
    lrs,
    start,
    stop,
    costs,
    plain,
    mom,
    wd,
    nesterov,
    VW,
    Vb,
    average,
    AW,
    Ab,
):
    """Minibatches start..stop-1 (minibatch i = perm[i·b:(i+1)·b]) with step sizes lrs (float32
    (stop-start,)); W, bias (and the momentum buffers VW, Vb, average sums AW, Ab) in place
    (:func:`.numba_update._update`, which also zeroes G, gb for the next minibatch)."""
    N = images.shape[0]
    buf = _scratch(min(b, N, BLOCK))
    G, gb = buf[4], buf[5]  # (10,784), (10,) ∂C/∂W, ∂C/∂b of the minibatch
    for i in range(start, stop):
        i0 = i * b
        n = min(b, N - i0)
        lr = lrs[i - start]
        fuse = _u._fuses(plain, lr)  # W's update rides on the last block's accumulation
        total = 0.0
        for s0 in range(i0, i0 + n, BLOCK):  # blocks bound the memory for any b
            last = s0 + BLOCK >= i0 + n
            total += _block(
                images,
                labels,
                perm,
                s0,
                min(BLOCK, i0 + n - s0),
                W,
                bias,
                scale,
                shift,
                1.0 / n,
                buf,
                lr if fuse and last else np.float32(0.0),
            )
        costs[i - start] = total / n
        _u._update(
            W,
            bias,
            G,
            gb,
            lr,
            plain,
            fuse,
            mom,
            wd,
            nesterov,
            VW,
            Vb,
            average,
            AW,
            Ab,
            0,
            N_PIXELS,
            True,
        )


def _grad_kernel(images, labels, rows, W, bias, scale, shift, G, gb):
    """G (10,784) f32 = Σ ∂H/∂W, gb (10,) f64 = Σ ∂H/∂b over the samples ``rows``; returns Σ H.

    The minibatch step's blocks with Δ = softmax − onehot (not divided by B): a share's sums.
    """
    n = rows.shape[0]
    buf = _scratch(min(max(n, 1), BLOCK))
    total = 0.0
    for s0 in range(0, n, BLOCK):
        total += _block(
            images,
            labels,
            rows,
            s0,
            min(BLOCK, n - s0),
            W,
            bias,
            scale,
            shift,
            1.0,
            buf,
            np.float32(0.0),
        )
    G[:] = buf[4]
    gb[:] = buf[5]
    return total


def _full_kernel(images, labels, W, bias, scale, shift, order, GW, GB, threads):
    """Adds ∂C/∂W to GW (10,784) f64 and ∂C/∂b to GB (10,) f64 over all N; returns C (f64).
    ``threads``: numba's thread count (chunks are dealt round-robin, one scratch per thread)."""
    N = images.shape[0]
    nch = (N + CHUNK - 1) // CHUNK
    parts = np.zeros((nch, N_CLASSES, N_PIXELS + 2))  # f64 per chunk: [∂W | ∂b | ΣH (k=0)]
    nt = max(1, min(nch, threads))
    for t in prange(nt):  # one scratch per thread (not per chunk: 0.4 MB memset each)
        buf = _scratch(BLOCK)
        G, gb = buf[4], buf[5]
        for c in range(t, nch, nt):  # chunk c's partial does not depend on who computes it
            end = min(N, (c + 1) * CHUNK)
            for s0 in range(c * CHUNK, end, BLOCK):  # float32 sums within a block, f64 across
                G[:] = 0.0
                gb[:] = 0.0
                parts[c, 0, N_PIXELS + 1] += _block(
                    images,
                    labels,
                    order,
                    s0,
                    min(BLOCK, end - s0),
                    W,
                    bias,
                    scale,
                    shift,
                    1.0 / N,
                    buf,
                    np.float32(0.0),
                )
                for k in range(N_CLASSES):
                    for j in range(N_PIXELS):
                        parts[c, k, j] += G[k, j]
                    parts[c, k, N_PIXELS] += gb[k]
    for k in prange(N_CLASSES):  # chunks summed in a fixed order: same bits for any threads
        for c in range(nch):
            for j in range(N_PIXELS):
                GW[k, j] += parts[c, k, j]
            GB[k] += parts[c, k, N_PIXELS]
    cost = 0.0
    for c in range(nch):
        cost += parts[c, 0, N_PIXELS + 1]
    return cost / N


#: (name, njit options) in dependency order: helpers before the kernels that call them (the
#: block math's flags are in :mod:`.numba_math`).
_SPECS = (
    ("_block", {}),
    ("_scratch", {}),
    ("_sgd_kernel", {}),
    ("_grad_kernel", {}),
    ("_full_kernel", {"parallel": True}),
)


@functools.cache
def _numba():
    """The numba module, or None when it cannot be imported."""
    try:
        import numba
    except Exception:  # ImportError, or a numba/numpy version clash
        return None
    return numba


@functools.cache
def _compile() -> None:
    """Import numba and turn the kernels above into cached njit dispatchers (compiled lazily)."""
    nb = _numba()
    if nb is None:
        raise RuntimeError("the 'fast' engine needs numba (pip install numba)")
    g = globals()
    g["prange"] = nb.prange
    _m._compile()
    _u._compile()
    for name, opts in _SPECS:
        g[name] = nb.njit(cache=True, nogil=True, **opts)(g[name])


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
        _compile()
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
        _full_kernel(
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
            runner.run(*args)
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
            yields = runner.run(*args)  # two threads, the same bits
            backoff.record(yields, stop - start, runner.bailed)
        else:
            _sgd_kernel(*args)
        if hyper.average:
            state.avg_count += stop - start
        costs = args[11]
        return torch.from_numpy(costs)

    def _kernel_args(self, model, perm, batch_size, lr, start, stop, hyper, state) -> tuple:
        """Checked arguments of :func:`_sgd_kernel` (costs, float64 (stop-start,), is [11])."""
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
        return (
            self._x,
            self._y,
            p,
            w,
            b,
            self._scale,
            self._shift,
            int(batch_size),
            lrs,
            int(start),
            int(stop),
            costs,
            hyper.plain,
            np.float32(hyper.momentum),
            np.float32(hyper.weight_decay),
            bool(hyper.nesterov),
            vw,
            vb,
            bool(hyper.average),
            aw,
            ab,
        )

    #: Two-thread steps (:mod:`.numba_threads`) from this batch size and steps per call.
    min_split_batch: int | None = None
    min_split_steps: int | None = None

    def split_steps(self, batch_size: int, steps: int) -> bool:
        """Whether ``steps`` minibatches of ``batch_size`` run on two threads: numba's thread
        count (``sgdlab --threads``, ``numba.set_num_threads``, ``NUMBA_NUM_THREADS``) ≥ 2 and
        the call large enough to pay (:func:`.numba_threads.use_split`)."""
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
        c = _grad_kernel(self._x, self._y, rows, w, b, self._scale, self._shift, gw, gb)
        return float(c), torch.from_numpy(gw), torch.from_numpy(gb.astype(np.float32))

    def full_gradient(self, model: SoftmaxRegression) -> tuple[float, torch.Tensor, torch.Tensor]:
        gw = np.zeros((N_CLASSES, N_PIXELS), np.float64)  # (10,784)
        gb = np.zeros(N_CLASSES, np.float64)  # (10,)
        w, b = _f32(model.z.weight), _f32(model.z.bias)
        c = _full_kernel(
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
