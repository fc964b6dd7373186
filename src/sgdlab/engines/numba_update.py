"""The ``fast`` engine's parameter update, by class rows, for its one- and two-thread kernels.

After a minibatch's ∂C/∂W = G (10,784) float32 and ∂C/∂b = gb (10,) float64 are summed,
:func:`_update` applies ``torch.optim.SGD``'s rule (see :mod:`sgdlab.optim`) to the rows k0..k1-1
of W and b (a row's update needs only that row of G: a thread of a two-thread step updates its
own classes), then zeroes those rows of G and gb for the next minibatch. Everything is
elementwise in float32 with the reference's roundings (compiled without FMA contraction), so
updating rows 0..9 at once or in two class blocks gives the same bits.

- plain SGD: W −= lr·G; b −= lr·float32(gb) (for W, :func:`.numba_math._accumulate5` does the
  same in its last pass when the kernel passes it ``lr``: then ``w_done``);
- options: g = G + wd·p; v = mom·v + g (VW (10,784), Vb (10,), if mom ≠ 0); g = g + mom·v
  (nesterov) or v; p −= lr·g;
- averaging: AW += float64(W), Ab += float64(b) (the sums of the averaged iterates).
"""

from __future__ import annotations

import functools

import numpy as np

from ..model import N_PIXELS


def _sgd_rows(W, G, lr, k0, k1):
    """W[k0:k1] −= lr·G[k0:k1]; G[k0:k1] = 0."""
    for k in range(k0, k1):
        for j in range(N_PIXELS):
            W[k, j] = W[k, j] - lr * G[k, j]
            G[k, j] = 0.0


def _opt_rows(W, bias, G, gb, lr, mom, wd, nesterov, VW, Vb, k0, k1):
    """The options' rule on rows k0..k1-1 of W and b (momentum buffers VW, Vb)."""
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
            G[k, j] = 0.0


def _fuses(plain, lr):
    """Whether plain SGD's W update rides on the accumulation's last pass
    (:func:`.numba_math._accumulate5` given ``lr``; then ``_update(..., w_done=True)``)."""
    return plain and lr > 0


def _update(W, bias, G, gb, lr, plain, w_done, mom, wd, nesterov, VW, Vb, average, AW, Ab, k0,
            k1):  # fmt: skip
    """One minibatch's update of rows k0..k1-1 of W and b; zeroes them in G and gb. ``w_done``:
    plain SGD's W rows were already updated (and G zeroed) by the accumulation's last pass."""
    if plain:
        for k in range(k0, k1):
            bias[k] = bias[k] - lr * np.float32(gb[k])
        if not w_done:
            _sgd_rows(W, G, lr, k0, k1)
    else:
        _opt_rows(W, bias, G, gb, lr, mom, wd, nesterov, VW, Vb, k0, k1)
    for k in range(k0, k1):
        gb[k] = 0.0
    if average:
        for k in range(k0, k1):
            Ab[k] += np.float64(bias[k])
            for j in range(N_PIXELS):
                AW[k, j] += np.float64(W[k, j])


_NAMES = ("_sgd_rows", "_opt_rows", "_fuses", "_update")


@functools.cache
def _compile() -> None:
    """Turn the functions above into cached njit dispatchers (compiled on first call), after
    :func:`.numba_math._compile` (whose stale-cache check covers this module too)."""
    import numba

    from .numba_math import _compile as _compile_math

    _compile_math()
    g = globals()
    for name in _NAMES:
        g[name] = numba.njit(cache=True, nogil=True)(g[name])
