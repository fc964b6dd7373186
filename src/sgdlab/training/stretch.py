"""How many SGD steps one engine call runs: the training loop's stretch length.

Every call pays a fixed cost: Python, argument checks, and for the fast engine's two-thread step
waking the partner core (see docs/benchmarks.md#when-two-threads-pay). Between calls the loop
updates the progress bar and looks for SIGTERM / Ctrl-C. :class:`Stretch` keeps each call near
``SECONDS`` of work: the first call runs ``FIRST`` steps, and each later one as many as the
previous call's measured rate fits into ``SECONDS``, never fewer than ``FIRST`` (the caller also
stops a stretch at the end of the epoch and at checkpoint boundaries).

The result does not depend on it: the engines give the same bits for any split of an epoch
into calls (tested), so a run, a resumed run and a benchmark agree whatever lengths they chose.

>>> s = Stretch()
>>> s.steps
500
>>> s.record(3750, 0.015)   # a fast engine: a whole epoch in 15 ms
>>> s.steps                 # 0.05 s at that rate
12500
>>> Stretch(7).steps        # a fixed length (``train(segment=7)``) stays fixed
7
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: Steps of the first call, and the fewest of any later one.
FIRST = 500
#: Seconds of work a call aims at (a progress bar refreshes, a signal is seen, within about this).
SECONDS = 0.05


class Stretch:
    """The next call's length in steps (:attr:`steps`), from the measured rate of the last."""

    def __init__(self, fixed: int | None = None) -> None:
        if fixed is not None and (not isinstance(fixed, int) or fixed < 1):
            raise ValueError(f"segment must be a positive number of steps, got {fixed!r}")
        self.fixed = fixed
        self.steps = fixed if fixed is not None else FIRST

    def run(self, steps: int, call: Callable[[int, int], object]) -> None:
        """``call(start, stop)`` over the steps 0..steps-1 in stretches of :attr:`steps`,
        timing each call and adapting after it (what a benchmark does for one epoch)."""
        s = 0
        while s < steps:
            k, t0 = min(steps - s, self.steps), time.perf_counter()
            call(s, s + k)
            self.record(k, time.perf_counter() - t0)
            s += k

    def record(self, steps: int, seconds: float) -> None:
        """A call of ``steps`` steps took ``seconds`` (wall time): adapt :attr:`steps`."""
        if self.fixed is not None or steps < 1 or not seconds > 0:
            return
        self.steps = max(FIRST, int(SECONDS * steps / seconds))
