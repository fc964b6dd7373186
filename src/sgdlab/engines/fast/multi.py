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
from sgdlab.engines.fast.block import jit, vadd, vbc, vfma, vld, vld_u8, vmul, vst, vsub, vzero
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
    accumulators and lane sums of :func:`.block._logits_half` (two samples a pass), reading the
    converted rows from X (n,784) instead of the images. An odd last sample runs alone
    (:func:`_logit1`: the same sums, half the FMAs)."""
    for s in range(0, n - 1, 2):
        t = s + 1
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
    if n % 2:
        _logit1(X, n - 1, W, j0, j1, P, T)


@jit()
def _logit1(X, s, W, j0, j1, P, T):
    """P[:, s] for the one sample s: the ten accumulators of :func:`_logits_x` (whose lane sums
    do not depend on the partner sample: each vector is folded by the same tree)."""
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = a8 = a9 = vzero()
    for j in range(j0, j1, 16):
        x = vld(X, s, j)
        a0 = vfma(vld(W, 0, j), x, a0)
        a1 = vfma(vld(W, 1, j), x, a1)
        a2 = vfma(vld(W, 2, j), x, a2)
        a3 = vfma(vld(W, 3, j), x, a3)
        a4 = vfma(vld(W, 4, j), x, a4)
        a5 = vfma(vld(W, 5, j), x, a5)
        a6 = vfma(vld(W, 6, j), x, a6)
        a7 = vfma(vld(W, 7, j), x, a7)
        a8 = vfma(vld(W, 8, j), x, a8)
        a9 = vfma(vld(W, 9, j), x, a9)
    _m._store_sums(
        P, T, s, s, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9
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
def _acc(X, D, n, G, j, k, fresh):
    """The 20 sums of :func:`.block._grad_half`'s register block (classes 0..9 at pixels
    j:j+16, then at k:k+16): G there (or 0 when ``fresh``) + Σ_s D[c, s]·X[s, ·] in sample
    order, float32 FMAs."""
    if fresh:
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = a8 = a9 = vzero()
        b0 = b1 = b2 = b3 = b4 = b5 = b6 = b7 = b8 = b9 = vzero()
    else:
        a0, a1, a2, a3 = vld(G, 0, j), vld(G, 1, j), vld(G, 2, j), vld(G, 3, j)
        a4, a5, a6, a7 = vld(G, 4, j), vld(G, 5, j), vld(G, 6, j), vld(G, 7, j)
        a8, a9 = vld(G, 8, j), vld(G, 9, j)
        b0, b1, b2, b3 = vld(G, 0, k), vld(G, 1, k), vld(G, 2, k), vld(G, 3, k)
        b4, b5, b6, b7 = vld(G, 4, k), vld(G, 5, k), vld(G, 6, k), vld(G, 7, k)
        b8, b9 = vld(G, 8, k), vld(G, 9, k)
    for s in range(n):
        x, y = vld(X, s, j), vld(X, s, k)
        d = vbc(D[0, s])
        a0, b0 = vfma(d, x, a0), vfma(d, y, b0)
        d = vbc(D[1, s])
        a1, b1 = vfma(d, x, a1), vfma(d, y, b1)
        d = vbc(D[2, s])
        a2, b2 = vfma(d, x, a2), vfma(d, y, b2)
        d = vbc(D[3, s])
        a3, b3 = vfma(d, x, a3), vfma(d, y, b3)
        d = vbc(D[4, s])
        a4, b4 = vfma(d, x, a4), vfma(d, y, b4)
        d = vbc(D[5, s])
        a5, b5 = vfma(d, x, a5), vfma(d, y, b5)
        d = vbc(D[6, s])
        a6, b6 = vfma(d, x, a6), vfma(d, y, b6)
        d = vbc(D[7, s])
        a7, b7 = vfma(d, x, a7), vfma(d, y, b7)
        d = vbc(D[8, s])
        a8, b8 = vfma(d, x, a8), vfma(d, y, b8)
        d = vbc(D[9, s])
        a9, b9 = vfma(d, x, a9), vfma(d, y, b9)
    return a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, b0, b1, b2, b3, b4, b5, b6, b7, b8, b9


@jit()
def _grad_x(X, D, n, G, j0, j1, W, fresh, store, lr):
    """G[:, j0:j1] (+)= D[:, :n]·X[:n, j0:j1] (:func:`_acc`), then ``store``: into G (a
    minibatch's earlier block), else plain SGD's W[:, j0:j1] −= lr·G (:func:`.update._sgd_cols`'s
    roundings) from the sums in registers: G is neither stored nor zeroed. ``fresh``: the
    minibatch's first block (the sums start at 0; G is not read).

    :func:`.block._grad_half`'s register blocks, FMAs and sample order: the same sums (G is 0
    at a minibatch's start there).
    """
    L = vbc(lr)
    j = j0
    while j < j1:
        two = j + 16 < j1
        k = j + 16 if two else j  # an odd last vector is computed twice, stored once
        a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, b0, b1, b2, b3, b4, b5, b6, b7, b8, b9 = _acc(
            X, D, n, G, j, k, fresh
        )
        if store:
            _put(G, 0, j, k, a0, b0)
            _put(G, 1, j, k, a1, b1)
            _put(G, 2, j, k, a2, b2)
            _put(G, 3, j, k, a3, b3)
            _put(G, 4, j, k, a4, b4)
            _put(G, 5, j, k, a5, b5)
            _put(G, 6, j, k, a6, b6)
            _put(G, 7, j, k, a7, b7)
            _put(G, 8, j, k, a8, b8)
            _put(G, 9, j, k, a9, b9)
        else:
            _sgd_vec(W, 0, j, k, a0, b0, L)
            _sgd_vec(W, 1, j, k, a1, b1, L)
            _sgd_vec(W, 2, j, k, a2, b2, L)
            _sgd_vec(W, 3, j, k, a3, b3, L)
            _sgd_vec(W, 4, j, k, a4, b4, L)
            _sgd_vec(W, 5, j, k, a5, b5, L)
            _sgd_vec(W, 6, j, k, a6, b6, L)
            _sgd_vec(W, 7, j, k, a7, b7, L)
            _sgd_vec(W, 8, j, k, a8, b8, L)
            _sgd_vec(W, 9, j, k, a9, b9, L)
        j += 32 if two else 16


@jit()
def _grad_opt(X, D, n, G, j0, j1, W, fresh, lr, mom, nesterov, VW):
    """The last block of a minibatch with momentum: the sums of :func:`_acc`, then
    :func:`.update._opt_cols`'s rule (weight decay 0) on W[:, j0:j1] and VW[:, j0:j1] from the
    sums in registers (:func:`_opt_vec`). ``fresh``: as :func:`_grad_x`."""
    L, M = vbc(lr), vbc(mom)
    j = j0
    while j < j1:
        two = j + 16 < j1
        k = j + 16 if two else j
        a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, b0, b1, b2, b3, b4, b5, b6, b7, b8, b9 = _acc(
            X, D, n, G, j, k, fresh
        )
        if nesterov:
            _opt_pair(W, VW, 0, j, k, a0, b0, L, M, True)
            _opt_pair(W, VW, 1, j, k, a1, b1, L, M, True)
            _opt_pair(W, VW, 2, j, k, a2, b2, L, M, True)
            _opt_pair(W, VW, 3, j, k, a3, b3, L, M, True)
            _opt_pair(W, VW, 4, j, k, a4, b4, L, M, True)
            _opt_pair(W, VW, 5, j, k, a5, b5, L, M, True)
            _opt_pair(W, VW, 6, j, k, a6, b6, L, M, True)
            _opt_pair(W, VW, 7, j, k, a7, b7, L, M, True)
            _opt_pair(W, VW, 8, j, k, a8, b8, L, M, True)
            _opt_pair(W, VW, 9, j, k, a9, b9, L, M, True)
        else:
            _opt_pair(W, VW, 0, j, k, a0, b0, L, M, False)
            _opt_pair(W, VW, 1, j, k, a1, b1, L, M, False)
            _opt_pair(W, VW, 2, j, k, a2, b2, L, M, False)
            _opt_pair(W, VW, 3, j, k, a3, b3, L, M, False)
            _opt_pair(W, VW, 4, j, k, a4, b4, L, M, False)
            _opt_pair(W, VW, 5, j, k, a5, b5, L, M, False)
            _opt_pair(W, VW, 6, j, k, a6, b6, L, M, False)
            _opt_pair(W, VW, 7, j, k, a7, b7, L, M, False)
            _opt_pair(W, VW, 8, j, k, a8, b8, L, M, False)
            _opt_pair(W, VW, 9, j, k, a9, b9, L, M, False)
        j += 32 if two else 16


@jit()
def _put(G, c, j, k, a, b):
    """G[c, j:j+16] = a, G[c, k:k+16] = b (k = j: a; both are the same sums then)."""
    vst(G, c, k, b)
    vst(G, c, j, a)


@jit()
def _sgd_vec(W, c, j, k, a, b, L):
    """W[c, j:j+16] −= L·a and W[c, k:k+16] −= L·b (k = j: once), two roundings each."""
    if k != j:
        vst(W, c, k, vsub(vld(W, c, k), vmul(L, b)))
    vst(W, c, j, vsub(vld(W, c, j), vmul(L, a)))


@jit()
def _opt_pair(W, VW, c, j, k, a, b, L, M, nesterov):
    """:func:`_opt_vec` at pixels j (gradient a) and k (gradient b; k = j: once)."""
    if k != j:
        _opt_vec(W, VW, c, k, b, L, M, nesterov)
    _opt_vec(W, VW, c, j, a, L, M, nesterov)


@jit()
def _opt_vec(W, VW, c, j, g, L, M, nesterov):
    """:func:`.update._opt_cols` on W[c, j:j+16] with weight decay 0 (still added, as there:
    g + 0·w), gradient g, momentum M, step L: the same operations, each rounded, no FMA."""
    w = vld(W, c, j)
    g = vadd(g, vmul(vzero(), w))
    v = vadd(vmul(M, vld(VW, c, j)), g)
    vst(VW, c, j, v)
    g = vadd(g, vmul(M, v)) if nesterov else v
    vst(W, c, j, vsub(w, vmul(L, g)))


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
    VW (K,10,784), Vb (K,10) float32 in place, step size lrs[k] (float32 (K,) > 0), μ = ``mom``
    (float32), ``plain``: μ = 0. costs (K, stop-start) float64: each active trial's cost before
    each step (inactive rows are left as they are).

    Per block: convert the rows once (:func:`_convert`), then each phase for every active trial
    in turn, so that a phase's half of X stays in L1 while the trials' weights stream through:
    logits of pixel half 0, of half 1, softmax and Δ, ∂C/∂W of half 0, of half 1 (on the
    minibatch's last block with the update, :func:`_grad_x`); after the minibatch, b's update
    (:func:`.update._update`'s rule). Each trial's operations and their order are the single
    engine's (:func:`.kernels._sgd_kernel`): the same bits.
    """
    N, K = images.shape[0], W.shape[0]
    m = min(b, N, BLOCK)
    m16 = (max(m, 1) + 15) // 16 * 16
    z = _m._zeros64
    X = z(max(m, 1), N_PIXELS)
    P = z(K * 2 * N_CLASSES, m16).reshape((K, 2, N_CLASSES, m16))
    D = z(K * N_CLASSES, m16).reshape((K, N_CLASSES, m16))
    E = z(4, max(m16, 32))
    T = E[3:]
    kg = K if b > BLOCK else 1  # sums across blocks: needed for b > BLOCK only
    G = z(kg * N_CLASSES, N_PIXELS).reshape((kg, N_CLASSES, N_PIXELS))
    gb = np.zeros((K, N_CLASSES))
    tot = np.zeros(K)
    wd = np.float32(0.0)
    ks = np.flatnonzero(active)
    for i in range(start, stop):
        i0 = i * b
        n = min(b, N - i0)
        for s0 in range(i0, i0 + n, BLOCK):  # blocks bound the scratch for any b
            nb = min(BLOCK, i0 + n - s0)
            fresh, last = s0 == i0, s0 + BLOCK >= i0 + n
            _m._prefetch_rows(images, perm, s0 + nb, min(BLOCK, N - s0 - nb), 0, N_PIXELS)
            _convert(images, perm, s0, nb, scale, shift, X)
            for k in ks:
                _logits_x(X, nb, W[k], 0, SPLIT, P[k, 0], T)
            for k in ks:
                _logits_x(X, nb, W[k], SPLIT, N_PIXELS, P[k, 1], T)
            for k in ks:
                tot[k] += _s._softmax_delta(
                    P[k, 0], P[k, 1], bias[k], labels, perm, s0, nb, 1.0 / n, D[k], E, gb[k]
                )
            for h in range(2):
                j0, j1 = (0, SPLIT) if h == 0 else (SPLIT, N_PIXELS)
                for k in ks:
                    g = G[k if kg > 1 else 0]
                    if plain or not last:
                        _grad_x(X, D[k], nb, g, j0, j1, W[k], fresh, not last, lrs[k])
                    else:
                        _grad_opt(X, D[k], nb, g, j0, j1, W[k], fresh, lrs[k], mom, nesterov, VW[k])
        for k in ks:
            costs[k, i - start] = tot[k] / n
            tot[k] = 0.0
            lr = lrs[k]
            if plain:
                for c in range(N_CLASSES):
                    bias[k, c] = bias[k, c] - lr * np.float32(gb[k, c])
            else:
                _u._opt_bias(bias[k], gb[k], lr, mom, wd, nesterov, Vb[k])
            for c in range(N_CLASSES):
                gb[k, c] = 0.0


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
