"""The study's passes on a Dask distributed cluster (``sgdlab experiment --scheduler``).

:class:`Cluster` connects a ``distributed.Client`` to a running scheduler (``tcp://HOST:PORT``)
or starts a ``LocalCluster`` of N single-thread worker processes on 127.0.0.1 (``"local"``),
and is the ``backend`` of :func:`sgdlab.experiments.sweep.execute`: every pass that is not in
the cache becomes one task; results are taken in completion order (``as_completed``), and the
*client* writes each record to its cache (sealed, atomic) before the progress bar moves.

What crosses the network is small: a task is the :class:`~sgdlab.study.protocol.Pass`, the
runner's name and a :class:`DataRequest` (a few hashes); it returns the pass's JSON record. Each
worker process loads Fashion-MNIST itself, once (:func:`_worker_data`): the client's data
directory when the worker sees the same path (a shared filesystem), else its normal search order
(``SGDLAB_DATA``, the cache, the system directory, a download), or the bundled sample when the
client uses it. Its SHA-256s and its sgdlab version must equal the client's, or the task fails
with one clear line (:class:`~sgdlab.errors.ConfigError`). Torch and numba run one thread per
task, as in the local worker processes, so the records are bitwise the local run's (only the
wall-clock fields differ; ``tests/test_study_cluster.py``).

Faults: a worker that dies (even ``kill -9``) loses its running task, which Dask runs again on
another worker; a scheduler that goes away cancels every task, and :meth:`Cluster.run` raises a
:class:`~sgdlab.errors.DistributedError` saying how many passes are cached: the same command,
once a scheduler is back, continues from them. Ctrl-C cancels the submitted tasks (the finished
ones are already cached). ``dask[distributed]`` is optional (``pip install 'sgdlab[cluster]'``)
and imported only here, when a cluster is asked for.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sgdlab.data import FashionMNIST
from sgdlab.errors import ConfigError, DistributedError, SgdlabError

LOCAL = "local"  # --scheduler local: a LocalCluster on this machine
SCHEMES = ("tcp", "tls")
INSTALL = "pip install 'sgdlab[cluster]' (or pip install 'dask[distributed]')"


def parse_scheduler(text: str) -> str:
    """``"local"`` or a checked ``tcp://HOST:PORT`` / ``tls://HOST:PORT`` address (ConfigError
    otherwise)."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"scheduler must be 'local' or tcp://HOST:PORT, got {text!r}")
    text = text.strip()
    if text == LOCAL:
        return text
    u = urlsplit(text)
    try:
        port = u.port
    except ValueError:
        port = None
    if u.scheme not in SCHEMES or not u.hostname or port is None or u.path not in ("", "/"):
        raise ConfigError(
            f"scheduler must be 'local' or tcp://HOST:PORT (a running `dask scheduler`), "
            f"got {text!r}"
        )
    if not 1 <= port <= 65535:
        raise ConfigError(f"scheduler port must be in 1..65535, got {port}")
    return f"{u.scheme}://{u.netloc}"


def _distributed():
    try:
        import distributed
    except ImportError:
        raise ConfigError(f"--scheduler needs Dask distributed, not installed: {INSTALL}") from None
    return distributed


@dataclass(frozen=True)
class DataRequest:
    """What a worker must load: the bundled sample or the full set (from ``directory`` when it
    exists on the worker, else the worker's normal search order), and the SHA-256s and sgdlab
    version it must find."""

    sample: bool
    directory: str | None
    sha256: tuple[tuple[str, str], ...]
    version: str

    @classmethod
    def of(cls, data: FashionMNIST) -> DataRequest:
        from sgdlab._version import __version__

        return cls(
            sample=bool(data.is_sample),
            directory=None if data.is_sample else str(data.source),
            sha256=tuple(sorted(data.sha256.items())),
            version=__version__,
        )


