"""One SGD step on two cores: the 10 classes split between two threads, one barrier per block.

The stretch kernel :func:`_split_kernel` runs (``nogil``) on two Python threads at once, thread t
owning the classes ``5t..5t+4``: its rows of W (10,784) float32 and of b (10,). Per block of
≤ ``BLOCK`` samples of a minibatch (one block for b ≤ 128):

1. logits of its own 5 classes Z[:, 5t:5t+5] = X·W[5t:5t+5]ᵀ + b[5t:5t+5] (float32) into the
   shared exchange buffer ``Zs[q % 2, t]`` (q = block count in this call);
2. it gathers and normalizes its half of the *next* block's image rows into ``Xs[(q+1) % 3]``;
3. **barrier** (the only one per block): the other thread's logits and its half of the next
   X are now visible;
4. softmax over all 10 classes (float64, both threads compute it: 10 exps a sample are
   cheaper than a second barrier), Δ of its own classes, ∂C/∂W of its own rows = Δᵀ·X, and
   at the end of the minibatch the update of its own rows of W and entries of b, with the
   engine's per-row update helpers (:func:`numba_cpu._apply_rows`, ``_apply_opt_rows``:
   momentum, nesterov, weight decay, the step's own learning rate; ``_accum_rows``: Polyak
   averaging), so every option of the single-thread kernel works on two threads.

Three X buffers and two Z buffers make one barrier per block enough: a thread writes
``Xs[(q+1) % 3]`` / ``Zs[(q+1) % 2]`` only after it has passed barrier q, so its partner has
finished with block q−1 (X) / reads ``Zs[q % 2]`` (Z). Costs (float64) come from thread 0.

**The barrier** is a phase counter per thread, each on its own 128-byte line of ``sync``
(int64): a thread publishes ``phase`` with a release store and waits until its partner's
counter reaches ``phase`` with acquire loads (x86 ``pause`` between loads, ``sched_yield``
after ``SPIN_PAUSES`` of them, so a descheduled partner gets the core back). It never hangs:
the wait gives up when ``sync[ABORT]`` is set (the Python side sets it when the other thread
failed) or after ``SPIN_YIELDS`` yields (many seconds), and the kernel then returns −1.

**Same results**: every per-element operation is that of :mod:`.numba_cpu`'s kernel in the
same order (the 5-class register blocks of the logits and of Δᵀ·X are its own blocks; the
softmax is its function), so one thread and two threads give **bitwise identical** weights and
costs (tested), and two threads are bitwise reproducible run to run.

**When it pays** (see :func:`use_split`): a thread saves about half of ≈ 0.5 µs of work per
sample (micro-benchmark of the single-thread kernel's parts at b = 16) but pays a barrier per
block and a hand-over to the worker thread per call. ``MIN_BATCH`` = 8 and ``MIN_SAMPLES`` =
4096 are **provisional**: estimated from that model (barrier ≈ 0.3 µs, hand-over ≈ 30 µs), not
yet confirmed on a quiet machine; ``bench/split_crossover.py`` measures the crossover (see
docs/benchmarks.md for what has been measured so far). Below them the single-thread kernel
runs.
"""

from __future__ import annotations

import functools
import os
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..model import N_CLASSES, N_PIXELS
from . import numba_cpu as _cpu

#: Classes per thread (the 5-class register block of the logits and of Δᵀ·X).
KPT = 5
#: Threads of a split step (10 classes = 2 × 5).
THREADS = 2
#: int64 slots per 128-byte line of ``sync``; (1+t)·LINE = thread t's phase; line 0: the abort
#: flag, the phase at which both threads bail out to one thread, and the step where they did.
LINE = 16
ABORT, BAIL, BAIL_STEP, BAIL_LIMIT = 0, 1, 2, 3
#: Yields in one call after which the threads hand the rest of the stretch to one thread
#: (``SplitRunner.bail_yields``, passed in ``sync[BAIL_LIMIT]``).
BAIL_YIELDS = 8
#: Spin with ``pause`` this many times before each ``sched_yield``; give up after SPIN_YIELDS.
SPIN_PAUSES = 2000
SPIN_YIELDS = 250_000  # × (2000 pauses + a yield) ≈ 10 s: a partner that never comes
#: Each thread gathers half of a block's rows and reads the other half from its partner
#: (True), or gathers the whole block itself (False: no X crosses between cores).
SHARE_X = True
#: Split only from this batch size and this many samples per call (crossover, measured).
MIN_BATCH = 8
MIN_SAMPLES = 4096

BLOCK, GROUP = _cpu.BLOCK, _cpu.GROUP


def _load_acquire(a, i):  # replaced by intrinsics in _compile()
    return a[i]


