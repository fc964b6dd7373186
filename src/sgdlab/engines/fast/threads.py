"""One SGD step on two cores: the 784 pixels split between two threads, one barrier per block.

:func:`_split_kernel` runs (``nogil``) on two Python threads at once, thread t owning the pixel
half ``HALVES[t]`` (pixels 0..399 and 400..783): its columns of X, W (10,784) float32 and ∂C/∂W.
Every per-element operation is the one-thread kernel's (:mod:`.kernels`) in the same order, so
one thread and two give bitwise identical weights, costs and optimizer state (tested), and two
threads are bitwise reproducible run to run. The barrier never hangs: it gives up when
``sync[ABORT]`` is set or after ``SPIN_YIELDS`` yields, and the call then raises. When another
process keeps a core busy, the kernel's bail-out and :class:`Backoff` fall back to one thread
(the same bits). How it works and when it pays: see docs/benchmarks.md#the-two-thread-step.
"""

from __future__ import annotations

import os
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from sgdlab.engines.fast import block as _m
from sgdlab.engines.fast import kernels as _k
from sgdlab.engines.fast import softmax as _s
from sgdlab.engines.fast import update as _u
from sgdlab.engines.fast.block import jit
from sgdlab.engines.fast.intrinsics import load_acquire, pause, sched_yield, store_release
from sgdlab.engines.fast.kernels import KernelArgs
from sgdlab.model import N_CLASSES, N_PIXELS

#: Threads of a split step (784 pixels = 2 halves).
THREADS = 2
#: int64 slots per 128-byte line of ``sync``; (1+t)·LINE = thread t's phase; line 0: the abort
#: flag, the phase at which both threads bail out to one thread, and the step where they did.
LINE = 16
ABORT, BAIL, BAIL_STEP, BAIL_LIMIT = 0, 1, 2, 3
#: Yields in one call after which the threads hand the rest of the stretch to one thread
#: (``SplitRunner.bail_yields``, passed in ``sync[BAIL_LIMIT]``).
BAIL_YIELDS = 256  # a core kept busy, not one hiccup of the host (docs/benchmarks.md#back-off)
#: Spin with ``pause`` this many times before each ``sched_yield``; give up after SPIN_YIELDS.
SPIN_PAUSES = 2000
SPIN_YIELDS = 250_000  # × (2000 pauses + a yield) ≈ 10 s: a partner that never comes
#: Split only from this batch size and this many steps per call (the crossover: see
#: docs/benchmarks.md#when-two-threads-pay).
MIN_BATCH = 1
MIN_STEPS = 128

BLOCK, SPLIT = _m.BLOCK, _m.SPLIT


# LLVM intrinsics (:mod:`.intrinsics`): int64 atomics, x86 ``pause``, ``sched_yield``.
_load_acquire, _store_release = load_acquire(), store_release()
_pause, _yield = pause(), sched_yield()


@jit()
def _wait(sync, tid, phase):
    """Publish ``phase`` for thread ``tid``; wait until the partner's phase ≥ it. Returns the
    number of ``sched_yield`` calls it needed (0: the partner was running), −1: gave up."""
    _store_release(sync, (1 + tid) * LINE, phase)
    other = (2 - tid) * LINE
    yields = 0
    while _load_acquire(sync, other) < phase:
        for _ in range(SPIN_PAUSES):
            _pause()
            if _load_acquire(sync, other) >= phase:
                return yields
        if _load_acquire(sync, ABORT) != 0 or yields >= SPIN_YIELDS:
            _store_release(sync, ABORT, 1)
            return -1
        _yield()
        yields += 1
    return yields


@jit()
def _next_block(i, s0, b, N, stop):
    """The block after the one starting at sample position s0 of minibatch i: (i, s0), or
    (stop, 0) past the end. A minibatch i spans perm[i·b : min(N, (i+1)·b)]."""
    end = min(N, (i + 1) * b)
    if s0 + BLOCK < end:
        return i, s0 + BLOCK
    if i + 1 < stop:
        return i + 1, (i + 1) * b
    return stop, 0


