"""Atomic file writes, and the temporaries that killed writers leave behind.

:func:`atomic_write` (whole content at once: bytes, text or a function that writes to a binary
file object) and :func:`atomic_file` (a context manager yielding the file object, for streamed
content) both guarantee:

- **A reader sees the old file or the complete new one, never a partial one.** The content goes
  to a new temporary file in the target's directory, is flushed and ``fsync``'ed, then renamed
  over the target (``os.replace``: atomic on POSIX within one file system); with ``fsync_dir``
  (the default) the directory is ``fsync``'ed as well, so the rename survives a power cut.
- **Nothing is written through a planted name.** The temporary is created by
  :func:`tempfile.mkstemp` (``O_CREAT | O_EXCL``: a file or symlink already at that name makes it
  pick another) with an unpredictable name; a symlink *at the target* is replaced by the new
  file, never followed.
- **On any error, KeyboardInterrupt included, the temporary is removed** and the error is
  re-raised; the target is untouched. (``kill -9`` cannot be caught: it leaves the temporary,
  which is never read and is recognized by name, see below.)
- **Concurrent writers to one path** (threads or processes) each succeed; the target then holds
  the whole content of one of them (the last to rename).
- The new file gets the permissions a newly created file gets from ``open()``
  (``0o666`` minus the umask) unless ``mode`` says otherwise.

A directory ``fsync`` that the file system does not support (``EINVAL``, ``ENOTSUP``,
``EOPNOTSUPP``: some FUSE and SMB mounts) warns once per process (:class:`RuntimeWarning`) and
the write counts as done; any other error of it is raised.

Temporaries are named ``.{target name}.{writer's pid}.{random}{suffix}`` (suffix ``.tmp`` by
default), so :func:`remove_stale_temporaries` can delete those of writers that are gone (the
process no longer exists) and keep those being written. Process ids are those of this host's
PID namespace: a cache shared between hosts (NFS) should not be cleaned from another host.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "atomic_file",
    "atomic_write",
    "process_alive",
    "remove_stale_temporaries",
    "stale_temporaries",
    "temporary_pattern",
]

#: Errors of a directory fsync that mean "this file system cannot do that", not "it failed".
DIR_FSYNC_UNSUPPORTED = frozenset({errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP})

_lock = threading.Lock()
_writing: set[str] = set()  # temporaries this process is writing now (absolute paths)
_warned_dir_fsync = False


def atomic_write(
    path: str | os.PathLike[str],
    data: bytes | bytearray | memoryview | str | Callable[[BinaryIO], object],
    *,
    encoding: str = "utf-8",
    fsync_dir: bool = True,
    suffix: str = ".tmp",
    mode: int | None = None,
    check: Callable[[Path], None] | None = None,
) -> Path:
    """Replace ``path`` atomically with ``data``; return ``path`` (see the module docstring).

    ``data``: bytes-like, or ``str`` (encoded with ``encoding``), or a callable that writes the
    content to the binary file object it is given (``lambda f: torch.save(obj, f)``,
    ``lambda f: fig.savefig(f, format="png")``). ``check(temporary)``, when given, runs after
    the content is on disk and before the rename; raising there aborts the write. ``mode``: the
    new file's permission bits (default: ``0o666`` minus the umask). The parent directory must
    exist. A ``path`` that is a directory raises :class:`IsADirectoryError`.
    """
    with atomic_file(path, fsync_dir=fsync_dir, suffix=suffix, mode=mode, check=check) as f:
        if callable(data):
            data(f)
        elif isinstance(data, str):
            f.write(data.encode(encoding))
        else:
            f.write(data)
    return Path(path)


@contextlib.contextmanager
def atomic_file(
    path: str | os.PathLike[str],
    *,
    fsync_dir: bool = True,
    suffix: str = ".tmp",
    mode: int | None = None,
    check: Callable[[Path], None] | None = None,
) -> Iterator[BinaryIO]:
    """Yield a binary file object whose content replaces ``path`` when the block ends normally.

    When the ``with`` block raises (anything, KeyboardInterrupt included), the temporary is
    removed, ``path`` is left as it was and the error propagates. Otherwise the file is flushed,
    fsync'ed and closed, ``check(temporary)`` runs when given (e.g. to verify a download; it
    may raise), and the file is renamed over ``path``. Parameters as :func:`atomic_write`.
    """
    path = Path(path)
    _refuse_directory(path)
    with _lock:  # registered at once: a cleaner in another thread must not take it for stale
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=_prefix(path.name), suffix=suffix)
        _writing.add(os.path.abspath(name))
    tmp = Path(name)
    try:
        try:
            os.fchmod(fd, _default_mode() if mode is None else mode)
            f = os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            raise
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if check is not None:
            check(tmp)
        _refuse_directory(path)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    finally:
        with _lock:
            _writing.discard(os.path.abspath(tmp))
    if fsync_dir:
        _fsync_directory(path.parent)


def _refuse_directory(path: Path) -> None:
    """The error ``open()`` gives (``[Errno 21] Is a directory: PATH``) before anything is
    written, when the target is a directory (not a link to one)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))


