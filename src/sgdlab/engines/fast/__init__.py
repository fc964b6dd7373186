"""The fast CPU engine (numba): :mod:`.engine` (the engine and its one-thread kernels),
:mod:`.block` (block math on pixel halves), :mod:`.simd` (16-lane vectors), :mod:`.update`
(parameter updates by pixel columns), :mod:`.threads` (the two-thread step) and
:mod:`.intrinsics` (LLVM prefetch, atomics). Importing this package loads no numba."""
