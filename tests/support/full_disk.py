"""A tiny tmpfs that fills up: real ENOSPC for the full-disk tests (CI runs as root).

Where mounting is impossible (not root, no tmpfs, a container without CAP_SYS_ADMIN) the test
is skipped loudly with the reason; the injected-error tests still cover the same code paths.
"""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

import pytest


@contextlib.contextmanager
def full_disk(where: Path, *, size_kb: int = 64):
    """Mount a ``size_kb`` KiB tmpfs at ``where`` (created), yield it, unmount."""
    where.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        pytest.skip(f"FULL-DISK TEST SKIPPED: cannot mount a tmpfs here ({r.stderr.strip()})")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(directory: Path, *, leave: int = 0) -> None:
    """Fill ``directory``'s filesystem, leaving about ``leave`` bytes free."""
    block = b"\0" * 4096
    with open(directory / "filler", "wb", buffering=0) as f:
        try:
            while True:
                f.write(block)
        except OSError:
            pass
    if leave:
        with open(directory / "filler", "r+b") as f:
            f.truncate(max(0, (directory / "filler").stat().st_size - leave))
