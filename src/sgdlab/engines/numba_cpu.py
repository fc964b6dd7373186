"""The ``fast`` engine: a stretch of SGD steps, or one full gradient, in ONE compiled numba call.

Per minibatch i = ``perm[i*b:(i+1)*b]`` (B ≤ b samples) the kernel gathers the uint8 rows and
normalizes them like :func:`sgdlab.data.to_float` (``float32(u8)·scale`` then ``+ shift``, two
roundings, no FMA: X (B,784) float32 is bitwise the reference's), then Z = X·Wᵀ + b (B,10)
float32; softmax and cost H in float64; Δ = float32((softmax − onehot)/B) (B,10);
∂C/∂W = Δᵀ·X (10,784) float32, ∂C/∂b = ΣΔ; W −= float32(lr_t)·∂C/∂W, b −= float32(lr_t)·∂C/∂b
in place on numpy views of ``model.z.weight`` / ``model.z.bias`` (lr_t: the step's own rate from
the float32 (K,) array of the stretch). With momentum or weight decay, ``_apply_opt`` does
``torch.optim.SGD``'s update in float32 on numpy views of the state's buffers; with averaging,
``_accum`` adds each iterate to float64 sums. Plain SGD takes the unchanged ``_apply``.
Costs: float64 nats, before each step. Scratch: ≤ 0.5 MB (minibatches are processed in blocks
of ``BLOCK`` samples).

With numba's thread count ≥ 2 (``--threads``, ``NUMBA_NUM_THREADS``, ``numba.set_num_threads``)
a stretch of ≥ ``numba_threads.MIN_SAMPLES`` samples at b ≥ ``numba_threads.MIN_BATCH`` runs on
two threads, the 10 classes split 5/5 (:mod:`.numba_threads`), with bitwise the same result;
smaller stretches, b = 1, and one thread run the kernel below.

Full gradient: fixed chunks of ``CHUNK`` samples (whatever the thread count) dealt round-robin
to the threads (``prange`` over threads, one scratch each), float32 within a block, float64
across blocks and chunks, chunk partials (7.4 MB for N = 60,000) summed in chunk order: bitwise
reproducible for any thread count.

Differs from the reference only in summation order (vectorized 784-term dot products, Δᵀ·X in
sample order, chunk sums) and a float64 softmax: an epoch's weights agree to ~1e-7 relative, the
full gradient to ~2e-7 (and is ~5× closer to the float64 value). numba is imported on first use
(:func:`_compile`), never by ``import sgdlab``.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from ..data import pixel_affine
from ..model import N_CLASSES, N_PIXELS, SoftmaxRegression
from ..optim import OptimState, SGDHyper
from .base import Engine, as_lrs, check_state

#: Samples per chunk of the full gradient: the fixed partition the threads share out.
CHUNK = 512
#: Samples per block (X block 400 KB, L2-resident); a full-gradient chunk sums its blocks in f64.
BLOCK = 128
#: Samples per register group in the inner loops (each W / ∂C/∂W row load serves 4 samples).
GROUP = 4
#: Image rows prefetched ahead of the gather (~ memory latency / time per row).
AHEAD = 8

prange = range  # replaced by numba.prange in _compile()

# --------------------------------------------------------------------------------------------
# Kernels. Plain Python here; _compile() turns each into a cached numba dispatcher (helpers
# first: the kernels call them by global name). Sample counts n4 are rounded up to GROUP: the
# padding rows of X are finite and their rows of Δ are 0, so they add exactly nothing.
# --------------------------------------------------------------------------------------------


def _prefetch(images, r, j):  # replaced by an llvm.prefetch intrinsic in _compile()
    pass


def _gather(images, rows, i0, n, scale, shift, X):
    """X[s] = float32(images[rows[i0+s]])·scale + shift for s < n, X (≥n,784) float32.

    Two roundings like ``to_float`` (compiled without FMA contraction). Prefetches the image row
    ``AHEAD`` positions later in ``rows``, so the next minibatch's rows arrive during this one.
    """
    for s in range(n):
        if i0 + s + AHEAD < rows.shape[0]:
            nxt = rows[i0 + s + AHEAD]
            for j in range(0, N_PIXELS, 64):  # 13 cache lines (+1: rows are not line-aligned)
                _prefetch(images, nxt, j)
            _prefetch(images, nxt, N_PIXELS - 1)
        r = rows[i0 + s]
        for j in range(N_PIXELS):
            X[s, j] = np.float32(images[r, j]) * scale[j] + shift[j]


def _logits(W, bias, X, n4, Z):
    """Z[:n4] = X[:n4]·Wᵀ + bias: (n4,784)@(784,10) + (10,), float32.

    Register block: 5 classes × 4 samples, 20 dot products per pass over the 784 pixels, each
    W and X load used 4 or 5 times; the sums are vectorized (reassociated) by LLVM.
    """
    z = np.float32(0.0)
    for s0 in range(0, n4, GROUP):
        for k in range(0, N_CLASSES, 5):
            a00 = a01 = a02 = a03 = a10 = a11 = a12 = a13 = a20 = a21 = a22 = a23 = z
            a30 = a31 = a32 = a33 = a40 = a41 = a42 = a43 = z
            for j in range(N_PIXELS):
                x0, x1, x2, x3 = X[s0, j], X[s0 + 1, j], X[s0 + 2, j], X[s0 + 3, j]
                w = W[k, j]
                a00, a01, a02, a03 = a00 + w * x0, a01 + w * x1, a02 + w * x2, a03 + w * x3
                w = W[k + 1, j]
                a10, a11, a12, a13 = a10 + w * x0, a11 + w * x1, a12 + w * x2, a13 + w * x3
                w = W[k + 2, j]
                a20, a21, a22, a23 = a20 + w * x0, a21 + w * x1, a22 + w * x2, a23 + w * x3
                w = W[k + 3, j]
                a30, a31, a32, a33 = a30 + w * x0, a31 + w * x1, a32 + w * x2, a33 + w * x3
                w = W[k + 4, j]
                a40, a41, a42, a43 = a40 + w * x0, a41 + w * x1, a42 + w * x2, a43 + w * x3
            for q, (c0, c1, c2, c3, c4) in enumerate(((a00, a10, a20, a30, a40),
                                                      (a01, a11, a21, a31, a41),
                                                      (a02, a12, a22, a32, a42),
                                                      (a03, a13, a23, a33, a43))):  # fmt: skip
                Z[s0 + q, k] = c0 + bias[k]
                Z[s0 + q, k + 1] = c1 + bias[k + 1]
                Z[s0 + q, k + 2] = c2 + bias[k + 2]
                Z[s0 + q, k + 3] = c3 + bias[k + 3]
                Z[s0 + q, k + 4] = c4 + bias[k + 4]


def _softmax_delta(Z, labels, rows, i0, n, n4, inv, D, E):
    """D[:n] = float32((softmax(Z[:n]) − onehot)·inv), D[n:n4] = 0; returns Σ_s H_s (float64).

    Stable softmax in float64 (``E`` (10,) float64 scratch); H_s = log Σ exp(z − max) − (z_t −
    max), the cross-entropy of sample s in nats.
    """
    total = 0.0
    for s in range(n):
        m = np.float64(Z[s, 0])
        for k in range(1, N_CLASSES):
            m = max(m, np.float64(Z[s, k]))
        tot = 0.0
        for k in range(N_CLASSES):
            E[k] = np.exp(np.float64(Z[s, k]) - m)
            tot += E[k]
        t = labels[rows[i0 + s]]
        total += np.log(tot) - (np.float64(Z[s, t]) - m)
        for k in range(N_CLASSES):
            D[s, k] = np.float32((E[k] / tot - (1.0 if k == t else 0.0)) * inv)
    D[n:n4] = 0.0
    return total


def _accumulate(X, D, n4, G):
    """G += D[:n4]ᵀ·X[:n4]: (10,n4)@(n4,784), float32, each sum in sample order (FMA chains).

    Register block: 5 classes × 4 samples per pass over the pixels (4 X loads, 5 G loads and
    stores for 20 FMAs).
    """
    for s0 in range(0, n4, GROUP):
        for k in range(0, N_CLASSES, 5):
            d00, d01, d02, d03 = D[s0, k], D[s0 + 1, k], D[s0 + 2, k], D[s0 + 3, k]
            d10, d11, d12, d13 = D[s0, k + 1], D[s0 + 1, k + 1], D[s0 + 2, k + 1], D[s0 + 3, k + 1]
            d20, d21, d22, d23 = D[s0, k + 2], D[s0 + 1, k + 2], D[s0 + 2, k + 2], D[s0 + 3, k + 2]
            d30, d31, d32, d33 = D[s0, k + 3], D[s0 + 1, k + 3], D[s0 + 2, k + 3], D[s0 + 3, k + 3]
            d40, d41, d42, d43 = D[s0, k + 4], D[s0 + 1, k + 4], D[s0 + 2, k + 4], D[s0 + 3, k + 4]
            for j in range(N_PIXELS):
                x0, x1, x2, x3 = X[s0, j], X[s0 + 1, j], X[s0 + 2, j], X[s0 + 3, j]
                G[k, j] = G[k, j] + d00 * x0 + d01 * x1 + d02 * x2 + d03 * x3
                G[k + 1, j] = G[k + 1, j] + d10 * x0 + d11 * x1 + d12 * x2 + d13 * x3
                G[k + 2, j] = G[k + 2, j] + d20 * x0 + d21 * x1 + d22 * x2 + d23 * x3
                G[k + 3, j] = G[k + 3, j] + d30 * x0 + d31 * x1 + d32 * x2 + d33 * x3
                G[k + 4, j] = G[k + 4, j] + d40 * x0 + d41 * x1 + d42 * x2 + d43 * x3


def _block(images, labels, rows, s0, n, W, bias, scale, shift, inv, buf):
    """Samples rows[s0:s0+n], n ≤ BLOCK: G += Δᵀ·X, gb += ΣΔ with Δ = (softmax − onehot)·inv.

    ``buf`` = :func:`_scratch` (G (10,784) float32, gb (10,) float64 accumulate); returns Σ H.
    """
    X, Z, D, E, G, gb = buf
    n4 = (n + GROUP - 1) // GROUP * GROUP
    _gather(images, rows, s0, n, scale, shift, X)
    _logits(W, bias, X, n4, Z)
    total = _softmax_delta(Z, labels, rows, s0, n, n4, inv, D, E)
    _accumulate(X, D, n4, G)
    for k in range(N_CLASSES):
        for s in range(n):
            gb[k] += D[s, k]
    return total


def _scratch(m):
    """Scratch for ≤ m samples: X (m,784), Z, D (m,10), G (10,784) float32; E, gb (10,) f64."""
    m = (m + GROUP - 1) // GROUP * GROUP
    return (np.zeros((m, N_PIXELS), np.float32), np.empty((m, N_CLASSES), np.float32),
            np.empty((m, N_CLASSES), np.float32), np.empty(N_CLASSES),
            np.zeros((N_CLASSES, N_PIXELS), np.float32), np.zeros(N_CLASSES))  # fmt: skip


def _apply(W, bias, G, gb, lr):
    """W −= lr·G; bias −= lr·float32(gb) (float32, two roundings each, like the reference)."""
    _apply_rows(W, bias, G, gb, lr, 0, N_CLASSES)


def _apply_rows(W, bias, G, gb, lr, k0, k1):
    """:func:`_apply` for rows k0..k1-1 only (a row's update needs only that row's G)."""
    for k in range(k0, k1):
        bias[k] = bias[k] - lr * np.float32(gb[k])
        for j in range(N_PIXELS):
            W[k, j] = W[k, j] - lr * G[k, j]


def _apply_opt(W, bias, G, gb, lr, mom, wd, nesterov, VW, Vb):
    """``torch.optim.SGD``'s update in float32 (see :mod:`sgdlab.optim`): g = G + wd·p;
    v = mom·v + g (VW (10,784), Vb (10,), if mom ≠ 0); g = g + mom·v (nesterov) or v; p −= lr·g."""
    _apply_opt_rows(W, bias, G, gb, lr, mom, wd, nesterov, VW, Vb, 0, N_CLASSES)


def _apply_opt_rows(W, bias, G, gb, lr, mom, wd, nesterov, VW, Vb, k0, k1):
    """:func:`_apply_opt` for rows k0..k1-1 only (a row's update needs only that row)."""
    use_mom = mom != 0
    for k in range(k0, k1):
        g = np.float32(gb[k]) + wd * bias[k]
        if use_mom:
            Vb[k] = mom * Vb[k] + g
            g = g + mom * Vb[k] if nesterov else Vb[k]
        bias[k] = bias[k] - lr * g
        for j in range(N_PIXELS):
            g = G[k, j] + wd * W[k, j]
            if use_mom:
                VW[k, j] = mom * VW[k, j] + g
                g = g + mom * VW[k, j] if nesterov else VW[k, j]
            W[k, j] = W[k, j] - lr * g


def _accum(W, bias, AW, Ab):
    """AW += float64(W) (10,784), Ab += float64(bias) (10,): the sums of the averaged iterates."""
    _accum_rows(W, bias, AW, Ab, 0, N_CLASSES)


def _accum_rows(W, bias, AW, Ab, k0, k1):
    """:func:`_accum` for rows k0..k1-1 only."""
    for k in range(k0, k1):
        Ab[k] += np.float64(bias[k])
        for j in range(N_PIXELS):
            AW[k, j] += np.float64(W[k, j])


def _sgd_kernel(images, labels, perm, W, bias, scale, shift, b, lrs, start, stop, costs,
                plain, mom, wd, nesterov, VW, Vb, average, AW, Ab):  # fmt: skip
    """Minibatches start..stop-1 (minibatch i = perm[i·b:(i+1)·b]) with step sizes lrs (float32
    (stop-start,)); W, bias (and the momentum buffers VW, Vb, average sums AW, Ab) in place."""
    N = images.shape[0]
    buf = _scratch(min(b, N, BLOCK))
    G, gb = buf[4], buf[5]  # (10,784), (10,) ∂C/∂W, ∂C/∂b of the minibatch
    for i in range(start, stop):
        i0 = i * b
        n = min(b, N - i0)
        G[:] = 0.0
        gb[:] = 0.0
        total = 0.0
        for s0 in range(i0, i0 + n, BLOCK):  # blocks bound the memory for any b
            total += _block(images, labels, perm, s0, min(BLOCK, i0 + n - s0), W, bias, scale,
                            shift, 1.0 / n, buf)  # fmt: skip
        costs[i - start] = total / n
        if plain:
            _apply(W, bias, G, gb, lrs[i - start])
        else:
            _apply_opt(W, bias, G, gb, lrs[i - start], mom, wd, nesterov, VW, Vb)
        if average:
            _accum(W, bias, AW, Ab)


def _grad_kernel(images, labels, rows, W, bias, scale, shift, G, gb):
    """G (10,784) f32 = Σ ∂H/∂W, gb (10,) f64 = Σ ∂H/∂b over the samples ``rows``; returns Σ H.

    The minibatch step's blocks with Δ = softmax − onehot (not divided by B): a share's sums.
    """
    n = rows.shape[0]
    buf = _scratch(min(max(n, 1), BLOCK))
    total = 0.0
    for s0 in range(0, n, BLOCK):
        total += _block(images, labels, rows, s0, min(BLOCK, n - s0), W, bias, scale, shift,
                        1.0, buf)  # fmt: skip
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
                parts[c, 0, N_PIXELS + 1] += _block(images, labels, order, s0,
                                                    min(BLOCK, end - s0), W, bias, scale, shift,
                                                    1.0 / N, buf)  # fmt: skip
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


#: (name, njit options) in dependency order: helpers before the kernels that call them.
#: No "contract" where the reference rounds twice (x = u8·a + c; W − lr·G); "reassoc" only for
#: the logits' dot products (vectorized sums); NaN/inf stay IEEE so divergence is still seen.
_SPECS = (
    ("_gather", {}),
    ("_logits", {"fastmath": {"reassoc", "nsz", "contract"}}),
    ("_softmax_delta", {}),
    ("_accumulate", {"fastmath": {"contract"}}),
    ("_block", {}),
    ("_scratch", {}),
    ("_apply_rows", {}),
    ("_apply", {}),
    ("_apply_opt_rows", {}),
    ("_apply_opt", {}),
    ("_accum_rows", {}),
    ("_accum", {}),
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
    from .numba_intrinsics import prefetch

    g["_prefetch"] = prefetch()
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
        self._y = self.labels.contiguous().numpy()  # (N,) int64
        self._order = np.arange(self.n, dtype=np.int64)  # full gradient: samples in order
        scale, shift = pixel_affine("cpu")
        self._scale, self._shift = scale.numpy(), shift.numpy()  # (784,) float32 each
        if self._y.size and (self._y.min() < 0 or self._y.max() >= N_CLASSES):
            raise ValueError("labels must lie in 0..9")
        self._dummy = OptimState()  # stands in for an absent state (plain SGD never reads it)
        self._warm_up()

    def _warm_up(self) -> None:
        """Compile (or load from numba's cache) the kernels now, on a 1-sample problem, so that
        the first timed call measures training, not compilation."""
        m = SoftmaxRegression()
        self.sgd_steps(m, torch.arange(self.n), 1, 0.0, 0, 0)  # zero steps
        self.minibatch_gradient(m, torch.arange(min(self.n, 1)))
        sub = self._x[:1], self._y[:1], _f32(m.z.weight), _f32(m.z.bias)
        _full_kernel(*sub, self._scale, self._shift, self._order[:1],
                     np.zeros((N_CLASSES, N_PIXELS)), np.zeros(N_CLASSES), 1)  # fmt: skip
        if _numba().get_num_threads() > 1:  # and the two-thread steps (zero steps)
            args = self._kernel_args(m, torch.arange(self.n), 1, 0.0, 0, 0, check_state(None, None),
                                     None)  # fmt: skip
            self._split_runner()[0].run(*args)

    @classmethod
    def available(cls, device: torch.device) -> bool:
        return torch.device(device).type == "cpu" and _numba() is not None

    def sgd_steps(self, model: SoftmaxRegression, perm: torch.Tensor, batch_size: int,
                  lr: float | torch.Tensor, start: int, stop: int, *,
                  hyper: SGDHyper | None = None,
                  state: OptimState | None = None) -> torch.Tensor:  # fmt: skip
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
        return (self._x, self._y, p, w, b, self._scale, self._shift, int(batch_size), lrs,
                int(start), int(stop), costs, hyper.plain, np.float32(hyper.momentum),
                np.float32(hyper.weight_decay), bool(hyper.nesterov), vw, vb,
                bool(hyper.average), aw, ab)  # fmt: skip

    #: Two-thread steps (:mod:`.numba_threads`) from this batch size and samples per call.
    min_split_batch: int | None = None
    min_split_samples: int | None = None

    def split_steps(self, batch_size: int, steps: int) -> bool:
        """Whether ``steps`` minibatches of ``batch_size`` run on two threads: numba's thread
        count (``sgdlab --threads``, ``numba.set_num_threads``, ``NUMBA_NUM_THREADS``) ≥ 2 and
        the call large enough to pay (:func:`.numba_threads.use_split`)."""
        from . import numba_threads as nt

        if not nt.use_split(_numba().get_num_threads(), batch_size, steps,
                            self.min_split_batch, self.min_split_samples):  # fmt: skip
            return False
        return not self._split_runner()[1].active()

    def _split_runner(self):
        """(SplitRunner, Backoff), made on first use."""
        if getattr(self, "_split", None) is None:
            from .numba_threads import Backoff, SplitRunner

            self._split = SplitRunner(), Backoff()
        return self._split

    def minibatch_gradient(self, model: SoftmaxRegression, idx: torch.Tensor,
                           ) -> tuple[float, torch.Tensor, torch.Tensor]:  # fmt: skip
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
        c = _full_kernel(self._x, self._y, w, b, self._scale, self._shift, self._order, gw, gb,
                         _numba().get_num_threads())  # fmt: skip
        f32 = np.float32
        return float(c), torch.from_numpy(gw.astype(f32)), torch.from_numpy(gb.astype(f32))
