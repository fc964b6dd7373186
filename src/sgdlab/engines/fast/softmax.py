"""The softmax of the ``fast`` engine's blocks (:mod:`.block`'s step 2), on 16-lane vectors.

Z = (P₀ + P₁) + b from the two pixel halves' partial logits, the softmax in float32 like the
reference's (16 samples a vector, Cephes' expf: ≈ 1 ulp), Δ = (softmax − onehot)·inv
class-major (10, n) float32, the cost and ∂C/∂b summed in float64 in sample order. Both threads
of a two-thread step compute it, with the same bits.
"""

from __future__ import annotations

import numpy as np

from sgdlab.engines.fast.block import (
    jit,
    vadd,
    vbc,
    vdiv,
    vfloor,
    vfma,
    vld,
    vmul,
    vpow2,
    vsel_eq,
    vsel_lt,
    vst,
    vsub,
    vzero,
)
from sgdlab.model import N_CLASSES

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


@jit()
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


@jit()
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


@jit()
def _delta(D, c, s, e, r, lab, scale):
    """D[c, s:s+16] = (e·r − [lab = c])·scale."""
    p = vmul(e, r)
    vst(D, c, s, vmul(vsel_eq(lab, vbc(c), vsub(p, vbc(1.0)), p), scale))
