"""Where sgdlab keeps things by default: every cache and data location, in one place.

All are functions: the environment is read when they are called, not at import.

- :func:`cache_root`: ``$SGDLAB_CACHE_DIR``, else ``~/.cache/sgdlab``;
- :func:`data_cache_dir` (downloads): ``$SGDLAB_CACHE_DIR`` itself, else
  ``~/.cache/sgdlab/fashion-mnist``;
- :func:`report_cache_dir`: ``cache_root()/report``;
- :func:`experiment_cache_dir`: ``$SGDLAB_EXPERIMENT_CACHE``, else ``cache_root()/experiments``;
- :func:`system_data_dir`: ``/usr/share/datasets/fashion-mnist`` (not a cache: never moved).

``~/.cache`` is the user cache directory of the platform (``$XDG_CACHE_HOME`` where set,
``~/Library/Caches`` on macOS), as :func:`pooch.os_cache` finds it. An empty variable counts as
unset. With ``SGDLAB_CACHE_DIR`` the downloaded data set lies directly in it (as it always
has), next to the ``report`` and ``experiments`` folders.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Where Debian's package ``dataset-fashion-mnist`` puts the data set (tests patch this).
SYSTEM_DATA_DIR = Path("/usr/share/datasets/fashion-mnist")


def _env(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def cache_root() -> Path:
    """``$SGDLAB_CACHE_DIR``, else the user cache's ``sgdlab`` folder (``~/.cache/sgdlab``)."""
    env = _env("SGDLAB_CACHE_DIR")
    if env is not None:
        return env
    import pooch  # lazy: pooch imports requests

    return Path(pooch.os_cache("sgdlab"))


def data_cache_dir() -> Path:
    """Where the data set is downloaded and looked for: ``$SGDLAB_CACHE_DIR`` itself, else
    ``~/.cache/sgdlab/fashion-mnist``."""
    env = _env("SGDLAB_CACHE_DIR")
    return env if env is not None else cache_root() / "fashion-mnist"


def report_cache_dir() -> Path:
    """The report's section cache: ``cache_root()/report``."""
    return cache_root() / "report"


def experiment_cache_dir() -> Path:
    """The finished runs of ``sgdlab experiment``: ``$SGDLAB_EXPERIMENT_CACHE``, else
    ``cache_root()/experiments``."""
    env = _env("SGDLAB_EXPERIMENT_CACHE")
    return env if env is not None else cache_root() / "experiments"


def system_data_dir() -> Path:
    """The system-wide copy of the data set (:data:`SYSTEM_DATA_DIR`), searched after the
    cache."""
    return SYSTEM_DATA_DIR
