"""K models stepped together on one minibatch order: the kernels of :class:`sgdlab.study.trials`.

Per minibatch i = ``perm[i*b:(i+1)*b]`` (B ≤ b samples, in blocks of ≤ ``BLOCK``), each block's
uint8 rows are converted ONCE into a float32 scratch X (``float32(u8)·scale`` then ``+ shift``,
two roundings: :func:`.block._logits_half`'s arithmetic), then every active trial k runs the
single engine's block math on its own W[k] (10,784), bias[k] (10,) float32, phase by phase (a
phase's half of X stays in L1 while the trials' weights stream through L2): both pixel halves'
logits (:func:`.block._logits_half`'s FMAs and lane sums, read from X), the softmax
(:func:`.softmax._softmax_delta`), ∂C/∂W = Δᵀ·X (:func:`.block._grad_half`'s register blocks
and sample order), the update of W on the sums still in registers on the minibatch's last block
(:mod:`.update`'s elementwise operations and roundings), then b's. The vector math is in
:mod:`.multi_block`. Each trial's operations and their order are those of
:func:`.kernels._sgd_kernel` on that trial alone, so its weights, momentum buffers and costs are
the same bits (tested through ``sgdlab.train(engine="fast")``); trials never mix, one trial's
NaN stays its own. :func:`_trials_full_kernel` is :func:`.kernels._full_kernel` for K trials.

Importing this module imports numba (through :mod:`.block`); :mod:`sgdlab.study.trials` imports
it on first use.
"""

from __future__ import annotations

import numpy as np

from sgdlab.engines.fast import block as _m
from sgdlab.engines.fast import softmax as _s
from sgdlab.engines.fast import update as _u
from sgdlab.engines.fast.block import jit
from sgdlab.engines.fast.kernels import CHUNK  # the full gradient's partition of N
from sgdlab.engines.fast.multi_block import _convert, _grad_opt, _grad_x, _logits_x
from sgdlab.model import N_CLASSES, N_PIXELS

BLOCK, SPLIT = _m.BLOCK, _m.SPLIT


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
