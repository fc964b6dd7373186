"""SIGTERM / Ctrl-C during a checkpointed run: a flag the loop reads instead of dying."""

from __future__ import annotations

import signal
import threading
from typing import Any


class SignalFlag:
    """While active (main thread, checkpointing on), SIGTERM/SIGINT set ``signum`` instead of
    killing the process; the loop then writes a checkpoint and stops within one segment."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> SignalFlag:
        if self.enabled:
            for s in (signal.SIGTERM, signal.SIGINT):
                self._old[s] = signal.signal(s, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.signum = signum

    def __exit__(self, *exc) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)