_DATA: dict[DataRequest, FashionMNIST] = {}  # per worker process: the data, loaded once
_LOCK = threading.Lock()  # a worker started with several threads shares it


def _worker_data(req: DataRequest) -> FashionMNIST:
    """The worker's data for ``req``, loaded and checked once per process."""
    from sgdlab._version import __version__

    with _LOCK:
        if req in _DATA:
            return _DATA[req]
        where = _where()
        if __version__ != req.version:
            raise ConfigError(
                f"worker {where} runs sgdlab {__version__}, the client {req.version}: install "
                "the same sgdlab everywhere"
            )
        from sgdlab.data import load, load_sample
        from sgdlab.measure.machine import set_threads

        set_threads(1)  # one core per task, as in the local worker processes
        if req.sample:
            data = load_sample()
        elif req.directory is not None and Path(req.directory).is_dir():
            data = load(req.directory, download=False, progress=False)
        else:
            data = load(progress=False)
        mine, theirs = dict(sorted(data.sha256.items())), dict(req.sha256)
        if mine != theirs:
            stem = next(
                (s for s in sorted(set(mine) | set(theirs)) if mine.get(s) != theirs.get(s)), "?"
            )
            raise ConfigError(
                f"worker {where} has other data than the client: {stem} SHA-256 "
                f"{(mine.get(stem) or 'missing')[:16]}… (from {data.source}), the client's "
                f"{(theirs.get(stem) or 'missing')[:16]}…; give every worker the same "
                "Fashion-MNIST files (SGDLAB_DATA=DIR where it runs)"
            )
        _DATA.clear()
        _DATA[req] = data
        return data


def _where() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        import socket

        return socket.gethostname()


def _task(runner: Callable[[Any, FashionMNIST], dict[str, Any]], task: Any, req: DataRequest):
    """One pass on a worker: its record (JSON-ready; the client caches it)."""
    return runner(task, _worker_data(req))


