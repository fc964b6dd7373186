"""LLVM intrinsics for the numba kernels: prefetch, atomics with ordering, pause, sched_yield.

Each factory returns a numba ``@intrinsic`` (made once; numba is imported on first use):

- :func:`prefetch` ``(a, r, j)``: ``llvm.prefetch`` (read; ``locality`` 3: all cache levels,
  2: L2 and outward) of ``&a[r, j]``;
- :func:`load_acquire` ``(a, i) -> int64`` / :func:`store_release` ``(a, i, v)``: an atomic
  8-byte load with acquire / store with release ordering of ``a[i]`` (a: int64 array). What is
  written before a release store is visible to a thread whose acquire load reads that value
  (the C++ memory model; on x86 plain ``mov``s that the compiler may not reorder);
- :func:`pause`: x86 ``pause`` (spin-wait hint; nothing elsewhere);
- :func:`sched_yield`: libc's ``sched_yield()``, so a spinning thread gives its core back.

All of them are cacheable (no ctypes pointers in the compiled code).
"""

from __future__ import annotations

import functools
import platform


def _imports():
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic

    return ir, types, cgutils, intrinsic


def _item_ptr(context, builder, sig, args, nidx):
    from numba.core import cgutils

    aty = sig.args[0]
    ary = context.make_array(aty)(context, builder, args[0])
    return cgutils.get_item_pointer(
        context, builder, aty, ary, list(args[1 : 1 + nidx]), wraparound=False
    )


@functools.cache
def prefetch(locality: int = 3):
    ir, types, cgutils, intrinsic = _imports()

    def codegen(context, builder, sig, args):
        ptr = _item_ptr(context, builder, sig, args, 2)
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [cgutils.voidptr_t, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        builder.call(fn, [builder.bitcast(ptr, cgutils.voidptr_t), i32(0), i32(locality), i32(1)])
        return context.get_dummy_value()

    @intrinsic
    def _prefetch(typingctx, a, r, j):
        return types.void(a, r, j), codegen

    return _prefetch


@functools.cache
def load_acquire():
    ir, types, cgutils, intrinsic = _imports()

    def codegen(context, builder, sig, args):
        return builder.load_atomic(_item_ptr(context, builder, sig, args, 1), "acquire", 8)

    @intrinsic
    def _load_acquire(typingctx, a, i):
        return types.int64(a, i), codegen

    return _load_acquire


@functools.cache
def store_release():
    ir, types, cgutils, intrinsic = _imports()

    def codegen(context, builder, sig, args):
        val = context.cast(builder, args[2], sig.args[2], types.int64)
        builder.store_atomic(val, _item_ptr(context, builder, sig, args, 1), "release", 8)
        return context.get_dummy_value()

    @intrinsic
    def _store_release(typingctx, a, i, v):
        return types.void(a, i, v), codegen

    return _store_release


@functools.cache
def pause():
    ir, types, cgutils, intrinsic = _imports()
    x86 = platform.machine().lower() in ("x86_64", "amd64", "i686", "x86")

    def codegen(context, builder, sig, args):
        if x86:
            fnty = ir.FunctionType(ir.VoidType(), [])
            builder.call(
                cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.sse2.pause"), []
            )
        return context.get_dummy_value()

    @intrinsic
    def _pause(typingctx):
        return types.void(), codegen

    return _pause


@functools.cache
def sched_yield():
    ir, types, cgutils, intrinsic = _imports()

    def codegen(context, builder, sig, args):
        fnty = ir.FunctionType(ir.IntType(32), [])
        builder.call(cgutils.get_or_insert_function(builder.module, fnty, "sched_yield"), [])
        return context.get_dummy_value()

    @intrinsic
    def _sched_yield(typingctx):
        return types.void(), codegen

    return _sched_yield
