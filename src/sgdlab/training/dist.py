"""Data parallelism on ``torch.distributed``: the world, shares, shards and collectives.

One code path for every world size K (nanoGPT style): at K = 1 (no process group, the ordinary
run) every collective here is a no-op and :func:`world` is ``World(rank=0, size=1)``; under
``torchrun`` (or any launcher that sets ``RANK``/``WORLD_SIZE``/``MASTER_ADDR``/``MASTER_PORT``)
:func:`session` initializes the process group (gloo on CPU, NCCL on CUDA) and the same helpers
talk to the other ranks. Importing this module starts nothing.

Splitting rule (used for minibatch shares and full-GD shards alike): ``m`` items over K ranks
are cut into K contiguous pieces in rank order, the first ``m mod K`` ranks get one item more.
A piece may be empty (m < K); its gradient sum is then zero.

Reductions: every rank contributes *sums* (share gradient sums, shard sums weighted by n_r/N),
combined with one ``all_reduce(SUM)``; every rank receives the same bits (gloo's ring reduces
each chunk on one rank and passes the result on), so every rank applies the same update. For
K = 2 the reduction is a single float addition (commutative), so the result does not depend on
which rank adds; for K > 2 gloo's ring order is fixed for a given K, so runs are reproducible
for that K (another K rounds differently).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from datetime import timedelta

import torch

from sgdlab.errors import ConfigError, DistributedError

#: Seconds a collective (or the initial rendezvous of the ranks) may wait before failing.
DEFAULT_TIMEOUT = 120.0
_ENV = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class World:
    """This process's place: ``rank`` in 0..size-1, ``size`` = K, ``local_rank`` on its node."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    backend: str | None = None  # None at K = 1 without a process group

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched() -> bool:
    """Whether a launcher (torchrun) asked for a process group: ``WORLD_SIZE`` is set."""
    return "WORLD_SIZE" in os.environ


def world() -> World:
    """The current world: from the initialized process group, else rank 0 of 1."""
    d = torch.distributed
    if not (d.is_available() and d.is_initialized()):
        return World()
    local = int(os.environ.get("LOCAL_RANK", d.get_rank()))
    return World(d.get_rank(), d.get_world_size(), local, str(d.get_backend()))


def is_main() -> bool:
    """True on rank 0 (and in an ordinary run): the rank that prints and writes files."""
    return world().is_main


def backend_for(device: torch.device) -> str:
    """NCCL for CUDA devices (code path present, untested here), gloo for the CPU."""
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def valid_timeout(seconds: float) -> float:
    """Validate a collective/rendezvous timeout in seconds (finite, > 0)."""
    if not isinstance(seconds, (int, float)) or not 0 < seconds < 1e7:
        raise ConfigError(f"distributed timeout must be seconds in (0, 1e7), got {seconds!r}")
    return float(seconds)


@contextlib.contextmanager
def session(*, device: str = "auto", timeout: float = DEFAULT_TIMEOUT):
    """Initialize the process group when launched by torchrun; destroy it on exit.

    Without ``WORLD_SIZE`` in the environment (the ordinary run) this does nothing. The
    ``timeout`` bounds the rendezvous of the K ranks and every later collective: a rank that
    never arrives, or dies, ends every other rank with :class:`DistributedError` within it.
    """
    d = torch.distributed
    if not launched() or d.is_initialized():
        yield world()
        return
    missing = [k for k in _ENV if k not in os.environ]
    if missing:
        raise ConfigError(
            f"WORLD_SIZE is set but {', '.join(missing)} is not: launch with "
            "torchrun (or set RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT)"
        )
    timeout = valid_timeout(timeout)
    dev = "cuda" if device == "auto" and torch.cuda.is_available() else device
    backend = backend_for(torch.device("cpu" if dev == "auto" else dev))
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    where = f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}"
    try:
        _init(backend, timedelta(seconds=timeout))
    except Exception as e:  # noqa: BLE001 - timeouts and connection errors have many types
        raise DistributedError(
            f"rank {os.environ['RANK']} of {os.environ['WORLD_SIZE']}: the ranks did not meet "
            f"at {where} within {timeout:g} s ({_first_line(e)})"
        ) from None
    yield world()  # on an error the group is left as it is: the process is about to exit
    with contextlib.suppress(Exception):
        d.destroy_process_group()


def _init(backend: str, timeout: timedelta) -> None:
    """``init_process_group`` on the launcher's store, under a key prefix of its own per
    elastic attempt (``TORCHELASTIC_RESTART_COUNT``): the ranks of a restarted group never read
    the addresses the dead group left in a store that outlives it."""
    d = torch.distributed
    store, rank, size = next(d.rendezvous("env://", timeout=timeout))
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    store = d.PrefixStore(f"sgdlab/attempt_{attempt}", store)
    d.init_process_group(backend, store=store, rank=rank, world_size=size, timeout=timeout)


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:200]}" if text else type(e).__name__


def split(m: int, k: int, r: int) -> tuple[int, int]:
    """(start, stop) of piece ``r`` when ``m`` items are cut into ``k`` contiguous pieces.

    The first ``m mod k`` pieces get ``m // k + 1`` items, the others ``m // k``.

    >>> [split(10, 3, r) for r in range(3)]
    [(0, 4), (4, 7), (7, 10)]
    """
    q, extra = divmod(m, k)
    start = r * q + min(r, extra)
    return start, start + q + (1 if r < extra else 0)


def _collective(op: str, fn, *args) -> None:
    try:
        fn(*args)
    except Exception as e:  # noqa: BLE001 - gloo reports a lost peer as RuntimeError/DistError
        w = world()
        raise DistributedError(
            f"rank {w.rank} of {w.size}: {op} failed, a rank died or stopped answering "
            f"({_first_line(e)})"
        ) from None


def all_reduce_(t: torch.Tensor) -> torch.Tensor:
    """In place: ``t`` ← Σ over ranks of ``t`` (the same bits on every rank); no-op at K = 1.

    Under NCCL a CPU tensor travels through a CUDA copy (NCCL reduces device memory only).
    """
    w = world()
    if w.size == 1:
        return t
    if w.backend == "nccl" and t.device.type != "cuda":
        tmp = t.to(torch.device("cuda", torch.cuda.current_device()))
        _collective("all_reduce", torch.distributed.all_reduce, tmp)
        return t.copy_(tmp)
    _collective("all_reduce", torch.distributed.all_reduce, t)
    return t


def any_rank(flag: bool) -> bool:
    """True if ``flag`` is true on any rank (e.g. a SIGTERM seen by one of them)."""
    if world().size == 1:
        return flag
    t = torch.tensor([1.0 if flag else 0.0])
    all_reduce_(t)
    return bool(t.item() > 0)


def barrier() -> None:
    """Wait until every rank gets here; no-op at K = 1."""
    if world().size > 1:
        _collective("barrier", torch.distributed.barrier)


def broadcast_object(obj):
    """Rank 0's ``obj`` (picklable, small) on every rank; at K = 1 ``obj`` itself."""
    if world().size == 1:
        return obj
    box = [obj]
    _collective("broadcast", torch.distributed.broadcast_object_list, box, 0)
    return box[0]
