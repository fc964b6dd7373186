"""Progress on stderr: a tqdm bar on a terminal, plain lines in a log.

Every long loop in sgdlab (training, the study's passes, the bench, the report's sections, the
likelihood's Monte Carlo, downloads) gets its progress from :func:`bar`. On a terminal that is a
tqdm bar. Off a terminal (a pipe, a file, a batch job's log) a bar's ``\\r`` and escape codes
would fill the log with garbage, and no bar at all leaves a 16-second loop silent, so
:class:`PlainProgress` prints one plain line every ``every`` seconds (default 5) and one at the
end, with nothing but text and ``\\n``.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any

#: Seconds between two plain progress lines off a terminal.
EVERY = 5.0


def bar(
    *,
    total: int | None,
    desc: str,
    unit: str,
    initial: int = 0,
    enabled: bool = True,
    unit_scale: bool = False,
    file: IO[str] | None = None,
    every: float = EVERY,
) -> Any:
    """A progress object with tqdm's ``update``/``set_description``/``set_postfix``/``close``, or
    None when ``enabled`` is false. ``total``: the expected count of ``unit`` (None: unknown)."""
    if not enabled:
        return None
    out = file if file is not None else sys.stderr
    if _is_terminal(out):
        from tqdm.auto import tqdm

        return tqdm(
            total=total,
            initial=initial,
            unit=unit,
            desc=desc,
            leave=False,
            dynamic_ncols=True,
            unit_scale=unit_scale,
            file=out,
        )
    return PlainProgress(total=total, desc=desc, unit=unit, initial=initial, file=out, every=every)


def _is_terminal(f: IO[str]) -> bool:
    try:
        return bool(f.isatty())
    except (AttributeError, ValueError):  # closed or not a real file
        return False


class PlainProgress:
    """tqdm's interface, printed as a plain line every ``every`` seconds and once at the end,
    e.g. ``training: 1,500/18,750 step (8%), 3.1 s, test_acc=0.8312``."""

    def __init__(
        self,
        *,
        total: int | None,
        desc: str,
        unit: str,
        initial: int = 0,
        file: IO[str],
        every: float = EVERY,
    ) -> None:
        self.total, self.desc, self.unit, self.n = total, desc, unit, initial
        self.file, self.every = file, every
        self.postfix = ""
        self.t0 = self.last = time.monotonic()
        self.closed = False

    def update(self, k: int = 1) -> None:
        self.n += k
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self._line()

    def set_description(self, desc: str, refresh: bool = True) -> None:
        """tqdm's signature; ``refresh`` has nothing to redraw here (lines come every few s)."""
        self.desc = desc

    def set_postfix(
        self, ordered_dict: dict[str, Any] | None = None, refresh: bool = True, **kw: Any
    ) -> None:
        """tqdm's signature: ``key=value`` pairs shown after the count."""
        items = {**(ordered_dict or {}), **kw}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def close(self) -> None:
        if not self.closed and self.n > 0 and time.monotonic() - self.t0 >= self.every:
            self._line()  # a last line for anything long enough to have printed one
        self.closed = True

    def _line(self) -> None:
        done = f"{self.n:,}" if self.total is None else f"{self.n:,}/{self.total:,}"
        pct = f" ({self.n / self.total:.0%})" if self.total else ""
        extra = f", {self.postfix}" if self.postfix else ""
        secs = time.monotonic() - self.t0
        try:
            print(f"{self.desc}: {done} {self.unit}{pct}, {secs:.1f} s{extra}", file=self.file)
            self.file.flush()
        except (OSError, ValueError):  # a closed pipe: progress is not worth an error
            pass
