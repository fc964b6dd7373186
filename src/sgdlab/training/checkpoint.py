"""Crash-safe checkpoints: atomic writes, a SHA-256 of the payload, validation, newest-valid.

File ``DIR/ckpt-{step:010d}.sgdlab``::

    b"SGDLAB-CKPT 1\\n" + sha256(payload).hexdigest() + b"\\n" + payload

``payload`` is ``torch.save`` of a dict of tensors and plain values, so it loads with
``torch.load(..., weights_only=True)``: nothing in the file is ever executed. A write goes
through :func:`sgdlab.atomic.atomic_write` (a temporary ``.ckpt-*.sgdlab.PID.RANDOM.tmp`` in the
same directory, flushed and fsync'ed, renamed over the final name with ``os.replace``, the
directory fsync'ed), so a crash leaves either the old set of checkpoints or the new one, never a
half-written file under a final name.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import time
from pathlib import Path
from typing import Any

import torch

from sgdlab.atomic import atomic_write
from sgdlab.errors import CheckpointError, ConfigError

MAGIC = b"SGDLAB-CKPT 1\n"
_NAME = re.compile(r"^ckpt-(\d{10,})\.sgdlab$")  # 10 digits, more past step 9,999,999,999


def prepare_dir(directory: str | os.PathLike) -> Path:
    """Create ``directory`` if needed; a clear :class:`ConfigError` if that is impossible."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create checkpoint directory {directory}: {e.strerror}") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ConfigError(f"checkpoint directory {directory} is not writable")
    return directory


def save(state: dict[str, Any], directory: str | os.PathLike, *, step: int, keep: int = 2) -> Path:
    """Write ``state`` as the checkpoint for global ``step``; keep the newest ``keep`` files."""
    directory = prepare_dir(directory)
    buf = io.BytesIO()
    torch.save(state, buf)
    payload = buf.getvalue()
    blob = MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload
    final = directory / f"ckpt-{step:010d}.sgdlab"

    def write(f) -> None:
        half = len(blob) // 2
        f.write(blob[:half])
        _fault_pause()
        f.write(blob[half:])

    try:
        atomic_write(final, write)
    except OSError as e:
        raise ConfigError(f"cannot write checkpoint in {directory}: {e.strerror or e}") from None
    prune(directory, step=step, keep=keep)
    return final


def prune(directory: str | os.PathLike, *, step: int, keep: int) -> list[Path]:
    """After the checkpoint of ``step`` was written: keep it and the newest ``keep - 1`` *valid*
    older ones, delete the other older files (valid or damaged); return what was deleted.

    Only files older than ``step`` are touched: a newer file (a damaged one the run resumed
    past, or anything else) is never deleted, and never counted among the kept. A symlink with
    a checkpoint's name counts as damaged (only the link is deleted). ``keep`` 0 keeps all.
    """
    if keep <= 0:
        return []
    older = [p for p in list_checkpoints(directory) if step_of(p) < step]
    kept, deleted = 1, []
    for p in reversed(older):
        if kept < keep and is_valid(p):
            kept += 1
            continue
        p.unlink(missing_ok=True)
        deleted.append(p)
    return deleted


def step_of(path: str | os.PathLike) -> int:
    """The global step in a checkpoint's file name."""
    m = _NAME.match(Path(path).name)
    if m is None:
        raise ValueError(f"not a checkpoint name: {path}")
    return int(m.group(1))


