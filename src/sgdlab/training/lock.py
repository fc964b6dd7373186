"""One run per checkpoint directory: an exclusive ``flock`` on ``DIR/.sgdlab.lock``, held for
the whole run.

Two runs writing into one directory would name their checkpoints alike and prune each other's
files (``--keep``), so :func:`sgdlab.train` takes this lock before it reads the directory:

- a second run finds the lock held and is refused at once, naming the holder (PID, host,
  start time and what it is doing). A new run is refused with :class:`RunLockedError` (exit
  code 2: choose another directory); a resume with :class:`RunBusyError` (exit code 75,
  ``EX_TEMPFAIL``: the same command will work once the holder is done), so a scheduler can
  tell "retry later" from "bad input";
- the lock is the kernel's, so it dies with its process (``kill -9`` included): a lock file
  whose holder is gone is simply taken over (the file's text only describes the last holder).

The holder deletes the lock file before it lets go of the lock; a process that locked a file
that was deleted (or replaced) meanwhile retries on the new one, so the deletion cannot let
two processes in. A lock file found at start belonged to a process that died holding it. On
shared filesystems ``flock`` is only as good as the filesystem's lock support (NFSv4 and
Lustre with ``flock`` mounts support it; some FUSE mounts do not).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from sgdlab.errors import CheckpointError

#: The lock file's name inside a checkpoint directory.
LOCK_NAME = ".sgdlab.lock"
#: Exit code of :class:`RunBusyError` (sysexits.h ``EX_TEMPFAIL``: try again later).
EXIT_BUSY = 75


class RunLockedError(CheckpointError):
    """A new run asked for a directory that another live process is training in."""

    exit_code = 2


class RunBusyError(CheckpointError):
    """A resume asked for a run that another live process is still training: retry later."""

    exit_code = EXIT_BUSY


class RunLock:
    """Exclusive lock on a checkpoint directory (created if needed), released on :meth:`release`
    or process exit. ``purpose`` ("new run" / "resume") is written for the next holder's error.

    Use as a context manager, or call :meth:`acquire`/:meth:`release`.
    """

    def __init__(self, directory: str | os.PathLike, *, purpose: str) -> None:
        self.directory, self.purpose = Path(directory), purpose
        self.path = self.directory / LOCK_NAME
        self._fd: int | None = None
        self.took_over: dict[str, Any] | None = None  # the dead holder's record, if any

    def acquire(self) -> RunLock:
        """Take the lock or raise :class:`RunLockedError`/:class:`RunBusyError` (never waits)."""
        for _ in range(100):  # retried only when the holder deleted the file as we locked it
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read(fd)
                os.close(fd)
                raise self._refusal(holder) from None
            except OSError as e:
                os.close(fd)
                raise CheckpointError(f"cannot lock {self.path}: {e.strerror}") from None
            if _same_file(fd, self.path):
                break
            os.close(fd)
        else:  # pragma: no cover - a directory whose lock file is replaced without end
            raise CheckpointError(f"cannot lock {self.path}: it keeps being replaced")
        old = _read(fd)
        if old.get("pid"):
            self.took_over = old
        me = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "purpose": self.purpose,
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(me) + "\n").encode(), 0)
        self._fd = fd
        return self

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise CheckpointError(f"cannot open the lock file {self.path}: {e.strerror}") from None

    def release(self) -> None:
        """Delete the lock file, then drop the lock (a waiting process retries, see above)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if _same_file(fd, self.path):
                self.path.unlink()
        except OSError:
            pass  # a directory that became read-only: the file stays, the lock still goes
        os.close(fd)  # closing the descriptor releases the flock

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _refusal(self, holder: dict[str, Any]) -> CheckpointError:
        who = describe_holder(holder)
        if self.purpose == "resume":
            return RunBusyError(
                f"{self.directory} is in use by {who}; this run is still being trained there. "
                f"Wait for it to end (exit code {EXIT_BUSY}: try again later)"
            )
        return RunLockedError(
            f"{self.directory} is in use by {who}; a second run there would mix checkpoints "
            "with it. Use another --checkpoint-dir"
        )


def describe_holder(holder: dict[str, Any]) -> str:
    """``process 123 on host h (a resume, since 2026-12-06 09:00:00 UTC)``."""
    if not holder.get("pid"):
        return "another process (it has not written its name yet)"
    return (
        f"process {holder['pid']} on {holder.get('host', '?')} "
        f"({holder.get('purpose', 'a run')}, since {holder.get('started', '?')})"
    )


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd`` (not deleted or replaced)."""
    try:
        st = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def _read(fd: int) -> dict[str, Any]:
    try:
        text = os.pread(fd, 4096, 0).decode("utf-8", "replace")
        doc = json.loads(text) if text.strip() else {}
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}
