"""The per-trial block math of the multi-trial kernels (:mod:`.multi`), on 16-lane vectors.

- :func:`_convert`: a block's uint8 rows into the float32 scratch X, once for all trials
  (``float32(u8)·scale`` then ``+ shift``, two roundings: :func:`.block._logits_half`'s);
- :func:`_logits_x`: one pixel half's logits of one trial from X (:func:`.block._logits_half`'s
  FMAs, accumulators and lane sums; an odd last sample alone, :func:`_logit1`);
- :func:`_acc`: the 20 sums of :func:`.block._grad_half`'s register block (∂C/∂W += Δᵀ·X);
- :func:`_grad_x`, :func:`_grad_opt`: ∂C/∂W of one pixel half, then either stored (a
  minibatch's earlier block) or applied to W from the registers: plain SGD as
  :func:`.update._sgd_cols`, momentum as :func:`.update._opt_cols` (the same elementwise
  operations and roundings, no FMA), so the gradient G is neither stored nor zeroed.

Every sum has the single engine's order and rounding: a trial computed here gets the same bits
as alone in :func:`.kernels._sgd_kernel`. Importing this module imports numba.
"""

from __future__ import annotations

from sgdlab.engines.fast import block as _m
from sgdlab.engines.fast.block import jit, vadd, vbc, vfma, vld, vld_u8, vmul, vst, vsub, vzero
from sgdlab.model import N_PIXELS


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
