"""The per-block math of the ``fast`` engine, shared by its one-thread and two-thread kernels.

A *block* is ≤ ``BLOCK`` samples ``rows[i0:i0+n]`` of a minibatch (or of a full-gradient chunk);
a *class block* is the classes k..k+4 (k = 0 or 5: a two-thread step gives each thread one,
rows k..k+4 of W). In the order the kernels call it:

1. :func:`_gather` — converts the block's uint8 image rows like :func:`sgdlab.data.to_float`
   (``float32(u8)·scale`` then ``+ shift``, two roundings, no FMA): X (n4,784) float32 is
   bitwise the reference's (tested). A two-thread step's threads each convert the whole block
   for themselves: handing half of it across cores cost more than converting it (measured);
2. :func:`_logits5` — a class block's logits Z[:, k:k+5] = X·W[k:k+5]ᵀ + b[k:k+5];
3. :func:`_softmax_delta` — softmax and cost in float64, Δ = float32((softmax − onehot)·inv)
   (n4,10), and ∂C/∂b += ΣΔ (float64, sample order);
4. :func:`_accumulate5` — ∂C/∂W[k:k+5] += Δ[:, k:k+5]ᵀ·X (float32, sums in sample order);
   with ``lr`` > 0 (the minibatch's last block of plain SGD) its last pass also applies
   W[k:k+5] −= lr·∂C/∂W and zeroes those rows of ∂C/∂W, saving a pass over them.

One thread computes both class blocks with the same functions as two threads computing one
each, so both give the same bits.

Sample counts n4 are n rounded up to ``GROUP``: padding rows of X hold earlier rows
(finite) and their rows of Δ are 0, so they add exactly nothing. :func:`_prefetch_rows` asks for
the next block's image rows (into L2) a block ahead. numba is imported by :func:`_compile` only.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
from pathlib import Path

import numpy as np

from ..model import N_CLASSES, N_PIXELS

#: Samples per block (X block 400 KB, L2-resident).
BLOCK = 128
#: Samples per register group in the inner loops (each W / ∂C/∂W row load serves 4 samples).
GROUP = 4
#: Classes per class block (the 5×4 register block of the inner loops).
KPT = 5

#: exp(r) on |r| ≤ ln2/2: Taylor coefficients 1/k! (Horner; truncation < 2e-16 relative).
_C2, _C3, _C4, _C5, _C6, _C7, _C8, _C9, _C10, _C11, _C12, _C13 = (
    1.0 / math.factorial(k) for k in range(2, 14))
#: log₂e, and ln 2 split in two (fdlibm's: n·ln2_hi is exact for |n| < 2²⁰).
_LOG2E = 1.4426950408889634
_LN2_HI, _LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10


def _prefetch(images, r, j):  # replaced by an llvm.prefetch intrinsic in _compile()
    pass


def _prefetch_rows(images, rows, i0, n):
    """Prefetch image rows rows[i0:i0+n] (13 cache lines each, +1: rows are not line-aligned)."""
    for s in range(n):
        r = rows[i0 + s]
        for j in range(0, N_PIXELS, 64):
            _prefetch(images, r, j)
        _prefetch(images, r, N_PIXELS - 1)


def _gather(images, rows, i0, n, scale, shift, X):
    """X[s] = float32(images[rows[i0+s]])·scale + shift for s < n, X (≥n,784) float32: two
    roundings like ``to_float`` (compiled without contraction). Rows n.. of X keep what they
    held (finite: the scratch starts at 0 and only ever holds converted rows)."""
    for s in range(n):
        r = rows[i0 + s]
        for j in range(N_PIXELS):
            X[s, j] = np.float32(images[r, j]) * scale[j] + shift[j]


def _logits5(W, bias, X, n4, Z, k):
    """Z[:n4, k:k+5] = X[:n4]·W[k:k+5]ᵀ + bias[k:k+5]: (n4,784)@(784,5) + (5,), float32.

    Register block 5 classes × 4 samples: 20 dot products per pass over the 784 pixels, each W
    and X value used 4 or 5 times; the sums are vectorized (reassociated) by LLVM.
    """
    z = np.float32(0.0)
    for s0 in range(0, n4, GROUP):
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
        _store20(Z, bias, s0, k, a00, a01, a02, a03, a10, a11, a12, a13, a20, a21, a22, a23,
                 a30, a31, a32, a33, a40, a41, a42, a43)  # fmt: skip


def _store20(Z, bias, s0, k, a00, a01, a02, a03, a10, a11, a12, a13, a20, a21, a22, a23,
             a30, a31, a32, a33, a40, a41, a42, a43):  # fmt: skip
    """Z[s0+q, k+c] = a_cq + bias[k+c]: the 5×4 register block's sums."""
    for q, (c0, c1, c2, c3, c4) in enumerate(((a00, a10, a20, a30, a40),
                                              (a01, a11, a21, a31, a41),
                                              (a02, a12, a22, a32, a42),
                                              (a03, a13, a23, a33, a43))):  # fmt: skip
        Z[s0 + q, k] = c0 + bias[k]
        Z[s0 + q, k + 1] = c1 + bias[k + 1]
        Z[s0 + q, k + 2] = c2 + bias[k + 2]
        Z[s0 + q, k + 3] = c3 + bias[k + 3]
        Z[s0 + q, k + 4] = c4 + bias[k + 4]


