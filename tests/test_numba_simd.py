"""The 16-lane vector type and intrinsics (engines/numba_simd.py), each against numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sgdlab import engines

if not engines.available("fast", torch.device("cpu")):
    pytest.skip("numba not installed", allow_module_level=True)
import numba  # noqa: E402

from sgdlab.engines.fast.simd import LANES, build  # noqa: E402

V = build()
vld, vld_u8, vst, vbc, vzero = V.vld, V.vld_u8, V.vst, V.vbc, V.vzero
vadd, vsub, vmul, vdiv, vfma = V.vadd, V.vsub, V.vmul, V.vdiv, V.vfma
vfloor, vsel_lt, vsel_eq, vpow2, vsum = V.vfloor, V.vsel_lt, V.vsel_eq, V.vpow2, V.vsum


@numba.njit
def _ops(a, b, u8, out):
    """Row k of out: one operation on a[0, 16:32] (unaligned) and b[0, :16]."""
    x, y = vld(a, 0, 16), vld(b, 0, 0)
    vst(out, 0, 0, vadd(x, y))
    vst(out, 1, 0, vsub(x, y))
    vst(out, 2, 0, vmul(x, y))
    vst(out, 3, 0, vdiv(x, y))
    vst(out, 4, 0, vfma(x, y, vbc(0.5)))
    vst(out, 5, 0, vfloor(x))
    vst(out, 6, 0, vsel_lt(x, y, x, y))  # min, NaN in x or y -> y
    vst(out, 7, 0, vsel_eq(x, x, vzero(), vbc(7)))  # 0 where x is not NaN
    vst(out, 8, 0, vld_u8(u8, 1, 3))
    vst(out, 9, 0, vpow2(vfloor(vmul(y, vbc(10)))))
    return vsum(x)


def test_every_operation_against_numpy():
    g = np.random.default_rng(0)
    a = g.standard_normal((1, 40)).astype(np.float32)
    a[0, 20] = np.nan
    b = (g.random((1, 16)) + 0.5).astype(np.float32)
    u8 = g.integers(0, 256, (3, 40), dtype=np.uint8)
    out = np.zeros((10, LANES), np.float32)
    s = _ops(a, b, u8, out)
    x, y = a[0, 16:32], b[0]
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(out[0], x + y)
        np.testing.assert_array_equal(out[1], x - y)
        np.testing.assert_array_equal(out[2], x * y)
        np.testing.assert_array_equal(out[3], x / y)
        fma = (x.astype(np.float64) * y + 0.5).astype(np.float32)  # one rounding (exact product)
        np.testing.assert_array_equal(out[4], fma)
        np.testing.assert_array_equal(out[5], np.floor(x))
        np.testing.assert_array_equal(out[6], np.where(x < y, x, y))
        assert out[6, 4] == y[4]  # the NaN lane selects y
        np.testing.assert_array_equal(out[7], np.where(x == x, 0, 7))
    np.testing.assert_array_equal(out[8], u8[1, 3:19].astype(np.float32))
    np.testing.assert_array_equal(out[9], 2.0 ** np.floor(y * np.float32(10)))
    assert np.isnan(s)  # the lane sum carries the NaN
    a[0, 20] = 1.0
    assert _ops(a, b, u8, out) == pytest.approx(
        float(a[0, 16:32].astype(np.float64).sum()), rel=1e-6
    )


def test_importing_the_module_loads_no_numba(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys, sgdlab.engines.fast.simd as s; "
        "assert 'numba' not in sys.modules and s.LANES == 16"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
