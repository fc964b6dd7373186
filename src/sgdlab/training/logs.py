"""Training logs written as a run goes: a CSV file and TensorBoard scalars, one row per epoch.

Both are fed by :func:`sgdlab.train`'s hooks: ``on_begin`` gets the run as it starts (its
history restored from a checkpoint, empty for a new run) and ``callback`` each new epoch's
history record. A resumed run therefore logs consistently: the CSV file is rewritten from the
restored history and then appended to (rows a killed run wrote past its last checkpoint are
not duplicated), and TensorBoard events from the restored run's first epoch on are purged
(``SummaryWriter(purge_step=1)``) and written again.

>>> import io
>>> log = CsvLog(io.StringIO())
>>> log.begin([]); log({"epoch": 1, "train_cost": 0.5}); log.file.getvalue().splitlines()
['epoch,train_cost', '1,0.5']
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from sgdlab.errors import ConfigError, SgdlabError

INSTALL_HINT = "--tensorboard needs the tensorboard package: pip install 'sgdlab[tensorboard]'"


class MissingExtra(SgdlabError, ImportError):
    """The ``tensorboard`` extra is not installed."""


class CsvLog:
    """One CSV row per evaluation (the history record's keys as the header), flushed each row.

    ``target`` is a path (opened by :meth:`begin`, truncated) or an open text file."""

    def __init__(self, target: str | os.PathLike | IO[str]) -> None:
        self.target, self.file, self.fields = target, None, None
        self._writer = None

    def begin(self, start: Any) -> None:
        """Start the file afresh with the rows of the history (a resumed run's epochs) of
        ``start`` (``on_begin``'s :class:`~sgdlab.training.trainer.TrainResult`, or a list)."""
        if isinstance(self.target, (str, os.PathLike)):
            try:
                self.file = open(Path(self.target), "w", newline="", encoding="utf-8")  # noqa: SIM115
            except OSError as e:
                raise ConfigError(f"--log-csv {self.target}: {e.strerror or e}") from None
        else:
            self.file = self.target
        for rec in _history(start):
            self(rec)

    def __call__(self, record: dict[str, Any]) -> None:
        if self._writer is None:
            self.fields = list(record)
            self._writer = csv.DictWriter(self.file, self.fields, extrasaction="ignore")
            self._writer.writeheader()
        self._writer.writerow(record)
        self.file.flush()

    def close(self) -> None:
        if self.file is not None and self.file is not self.target:
            self.file.close()


def _history(start: Any) -> list[dict[str, Any]]:
    return list(getattr(start, "history", start))


def scalars(record: dict[str, Any]) -> dict[str, float]:
    """The record's numbers (every key but ``epoch``, which is the step, and text fields)."""
    return {
        k: float(v)
        for k, v in record.items()
        if k != "epoch" and isinstance(v, (int, float)) and not isinstance(v, bool)
    }


class TensorBoardLog:
    """The history's scalars through ``torch.utils.tensorboard.SummaryWriter`` into ``log_dir``
    (global step: the epoch). Raises :class:`MissingExtra` at once when tensorboard is not
    installed."""

    def __init__(self, log_dir: str | os.PathLike) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise MissingExtra(INSTALL_HINT) from None
        self._cls, self.log_dir, self.writer = SummaryWriter, str(log_dir), None

    def begin(self, start: Any) -> None:
        """Open the writer, hiding any earlier events of this directory, then log the history
        of ``start`` (as :meth:`CsvLog.begin`)."""
        self.writer = self._cls(self.log_dir, purge_step=1)
        for rec in _history(start):
            self(rec)

    def __call__(self, record: dict[str, Any]) -> None:
        for tag, value in scalars(record).items():
            self.writer.add_scalar(tag, value, global_step=int(record["epoch"]))
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class Logs:
    """Several logs as one: :meth:`begin`, each record, :meth:`close` go to every one."""

    def __init__(self, logs: Iterable[Any]) -> None:
        self.logs = list(logs)

    def begin(self, start: Any) -> None:
        for log in self.logs:
            log.begin(start)

    def __call__(self, record: dict[str, Any]) -> None:
        for log in self.logs:
            log(record)

    def close(self) -> None:
        for log in self.logs:
            log.close()
