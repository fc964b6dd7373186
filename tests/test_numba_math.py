"""The fast engine's block math (engines/numba_math.py, on the 16-lane vectors of
engines/numba_simd.py) and update (engines/numba_update.py), each against numpy/torch computed
another way: the conversion bitwise like ``to_float``, the halves' logits against a float64
matmul, the vectorized exp against libm, the softmax against a float64 numpy softmax, Δᵀ·X
against a float64 matmul, the fused W update bitwise like the separate one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sgdlab import engines
from sgdlab.data.fashion import pixel_affine, to_float

if not engines.available("fast", torch.device("cpu")):
    pytest.skip("numba not installed", allow_module_level=True)
import numba  # noqa: E402

from sgdlab.engines.fast import block as nm  # noqa: E402
from sgdlab.engines.fast import softmax as ns  # noqa: E402
from sgdlab.engines.fast import update as nu  # noqa: E402

N = 37  # a short block: not a multiple of 2 (pairs) nor of 16 (lanes)
EPS = np.finfo(np.float32).eps


@pytest.fixture(scope="module")
def block(sample):
    """37 sample rows, affine, W, b, labels."""
    x = sample.train_images.reshape(len(sample.train_images), -1).numpy()
    y = sample.train_labels.numpy().astype(np.uint8)
    rows = np.random.default_rng(0).permutation(len(x))[:N].astype(np.int64)
    g = np.random.default_rng(1)
    W = (g.standard_normal((10, 784)) * 0.05).astype(np.float32)
    b = (g.standard_normal(10) * 0.1).astype(np.float32)
    sc, sh = (t.numpy() for t in pixel_affine("cpu"))
    return x, y, rows, W, b, sc, sh


def _logits(block):
    """X (N,784) and the two halves' partial logits P (2,10,48) as the kernels compute them."""
    x, _, rows, W, _, sc, sh = block
    X, P = np.zeros((N, 784), np.float32), np.zeros((2, 10, 48), np.float32)
    for h, (j0, j1) in enumerate(nm.HALVES):
        nm._logits_half(x, rows, 0, N, sc, sh, W, j0, j1, X, P[h], np.zeros((1, 32), np.float32))
    return X, P


def test_halves_are_whole_vectors():
    (a, b), (c, d) = nm.HALVES
    assert a == 0 and b == c and d == 784 and b % 16 == 0


def test_logits_half_converts_bitwise_and_matches_float64(block):
    x, _, rows, W, *_ = block
    X, P = _logits(block)
    ref = to_float(torch.from_numpy(x[rows])).numpy()
    assert np.array_equal(X.view(np.int32), ref.view(np.int32))  # both halves, every row
    for h, (j0, j1) in enumerate(nm.HALVES):  # (37,J)@(J,10) in float64
        z64 = X[:, j0:j1].astype(np.float64) @ W[:, j0:j1].T.astype(np.float64)
        np.testing.assert_allclose(P[h, :, :N].T, z64, rtol=1e-5, atol=1e-5)


@numba.njit
def _exp_all(x, out):
    for s in range(0, x.shape[1], 16):
        nm.vst(out, 0, s, ns._vexp_le0(nm.vld(x, 0, s)))


def test_vexp_le0_against_libm():
    g = np.random.default_rng(2)
    x = np.concatenate(
        [-g.random(20_000) * 87, -g.random(20_000) * 2, [0.0, -0.0, -1e-30, -86.9]]
    ).astype(np.float32)
    x = np.pad(x, (0, -len(x) % 16))[None]
    out = np.empty_like(x)
    _exp_all(x, out)
    ref = np.exp(x.astype(np.float64))
    assert np.max(np.abs(out - ref) / ref) < 3 * EPS  # Cephes' expf: about 1 ulp
    x = np.array([[np.nan, -np.inf, -1e30, -88.0, -100.0] + [0.0] * 11], np.float32)
    _exp_all(x, out := np.empty_like(x))
    assert np.isnan(out[0, 0]) and np.all((out[0, 1:5] >= 0) & (out[0, 1:5] < 2e-38))
    assert np.all(out[0, 5:] == 1)


