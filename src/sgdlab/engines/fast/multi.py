"""K models stepped together on one minibatch order: the kernel of :class:`sgdlab.study.trials`.

Per minibatch i = ``perm[i*b:(i+1)*b]`` (B ≤ b samples, in blocks of ≤ ``BLOCK``), each block's
uint8 rows are converted ONCE into the float32 scratch X (:func:`_convert`: ``float32(u8)·scale``
then ``+ shift``, two roundings, the arithmetic of :func:`.block._logits_half`), then every
active trial k runs the single engine's block math on its own weights W[k] (10,784), bias[k]
(10,), gradient sums G[k] (10,784) float32 / gb[k] (10,) float64, in the single engine's order:
the two pixel halves' logits (:func:`_logits_x`: :func:`.block._logits_half`'s FMAs read from X,
the same sums), :func:`.softmax._softmax_delta`, :func:`.block._grad_half` (plain SGD's W update
on the minibatch's last block) and :func:`.update._update`. Each trial's numbers are therefore
bitwise those of :func:`.kernels._sgd_kernel` on that trial alone (tested through
``sgdlab.train(engine="fast")``). Trials never mix: one trial's NaN stays its own.

Importing this module imports numba (through :mod:`.block`); :mod:`sgdlab.study.trials` imports
it on first use.
"""

from __future__ import annotations

import numpy as np

from sgdlab.engines.fast import block as _m
from sgdlab.engines.fast import softmax as _s
from sgdlab.engines.fast import update as _u
from sgdlab.engines.fast.block import jit, vadd, vfma, vld, vld_u8, vmul, vst, vzero
from sgdlab.engines.fast.kernels import CHUNK  # the full gradient's partition of N
from sgdlab.model import N_CLASSES, N_PIXELS

BLOCK, SPLIT = _m.BLOCK, _m.SPLIT


@jit()
def _convert(images, rows, i0, n, scale, shift, X):
    """X[s, :] = float32(images[rows[i0+s], :])·scale + shift for s < n (two roundings, no FMA:
    bitwise :func:`sgdlab.data.to_float`'s and :func:`.block._logits_half`'s)."""
    sc, sh = scale.reshape(1, N_PIXELS), shift.reshape(1, N_PIXELS)
    for s in range(n):
        r = rows[i0 + s]
        for j in range(0, N_PIXELS, 16):
            vst(X, s, j, vadd(vmul(vld_u8(images, r, j), vld(sc, 0, j)), vld(sh, 0, j)))


@jit()
def _logits_x(X, n, W, j0, j1, P, T):
    """P[c, s] = Σ_{j0≤j<j1} W[c, j]·X[s, j] for s < n, float32 (10, ≥n) class-major: the FMAs,
    accumulators and lane sums of :func:`.block._logits_half` (two samples a pass, an odd last
    one paired with itself), reading the converted rows from X (n,784) instead of the images."""
    for s in range(0, n, 2):
        t = s + 1 if s + 1 < n else s
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = a8 = a9 = vzero()
        b0 = b1 = b2 = b3 = b4 = b5 = b6 = b7 = b8 = b9 = vzero()
        for j in range(j0, j1, 16):
            x, y = vld(X, s, j), vld(X, t, j)
            w = vld(W, 0, j)
            a0, b0 = vfma(w, x, a0), vfma(w, y, b0)
            w = vld(W, 1, j)
            a1, b1 = vfma(w, x, a1), vfma(w, y, b1)
            w = vld(W, 2, j)
            a2, b2 = vfma(w, x, a2), vfma(w, y, b2)
            w = vld(W, 3, j)
            a3, b3 = vfma(w, x, a3), vfma(w, y, b3)
            w = vld(W, 4, j)
            a4, b4 = vfma(w, x, a4), vfma(w, y, b4)
            w = vld(W, 5, j)
            a5, b5 = vfma(w, x, a5), vfma(w, y, b5)
            w = vld(W, 6, j)
            a6, b6 = vfma(w, x, a6), vfma(w, y, b6)
            w = vld(W, 7, j)
            a7, b7 = vfma(w, x, a7), vfma(w, y, b7)
            w = vld(W, 8, j)
            a8, b8 = vfma(w, x, a8), vfma(w, y, b8)
            w = vld(W, 9, j)
            a9, b9 = vfma(w, x, a9), vfma(w, y, b9)
        _m._store_sums(
            P,
            T,
            s,
            t,
            a0,
            a1,
            a2,
            a3,
            a4,
            a5,
            a6,
            a7,
            a8,
            a9,
            b0,
            b1,
            b2,
            b3,
            b4,
            b5,
            b6,
            b7,
            b8,
            b9,
        )


@jit()
def _trial_block(labels, rows, s0, n, W, bias, inv, X, P, D, E, G, gb, lr):
    """One trial's share of a block whose rows are already in X: :func:`.kernels._block`'s math
    (both halves' logits, softmax and Δ, G += Δᵀ·X, gb += ΣΔ; ``lr`` > 0: plain SGD's fused
    W update). Returns the block's Σ H (float64 nats)."""
    T = E[3:]
    _logits_x(X, n, W, 0, SPLIT, P[0], T)
    _logits_x(X, n, W, SPLIT, N_PIXELS, P[1], T)
    total = _s._softmax_delta(P[0], P[1], bias, labels, rows, s0, n, inv, D, E, gb)
    _m._grad_half(X, D, n, G, 0, SPLIT, W, lr)
    _m._grad_half(X, D, n, G, SPLIT, N_PIXELS, W, lr)
    return total