def _store_release(a, i, v):
    a[i] = v


def _pause():
    pass


def _yield():
    pass


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


def _logits5(W, bias, X, n4, Z, k):
    """Z[:n4, 0:5] = X[:n4]·W[k:k+5]ᵀ + bias[k:k+5]: :func:`numba_cpu._logits`'s block k."""
    z = np.float32(0.0)
    for s0 in range(0, n4, GROUP):
        a00 = a01 = a02 = a03 = a10 = a11 = a12 = a13 = a20 = a21 = a22 = a23 = z
        a30 = a31 = a32 = a33 = a40 = a41 = a42 = a43 = z
        for j in range(N_PIXELS):
            x0, x1, x2, x3 = X[s0, j], X[s0 + 1, j], X[s0 + 2, j], X[s0 + 3, j]
            w = W[k, j]
            a00, a01, a02, a03 = a00 + w * x0, a01 + w * x1, a02 + w * x2, a03 + w * x3
            w = W[k + 1, j]
            a10, a11, a12, a13 = a10 + w * x0, a11 + w * x1, a12 + w * x2, a13 + w * x3
            w = W[k + 2, j]
            a20, a21, a22, a23 = a20 + w * x0, a21 + w * x1, a22 + w * x2, a23 + w * x3
            w = W[k + 3, j]
            a30, a31, a32, a33 = a30 + w * x0, a31 + w * x1, a32 + w * x2, a33 + w * x3
            w = W[k + 4, j]
            a40, a41, a42, a43 = a40 + w * x0, a41 + w * x1, a42 + w * x2, a43 + w * x3
        for q, (c0, c1, c2, c3, c4) in enumerate(((a00, a10, a20, a30, a40),
                                                  (a01, a11, a21, a31, a41),
                                                  (a02, a12, a22, a32, a42),
                                                  (a03, a13, a23, a33, a43))):  # fmt: skip
            Z[s0 + q, 0] = c0 + bias[k]
            Z[s0 + q, 1] = c1 + bias[k + 1]
            Z[s0 + q, 2] = c2 + bias[k + 2]
            Z[s0 + q, 3] = c3 + bias[k + 3]
            Z[s0 + q, 4] = c4 + bias[k + 4]


def _accumulate5(X, D, n4, G, k):
    """G[k:k+5] += D[:n4, k:k+5]ᵀ·X[:n4]: :func:`numba_cpu._accumulate`'s block k."""
    for s0 in range(0, n4, GROUP):
        d00, d01, d02, d03 = D[s0, k], D[s0 + 1, k], D[s0 + 2, k], D[s0 + 3, k]
        d10, d11, d12, d13 = D[s0, k + 1], D[s0 + 1, k + 1], D[s0 + 2, k + 1], D[s0 + 3, k + 1]
        d20, d21, d22, d23 = D[s0, k + 2], D[s0 + 1, k + 2], D[s0 + 2, k + 2], D[s0 + 3, k + 2]
        d30, d31, d32, d33 = D[s0, k + 3], D[s0 + 1, k + 3], D[s0 + 2, k + 3], D[s0 + 3, k + 3]
        d40, d41, d42, d43 = D[s0, k + 4], D[s0 + 1, k + 4], D[s0 + 2, k + 4], D[s0 + 3, k + 4]
        for j in range(N_PIXELS):
            x0, x1, x2, x3 = X[s0, j], X[s0 + 1, j], X[s0 + 2, j], X[s0 + 3, j]
            G[k, j] = G[k, j] + d00 * x0 + d01 * x1 + d02 * x2 + d03 * x3
            G[k + 1, j] = G[k + 1, j] + d10 * x0 + d11 * x1 + d12 * x2 + d13 * x3
            G[k + 2, j] = G[k + 2, j] + d20 * x0 + d21 * x1 + d22 * x2 + d23 * x3
            G[k + 3, j] = G[k + 3, j] + d30 * x0 + d31 * x1 + d32 * x2 + d33 * x3
            G[k + 4, j] = G[k + 4, j] + d40 * x0 + d41 * x1 + d42 * x2 + d43 * x3


def _next_block(i, s0, b, N, stop):
    """The block after the one starting at sample position s0 of minibatch i: (i, s0), or
    (stop, 0) past the end. A minibatch i spans perm[i·b : min(N, (i+1)·b)]."""
    end = min(N, (i + 1) * b)
    if s0 + BLOCK < end:
        return i, s0 + BLOCK
    if i + 1 < stop:
        return i + 1, (i + 1) * b
    return stop, 0