def _exp_le0(E, B, cnt):
    """E[:cnt] = exp(E[:cnt]) for arguments ≤ 0 (float64), vectorizable (no libm call).

    exp(x) = 2ⁿ·exp(r), n = round(x·log₂e), r = x − n·ln2 (fdlibm's two-part ln2), exp(r) by
    its degree-13 Taylor polynomial; 2ⁿ is assembled in the int64 scratch B (its float64 view
    multiplies). x < −708 is taken as −708 (exp = 3e-308, nothing beside the max term's 1);
    NaN stays NaN. Within 3e-16 relative of libm's exp (tested).
    """
    F = B.view(np.float64)
    for i in range(cnt):
        x = E[i]
        x = x if not x < -708.0 else -708.0
        nf = np.floor(x * _LOG2E + 0.5)
        nf = nf if nf == nf else 0.0  # NaN: any finite n (the polynomial carries the NaN)
        r = (x - nf * _LN2_HI) - nf * _LN2_LO
        p = ((((((_C13 * r + _C12) * r + _C11) * r + _C10) * r + _C9) * r + _C8) * r + _C7) * r
        p = (((((((p + _C6) * r + _C5) * r + _C4) * r + _C3) * r + _C2) * r + 1.0) * r) + 1.0
        E[i] = p
        B[i] = (np.int64(nf) + 1023) << 52
    for i in range(cnt):
        E[i] = E[i] * F[i]


def _softmax_delta(Z, labels, rows, i0, n, n4, inv, D, E, gb):
    """D[:n] = float32((softmax(Z[:n]) − onehot)·inv), D[n:n4] = 0, gb (10,) f64 += Σ_s D[s];
    returns Σ_s H_s (float64 nats).

    Stable softmax in float64: p = exp(z − max)·(1/Σ exp(z − max)). ``E`` float64 scratch of
    ≥ 3·10·n: the exponentials, the 2ⁿ bits, each sample's 1/Σ repeated over its 10 classes
    (flat loops that vectorize). H_s = log Σ exp(z − max) − (z_t − max), summed as
    log Π_s Σ exp(z − max) − Σ_s (z_t − max): one log per block (each Σ exp lies in [1, 10],
    so the product of ≤ 128 cannot overflow).
    """
    m10 = n * N_CLASSES
    P, R = E[:m10], E[2 * m10:3 * m10]
    total = 0.0
    for s in range(n):
        m = np.float64(Z[s, 0])
        for k in range(1, N_CLASSES):
            m = max(m, np.float64(Z[s, k]))
        for k in range(N_CLASSES):
            P[s * N_CLASSES + k] = np.float64(Z[s, k]) - m
        total -= P[s * N_CLASSES + labels[rows[i0 + s]]]
    _exp_le0(P, E[m10:2 * m10].view(np.int64), m10)
    prod = 1.0
    for s in range(n):
        tot = 0.0
        for k in range(N_CLASSES):
            tot += P[s * N_CLASSES + k]
        prod *= tot
        r = 1.0 / tot
        for k in range(N_CLASSES):
            R[s * N_CLASSES + k] = r
    for i in range(m10):
        P[i] = P[i] * R[i]
    for s in range(n):
        P[s * N_CLASSES + labels[rows[i0 + s]]] -= 1.0
    Df = D.reshape(-1)
    for i in range(m10):
        Df[i] = np.float32(P[i] * inv)
    for s in range(n):
        for k in range(N_CLASSES):
            gb[k] += Df[s * N_CLASSES + k]
    Df[m10:n4 * N_CLASSES] = 0.0
    return total + np.log(prod)


