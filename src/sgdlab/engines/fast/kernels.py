"""The ``fast`` engine's one-thread kernels: a stretch of SGD steps, a share's gradient sums and
the full gradient, each one compiled numba call (:class:`KernelArgs`: a stretch's arguments).

Per minibatch i = ``perm[i*b:(i+1)*b]`` (B ≤ b samples, in blocks of ≤ ``BLOCK``) a kernel runs
the block math (:mod:`.block`, :mod:`.softmax`) on both pixel halves in turn, then the update
(:mod:`.update`); the two-thread kernel (:mod:`.threads`) shares this module's scratch and
calls :func:`_sgd_kernel` to finish a stretch alone. Importing this module imports numba.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import prange

from sgdlab.engines.fast import block as _m
from sgdlab.engines.fast import softmax as _s
from sgdlab.engines.fast import update as _u
from sgdlab.engines.fast.block import jit
from sgdlab.model import N_CLASSES, N_PIXELS


class KernelArgs(NamedTuple):
    """The arguments of :func:`_sgd_kernel` in its order, checked by
    :meth:`.engine.NumbaEngine._kernel_args`; the call passes them positionally (``*args``)."""

    images: np.ndarray  # (N,784) uint8
    labels: np.ndarray  # (N,) uint8
    perm: np.ndarray  # (N,) int64: minibatch i = perm[i*b:(i+1)*b]
    W: np.ndarray  # (10,784) float32, updated in place
    bias: np.ndarray  # (10,) float32, updated in place
    scale: np.ndarray  # (784,) float32: X = float32(u8)·scale + shift
    shift: np.ndarray  # (784,) float32
    b: int  # batch size
    lrs: np.ndarray  # (stop-start,) float32: each step's learning rate
    start: int  # first minibatch
    stop: int  # one past the last
    costs: np.ndarray  # (stop-start,) float64: the cost before each step (out)
    plain: bool  # plain SGD (no momentum, weight decay or averaging)
    mom: np.float32  # momentum
    wd: np.float32  # weight decay
    nesterov: bool
    VW: np.ndarray  # (10,784) float32 momentum buffer, in place
    Vb: np.ndarray  # (10,) float32
    average: bool  # add each iterate to AW, Ab
    AW: np.ndarray  # (10,784) float64 sums of the averaged iterates, in place
    Ab: np.ndarray  # (10,) float64


#: Samples per chunk of the full gradient: the fixed partition the threads share out (30 chunks
#: for N = 60,000; see docs/benchmarks.md#chunks).
CHUNK = 2048
BLOCK, SPLIT = _m.BLOCK, _m.SPLIT  # samples per block; the first pixel of the second half


@jit()
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
    total = _s._softmax_delta(P[0], P[1], bias, labels, rows, s0, n, inv, D, E, gb)
    _m._grad_half(X, D, n, G, 0, SPLIT, W, lr)
    _m._grad_half(X, D, n, G, SPLIT, N_PIXELS, W, lr)
    return total


@jit()
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


@jit()
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
    (:func:`.update._update`, which also zeroes G, gb for the next minibatch)."""
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


@jit()
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


@jit(parallel=True)
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
