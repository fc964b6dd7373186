"""The per-block math of the ``fast`` engine, shared by its one-thread and two-thread kernels.

A *block* is ≤ ``BLOCK`` samples ``rows[i0:i0+n]`` of a minibatch (or of a full-gradient chunk);
a *pixel half* is the pixels j0..j1-1 of one of the two halves ``HALVES`` (0..399 and
400..783: 25 and 24 vectors of 16). A two-thread step gives each thread one half: its columns of
X, W and ∂C/∂W; every class is in both. In the order the kernels call it:

1. :func:`_logits_half` — converts the block's uint8 pixels of a half like
   :func:`sgdlab.data.to_float` (``float32(u8)·scale`` then ``+ shift``, two roundings, no FMA:
   X (n,784) float32 is bitwise the reference's, tested) and, in the same pass, the half's share
   of the logits ``P[c, s] = Σ_{j in half} W[c, j]·X[s, j]`` (class-major (10, n) float32);
2. :func:`_softmax_delta` — Z = (P₀ + P₁) + b, softmax in float32 like the reference's
   (16 samples a vector), Δ[c, s] = (softmax − onehot)·inv (class-major (10, n)), the cost and
   ∂C/∂b += ΣΔ summed in float64 (sample order);
3. :func:`_grad_half` — ∂C/∂W[:, half] += Δ·X[:, half] (float32 FMAs, each sum in sample
   order); with ``lr`` > 0 (the minibatch's last block of plain SGD) it applies
   W[:, half] −= lr·∂C/∂W there (two roundings, like the reference) and leaves ∂C/∂W at 0.

One thread computes both halves with the same functions as two threads computing one each, and
the partial logits are added in the same order, so both give the same bits. The inner loops
use explicit 16-lane vectors (:mod:`.numba_simd`): each pass over a half's pixels serves two
samples × 10 classes (20 accumulators), each W and X vector loaded once for 10 or 2 FMAs.
:func:`_prefetch_rows` asks for the next block's image bytes of a half (into L2) a block ahead.
numba is imported by :func:`_compile` only.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

import numpy as np

from sgdlab.model import N_CLASSES, N_PIXELS

#: Samples per block (X block 400 KB, L2-resident).
BLOCK = 128
#: The two pixel halves (multiples of 16: whole vectors); thread t of a split step owns half t.
SPLIT = 400
HALVES = ((0, SPLIT), (SPLIT, N_PIXELS))

#: Cephes' expf: log₂e, ln 2 = C1 − C2 (C1 has 9 bits: n·C1 is exact), and the polynomial
#: exp(r) ≈ 1 + r + r²·(E0 + E1·r + … + E5·r⁵) on |r| ≤ ln2/2.
_LOG2E = 1.44269504088896341
_EC1, _EC2 = 0.693359375, -2.12194440e-4
_E0, _E1, _E2, _E3, _E4, _E5 = (
    5.0000001201e-1,
    1.6666665459e-1,
    4.1665795894e-2,
    8.3334519073e-3,
    1.3981999507e-3,
    1.9875691500e-4,
)


def _prefetch(images, r, j):  # replaced by an llvm.prefetch intrinsic in _compile()
    pass


# The 16-lane vector intrinsics these functions use, bound from .numba_simd in _compile()
# (see that module for what each does).
_VECTOR_OPS = (
    "vld",
    "vld_u8",
    "vst",
    "vbc",
    "vzero",
    "vfma",
    "vmul",
    "vadd",
    "vsub",
    "vdiv",
    "vfloor",
    "vsel_lt",
    "vsel_eq",
    "vpow2",
    "vfold8",
    "vfold4",
    "vfold2",
    "vfold1",
)
vld = vld_u8 = vst = vbc = vzero = vfma = vmul = vadd = vsub = vdiv = None
vfloor = vsel_lt = vsel_eq = vpow2 = vfold8 = vfold4 = vfold2 = vfold1 = None


def _zeros64(r, c):
    """A zeroed float32 (r, c) array whose data starts on a 64-byte boundary (numba's own start
    on 32: a vector then straddles two cache lines and the logits' pass ran ≈ 20 % slower,
    measured). With c a multiple of 16 every row is aligned too."""
    buf = np.zeros(r * c + 16, np.float32)
    off = (64 - buf.ctypes.data % 64) % 64 // 4
    return buf[off : off + r * c].reshape((r, c))


def _prefetch_rows(images, rows, i0, n, j0, j1):
    """Prefetch the bytes j0..j1-1 of image rows rows[i0:i0+n] (one per cache line, + the last:
    rows are not line-aligned), all at once: issued over the arithmetic instead, two rows a
    pass, they arrived too late (an epoch 12 % slower, measured)."""
    for s in range(n):
        r = rows[i0 + s]
        for j in range(j0, j1, 64):
            _prefetch(images, r, j)
        _prefetch(images, r, j1 - 1)


def _logits_half(images, rows, i0, n, scale, shift, W, j0, j1, X, P, T):
    """X[s, j0:j1] = float32(images[rows[i0+s], j0:j1])·scale + shift and
    P[c, s] = Σ_{j0≤j<j1} W[c, j]·X[s, j] for s < n: (n,J)@(J,10), float32 (10, ≥n) class-major.

    Two samples a pass (an odd last sample is paired with itself): 20 vector accumulators,
    each W vector serves 2 FMAs and each X vector 10; the lanes are summed at the end of a pass
    (:func:`_store_sums`, scratch T (1, 32) float32).
    """
    sc, sh = scale.reshape(1, N_PIXELS), shift.reshape(1, N_PIXELS)
    for s in range(0, n, 2):
        t = s + 1 if s + 1 < n else s
        r, q = rows[i0 + s], rows[i0 + t]
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = a8 = a9 = vzero()
        b0 = b1 = b2 = b3 = b4 = b5 = b6 = b7 = b8 = b9 = vzero()
        for j in range(j0, j1, 16):
            m, c = vld(sc, 0, j), vld(sh, 0, j)
            x = vadd(vmul(vld_u8(images, r, j), m), c)
            y = vadd(vmul(vld_u8(images, q, j), m), c)
            vst(X, s, j, x)
            vst(X, t, j, y)
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
        _store_sums(
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


def _store_sums(
    P, T, s, t, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, b0, b1, b2, b3, b4, b5, b6, b7, b8, b9
):
    """P[c, s] = Σ lanes of a_c, P[c, t] = Σ lanes of b_c (c < 10) by a transposed sum: 20 folds
    (:func:`.numba_simd.build`'s ``vfold*``) leave them in two vectors, stored to T (1, 32) and
    copied out (t = s: the same sums twice)."""
    u0, u1, u2, u3, u4 = (
        vfold8(a0, b0),
        vfold8(a1, b1),
        vfold8(a2, b2),
        vfold8(a3, b3),
        vfold8(a4, b4),
    )
    u5, u6, u7, u8, u9 = (
        vfold8(a5, b5),
        vfold8(a6, b6),
        vfold8(a7, b7),
        vfold8(a8, b8),
        vfold8(a9, b9),
    )
    v0, v1, v2, v3, v4 = (
        vfold4(u0, u1),
        vfold4(u2, u3),
        vfold4(u4, u5),
        vfold4(u6, u7),
        vfold4(u8, u9),
    )
    w = vfold2(v4, v4)
    vst(T, 0, 0, vfold1(vfold2(v0, v1), vfold2(v2, v3)))  # lanes 2c, 2c+1: a_c, b_c (c < 8)
    vst(T, 0, 16, vfold1(w, w))  # lanes 16..19: a8, b8, a9, b9
    for c in range(N_CLASSES):
        P[c, s] = T[0, 2 * c]
        P[c, t] = T[0, 2 * c + 1]


def _vexp_le0(x):
    """exp(x) of a 16-lane float32 vector for arguments ≤ 0 (Cephes' ``expf``, ≈ 1 ulp).

    exp(x) = 2ⁿ·exp(r), n = ⌊x·log₂e + ½⌋, r = x − n·ln2 (ln2 in two parts: n·C1 is exact),
    exp(r) ≈ 1 + r + r²·P(r) (degree 5). x < −87 is taken as −87 (exp = 1.6e-38: nothing beside
    the max term's 1); a NaN stays NaN (its n is taken as 0).
    """
    x = vsel_lt(x, vbc(-87.0), vbc(-87.0), x)
    nf = vfloor(vadd(vmul(x, vbc(_LOG2E)), vbc(0.5)))
    nf = vsel_eq(nf, nf, nf, vzero())
    r = vsub(vsub(x, vmul(nf, vbc(_EC1))), vmul(nf, vbc(_EC2)))
    p = vfma(
        vfma(vfma(vfma(vfma(vbc(_E5), r, vbc(_E4)), r, vbc(_E3)), r, vbc(_E2)), r, vbc(_E1)),
        r,
        vbc(_E0),
    )
    e = vadd(vfma(p, vmul(r, r), r), vbc(1.0))
    return vmul(e, vpow2(nf))


def _softmax_delta(P0, P1, bias, labels, rows, i0, n, inv, D, E, gb):
    """Z[c, s] = (P0[c, s] + P1[c, s]) + bias[c] (float32, the two halves' logits), then
    D[c, s] = float32((softmax(Z[:, s])_c − onehot)·inv) for s < n (class-major (10, ≥n)),
    gb (10,) f64 += Σ_s D[:, s] (sample order); returns Σ_s H_s (float64 nats).

    Stable softmax in float32 like the reference's, 16 samples a vector (the lanes from n to the
    next multiple of 16 are computed and never read): p = exp(z − max)·(1/Σ exp(z − max)).
    Scratch E float32 (4, ≥n rounded up to 16), rows 0..2: the labels, Σ exp(z − max),
    z_t − max (row 3 is :func:`_logits_half`'s).
    H_s = log Σ exp(z − max) − (z_t − max), summed in float64 as
    log Π_s Σ exp(z − max) − Σ_s (z_t − max): one log per block (each Σ lies in [1, 10]; the
    product of ≤ 128 cannot overflow).
    """
    for s in range(n):
        E[0, s] = labels[rows[i0 + s]]
    scale = vbc(inv)
    for s in range(0, n, 16):
        lab = vld(E, 0, s)
        z0 = vadd(vadd(vld(P0, 0, s), vld(P1, 0, s)), vbc(bias[0]))
        z1 = vadd(vadd(vld(P0, 1, s), vld(P1, 1, s)), vbc(bias[1]))
        z2 = vadd(vadd(vld(P0, 2, s), vld(P1, 2, s)), vbc(bias[2]))
        z3 = vadd(vadd(vld(P0, 3, s), vld(P1, 3, s)), vbc(bias[3]))
        z4 = vadd(vadd(vld(P0, 4, s), vld(P1, 4, s)), vbc(bias[4]))
        z5 = vadd(vadd(vld(P0, 5, s), vld(P1, 5, s)), vbc(bias[5]))
        z6 = vadd(vadd(vld(P0, 6, s), vld(P1, 6, s)), vbc(bias[6]))
        z7 = vadd(vadd(vld(P0, 7, s), vld(P1, 7, s)), vbc(bias[7]))
        z8 = vadd(vadd(vld(P0, 8, s), vld(P1, 8, s)), vbc(bias[8]))
        z9 = vadd(vadd(vld(P0, 9, s), vld(P1, 9, s)), vbc(bias[9]))
        m = z0
        m = vsel_lt(m, z1, z1, m)
        m = vsel_lt(m, z2, z2, m)
        m = vsel_lt(m, z3, z3, m)
        m = vsel_lt(m, z4, z4, m)
        m = vsel_lt(m, z5, z5, m)
        m = vsel_lt(m, z6, z6, m)
        m = vsel_lt(m, z7, z7, m)
        m = vsel_lt(m, z8, z8, m)
        m = vsel_lt(m, z9, z9, m)
        z0, z1, z2, z3, z4 = vsub(z0, m), vsub(z1, m), vsub(z2, m), vsub(z3, m), vsub(z4, m)
        z5, z6, z7, z8, z9 = vsub(z5, m), vsub(z6, m), vsub(z7, m), vsub(z8, m), vsub(z9, m)
        zt = z0
        zt = vsel_eq(lab, vbc(1), z1, zt)
        zt = vsel_eq(lab, vbc(2), z2, zt)
        zt = vsel_eq(lab, vbc(3), z3, zt)
        zt = vsel_eq(lab, vbc(4), z4, zt)
        zt = vsel_eq(lab, vbc(5), z5, zt)
        zt = vsel_eq(lab, vbc(6), z6, zt)
        zt = vsel_eq(lab, vbc(7), z7, zt)
        zt = vsel_eq(lab, vbc(8), z8, zt)
        zt = vsel_eq(lab, vbc(9), z9, zt)
        vst(E, 2, s, zt)
        e0, e1, e2, e3, e4 = (
            _vexp_le0(z0),
            _vexp_le0(z1),
            _vexp_le0(z2),
            _vexp_le0(z3),
            _vexp_le0(z4),
        )
        e5, e6, e7, e8, e9 = (
            _vexp_le0(z5),
            _vexp_le0(z6),
            _vexp_le0(z7),
            _vexp_le0(z8),
            _vexp_le0(z9),
        )
        t = vadd(
            vadd(vadd(vadd(vadd(vadd(vadd(vadd(vadd(e0, e1), e2), e3), e4), e5), e6), e7), e8), e9
        )
        vst(E, 1, s, t)
        r = vdiv(vbc(1.0), t)
        _delta(D, 0, s, e0, r, lab, scale)
        _delta(D, 1, s, e1, r, lab, scale)
        _delta(D, 2, s, e2, r, lab, scale)
        _delta(D, 3, s, e3, r, lab, scale)
        _delta(D, 4, s, e4, r, lab, scale)
        _delta(D, 5, s, e5, r, lab, scale)
        _delta(D, 6, s, e6, r, lab, scale)
        _delta(D, 7, s, e7, r, lab, scale)
        _delta(D, 8, s, e8, r, lab, scale)
        _delta(D, 9, s, e9, r, lab, scale)
    prod, total = 1.0, 0.0
    for s in range(n):
        prod *= np.float64(E[1, s])
        total -= np.float64(E[2, s])
    for c in range(N_CLASSES):
        acc = 0.0
        for s in range(n):
            acc += D[c, s]
        gb[c] += acc
    return total + np.log(prod)


def _delta(D, c, s, e, r, lab, scale):
    """D[c, s:s+16] = (e·r − [lab = c])·scale."""
    p = vmul(e, r)
    vst(D, c, s, vmul(vsel_eq(lab, vbc(c), vsub(p, vbc(1.0)), p), scale))


def _grad_half(X, D, n, G, j0, j1, W, lr):
    """G[:, j0:j1] += D[:, :n]·X[:n, j0:j1]: (10,n)@(n,J), float32 FMAs, each sum in sample
    order. With ``lr`` > 0 (plain SGD, the minibatch's last block) W[:, j0:j1] −= lr·G instead
    (float32(lr·g) then the subtraction: two roundings like the reference) and G stays 0 there,
    as :func:`.numba_update._sgd_cols` would (the same bits).

    Register block: 10 classes × 2 pixel vectors (20 accumulators, started from G), per sample 2
    X loads and 10 broadcasts of Δ for 20 FMAs; an odd last vector runs 10 classes × 1.
    """
    fuse = lr > 0
    L = vbc(lr)
    j = j0
    while j < j1:
        two = j + 16 < j1
        k = j + 16 if two else j  # an odd last vector is computed twice, stored once
        a0, a1, a2, a3, a4 = vld(G, 0, j), vld(G, 1, j), vld(G, 2, j), vld(G, 3, j), vld(G, 4, j)
        a5, a6, a7, a8, a9 = vld(G, 5, j), vld(G, 6, j), vld(G, 7, j), vld(G, 8, j), vld(G, 9, j)
        b0, b1, b2, b3, b4 = vld(G, 0, k), vld(G, 1, k), vld(G, 2, k), vld(G, 3, k), vld(G, 4, k)
        b5, b6, b7, b8, b9 = vld(G, 5, k), vld(G, 6, k), vld(G, 7, k), vld(G, 8, k), vld(G, 9, k)
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
        if fuse:
            _sub_lr(W, G, 0, j, k, L, a0, b0)
            _sub_lr(W, G, 1, j, k, L, a1, b1)
            _sub_lr(W, G, 2, j, k, L, a2, b2)
            _sub_lr(W, G, 3, j, k, L, a3, b3)
            _sub_lr(W, G, 4, j, k, L, a4, b4)
            _sub_lr(W, G, 5, j, k, L, a5, b5)
            _sub_lr(W, G, 6, j, k, L, a6, b6)
            _sub_lr(W, G, 7, j, k, L, a7, b7)
            _sub_lr(W, G, 8, j, k, L, a8, b8)
            _sub_lr(W, G, 9, j, k, L, a9, b9)
        else:  # the second vector first: for an odd last one (k = j), the first's sums win
            vst(G, 0, k, b0)
            vst(G, 1, k, b1)
            vst(G, 2, k, b2)
            vst(G, 3, k, b3)
            vst(G, 4, k, b4)
            vst(G, 5, k, b5)
            vst(G, 6, k, b6)
            vst(G, 7, k, b7)
            vst(G, 8, k, b8)
            vst(G, 9, k, b9)
            vst(G, 0, j, a0)
            vst(G, 1, j, a1)
            vst(G, 2, j, a2)
            vst(G, 3, j, a3)
            vst(G, 4, j, a4)
            vst(G, 5, j, a5)
            vst(G, 6, j, a6)
            vst(G, 7, j, a7)
            vst(G, 8, j, a8)
            vst(G, 9, j, a9)
        j += 32 if two else 16


def _sub_lr(W, G, c, j, k, L, a, b):
    """W[c, j:j+16] −= L·a and W[c, k:k+16] −= L·b (k = j: once); G there = 0."""
    if k != j:
        vst(W, c, k, vsub(vld(W, c, k), vmul(L, b)))
        vst(G, c, k, vzero())
    vst(W, c, j, vsub(vld(W, c, j), vmul(L, a)))
    vst(G, c, j, vzero())


#: (name, njit options), helpers first. No fast-math anywhere: the conversion rounds u8·a + c
#: twice and W − lr·G too, like the reference; the dot products' FMAs are explicit (vfma), their
#: lane sums reassociated (vsum); NaN/inf stay IEEE so divergence is still seen.
_SPECS = (
    ("_zeros64", {}),
    ("_prefetch_rows", {}),
    ("_store_sums", {}),
    ("_logits_half", {}),
    ("_vexp_le0", {}),
    ("_delta", {}),
    ("_softmax_delta", {}),
    ("_sub_lr", {}),
    ("_grad_half", {}),
)


def _fresh_cache(numba_version: str) -> None:
    """Drop the engine's cached kernels when any of its sources changed.

    numba keys a cached function by its own file only, and a kernel inlines the functions it
    calls from the other modules of this package: after one of those changes, the cached kernel
    would still run the old code. A stamp (SHA-256 of the sources and numba's version) beside the
    cache says whether the cache was built from these sources. Skipped under
    ``NUMBA_CACHE_DIR`` (a cache elsewhere is the user's to manage); errors are ignored (a
    read-only install has no cache here either).
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    here = Path(__file__).parent
    h = hashlib.sha256(numba_version.encode())
    for src in sorted(here.glob("*.py")):
        h.update(src.name.encode() + src.read_bytes())
    cache, digest = here / "__pycache__", h.hexdigest()
    stamp = cache / "sgdlab-numba-sources.sha256"
    try:
        if stamp.read_text() == digest:
            return
    except OSError:
        pass
    try:
        cache.mkdir(exist_ok=True)
        for f in [*cache.glob("*.nbi"), *cache.glob("*.nbc")]:
            f.unlink(missing_ok=True)
        stamp.write_text(digest)
    except OSError:
        pass


@functools.cache
def _compile() -> None:
    """Turn the functions above into cached njit dispatchers (compiled on first call), after
    :func:`_fresh_cache`."""
    import numba

    from sgdlab.engines.fast.intrinsics import prefetch
    from sgdlab.engines.fast.simd import build

    _fresh_cache(numba.__version__)
    g = globals()
    g["_prefetch"] = prefetch(2)  # into L2: the rows are read a block later
    v = build()
    for name in _VECTOR_OPS:
        g[name] = getattr(v, name)
    for name, opts in _SPECS:
        g[name] = numba.njit(cache=True, nogil=True, **opts)(g[name])
