"""The fast CPU engine (numba): :mod:`.engine` (the engine; imports no numba), :mod:`.kernels`
(its one-thread kernels), :mod:`.block` (block math on pixel halves; the kernels' numba setup),
:mod:`.softmax`, :mod:`.simd` (16-lane vectors), :mod:`.update` (parameter updates by pixel
columns), :mod:`.threads` (the two-thread step) and :mod:`.intrinsics` (LLVM prefetch, atomics).
Importing this package loads no numba."""