def _accumulate5(X, D, n4, G, k, W, lr):
    """G[k:k+5] += D[:n4, k:k+5]ᵀ·X[:n4]: (5,n4)@(n4,784), float32, each sum in sample order
    (multiply, then add: compiled without contraction, so W − lr·G below rounds twice like the
    reference). Register block: 5 classes × 4 samples per pass over the pixels (4 X loads, 5 G
    loads and stores for 20 products). With ``lr`` > 0 (plain SGD, the minibatch's last block)
    the last pass also does W[k:k+5] −= lr·G and G[k:k+5] = 0, as
    :func:`.numba_update._sgd_rows` would (the same bits)."""
    for s0 in range(0, n4, GROUP):
        d00, d01, d02, d03 = D[s0, k], D[s0 + 1, k], D[s0 + 2, k], D[s0 + 3, k]
        d10, d11, d12, d13 = D[s0, k + 1], D[s0 + 1, k + 1], D[s0 + 2, k + 1], D[s0 + 3, k + 1]
        d20, d21, d22, d23 = D[s0, k + 2], D[s0 + 1, k + 2], D[s0 + 2, k + 2], D[s0 + 3, k + 2]
        d30, d31, d32, d33 = D[s0, k + 3], D[s0 + 1, k + 3], D[s0 + 2, k + 3], D[s0 + 3, k + 3]
        d40, d41, d42, d43 = D[s0, k + 4], D[s0 + 1, k + 4], D[s0 + 2, k + 4], D[s0 + 3, k + 4]
        if lr > 0 and s0 + GROUP >= n4:
            for j in range(N_PIXELS):
                x0, x1, x2, x3 = X[s0, j], X[s0 + 1, j], X[s0 + 2, j], X[s0 + 3, j]
                g0 = G[k, j] + d00 * x0 + d01 * x1 + d02 * x2 + d03 * x3
                g1 = G[k + 1, j] + d10 * x0 + d11 * x1 + d12 * x2 + d13 * x3
                g2 = G[k + 2, j] + d20 * x0 + d21 * x1 + d22 * x2 + d23 * x3
                g3 = G[k + 3, j] + d30 * x0 + d31 * x1 + d32 * x2 + d33 * x3
                g4 = G[k + 4, j] + d40 * x0 + d41 * x1 + d42 * x2 + d43 * x3
                W[k, j] = W[k, j] - lr * g0
                W[k + 1, j] = W[k + 1, j] - lr * g1
                W[k + 2, j] = W[k + 2, j] - lr * g2
                W[k + 3, j] = W[k + 3, j] - lr * g3
                W[k + 4, j] = W[k + 4, j] - lr * g4
                G[k, j] = G[k + 1, j] = G[k + 2, j] = G[k + 3, j] = G[k + 4, j] = 0.0
        else:
            for j in range(N_PIXELS):
                x0, x1, x2, x3 = X[s0, j], X[s0 + 1, j], X[s0 + 2, j], X[s0 + 3, j]
                G[k, j] = G[k, j] + d00 * x0 + d01 * x1 + d02 * x2 + d03 * x3
                G[k + 1, j] = G[k + 1, j] + d10 * x0 + d11 * x1 + d12 * x2 + d13 * x3
                G[k + 2, j] = G[k + 2, j] + d20 * x0 + d21 * x1 + d22 * x2 + d23 * x3
                G[k + 3, j] = G[k + 3, j] + d30 * x0 + d31 * x1 + d32 * x2 + d33 * x3
                G[k + 4, j] = G[k + 4, j] + d40 * x0 + d41 * x1 + d42 * x2 + d43 * x3


#: (name, njit options), helpers first. No "contract" anywhere: the reference rounds u8·a + c
#: and W − lr·G twice, and on this engine's CPUs separate multiplies and adds run as fast as
#: FMAs (two pipes each); "reassoc" only for the logits' dot products (vectorized sums);
#: NaN/inf stay IEEE so divergence is still seen.
_SPECS = (
    ("_prefetch_rows", {}),
    ("_gather", {}),
    ("_store20", {}),
    ("_logits5", {"fastmath": {"reassoc", "nsz"}}),
    ("_exp_le0", {}),
    ("_softmax_delta", {}),
    ("_accumulate5", {}),
)


def _fresh_cache(numba_version: str) -> None:
    """Drop the engine's cached kernels when any of its sources changed.

    numba keys a cached function by its own file only, and a kernel inlines the functions it
    calls from the other ``numba_*.py`` modules: after one of those changes, the cached kernel
    would still run the old code. A stamp (SHA-256 of the sources and numba's version) beside the
    cache says whether the cache was built from these sources. Skipped under
    ``NUMBA_CACHE_DIR`` (a cache elsewhere is the user's to manage); errors are ignored (a
    read-only install has no cache here either).
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    here = Path(__file__).parent
    h = hashlib.sha256(numba_version.encode())
    for src in sorted(here.glob("numba_*.py")):
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
        for f in [*cache.glob("numba_*.nbi"), *cache.glob("numba_*.nbc")]:
            f.unlink(missing_ok=True)
        stamp.write_text(digest)
    except OSError:
        pass


@functools.cache
def _compile() -> None:
    """Turn the functions above into cached njit dispatchers (compiled on first call), after
    :func:`_fresh_cache`."""
    import numba

    from .numba_intrinsics import prefetch

    _fresh_cache(numba.__version__)
    g = globals()
    g["_prefetch"] = prefetch(2)  # into L2: the rows are read a block later
    for name, opts in _SPECS:
        g[name] = numba.njit(cache=True, nogil=True, **opts)(g[name])