class Cluster:
    """A Dask client for the study: ``Cluster("tcp://HOST:PORT")`` connects to a running
    scheduler, ``Cluster("local", workers=N)`` starts N single-thread worker processes on
    127.0.0.1 (default one per usable core). A context manager; :meth:`run` is the backend
    of :func:`sgdlab.experiments.sweep.execute`.

    ``timeout``: seconds to reach the scheduler and to wait for a first worker. ``progress``:
    print the Dask dashboard's link (when the scheduler serves one) on ``out``."""

    def __init__(
        self,
        scheduler: str,
        *,
        workers: int | None = None,
        timeout: float = 20.0,
        progress: bool = True,
        out=None,
    ) -> None:
        self.scheduler = parse_scheduler(scheduler)
        if workers is not None and self.scheduler != LOCAL:
            raise ConfigError(
                "--workers goes with --scheduler local (or no --scheduler); a running "
                "scheduler's workers are started with `dask worker`"
            )
        from sgdlab.experiments.sweep import check_workers

        self.workers = check_workers(workers) if self.scheduler == LOCAL else None
        if not (timeout > 0):
            raise ConfigError(f"timeout must be > 0 seconds, got {timeout!r}")
        self.timeout, self.progress = float(timeout), progress
        self.out = out if out is not None else sys.stderr
        self.client = self._local = None
        self.dashboard: str | None = None

    def __enter__(self) -> Cluster:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> None:
        d = _distributed()
        import logging

        if self.scheduler == LOCAL:
            self._local = d.LocalCluster(
                n_workers=self.workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                scheduler_port=0,
                dashboard_address="127.0.0.1:0" if _has_bokeh() else None,
                silence_logs=logging.ERROR,
            )
            address = self._local.scheduler_address
        else:
            address = self.scheduler
        try:
            self.client = d.Client(address, timeout=self.timeout, set_as_default=False)
        except (OSError, TimeoutError) as e:
            self.close()
            raise DistributedError(
                f"cannot reach the Dask scheduler at {address} within {self.timeout:g} s "
                f"({' '.join(str(e).split())[:160]}); start one with `dask scheduler` and "
                "workers with `dask worker ADDRESS --nthreads 1`"
            ) from None
        services = self.client.scheduler_info().get("services", {})
        if "dashboard" in services:
            self.dashboard = self.client.dashboard_link
        if self.progress:
            where = f"a local Dask cluster of {self.workers} workers" if self._local else address
            link = f"; dashboard {self.dashboard}" if self.dashboard else ""
            print(f"study passes on {where}{link}", file=self.out, flush=True)

    def close(self) -> None:
        for thing in (self.client, self._local):
            if thing is not None:
                with contextlib.suppress(Exception):  # a lost scheduler: nothing to close cleanly
                    thing.close()
        self.client = self._local = None

    def _close_quietly(self) -> None:
        """Close after losing the scheduler, without the client's tracebacks on stderr (the
        error says what happened)."""
        import logging

        logs = [logging.getLogger(n) for n in ("distributed", "distributed.client")]
        old = [log.level for log in logs]
        for log in logs:
            log.setLevel(logging.CRITICAL)
        try:
            self.close()
        finally:
            for log, level in zip(logs, old, strict=True):
                log.setLevel(level)

    def run(
        self,
        todo: list[Any],
        data: FashionMNIST,
        runner: Callable[[Any, FashionMNIST], dict[str, Any]],
        finished: Callable[[Any, dict[str, Any]], None],
    ) -> None:
        """Submit one task per spec of ``todo`` and call ``finished(spec, record)`` in
        completion order (the caller caches the record). Any error, and Ctrl-C, cancels the
        tasks still pending."""
        d = _distributed()
        if self.client is None:
            raise RuntimeError("Cluster.run outside its `with` block")
        req = DataRequest.of(data)
        futures, spec_of = [], {}
        for spec in todo:
            f = self.client.submit(_task, runner, spec, req, key=_key(spec), pure=False, retries=0)
            futures.append(f)
            spec_of[f.key] = spec
        done = 0
        try:
            for f in d.as_completed(futures, loop=self.client.loop):
                if f.status == "finished":
                    finished(spec_of[f.key], f.result())
                    done += 1
                    continue
                raise self._failure(f, done, len(todo))
        except BaseException as e:
            pending = [f for f in futures if not f.done()]
            if self.client is not None and pending:
                with contextlib.suppress(Exception):
                    self.client.cancel(pending, force=True)
            if isinstance(e, KeyboardInterrupt):  # the one-line summary says what happened
                self._close_quietly()
            raise

    def _failure(self, f, done: int, total: int) -> BaseException:
        d = _distributed()
        if f.status == "cancelled" or self.client.status not in ("running", "newly-created"):
            self._close_quietly()  # stop the client's reconnection attempts
            return DistributedError(
                f"lost the Dask scheduler at {self.scheduler}: {done} of these {total} passes "
                "finished and are cached; start the scheduler and its workers again and rerun "
                "the same command to continue from the cache"
            )
        exc = f.exception()
        if isinstance(exc, SgdlabError):
            return exc
        if isinstance(exc, d.KilledWorker):
            return DistributedError(
                f"the pass {f.key} was running on every worker that died "
                f"({exc}); Dask gave up on it: check the workers' memory and logs"
            )
        return DistributedError(
            f"a study pass failed on a Dask worker: {type(exc).__name__}: {exc}"
        )


def _key(spec: Any) -> str:
    """A readable, unique task key (the dashboard shows it): ``pass-sgd-b64-s0-1a2b3c4d``."""
    tag = uuid.uuid4().hex[:8]
    if all(hasattr(spec, a) for a in ("optimizer", "batch_size", "seed")):
        return f"pass-{spec.optimizer}-b{spec.batch_size}-s{spec.seed}-{tag}"
    return f"run-{tag}"


def _has_bokeh() -> bool:
    import importlib.util

    return importlib.util.find_spec("bokeh") is not None
