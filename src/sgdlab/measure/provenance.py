"""What produced a result: versions, device, threads, git commit. Recorded in every output."""

from __future__ import annotations

import functools
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch


@functools.cache
def git_commit() -> str | None:
    """The sgdlab checkout's commit (with ``+dirty``), or None when not in a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return sha + ("+dirty" if dirty.strip() else "")


def cpu_model() -> str:
    """The CPU's model name (``lscpu``'s "Model name"), or the platform's processor string."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def device_name(device: torch.device | str) -> str:
    """The GPU's name for a CUDA device, else the CPU model."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_model()


def _numba_threads() -> int | None:
    """numba's thread count if numba is loaded (never imports it), else None."""
    import sys

    numba = sys.modules.get("numba")
    return numba.get_num_threads() if numba is not None else None


def environment(device: torch.device | str = "cpu") -> dict[str, Any]:
    """A JSON-ready description of the software and hardware a result came from."""
    from sgdlab._version import __version__

    return {
        "sgdlab_version": __version__,
        "torch_version": str(torch.__version__),
        "python_version": platform.python_version(),
        "device": str(torch.device(device)),
        "device_name": device_name(device),
        "torch_threads": torch.get_num_threads(),
        "numba_threads": _numba_threads(),
        "platform": platform.platform(),
        "git_commit": git_commit(),
    }