def _prefix(name: str) -> str:
    """``.{name}.{pid}.``, the name cut so that the temporary's name stays under 255 bytes."""
    raw = name.encode()
    if len(raw) > 200:
        name = raw[:200].decode(errors="ignore")
    return f".{name}.{os.getpid()}."


def _default_mode() -> int:
    """``0o666`` minus the process's umask: the mode ``open()`` gives a new file."""
    return 0o666 & ~_umask()


def _umask() -> int:
    try:  # Linux >= 4.7: read it without changing it (os.umask would, for every thread)
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _lock:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def _fsync_directory(directory: Path) -> None:
    """fsync ``directory`` so a rename in it is durable; warn once where that is unsupported."""
    global _warned_dir_fsync
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(directory, flags)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as e:
        if e.errno not in DIR_FSYNC_UNSUPPORTED:
            raise
        with _lock:
            first, _warned_dir_fsync = not _warned_dir_fsync, True
        if first:
            warnings.warn(
                f"cannot fsync directory {directory} ({e.strerror or e}); its file system does "
                "not support it, so a rename there may not survive a power cut "
                "(warned once)",
                RuntimeWarning,
                stacklevel=2,
            )


# ----------------------------------------------------------------- temporaries of dead writers


def temporary_pattern(target: str = r".+", suffix: str = ".tmp") -> re.Pattern[str]:
    """Regex of the temporaries :func:`atomic_file` names for targets matching ``target`` (a
    regex) with ``suffix``; group ``pid`` is the writer's process id."""
    sfx = re.escape(suffix)
    return re.compile(  # sgdlab 0.1 wrote ``.NAME.PID.tmp`` (no random part): those too, where
        # NAME does not end in a digit (so a new name whose random part is all digits never
        # passes for an old one with another pid)
        rf"^\.(?:{target})\.(?P<pid>\d+)\.[A-Za-z0-9_]+{sfx}$"
        rf"|^\.(?:{target})(?<![0-9])\.(?P<old_pid>\d+){sfx}$",
        re.DOTALL,
    )


def process_alive(pid: int) -> bool:
    """Whether a process with id ``pid`` exists (another user's counts: it may be writing)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    except OverflowError:  # not a pid at all
        return False
    return True


def _writer_gone(path: Path, pid: int) -> bool:
    if pid == os.getpid():  # ours: stale unless this process is writing it now (else a
        with _lock:  # killed earlier process that had the same pid, e.g. in a container)
            return os.path.abspath(path) not in _writing
    return not process_alive(pid)


def stale_temporaries(
    directory: str | os.PathLike[str], pattern: re.Pattern[str] | None = None
) -> list[Path]:
    """Temporaries in ``directory`` whose writer is gone, sorted. ``pattern`` (default
    :func:`temporary_pattern`) picks the names and has a group ``pid`` (or ``old_pid``)."""
    pattern = pattern or temporary_pattern()
    d = Path(directory)
    try:
        entries = list(d.iterdir())
    except OSError:  # missing, not a directory, unreadable: nothing to clean there
        return []
    out = []
    for p in entries:
        m = pattern.match(p.name)
        if m and _writer_gone(p, int(m.group("pid") or m.group("old_pid"))):
            out.append(p)
    return sorted(out)


def remove_stale_temporaries(
    directory: str | os.PathLike[str], pattern: re.Pattern[str] | None = None
) -> list[Path]:
    """Delete :func:`stale_temporaries` (never read, only disk space); return those deleted.
    One that vanished meanwhile or cannot be deleted is skipped."""
    gone = []
    for p in stale_temporaries(directory, pattern):
        try:
            if p.is_symlink() or p.is_file():
                p.unlink()
                gone.append(p)
        except OSError:
            continue
    return gone