def _gather_part(images, perm, tid, share, s0, n, scale, shift, X):
    """Thread ``tid``'s half of the block perm[s0:s0+n] into X (rows 0..n of the block), or
    the whole block when not ``share``."""
    if not share:
        _cpu._gather(images, perm, s0, n, scale, shift, X)
        return
    h = n // 2
    lo, hi = (0, h) if tid == 0 else (h, n)
    if hi > lo:
        _cpu._gather(images, perm, s0 + lo, hi - lo, scale, shift, X[lo:])


def _split_kernel(tid, images, labels, perm, W, bias, scale, shift, b, lrs, start, stop, costs,
                  plain, mom, wd, nesterov, VW, Vb, average, AW, Ab, Xs, Zs, sync,
                  share):  # fmt: skip
    """Thread ``tid`` (0/1) of minibatches start..stop-1, classes 5·tid..5·tid+4, with the
    arguments of :func:`numba_cpu._sgd_kernel` (per-step lrs, the update options, momentum
    buffers VW, Vb and average sums AW, Ab: each thread touches only its rows). Returns the
    ``sched_yield`` calls its barriers needed (≥ 0), or −1 when a barrier gave up. When its
    barriers needed more than ``sync[BAIL_LIMIT]`` yields, both threads stop together at the next
    step boundary i (``sync[BAIL_STEP]`` = i) and the caller finishes on one thread.
    Xs (2, 3, BLOCK, 784) float32, Zs (2, 2, BLOCK, 5) float32, shared by both threads.
    ``share``: each thread gathers half of a block into Xs[0] (else all of it into Xs[tid])."""
    N = images.shape[0]
    k = KPT * tid
    m = min(b, N, BLOCK)
    m4 = (m + GROUP - 1) // GROUP * GROUP
    Z = np.empty((m4, N_CLASSES), np.float32)
    D = np.empty((m4, N_CLASSES), np.float32)
    E = np.empty(N_CLASSES)
    G = np.zeros((N_CLASSES, N_PIXELS), np.float32)  # rows k..k+4 used
    gb = np.zeros(N_CLASSES)
    lb = bias.copy()  # own entries updated here, written back at the end (no shared line)
    if start >= stop:
        return 0
    phase = 1
    i, s0 = start, start * b
    xb = 0 if share else tid
    _gather_part(images, perm, tid, share, s0, min(BLOCK, min(N, (i + 1) * b) - s0), scale,
                 shift, Xs[xb, 0])  # fmt: skip
    yields = _wait(sync, tid, phase)
    if yields < 0:
        return -1
    q = 0
    total = 0.0
    while i < stop:
        i0 = i * b
        n_step = min(b, N - i0)
        n = min(BLOCK, i0 + n_step - s0)
        n4 = (n + GROUP - 1) // GROUP * GROUP
        X = Xs[xb, q % 3]
        _logits5(W, lb, X, n4, Zs[q % 2, tid], k)
        ni, ns0 = _next_block(i, s0, b, N, stop)
        if ni < stop:
            nn = min(BLOCK, min(N, (ni + 1) * b) - ns0)
            _gather_part(images, perm, tid, share, ns0, nn, scale, shift, Xs[xb, (q + 1) % 3])
        phase += 1
        first = s0 == i0 and i > start  # a step boundary: steps start..i-1 are complete
        if first and yields > sync[BAIL_LIMIT] and _load_acquire(sync, BAIL) == 0:
            _store_release(sync, BAIL, phase)  # published with our phase: both see it below
        y = _wait(sync, tid, phase)
        if y < 0:
            return -1
        yields += y
        if first and _load_acquire(sync, BAIL) == phase:  # both threads stop before step i
            if tid == 0:
                _store_release(sync, BAIL_STEP, i)
            break
        for s in range(n4):
            for t in range(THREADS):
                for c in range(KPT):
                    Z[s, t * KPT + c] = Zs[q % 2, t, s, c]
        total += _cpu._softmax_delta(Z, labels, perm, s0, n, n4, 1.0 / n_step, D, E)
        _accumulate5(X, D, n4, G, k)
        for c in range(k, k + KPT):
            for s in range(n):
                gb[c] += D[s, c]
        if ni != i:  # last block of minibatch i: update own rows, reset
            if tid == 0:
                costs[i - start] = total / n_step
            lr = lrs[i - start]
            if plain:
                _cpu._apply_rows(W, lb, G, gb, lr, k, k + KPT)
            else:
                _cpu._apply_opt_rows(W, lb, G, gb, lr, mom, wd, nesterov, VW, Vb, k, k + KPT)
            if average:
                _cpu._accum_rows(W, lb, AW, Ab, k, k + KPT)
            G[k:k + KPT] = 0.0
            gb[:] = 0.0
            total = 0.0
        i, s0 = ni, ns0
        q += 1
    for c in range(k, k + KPT):
        bias[c] = lb[c]
    return yields


