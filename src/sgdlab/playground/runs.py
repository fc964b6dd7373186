"""The playground's runs: a bounded queue, a fixed pool of training threads, cancellation.

Each run is :func:`sgdlab.train` itself (the one training core, the same arguments as
``sgdlab train`` gives it), so its history and weights are bitwise those of ``sgdlab train``
with the same options. The pool has ``workers`` threads (default: one per core); the others wait
in a FIFO queue (:meth:`RunManager.position`). The fast engine's numba kernels and torch's ops
release the GIL, so the threads train in parallel while the server's event loop stays free. With
several workers each training runs on one thread (``threads``: numba's count is set per worker
thread; torch's, process-wide, is set once) so the runs do not fight over the cores.

A run publishes, as it trains (read by the server's event streams, woken through ``notify``):
``events`` (an append-only list of ``(kind, data)``: ``start``, ``steps`` (minibatch costs of
one engine call), ``epoch`` (the history record: one per evaluation point)), and the latest
``weights`` and ``confusion`` snapshots (replaced, not accumulated). Memory is bounded: at most
``max_pending`` runs queued or running (more: :class:`Busy`), at most ``keep`` finished runs
kept (the oldest dropped; all but the newest :data:`FULL_EVENTS` without their step costs and
snapshots), and each run's step costs thinned to about :data:`MAX_DOTS` points.
"""

from __future__ import annotations

import collections
import math
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from sgdlab.config import TrainConfig
from sgdlab.errors import SgdlabError
from sgdlab.playground import views
from sgdlab.playground.schema import steps_per_epoch

STATUSES = ("queued", "running", "done", "cancelled", "failed")
#: Minibatch-cost points sent per run (longer runs send every k-th step).
MAX_DOTS = 20_000
#: Finished runs that keep every event for late event streams (older ones: epochs only).
FULL_EVENTS = 16
#: Seconds between weight snapshots within an epoch (every epoch's end is sent too).
SNAPSHOT_SECONDS = 0.2


class Busy(Exception):
    """Too many runs queued or running; try again later (HTTP 503)."""


class Cancelled(Exception):
    """Raised inside a training (from its hooks) to stop it."""


@dataclass
class Run:
    """One requested training and everything it has published so far."""

    id: str
    config: TrainConfig
    explicit: set[str]
    status: str = "queued"
    history: list[dict[str, Any]] = field(default_factory=list)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    weights: dict[str, Any] | None = None
    weights_version: int = 0
    confusion: dict[str, Any] | None = None
    confusion_version: int = 0
    error: str | None = None
    result: Any = None  # the TrainResult once done
    created: float = field(default_factory=time.time)
    cancel: threading.Event = field(default_factory=threading.Event)
    trimmed: bool = False  # step costs and snapshots dropped (an old finished run)

    @property
    def finished(self) -> bool:
        return self.status in ("done", "cancelled", "failed")

    def summary(self, position: int | None) -> dict[str, Any]:
        """``GET /api/runs/{id}``: status, queue position (1 = next), config, history."""
        return {
            "id": self.id,
            "status": self.status,
            "position": position,
            "config": self.result.config if self.result is not None else self.config.to_dict(),
            "history": self.history,
            "error": self.error,
        }