@jit()
def _split_kernel(
    tid,
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
    Zs,
    sync,
):
    """Thread ``tid`` (0/1) of minibatches start..stop-1, pixels j0..j1-1 (``HALVES[tid]``),
    with the arguments of :func:`.kernels._sgd_kernel` (per-step lrs, the update options,
    momentum buffers VW, Vb and average sums AW, Ab: each thread writes only its columns of W,
    VW, AW; b, Vb and Ab are thread 0's). Returns the ``sched_yield`` calls its barriers needed
    (≥ 0), or −1 when a barrier gave up. When its barriers needed more than ``sync[BAIL_LIMIT]``
    yields, both threads stop together at the next step boundary i (``sync[BAIL_STEP]`` = i) and
    the caller finishes on one thread. Zs (2, 2, 10, BLOCK) float32: the exchanged partial
    logits (thread t writes Zs[q % 2, t], class-major). Each thread works on its own copy of W
    (no cache line written by both), written back at the end."""
    N = images.shape[0]
    j0 = SPLIT if tid == 1 else 0
    j1 = N_PIXELS if tid == 1 else SPLIT
    # the one-thread kernel's scratch (its P unused: the partial logits go to Zs); this thread
    # uses its columns j0..j1-1 of X and G
    X, _, D, E, G, gb = _k._scratch(min(b, N, BLOCK))
    T = E[3:]  # the lane sums' scratch
    Wt = _m._zeros64(N_CLASSES, N_PIXELS)  # own columns updated here, written back at the end
    Wt[:] = W
    lb, lVb = bias.copy(), Vb.copy()  # both threads update b identically; thread 0 writes it
    if start >= stop:
        return 0
    phase = 1
    yields = 0
    i, s0 = start, start * b
    q = 0
    total = 0.0
    while i < stop:
        i0 = i * b
        n_step = min(b, N - i0)
        n = min(BLOCK, i0 + n_step - s0)
        ni, ns0 = _next_block(i, s0, b, N, stop)
        if ni < stop:  # the next block's bytes arrive (in L2) while this one is computed
            _m._prefetch_rows(images, perm, ns0, min(BLOCK, min(N, (ni + 1) * b) - ns0), j0, j1)
        _m._logits_half(images, perm, s0, n, scale, shift, Wt, j0, j1, X, Zs[q % 2, tid], T)
        phase += 1
        first = s0 == i0 and i > start  # a step boundary: steps start..i-1 are complete
        if first and yields > sync[BAIL_LIMIT] and _load_acquire(sync, BAIL) == 0:
            _store_release(sync, BAIL, phase)  # published with our phase: both see it below
        y = _wait(sync, tid, phase)
        if y < 0:
            return -1
        if q > 0:  # the first barrier also waits for the partner to start: not a busy core
            yields += y
        if first and _load_acquire(sync, BAIL) == phase:  # both threads stop before step i
            if tid == 0:
                _store_release(sync, BAIL_STEP, i)
            break
        total += _s._softmax_delta(
            Zs[q % 2, 0], Zs[q % 2, 1], lb, labels, perm, s0, n, 1.0 / n_step, D, E, gb
        )
        lr = lrs[i - start]
        fuse = _u._fuses(plain, lr)  # W's update rides on the last block's accumulation
        _m._grad_half(X, D, n, G, j0, j1, Wt, lr if fuse and ni != i else np.float32(0.0))
        if ni != i:  # last block of minibatch i: update own columns and b, reset
            if tid == 0:
                costs[i - start] = total / n_step
            _u._update(
                Wt,
                lb,
                G,
                gb,
                lr,
                plain,
                fuse,
                mom,
                wd,
                nesterov,
                VW,
                lVb,
                average,
                AW,
                Ab,
                j0,
                j1,
                tid == 0,
            )
            total = 0.0
        i, s0 = ni, ns0
        q += 1
    for c in range(N_CLASSES):
        for j in range(j0, j1):
            W[c, j] = Wt[c, j]
    if tid == 0:
        bias[:] = lb
        Vb[:] = lVb
    return yields