def is_valid(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a regular file (not a symlink) that :func:`load` accepts."""
    try:
        if Path(path).is_symlink():
            return False
        load(path)
    except CheckpointError:
        return False
    return True


def _fault_pause() -> None:
    """Test hook: ``SGDLAB_FAULT_CKPT_PAUSE=seconds`` pauses mid-write (for kill -9 tests)."""
    pause = os.environ.get("SGDLAB_FAULT_CKPT_PAUSE")
    if pause:
        print("sgdlab-fault: inside checkpoint write", flush=True)
        time.sleep(float(pause))


def list_checkpoints(directory: str | os.PathLike) -> list[Path]:
    """Checkpoint files in ``directory``, oldest first (by step)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted((p for p in directory.iterdir() if _NAME.match(p.name)), key=step_of)


def load(path: str | os.PathLike) -> dict[str, Any]:
    """Read, verify and validate one checkpoint; raise :class:`CheckpointError` saying why not."""
    path = Path(path)
    try:
        blob = path.read_bytes()
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read ({e.strerror})") from None
    if not blob.startswith(MAGIC):
        raise CheckpointError(f"{path}: not an sgdlab checkpoint (bad header)")
    digest, payload = blob[len(MAGIC) : len(MAGIC) + 64], blob[len(MAGIC) + 65 :]
    if blob[len(MAGIC) + 64 : len(MAGIC) + 65] != b"\n" or len(digest) != 64:
        raise CheckpointError(f"{path}: truncated header")
    if hashlib.sha256(payload).hexdigest().encode() != digest:
        raise CheckpointError(f"{path}: SHA-256 mismatch (truncated or corrupted)")
    try:
        state = torch.load(io.BytesIO(payload), weights_only=True, map_location="cpu")
    except Exception as e:  # noqa: BLE001 - the unpickler refuses code with many error types
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        raise CheckpointError(f"{path}: refused to load ({type(e).__name__}: {first})") from None
    _validate(state, path)
    return state


def _validate(state: Any, path: Path) -> None:
    need = ("weight", "bias", "epoch", "step", "sampler", "config", "history")
    if not isinstance(state, dict) or any(k not in state for k in need):
        raise CheckpointError(f"{path}: missing fields (need {', '.join(need)})")
    w, b = state["weight"], state["bias"]
    if not (isinstance(w, torch.Tensor) and w.shape == (10, 784) and w.dtype == torch.float32):
        raise CheckpointError(f"{path}: weight is not a float32 10x784 tensor")
    if not (isinstance(b, torch.Tensor) and b.shape == (10,) and b.dtype == torch.float32):
        raise CheckpointError(f"{path}: bias is not a float32 (10,) tensor")
    if not (torch.isfinite(w).all() and torch.isfinite(b).all()):
        raise CheckpointError(f"{path}: weights are not finite")


def latest_valid(directory: str | os.PathLike, *, warn=print) -> tuple[Path, dict[str, Any]]:
    """The newest checkpoint in ``directory`` that verifies; damaged newer ones are reported."""
    files = list_checkpoints(directory)
    if not files:
        raise CheckpointError(f"no checkpoint found in {directory}")
    for path in reversed(files):
        try:
            return path, load(path)
        except CheckpointError as e:
            older = [p.name for p in files if p < path]
            warn(
                f"warning: {e}; "
                + (f"trying the previous one ({older[-1]})" if older else "no older checkpoint")
            )
    raise CheckpointError(f"no valid checkpoint in {directory} (all {len(files)} damaged)")


class Writer:
    """Writes checkpoints on one background thread so training does not wait for fsync.

    :meth:`submit` takes a *snapshot* (tensors cloned, lists copied by the caller) and returns
    at once; at most one write is in flight (a second submit waits for the first). :meth:`close`
    waits for the last write. An error in the writer is raised by the next submit or close.
    A process killed mid-write leaves the previous checkpoints intact (see :func:`save`).
    """

    def __init__(self, directory: str | os.PathLike, *, keep: int = 2):
        from concurrent.futures import ThreadPoolExecutor

        self.directory, self.keep = prepare_dir(directory), keep
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sgdlab-ckpt")
        self._pending = None

    def submit(self, state: dict[str, Any], *, step: int) -> Path:
        self.wait()
        self._pending = self._pool.submit(save, state, self.directory, step=step, keep=self.keep)
        return self.directory / f"ckpt-{step:010d}.sgdlab"

    def wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()  # re-raises the writer's error here

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._pool.shutdown(wait=True)