def test_softmax_delta_against_float64(block):
    x, y, rows, W, b, *_ = block
    X, P = _logits(block)
    D, E, gb = np.full((10, 48), 7, np.float32), np.zeros((4, 48), np.float32), np.zeros(10)
    cost = ns._softmax_delta(P[0], P[1], b, y, rows, 0, N, 1 / N, D, E, gb)
    z = ((P[0] + P[1]) + b[:, None])[:, :N].T.astype(np.float64)  # (37,10), float32 sums
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    onehot = np.eye(10)[y[rows]]
    ref = (p - onehot) / N
    assert np.max(np.abs(D[:, :N].T - ref)) <= 8 * EPS / N  # float32 softmax: a few ulp of 1
    assert np.allclose(gb, D[:, :N].astype(np.float64).sum(1), rtol=1e-12, atol=1e-15)
    h = -np.log(p[np.arange(N), y[rows]])
    assert cost == pytest.approx(h.sum(), rel=1e-6)


def test_grad_half_and_fused_update(block):
    X, _ = _logits(block)
    D = (np.random.default_rng(3).standard_normal((10, 48)) * 0.01).astype(np.float32)
    G, W1 = np.zeros((10, 784), np.float32), block[3].copy()
    for j0, j1 in nm.HALVES:
        nm._grad_half(X, D, N, G, j0, j1, W1, np.float32(0))
    assert np.array_equal(W1, block[3])  # lr 0: no update
    ref = D[:, :N].astype(np.float64) @ X.astype(np.float64)  # (10,37)@(37,784)
    np.testing.assert_allclose(G, ref, rtol=1e-5, atol=1e-6)
    lr = np.float32(0.37)
    W_sep, G_sep = block[3].copy(), G.copy()  # separate pass: _update's plain rule
    gb, bias = np.ones(10), block[4].copy()
    for j0, j1 in nm.HALVES:
        nu._update(
            W_sep,
            bias,
            G_sep,
            gb,
            lr,
            True,
            False,
            np.float32(0),
            np.float32(0),
            False,
            np.zeros_like(W_sep),
            np.zeros(10, np.float32),
            False,
            np.zeros((10, 784)),
            np.zeros(10),
            j0,
            j1,
            True,
        )
        gb[:] = 1.0
    step = lr * np.float32(1)
    assert not G_sep.any() and np.array_equal(bias, (block[4] - step) - step)  # b: per call
    W_fused, G_fused = block[3].copy(), np.zeros((10, 784), np.float32)
    for j0, j1 in nm.HALVES:
        nm._grad_half(X, D, N, G_fused, j0, j1, W_fused, lr)
    assert np.array_equal(W_fused.view(np.int32), W_sep.view(np.int32))
    assert not G_fused.any()


def test_cache_is_dropped_when_a_source_changes(tmp_path, monkeypatch):
    """A kernel cached from other sources (e.g. before a numba_math.py edit) is not reused."""
    import shutil

    pkg = tmp_path / "engines"
    pkg.mkdir()
    for name in ("numba_math.py", "numba_update.py"):
        shutil.copy(nm.__file__.replace("numba_math.py", name), pkg / name)
    cache = pkg / "__pycache__"
    cache.mkdir()
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setattr(nm, "__file__", str(pkg / "numba_math.py"))
    nm._fresh_cache("0.0")
    (cache / "numba_threads._split_kernel-1.py311.nbi").write_text("stale")
    nm._fresh_cache("0.0")  # same sources: the cache stays
    assert (cache / "numba_threads._split_kernel-1.py311.nbi").exists()
    (pkg / "numba_update.py").write_text("# edited\n")
    nm._fresh_cache("0.0")
    assert not (cache / "numba_threads._split_kernel-1.py311.nbi").exists()
    assert (cache / "sgdlab-numba-sources.sha256").exists()
