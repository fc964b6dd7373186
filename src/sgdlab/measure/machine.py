"""The machine under a measurement: thread counts (torch, numba) and how busy other processes kept
the CPUs while it ran. Used by ``sgdlab bench`` and ``bench/peers.py``."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sgdlab.errors import ConfigError

_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
#: Share of the CPUs used by other processes (:class:`LoadMonitor`'s ``other_cpu_share``) above
#: which a measurement is reported as contaminated (``sgdlab bench``'s table, the report).
BUSY = 0.05


def thread_info() -> dict[str, Any]:
    """Thread counts in effect (torch intra/inter-op, numba when loaded) and CPUs usable."""
    import sys

    import torch

    numba = sys.modules.get("numba")
    return {
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "numba_threads": numba.get_num_threads() if numba is not None else None,
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "thread_env": {k: os.environ[k] for k in _THREAD_VARS if k in os.environ},
    }


class LoadMonitor:
    """How busy the rest of the machine was while we measured (Linux; figures None elsewhere).

    ``other_cpu_seconds``: CPU time the kernel counted as busy (user, system, irq, steal) minus
    this process's own; ``other_cpu_share``: that over wall seconds × CPUs (0 = we were alone).
    """

    def start(self) -> LoadMonitor:
        self.t0, self.busy0, self.self0 = time.perf_counter(), _busy_ticks(), _self_cpu()
        self.load0 = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        return self

    def stop(self) -> dict[str, Any]:
        wall, busy = time.perf_counter() - self.t0, _busy_ticks()
        other = None
        if busy is not None and self.busy0 is not None:
            ticks = os.sysconf("SC_CLK_TCK")
            other = max(0.0, (busy - self.busy0) / ticks - (_self_cpu() - self.self0))
        cpus = os.cpu_count() or 1
        return {
            "wall_seconds": wall,
            "other_cpu_seconds": other,
            "other_cpu_share": None if other is None else other / (wall * cpus),
            "loadavg_1min_at_start": self.load0,
        }


def foreign_load(load: dict[str, Any] | None, *, threshold: float = BUSY) -> str | None:
    """Why a measurement is contaminated by other processes, or None when it is not (or when the
    load could not be measured: ``other_cpu_share`` None, e.g. off Linux).

    ``load``: :meth:`LoadMonitor.stop`'s dict; ``threshold``: the share of the CPUs (0-1) other
    processes may use before the timings stop being evidence (default :data:`BUSY`).
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise ConfigError(f"threshold must be a number in [0, 1), got {threshold!r}")
    if not 0 <= threshold < 1:
        raise ConfigError(f"threshold must be a number in [0, 1), got {threshold!r}")
    share = (load or {}).get("other_cpu_share")
    if share is None or share <= threshold:
        return None
    return (
        f"other processes used {share:.0%} of the CPUs during the run "
        f"(more than {threshold:.0%}): the timings are contaminated"
    )


def contamination(result: Mapping[str, Any]) -> dict[str, Any]:
    """Were the timings of ``result`` (what :func:`sgdlab.benchmark` returns) disturbed by other
    processes? The one check of ``sgdlab bench``, the report and the notebook
    (:func:`foreign_load` on the run's ``environment.machine_load``).

    Returns ``{"other_cpu_share", "threshold", "contaminated", "reason"}``: the share of the
    CPUs that other processes used while it ran (None where it cannot be measured, i.e. not on
    Linux), :data:`BUSY`, whether the share exceeds it (an unmeasured share counts as not
    contaminated), and :func:`foreign_load`'s sentence (None when clean).
    """
    load = result.get("environment", {}).get("machine_load") or {}
    reason = foreign_load(load)
    return {
        "other_cpu_share": load.get("other_cpu_share"),
        "threshold": BUSY,
        "contaminated": reason is not None,
        "reason": reason,
    }


def _busy_ticks() -> int | None:
    try:
        with open("/proc/stat", encoding="ascii") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    return v[0] + v[1] + v[2] + v[5] + v[6] + v[7]  # user nice system irq softirq steal


def _self_cpu() -> float:
    t = os.times()
    return t.user + t.system


def set_threads(n: int | None) -> tuple[int, int | None] | None:
    """Set torch's (and numba's, when installed) thread count; return the previous counts.

    numba first: starting its thread pool (its first ``get_num_threads``/``set_num_threads``)
    can reset torch's count (both on OpenMP), so torch's is set last."""
    import torch

    if n is None:
        return None
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"threads must be an integer ≥ 1, got {n!r}")
    torch_old, numba_old = torch.get_num_threads(), None
    try:
        import numba
    except ImportError:
        numba = None
    if numba is not None:
        numba_old = numba.get_num_threads()
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    torch.set_num_threads(n)
    return torch_old, numba_old


def restore_threads(old: tuple[int, int | None] | None) -> None:
    import torch

    if old is None:
        return
    if old[1] is not None:
        import numba

        numba.set_num_threads(old[1])
    torch.set_num_threads(old[0])


@contextmanager
def quiet_torch_for(engine: Any) -> Iterator[None]:
    """Run torch on one thread while ``engine`` may split SGD steps over two cores.

    After a multi-threaded torch op, torch's OpenMP workers keep spinning for milliseconds on
    the other cores; the ``fast`` engine's two-thread step then loses its partner core to them,
    and its back-off returns to one thread. Measured on the project's 2-core VM (b = 16, an
    evaluation-sized matmul between epochs, median of 30): 30.6 ms an epoch with torch on two
    threads, 23.4 ms with one. The fast engine computes nothing with torch, so only the
    evaluation between epochs runs on one thread. Other engines (and one numba thread): no
    change. The thread count is restored on exit.
    """
    import torch

    quiet = False
    if getattr(engine, "name", None) == "fast":
        import sys

        numba = sys.modules.get("numba")
        quiet = numba is not None and numba.get_num_threads() >= 2
    old = torch.get_num_threads()
    if quiet and old > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if torch.get_num_threads() != old:
            torch.set_num_threads(old)
