"""The ``fast`` engine's parameter update, by pixel columns, for its one- and two-thread kernels.

After a minibatch's ∂C/∂W = G (10,784) float32 and ∂C/∂b = gb (10,) float64 are summed,
:func:`_update` applies ``torch.optim.SGD``'s rule (see :mod:`sgdlab.optim`) to the columns
j0..j1-1 of W (an element's update needs only that element of G: a thread of a two-thread step
updates its own pixel half) and to all of b, then zeroes those columns of G and gb for the next
minibatch. Everything is elementwise in float32 with the reference's roundings (compiled without
FMA contraction), so updating columns 0..783 at once or in two halves gives the same bits. Both
threads of a split step update b (each its own copy, from the same gb: the same bits); only the
one given ``avg_bias`` adds it to the average sums.

- plain SGD: W −= lr·G; b −= lr·float32(gb) (for W, :func:`.block._grad_half` does the
  same in its last pass when the kernel passes it ``lr``: then ``w_done``);
- options: g = G + wd·p; v = mom·v + g (VW (10,784), Vb (10,), if mom ≠ 0); g = g + mom·v
  (nesterov) or v; p −= lr·g;
- averaging: AW += float64(W), Ab += float64(b) (the sums of the averaged iterates).
"""

from __future__ import annotations

import numpy as np

from sgdlab.engines.fast.block import jit
from sgdlab.model import N_CLASSES


@jit()
def _sgd_cols(W, G, lr, j0, j1):
    """W[:, j0:j1] −= lr·G[:, j0:j1]; G[:, j0:j1] = 0."""
    for k in range(N_CLASSES):
        for j in range(j0, j1):
            W[k, j] = W[k, j] - lr * G[k, j]
            G[k, j] = 0.0


@jit()
def _opt_bias(bias, gb, lr, mom, wd, nesterov, Vb):
    """The options' rule on b (momentum buffer Vb)."""
    for k in range(N_CLASSES):
        g = np.float32(gb[k]) + wd * bias[k]
        if mom != 0:
            Vb[k] = mom * Vb[k] + g
            g = g + mom * Vb[k] if nesterov else Vb[k]
        bias[k] = bias[k] - lr * g


@jit()
def _opt_cols(W, G, lr, mom, wd, nesterov, VW, j0, j1):
    """The options' rule on the columns j0..j1-1 of W (momentum buffer VW)."""
    use_mom = mom != 0
    for k in range(N_CLASSES):
        for j in range(j0, j1):
            g = G[k, j] + wd * W[k, j]
            if use_mom:
                VW[k, j] = mom * VW[k, j] + g
                g = g + mom * VW[k, j] if nesterov else VW[k, j]
            W[k, j] = W[k, j] - lr * g
            G[k, j] = 0.0


@jit()
def _fuses(plain, lr):
    """Whether plain SGD's W update rides on the accumulation's last pass
    (:func:`.block._grad_half` given ``lr``; then ``_update(..., w_done=True)``)."""
    return plain and lr > 0


@jit()
def _update(
    W, bias, G, gb, lr, plain, w_done, mom, wd, nesterov, VW, Vb, average, AW, Ab, j0, j1, avg_bias
):
    """One minibatch's update of the columns j0..j1-1 of W and of b; zeroes those columns of G,
    and gb. ``w_done``: plain SGD's W columns were already updated (and G zeroed) by the
    accumulation's last pass. ``avg_bias``: this call adds b to the average sums Ab."""
    if plain:
        for k in range(N_CLASSES):
            bias[k] = bias[k] - lr * np.float32(gb[k])
        if not w_done:
            _sgd_cols(W, G, lr, j0, j1)
    else:
        _opt_bias(bias, gb, lr, mom, wd, nesterov, Vb)
        _opt_cols(W, G, lr, mom, wd, nesterov, VW, j0, j1)
    for k in range(N_CLASSES):
        gb[k] = 0.0
    if average:
        for k in range(N_CLASSES):
            if avg_bias:
                Ab[k] += np.float64(bias[k])
            for j in range(j0, j1):
                AW[k, j] += np.float64(W[k, j])
