"""Explicit 16-lane float32 vectors for the ``fast`` engine's inner loops (numba intrinsics).

LLVM's loop vectorizer chooses its own vector width (256 bits on CPUs it tunes for "prefer
256-bit", AVX-512 ones included), its own unrolling and one horizontal sum per dot product. The
engine's hot loops instead name their vectors: :data:`f32x16` is a numba type whose LLVM type
is ``<16 x float>`` (one zmm register on AVX-512, two ymm on AVX2, emulated elsewhere: the code
is correct on any CPU LLVM targets), and these intrinsics build with it:

- :func:`vld` ``(a, r, j)``: ``a[r, j:j+16]`` of a float32 2-D array (no bounds check: callers
  guarantee ``j + 16 ≤ a.shape[1]``); :func:`vst` ``(a, r, j, v)`` stores it;
- :func:`vld_u8` ``(a, r, j)``: ``float32(a[r, j:j+16])`` of a uint8 2-D array (exact);
- :func:`vbc` ``(x)``: x in all 16 lanes; :func:`vzero` ``()``;
- :func:`vfma` ``(a, b, c)`` = a·b + c rounded once (``llvm.fma``); :func:`vmul`, :func:`vadd`,
  :func:`vsub`: one rounding each, never contracted into an FMA (no fast-math flags);
- :func:`vsum` ``(v)``: the sum of the 16 lanes (float32, in LLVM's tree order: reassociated);
- :func:`vdiv`; :func:`vfloor`; :func:`vsel_lt` ``(a, b, x, y)`` = x where a < b else y and
  :func:`vsel_eq` (a = b): ordered compares, so a NaN in a or b selects y;
- :func:`vpow2` ``(n)``: 2ⁿ for integral n in −126..127 (the exponent bits of a float32);
- :func:`vfold8`, :func:`vfold4`, :func:`vfold2`, :func:`vfold1` ``(x, y)``: one stage of a
  transposed lane sum. Seen as groups of 2g lanes (g = 8, 4, 2, 1), each group of x, then of
  y, is halved by adding its upper g lanes to its lower g: four stages turn 16 vectors into
  one whose lane k is the sum of vector k's lanes, in 15 folds of 3 operations each instead of
  16 horizontal sums of 8.

Factories are cached; numba is imported by :func:`build` only (``import sgdlab`` loads none of
it). Everything is cacheable: no pointers are baked into the compiled code.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

#: Lanes of :data:`f32x16`.
LANES = 16


@functools.cache
def build() -> SimpleNamespace:
    """The vector type and its intrinsics (see the module docstring), made once."""
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic, models, register_model

    class F32x16(types.Type):
        def __init__(self) -> None:
            super().__init__(name="sgdlab.f32x16")

    f32x16 = F32x16()
    vty = ir.VectorType(ir.FloatType(), LANES)

    @register_model(F32x16)
    class _Model(models.PrimitiveModel):
        def __init__(self, dmm, fe_type):
            super().__init__(dmm, fe_type, vty)

    def ptr(context, builder, sig, args, elem):
        """Pointer to ``a[r, j]`` as a pointer to ``elem`` vectors (no bounds check)."""
        aty = sig.args[0]
        ary = context.make_array(aty)(context, builder, args[0])
        p = cgutils.get_item_pointer(context, builder, aty, ary, list(args[1:3]), wraparound=False)
        return builder.bitcast(p, elem.as_pointer())

    def f32_2d(a):
        return isinstance(a, types.Array) and a.ndim == 2 and a.dtype == types.float32

    @intrinsic
    def vld(typingctx, a, r, j):
        if not f32_2d(a):
            return None

        def codegen(context, builder, sig, args):
            return builder.load(ptr(context, builder, sig, args, vty), align=4)

        return f32x16(a, r, j), codegen

    @intrinsic
    def vld_u8(typingctx, a, r, j):
        if not (isinstance(a, types.Array) and a.ndim == 2 and a.dtype == types.uint8):
            return None

        def codegen(context, builder, sig, args):
            bty = ir.VectorType(ir.IntType(8), LANES)
            return builder.uitofp(builder.load(ptr(context, builder, sig, args, bty), align=1), vty)

        return f32x16(a, r, j), codegen

    @intrinsic
    def vst(typingctx, a, r, j, v):
        if not (f32_2d(a) and v == f32x16):
            return None

        def codegen(context, builder, sig, args):
            builder.store(args[3], ptr(context, builder, sig, args, vty), align=4)
            return context.get_dummy_value()

        return types.void(a, r, j, v), codegen

    @intrinsic
    def vbc(typingctx, x):
        if not isinstance(x, (types.Float, types.Integer)):
            return None

        def codegen(context, builder, sig, args):
            s = context.cast(builder, args[0], sig.args[0], types.float32)
            i32 = ir.IntType(32)
            v = builder.insert_element(ir.Constant(vty, ir.Undefined), s, i32(0))
            mask = ir.Constant(ir.VectorType(i32, LANES), [0] * LANES)
            return builder.shuffle_vector(v, ir.Constant(vty, ir.Undefined), mask)

        return f32x16(x), codegen

    @intrinsic
    def vzero(typingctx):
        def codegen(context, builder, sig, args):
            return ir.Constant(vty, [0.0] * LANES)

        return f32x16(), codegen

    @intrinsic
    def vfma(typingctx, a, b, c):
        if not a == b == c == f32x16:
            return None

        def codegen(context, builder, sig, args):
            fnty = ir.FunctionType(vty, [vty] * 3)
            fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.fma.v16f32")
            return builder.call(fn, list(args))

        return f32x16(a, b, c), codegen

    def binary(op):
        @intrinsic
        def _op(typingctx, a, b):
            if not a == b == f32x16:
                return None

            def codegen(context, builder, sig, args):
                return getattr(builder, op)(args[0], args[1])

            return f32x16(a, b), codegen

        return _op

    @intrinsic
    def vsum(typingctx, v):
        if v != f32x16:
            return None

        def codegen(context, builder, sig, args):
            f32 = ir.FloatType()
            fnty = ir.FunctionType(f32, [f32, vty])
            fn = cgutils.get_or_insert_function(
                builder.module, fnty, "llvm.vector.reduce.fadd.v16f32"
            )
            return builder.call(fn, [f32(0.0), args[0]], fastmath=("reassoc",))

        return types.float32(v), codegen

    def select(pred):
        @intrinsic
        def _sel(typingctx, a, b, x, y):
            if not a == b == x == y == f32x16:
                return None

            def codegen(context, builder, sig, args):
                return builder.select(
                    builder.fcmp_ordered(pred, args[0], args[1]), args[2], args[3]
                )

            return f32x16(a, b, x, y), codegen

        return _sel

    @intrinsic
    def vfloor(typingctx, v):
        if v != f32x16:
            return None

        def codegen(context, builder, sig, args):
            fnty = ir.FunctionType(vty, [vty])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.floor.v16f32")
            return builder.call(fn, [args[0]])

        return f32x16(v), codegen

    @intrinsic
    def vpow2(typingctx, v):
        if v != f32x16:
            return None

        def codegen(context, builder, sig, args):
            ity = ir.VectorType(ir.IntType(32), LANES)
            n = builder.fptosi(args[0], ity)
            n = builder.add(n, ir.Constant(ity, [127] * LANES))
            return builder.bitcast(builder.shl(n, ir.Constant(ity, [23] * LANES)), vty)

        return f32x16(v), codegen

    def fold(g):
        lo = [k * 2 * g + j for k in range(2 * LANES // (2 * g)) for j in range(g)]
        hi = [i + g for i in lo]
        i32 = ir.IntType(32)

        @intrinsic
        def _fold(typingctx, x, y):
            if not x == y == f32x16:
                return None

            def codegen(context, builder, sig, args):
                a = builder.shuffle_vector(
                    args[0], args[1], ir.Constant(ir.VectorType(i32, LANES), lo)
                )
                b = builder.shuffle_vector(
                    args[0], args[1], ir.Constant(ir.VectorType(i32, LANES), hi)
                )
                return builder.fadd(a, b)

            return f32x16(x, y), codegen

        return _fold

    return SimpleNamespace(
        f32x16=f32x16,
        vfold8=fold(8),
        vfold4=fold(4),
        vfold2=fold(2),
        vfold1=fold(1),
        vld=vld,
        vld_u8=vld_u8,
        vst=vst,
        vbc=vbc,
        vzero=vzero,
        vfma=vfma,
        vmul=binary("fmul"),
        vadd=binary("fadd"),
        vsub=binary("fsub"),
        vdiv=binary("fdiv"),
        vsum=vsum,
        vfloor=vfloor,
        vsel_lt=select("<"),
        vsel_eq=select("=="),
        vpow2=vpow2,
    )