_SPECS = (
    ("_wait", {}),
    ("_logits5", {"fastmath": {"reassoc", "nsz", "contract"}}),
    ("_accumulate5", {"fastmath": {"contract"}}),
    ("_next_block", {}),
    ("_gather_part", {}),
    ("_split_kernel", {}),
)


@functools.cache
def _compile() -> None:
    """Compile the split kernel (after :func:`numba_cpu._compile`: it calls its helpers)."""
    _cpu._compile()
    nb = _cpu._numba()
    g = globals()
    from .numba_intrinsics import load_acquire, pause, sched_yield, store_release

    g["_load_acquire"], g["_store_release"] = load_acquire(), store_release()
    g["_pause"], g["_yield"] = pause(), sched_yield()
    for name, opts in _SPECS:
        g[name] = nb.njit(cache=True, nogil=True, **opts)(g[name])


def use_split(threads: int, batch_size: int, steps: int, min_batch: int | None = None,
              min_samples: int | None = None) -> bool:  # fmt: skip
    """Whether a call of ``steps`` minibatches of ``batch_size`` runs on two threads
    (thresholds default to :data:`MIN_BATCH`, :data:`MIN_SAMPLES`)."""
    min_batch = MIN_BATCH if min_batch is None else min_batch
    min_samples = MIN_SAMPLES if min_samples is None else min_samples
    return threads >= THREADS and batch_size >= min_batch and steps * batch_size >= min_samples


class Backoff:
    """Falls back to one thread for a while when the barrier had to yield: another process is
    using a core, and a spin barrier between a running and a waiting thread costs a scheduler
    time slice per step. One thread and two give the same bits, so this changes only speed.

    After a call whose barriers yielded more than once per ``YIELDS_PER_STEP`` steps, the next
    calls run on one thread for ``SECONDS`` (doubling, up to ``MAX_SECONDS``, while it recurs).
    """

    YIELDS_PER_STEP = 0.02
    SECONDS = 0.5
    MAX_SECONDS = 8.0

    def __init__(self, clock=None) -> None:
        import time

        self.clock = clock or time.monotonic
        self.until, self.seconds, self.events = 0.0, self.SECONDS, 0

    def active(self) -> bool:
        return self.clock() < self.until

    def record(self, yields: int, steps: int, bailed: bool = False) -> None:
        if bailed or yields > max(1.0, self.YIELDS_PER_STEP * steps):
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
        _compile()
        _RUNNERS.add(self)
        self.Xs = np.zeros((THREADS, 3, BLOCK, N_PIXELS), np.float32)  # finite padding rows
        self.share_x = SHARE_X
        self.Zs = np.zeros((2, THREADS, BLOCK, KPT), np.float32)
        self.sync = np.zeros((1 + THREADS) * LINE, np.int64)
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self.calls = 0  # stretches run on two threads (tests check the split did run)
        self.bailed = False  # the last stretch was finished on one thread
        self.bail_yields = BAIL_YIELDS

    def run(self, *kernel_args) -> int:
        """:func:`numba_cpu._sgd_kernel`'s work (same arguments) on two threads, this one
        being thread 0; W, bias and the optimizer state updated in place.

        Returns the ``sched_yield`` calls both threads' barriers needed: 0 when both had a core
        throughout; many when another process kept one busy (see :class:`Backoff`)."""
        with self._lock:  # one stretch at a time per engine: the buffers are shared
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="sgdlab-split")
            self.sync[:] = 0
            self.sync[BAIL_LIMIT] = self.bail_yields
            self.calls += 1
            args = (*kernel_args, self.Xs, self.Zs, self.sync, self.share_x)
            other = self._pool.submit(self._guarded, 1, args)
            try:
                mine = _split_kernel(0, *args)
            except BaseException:
                self.sync[ABORT] = 1
                other.result()
                raise
            theirs = other.result()
            if mine < 0 or theirs < 0:
                raise RuntimeError("the two-thread SGD step was aborted (a thread failed or "
                                   "waited far too long at the barrier); weights are undefined")
            self.bailed = bool(self.sync[BAIL])
            if self.bailed:  # another process took a core: finish the stretch on this thread
                self._finish_alone(kernel_args, int(self.sync[BAIL_STEP]))
            return mine + theirs

    def _finish_alone(self, a: tuple, step: int) -> None:
        """The single-thread kernel on minibatches step..stop-1 (the same bits as two threads)."""
        start = a[9]
        a = (*a[:8], a[8][step - start:], step, a[10], a[11][step - start:], *a[12:])
        _cpu._sgd_kernel(*a)

    def _guarded(self, tid, args):
        try:
            return _split_kernel(tid, *args)
        except BaseException:
            self.sync[ABORT] = 1
            raise

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