@jit()
def _trials_sgd_kernel(
    images,
    labels,
    perm,
    W,
    bias,
    scale,
    shift,
    b,
    lrs,
    active,
    start,
    stop,
    costs,
    plain,
    mom,
    nesterov,
    VW,
    Vb,
):
    """Minibatches start..stop-1 of ``perm`` (int64 (N,); minibatch i = perm[i·b:(i+1)·b]) for
    every trial k with ``active[k]``: W (K,10,784), bias (K,10) float32 and the momentum buffers
    VW (K,10,784), Vb (K,10) float32 in place, step size lrs[k] (float32 (K,)), μ = ``mom``
    (float32), ``plain``: μ = 0 (the fused plain path). costs (K, stop-start) float64: each
    active trial's cost before each step (inactive rows are left as they are)."""
    N, K = images.shape[0], W.shape[0]
    m = min(b, N, BLOCK)
    m16 = (max(m, 1) + 15) // 16 * 16
    z = _m._zeros64
    X = z(max(m, 1), N_PIXELS)
    P = z(2 * N_CLASSES, m16).reshape((2, N_CLASSES, m16))
    D = z(N_CLASSES, m16)
    E = z(4, max(m16, 32))
    G = z(K * N_CLASSES, N_PIXELS).reshape((K, N_CLASSES, N_PIXELS))
    gb = np.zeros((K, N_CLASSES))
    tot = np.zeros(K)
    AW, Ab = np.zeros((1, 1)), np.zeros(1)  # no averaging (never read)
    wd = np.float32(0.0)
    for i in range(start, stop):
        i0 = i * b
        n = min(b, N - i0)
        for s0 in range(i0, i0 + n, BLOCK):  # blocks bound the scratch for any b
            nb = min(BLOCK, i0 + n - s0)
            last = s0 + BLOCK >= i0 + n
            _m._prefetch_rows(images, perm, s0 + nb, min(BLOCK, N - s0 - nb), 0, N_PIXELS)
            _convert(images, perm, s0, nb, scale, shift, X)
            for k in range(K):
                if not active[k]:
                    continue
                lr = lrs[k]
                fuse = _u._fuses(plain, lr) and last
                tot[k] += _trial_block(
                    labels,
                    perm,
                    s0,
                    nb,
                    W[k],
                    bias[k],
                    1.0 / n,
                    X,
                    P,
                    D,
                    E,
                    G[k],
                    gb[k],
                    lr if fuse else np.float32(0.0),
                )
        for k in range(K):
            if not active[k]:
                continue
            costs[k, i - start] = tot[k] / n
            tot[k] = 0.0
            _u._update(
                W[k],
                bias[k],
                G[k],
                gb[k],
                lrs[k],
                plain,
                _u._fuses(plain, lrs[k]),
                mom,
                wd,
                nesterov,
                VW[k],
                Vb[k],
                False,
                AW,
                Ab,
                0,
                N_PIXELS,
                True,
            )


@jit()
def _trials_full_kernel(images, labels, W, bias, scale, shift, active, GW, GB, costs):
    """The full gradient of every active trial over all N samples, as
    :func:`.kernels._full_kernel` computes it (the same bits, for any thread count there):
    chunks of ``CHUNK`` samples in order, blocks of ≤ ``BLOCK`` converted once for all trials,
    float32 sums within a block (Δ scaled by 1/N), float64 across the blocks of a chunk, chunk
    partials added in chunk order. GW (K,10,784), GB (K,10) float64 (zeros in, ∂C/∂W, ∂C/∂b
    out), costs (K,) float64 (C out) of the active trials; W, bias (K,10,784), (K,10) float32
    are read only."""
    N, K = images.shape[0], W.shape[0]
    order = np.arange(N)
    z = _m._zeros64
    m16 = (BLOCK + 15) // 16 * 16
    X = z(BLOCK, N_PIXELS)
    P = z(2 * N_CLASSES, m16).reshape((2, N_CLASSES, m16))
    D = z(N_CLASSES, m16)
    E = z(4, max(m16, 32))
    G = z(N_CLASSES, N_PIXELS)
    gb = np.zeros(N_CLASSES)
    part = np.zeros((K, N_CLASSES, N_PIXELS + 1))  # one chunk's float64 sums: [∂W | ∂b]
    cpart = np.zeros(K)  # one chunk's Σ H
    for k in range(K):
        costs[k] = 0.0
    for c0 in range(0, N, CHUNK):
        end = min(N, c0 + CHUNK)
        part[:] = 0.0
        cpart[:] = 0.0
        for s0 in range(c0, end, BLOCK):
            nb = min(BLOCK, end - s0)
            _m._prefetch_rows(images, order, s0 + nb, min(BLOCK, N - s0 - nb), 0, N_PIXELS)
            _convert(images, order, s0, nb, scale, shift, X)
            for k in range(K):
                if not active[k]:
                    continue
                G[:] = 0.0
                gb[:] = 0.0
                cpart[k] += _trial_block(
                    labels,
                    order,
                    s0,
                    nb,
                    W[k],
                    bias[k],
                    1.0 / N,
                    X,
                    P,
                    D,
                    E,
                    G,
                    gb,
                    np.float32(0.0),
                )
                for c in range(N_CLASSES):
                    for j in range(N_PIXELS):
                        part[k, c, j] += G[c, j]
                    part[k, c, N_PIXELS] += gb[c]
        for k in range(K):  # the chunk's partial joins the totals in chunk order
            if not active[k]:
                continue
            for c in range(N_CLASSES):
                for j in range(N_PIXELS):
                    GW[k, c, j] += part[k, c, j]
                GB[k, c] += part[k, c, N_PIXELS]
            costs[k] += cpart[k]
    for k in range(K):
        costs[k] /= N
