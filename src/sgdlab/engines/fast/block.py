"""The per-block math of the ``fast`` engine, shared by its one-thread and two-thread kernels.

A *block* is ≤ ``BLOCK`` samples ``rows[i0:i0+n]`` of a minibatch (or of a full-gradient chunk);
a *pixel half* is the pixels j0..j1-1 of one of the two halves ``HALVES`` (0..399 and
400..783: 25 and 24 vectors of 16). A two-thread step gives each thread one half: its columns of
X, W and ∂C/∂W; every class is in both. In the order the kernels call it:

1. :func:`_logits_half` — converts the block's uint8 pixels of a half like
   :func:`sgdlab.data.to_float` (``float32(u8)·scale`` then ``+ shift``, two roundings, no FMA:
   X (n,784) float32 is bitwise the reference's, tested) and, in the same pass, the half's share
   of the logits ``P[c, s] = Σ_{j in half} W[c, j]·X[s, j]`` (class-major (10, n) float32);
2. :func:`.softmax._softmax_delta` — Z = (P₀ + P₁) + b, softmax in float32 like the reference's
   (16 samples a vector), Δ[c, s] = (softmax − onehot)·inv (class-major (10, n)), the cost and
   ∂C/∂b += ΣΔ summed in float64 (sample order);
3. :func:`_grad_half` — ∂C/∂W[:, half] += Δ·X[:, half] (float32 FMAs, each sum in sample
   order); with ``lr`` > 0 (the minibatch's last block of plain SGD) it applies
   W[:, half] −= lr·∂C/∂W there (two roundings, like the reference) and leaves ∂C/∂W at 0.

One thread computes both halves with the same functions as two threads computing one each, and
the partial logits are added in the same order, so both give the same bits. The inner loops
use explicit 16-lane vectors (:mod:`.simd`): each pass over a half's pixels serves two
samples × 10 classes (20 accumulators), each W and X vector loaded once for 10 or 2 FMAs.
:func:`_prefetch_rows` asks for the next block's image bytes of a half (into L2) a block ahead.

This module imports numba and checks the kernels' cache (:func:`_fresh_cache`) when imported;
every kernel module of the package imports it first. The engine imports them on first use:
``import sgdlab`` loads none of them.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numba
import numpy as np

from sgdlab.engines.fast.intrinsics import prefetch
from sgdlab.engines.fast.simd import build
from sgdlab.model import N_CLASSES, N_PIXELS

#: Samples per block (X block 400 KB, L2-resident).
BLOCK = 128
#: The two pixel halves (multiples of 16: whole vectors); thread t of a split step owns half t.
SPLIT = 400
HALVES = ((0, SPLIT), (SPLIT, N_PIXELS))


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


_fresh_cache(numba.__version__)  # before any of the package's cached kernels is loaded


def jit(**opts):
    """``numba.njit(cache=True, nogil=True, **opts)``: the decorator of every kernel of the
    package (a module importing it from here runs after :func:`_fresh_cache`). No fast-math
    anywhere: the conversion rounds u8·a + c twice and W − lr·G too, like the reference; the dot
    products' FMAs are explicit (vfma); NaN/inf stay IEEE so divergence is still seen."""
    return numba.njit(cache=True, nogil=True, **opts)


_prefetch = prefetch(2)  # into L2: the rows are read a block later
# The 16-lane vector intrinsics (see :mod:`.simd` for what each does).
_v = build()
vld, vld_u8, vst, vbc, vzero, vfma = _v.vld, _v.vld_u8, _v.vst, _v.vbc, _v.vzero, _v.vfma
vmul, vadd, vsub, vdiv, vfloor, vpow2 = _v.vmul, _v.vadd, _v.vsub, _v.vdiv, _v.vfloor, _v.vpow2
vsel_lt, vsel_eq = _v.vsel_lt, _v.vsel_eq
vfold8, vfold4, vfold2, vfold1 = _v.vfold8, _v.vfold4, _v.vfold2, _v.vfold1


@jit()
def _zeros64(r, c):
    """A zeroed float32 (r, c) array whose data starts on a 64-byte boundary (numba's own start
    on 32: a vector would straddle two cache lines; see docs/benchmarks.md#alignment). With c a
    multiple of 16 every row is aligned too."""
    buf = np.zeros(r * c + 16, np.float32)
    off = (64 - buf.ctypes.data % 64) % 64 // 4
    return buf[off : off + r * c].reshape((r, c))


@jit()
def _prefetch_rows(images, rows, i0, n, j0, j1):
    """Prefetch the bytes j0..j1-1 of image rows rows[i0:i0+n] (one per cache line, + the last:
    rows are not line-aligned), all at once, before the block's arithmetic (see
    docs/benchmarks.md#prefetch)."""
    for s in range(n):
        r = rows[i0 + s]
        for j in range(j0, j1, 64):
            _prefetch(images, r, j)
        _prefetch(images, r, j1 - 1)


@jit()
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


@jit()
def _store_sums(
    P, T, s, t, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, b0, b1, b2, b3, b4, b5, b6, b7, b8, b9
):
    """P[c, s] = Σ lanes of a_c, P[c, t] = Σ lanes of b_c (c < 10) by a transposed sum: 20 folds
    (:func:`.simd.build`'s ``vfold*``) leave them in two vectors, stored to T (1, 32) and
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


@jit()
def _grad_half(X, D, n, G, j0, j1, W, lr):
    """G[:, j0:j1] += D[:, :n]·X[:n, j0:j1]: (10,n)@(n,J), float32 FMAs, each sum in sample
    order. With ``lr`` > 0 (plain SGD, the minibatch's last block) W[:, j0:j1] −= lr·G instead
    (float32(lr·g) then the subtraction: two roundings like the reference) and G stays 0 there,
    as :func:`.update._sgd_cols` would (the same bits).

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


@jit()
def _sub_lr(W, G, c, j, k, L, a, b):
    """W[c, j:j+16] −= L·a and W[c, k:k+16] −= L·b (k = j: once); G there = 0."""
    if k != j:
        vst(W, c, k, vsub(vld(W, c, k), vmul(L, b)))
        vst(G, c, k, vzero())
    vst(W, c, j, vsub(vld(W, c, j), vmul(L, a)))
    vst(G, c, j, vzero())
