"""The fast engine's block math (engines/numba_math.py) and update (engines/numba_update.py),
each against numpy/torch computed another way: the conversion bitwise like ``to_float``, the
vectorized exp against libm, the softmax against a float64 numpy softmax, the logits and Δᵀ·X
against float64 matmuls, the fused W update bitwise like the separate one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sgdlab import engines
from sgdlab.data import pixel_affine, to_float

if not engines.available("fast", torch.device("cpu")):
    pytest.skip("numba not installed", allow_module_level=True)
from sgdlab.engines import numba_math as nm  # noqa: E402
from sgdlab.engines import numba_update as nu  # noqa: E402

nm._compile()
nu._compile()


@pytest.fixture(scope="module")
def block(sample):
    """37 sample rows (a short block: 40 with GROUP padding), affine, W, b, labels."""
    x = sample.train_images.reshape(len(sample.train_images), -1).numpy()
    y = sample.train_labels.numpy().astype(np.uint8)
    rows = np.random.default_rng(0).permutation(len(x))[:37].astype(np.int64)
    g = np.random.default_rng(1)
    W = (g.standard_normal((10, 784)) * 0.05).astype(np.float32)
    b = (g.standard_normal(10) * 0.1).astype(np.float32)
    sc, sh = (t.numpy() for t in pixel_affine("cpu"))
    return x, y, rows, W, b, sc, sh


def test_gather_is_to_float_bitwise(block):
    x, _, rows, *_, sc, sh = block
    X = np.zeros((40, 784), np.float32)
    nm._gather(x, rows, 0, 37, sc, sh, X)
    ref = to_float(torch.from_numpy(x[rows])).numpy()
    assert np.array_equal(X[:37].view(np.int32), ref.view(np.int32))
    assert not X[37:].any()  # padding rows untouched (finite)


def test_exp_le0_against_libm():
    g = np.random.default_rng(2)
    x = np.concatenate([-g.random(20_000) * 745, -g.random(20_000) * 2, [0.0, -0.0, -1e-300]])
    E, B = x.copy(), np.empty(len(x), np.int64)
    nm._exp_le0(E, B, len(x))
    ref = np.exp(x)
    ok = x >= -708  # exp(x < −708) is taken as exp(−708) ≈ 3.3e-308
    assert np.max(np.abs(E[ok] - ref[ok]) / ref[ok]) < 3e-16
    assert np.all(E[~ok] <= 4e-308)
    E = np.array([np.nan, -np.inf, -1e308])
    nm._exp_le0(E, np.empty(3, np.int64), 3)
    assert np.isnan(E[0]) and 0 <= E[1] < 4e-308 and 0 <= E[2] < 4e-308


def test_logits_and_softmax_against_float64(block):
    x, y, rows, W, b, sc, sh = block
    n, n4 = 37, 40
    X, Z = np.zeros((n4, 784), np.float32), np.zeros((n4, 10), np.float32)
    nm._gather(x, rows, 0, n, sc, sh, X)
    for k in (0, 5):
        nm._logits5(W, b, X, n4, Z, k)
    z64 = X[:n].astype(np.float64) @ W.T.astype(np.float64) + b  # (37,784)@(784,10)
    assert np.allclose(Z[:n], z64, rtol=1e-5, atol=1e-5)
    D, E, gb = np.full((n4, 10), 7, np.float32), np.empty(3 * n4 * 10), np.zeros(10)
    cost = nm._softmax_delta(Z, y, rows, 0, n, n4, 1 / n, D, E, gb)
    z = Z[:n].astype(np.float64)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    onehot = np.eye(10)[y[rows]]
    ref = ((p - onehot) / n).astype(np.float32)
    assert np.max(np.abs(D[:n] - ref)) <= 2 * np.finfo(np.float32).eps * np.abs(ref).max()
    assert not D[n:].any()  # padding rows of Δ are 0: they add nothing
    assert np.allclose(gb, D[:n].astype(np.float64).sum(0), rtol=1e-12, atol=1e-15)
    h = -np.log(p[np.arange(n), y[rows]])
    assert cost == pytest.approx(h.sum(), rel=1e-12)


def test_accumulate_and_fused_update(block):
    x, y, rows, W, b, sc, sh = block
    n4 = 40
    X = np.zeros((n4, 784), np.float32)
    nm._gather(x, rows, 0, 37, sc, sh, X)
    D = (np.random.default_rng(3).standard_normal((n4, 10)) * 0.01).astype(np.float32)
    D[37:] = 0
    G, W1 = np.zeros((10, 784), np.float32), W.copy()
    for k in (0, 5):
        nm._accumulate5(X, D, n4, G, k, W1, np.float32(0))
    assert np.array_equal(W1, W)  # lr 0: no update
    assert np.allclose(G, D.T.astype(np.float64) @ X, rtol=1e-5, atol=1e-6)  # (10,40)@(40,784)
    lr = np.float32(0.37)
    W_sep, G_sep = W.copy(), G.copy()  # separate pass: _update's plain rule
    gb, bias = np.ones(10), b.copy()
    for k in (0, 5):
        nu._update(W_sep, bias, G_sep, gb, lr, True, False, np.float32(0), np.float32(0), False,
                   np.zeros_like(W), np.zeros(10, np.float32), False, np.zeros((10, 784)),
                   np.zeros(10), k, k + 5)  # fmt: skip
    assert not G_sep.any() and not gb.any() and np.array_equal(bias, b - lr * np.float32(1))
    W_fused, G_fused = W.copy(), np.zeros((10, 784), np.float32)
    for k in (0, 5):
        nm._accumulate5(X, D, n4, G_fused, k, W_fused, lr)
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