class RunManager:
    """Queue and pool of trainings on one data set (``data``: a loaded FashionMNIST)."""

    def __init__(
        self,
        data,
        *,
        workers: int | None = None,
        threads: int | None = None,
        max_pending: int = 32,
        keep: int = 1000,
        notify: Callable[[Run], None] | None = None,
    ) -> None:
        self.data, self.n = data, int(data.train_images.shape[0])
        self.workers = workers or max(1, os.cpu_count() or 1)
        self.threads = threads or (1 if self.workers > 1 else (os.cpu_count() or 1))
        self.max_pending, self.keep = max_pending, keep
        self.notify = notify or (lambda run: None)
        self.runs: dict[str, Run] = {}
        self.queue: collections.deque[Run] = collections.deque()
        self.lock = threading.Condition()
        self.closed = False
        self.pool: list[threading.Thread] = []

    def start(self) -> None:
        """Start the worker threads (torch's thread count set once, process-wide, until
        :meth:`close`)."""
        self._torch_threads = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        for i in range(self.workers):
            t = threading.Thread(target=self._work, name=f"sgdlab-playground-{i}", daemon=True)
            t.start()
            self.pool.append(t)

    def close(self, timeout: float = 5.0) -> None:
        """Cancel every run and stop the workers."""
        with self.lock:
            self.closed = True
            for run in self.runs.values():
                run.cancel.set()
            self.lock.notify_all()
        for t in self.pool:
            t.join(timeout)
        if self.pool:
            torch.set_num_threads(self._torch_threads)

    def submit(self, cfg: TrainConfig, explicit: set[str]) -> Run:
        """Queue a run; raises :class:`Busy` when ``max_pending`` are queued or running."""
        with self.lock:
            pending = sum(not r.finished for r in self.runs.values())
            if pending >= self.max_pending or self.closed:
                raise Busy(
                    f"the playground is busy ({pending} runs queued or running); try again soon"
                )
            run = Run(id=secrets.token_hex(8), config=cfg, explicit=set(explicit))
            self.runs[run.id] = run
            self.queue.append(run)
            self._forget_old()
            self.lock.notify()
        self._queue_changed()
        return run

    def get(self, run_id: str) -> Run | None:
        return self.runs.get(run_id)

    def position(self, run: Run) -> int | None:
        """1-based place of a queued run in the queue (None when it is not queued)."""
        with self.lock:
            for i, r in enumerate(self.queue):
                if r is run:
                    return i + 1
        return None

    def cancel(self, run: Run) -> None:
        """Cancel a run: a queued one leaves the queue, a running one stops after its current
        engine call (at most ~50 ms of work)."""
        with self.lock:
            run.cancel.set()
            if run.status == "queued":
                self.queue.remove(run)
                run.status = "cancelled"
        self._publish(run, "status", {})
        self._queue_changed()

    def _forget_old(self) -> None:
        """Bound memory: keep ``keep`` finished runs (status, config, history, final weights);
        only the newest :data:`FULL_EVENTS` of them keep their step costs and snapshots."""
        done = [r for r in self.runs.values() if r.finished]  # dicts keep insertion order
        for r in done[: max(0, len(done) - self.keep)]:
            del self.runs[r.id]
        for r in done[: max(0, len(done) - FULL_EVENTS)]:
            if not r.trimmed:
                r.events = [e for e in r.events if e[0] != "steps"]
                r.weights = r.confusion = None
                r.trimmed = True

    def _queue_changed(self) -> None:
        for r in list(self.queue):
            self.notify(r)

    def _publish(self, run: Run, kind: str, data: dict[str, Any]) -> None:
        if kind != "status":
            run.events.append((kind, data))
        self.notify(run)

    def _work(self) -> None:
        import numba

        numba.set_num_threads(min(self.threads, numba.config.NUMBA_NUM_THREADS))  # this thread
        while True:
            with self.lock:
                while not self.queue and not self.closed:
                    self.lock.wait()
                if self.closed:
                    return
                run = self.queue.popleft()
                run.status = "running"
            self._queue_changed()
            self._train(run)
            with self.lock:
                self._forget_old()
            self.notify(run)

    def _train(self, run: Run) -> None:
        from sgdlab.training.trainer import train

        cfg = run.config
        total = cfg.epochs * steps_per_epoch(cfg, self.n)
        stride = max(1, math.ceil(total / MAX_DOTS))
        t0 = time.perf_counter()
        last_snapshot = [0.0]
        test = (self.data.test_images, self.data.test_labels)
        self._publish(
            run,
            "start",
            {"total_steps": total, "stride": stride, "epochs": cfg.epochs, "n": self.n},
        )

        def on_stretch(core, costs: torch.Tensor) -> None:
            if run.cancel.is_set():
                raise Cancelled
            now = time.perf_counter() - t0
            first = core.step - len(costs)  # global index of this call's first step
            offset = (-first) % stride
            picked = costs[offset::stride]
            steps = range(first + offset + 1, core.step + 1, stride)
            self._publish(
                run, "steps", {"step": list(steps), "cost": picked.tolist(), "seconds": now}
            )
            if core.epoch_done or now - last_snapshot[0] >= SNAPSHOT_SECONDS:
                last_snapshot[0] = now
                model = core.result_model()  # what this epoch's evaluation sees
                run.weights, run.weights_version = views.templates(model), core.step
                if core.epoch_done:
                    run.confusion = views.confusion(model, *test)
                    run.confusion_version = core.step

        def on_epoch(rec: dict[str, Any]) -> None:
            run.history.append(rec)
            self._publish(run, "epoch", {**rec, "seconds": time.perf_counter() - t0})
            if run.cancel.is_set():
                raise Cancelled

        try:
            run.result = train(
                cfg,
                data=self.data,
                explicit=run.explicit,
                progress=False,
                callback=on_epoch,
                on_stretch=on_stretch,
            )
            run.status = "done"
        except Cancelled:
            run.status = "cancelled"
        except SgdlabError as e:  # a diverged run: one line, as sgdlab train says it
            run.status, run.error = "failed", str(e).strip().splitlines()[0]
        except Exception as e:  # a bug: the run fails, the server stays up
            run.status, run.error = "failed", f"{type(e).__name__}: {e}".splitlines()[0]