def use_split(
    threads: int,
    batch_size: int,
    steps: int,
    min_batch: int | None = None,
    min_steps: int | None = None,
) -> bool:
    """Whether a call of ``steps`` minibatches of ``batch_size`` runs on two threads
    (thresholds default to :data:`MIN_BATCH`, :data:`MIN_STEPS`)."""
    min_batch = MIN_BATCH if min_batch is None else min_batch
    min_steps = MIN_STEPS if min_steps is None else min_steps
    return threads >= THREADS and batch_size >= min_batch and steps >= min_steps


class Backoff:
    """Falls back to one thread for a while when the barrier had to yield: another process is
    using a core, and a spin barrier between a running and a waiting thread costs a scheduler
    time slice per step. One thread and two give the same bits, so this changes only speed.

    After a call that bailed out, or whose barriers yielded more than ``BAIL_YIELDS`` times and
    more than once per 1/``YIELDS_PER_STEP`` steps, the next calls run on one thread for
    ``SECONDS`` (doubling, up to ``MAX_SECONDS``, while it recurs). A single hiccup (a few
    dozen yields) does not count: see docs/benchmarks.md#back-off.
    """

    YIELDS_PER_STEP = 0.1
    SECONDS = 0.1
    MAX_SECONDS = 8.0

    def __init__(self, clock=None) -> None:
        import time

        self.clock = clock or time.monotonic
        self.until, self.seconds, self.events = 0.0, self.SECONDS, 0

    def active(self) -> bool:
        return self.clock() < self.until

    def record(self, yields: int, steps: int, bailed: bool = False) -> None:
        if bailed or yields > max(BAIL_YIELDS, self.YIELDS_PER_STEP * steps):
            self.events += 1
            self.until = self.clock() + self.seconds
            self.seconds = min(self.MAX_SECONDS, 2 * self.seconds)
        else:
            self.seconds = self.SECONDS


_RUNNERS: weakref.WeakSet = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """A forked child has no worker threads: its runners start a new one when next used."""
    for r in list(_RUNNERS):
        r._pool = None
        r._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class SplitRunner:
    """The shared buffers and the one worker thread of an engine's two-thread steps."""

    def __init__(self) -> None:
        _RUNNERS.add(self)
        self.Zs = _m._zeros64(2 * THREADS * N_CLASSES, BLOCK).reshape(
            2, THREADS, N_CLASSES, BLOCK
        )  # 5 KB per slab, 64-byte aligned
        self.sync = np.zeros((1 + THREADS) * LINE, np.int64)
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self.calls = 0  # stretches run on two threads (tests check the split did run)
        self.bailed = False  # the last stretch was finished on one thread
        self.bail_yields = BAIL_YIELDS

    def run(self, kernel_args: KernelArgs) -> int:
        """:func:`.kernels._sgd_kernel`'s work (same arguments) on two threads, this one
        being thread 0; W, bias and the optimizer state updated in place.

        Returns the ``sched_yield`` calls both threads' barriers needed: 0 when both had a core
        throughout; many when another process kept one busy (see :class:`Backoff`)."""
        with self._lock:  # one stretch at a time per engine: the buffers are shared
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="sgdlab-split")
            self.sync[:] = 0
            self.sync[BAIL_LIMIT] = self.bail_yields
            self.calls += 1
            args = (*kernel_args, self.Zs, self.sync)
            other = self._pool.submit(self._guarded, 1, args)
            try:
                mine = _split_kernel(0, *args)
            except BaseException:
                self.sync[ABORT] = 1
                other.result()
                raise
            theirs = other.result()
            if mine < 0 or theirs < 0:
                raise RuntimeError(
                    "the two-thread SGD step was aborted (a thread failed or "
                    "waited far too long at the barrier); weights are undefined"
                )
            self.bailed = bool(self.sync[BAIL])
            if self.bailed:  # another process took a core: finish the stretch on this thread
                self._finish_alone(kernel_args, int(self.sync[BAIL_STEP]))
            return mine + theirs

    def _finish_alone(self, a: KernelArgs, step: int) -> None:
        """The single-thread kernel on minibatches step..stop-1 (the same bits as two threads)."""
        k = step - a.start
        _k._sgd_kernel(*a._replace(lrs=a.lrs[k:], start=step, costs=a.costs[k:]))

    def _guarded(self, tid, args):
        try:
            return _split_kernel(tid, *args)
        except BaseException:
            self.sync[ABORT] = 1
            raise
