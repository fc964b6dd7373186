"""A JSON file per finished run, keyed by its spec, the data hash and the sgdlab version.

``key(spec, data_sha256, version)`` is the SHA-256 of the canonical JSON of the three; the file
is ``<cache_dir>/<key[:24]>.json`` and holds ``{"schema", "key", "identity", "record"}``,
sealed with its own SHA-256 (:mod:`sgdlab.sealed`). It is written atomically
(:func:`sgdlab.atomic.atomic_write`: a temporary file in the same directory, flushed, fsync'ed,
then ``os.replace``), so a crash or Ctrl-C leaves either the complete file or none; the
temporaries a killed process left are deleted by the next :meth:`Cache.put`. A file that does
not parse, is not sealed, has another schema or whose key does not match is ignored (and
re-run); one whose content fails its checksum (an edited number, a NaN typed in) is re-run too,
and the user is told once.
Default directory: :func:`sgdlab.paths.experiment_cache_dir` (``$SGDLAB_EXPERIMENT_CACHE``, else
``$SGDLAB_CACHE_DIR/experiments``, else ``~/.cache/sgdlab/experiments``).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from sgdlab import paths, sealed
from sgdlab.atomic import remove_stale_temporaries
from sgdlab.errors import ConfigError
from sgdlab.experiments.spec import RunSpec

SCHEMA = "sgdlab.experiment-run/1"
#: Bumped when a run records other fields: older cache files then miss and are re-run.
RECORD_FORMAT = 2


def default_dir() -> Path:
    """Where runs are cached by default: :func:`sgdlab.paths.experiment_cache_dir`."""
    return paths.experiment_cache_dir()


def identity(spec: RunSpec, data_sha256: dict[str, str], version: str) -> dict[str, Any]:
    return {
        "spec": spec.to_dict(),
        "data_sha256": dict(sorted(data_sha256.items())),
        "sgdlab_version": version,
        "record_format": RECORD_FORMAT,
    }


def key(spec: RunSpec, data_sha256: dict[str, str], version: str) -> str:
    """Hex SHA-256 identifying a run's result: changes with any spec field, data or version."""
    text = json.dumps(identity(spec, data_sha256, version), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


class Cache:
    """Finished runs under ``directory`` (created on first write)."""

    def __init__(
        self, directory: str | os.PathLike | None, *, data_sha256: dict[str, str], version: str
    ) -> None:
        self.dir = Path(directory) if directory is not None else default_dir()
        if self.dir.exists() and not self.dir.is_dir():
            raise ConfigError(f"cache dir {self.dir} exists and is not a directory")
        self.data_sha256, self.version = data_sha256, version
        self._cleaned = False
        self.rejected: list[Path] = []  # files that failed their checksum (re-run)

    def key(self, spec: RunSpec) -> str:
        return key(spec, self.data_sha256, self.version)

    def path(self, spec: RunSpec) -> Path:
        return self.dir / f"{self.key(spec)[:24]}.json"

    def get(self, spec: RunSpec) -> dict[str, Any] | None:
        """The cached record of ``spec``, or None (missing, unsealed, another key, or failing
        its checksum: then it is re-run, and the first such file is reported on stderr)."""
        path = self.path(spec)
        found = sealed.read(path)
        doc = found.content
        if found.tampered:
            self._tell(path)
        if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
            return None
        if doc.get("key") != self.key(spec) or not isinstance(doc.get("record"), dict):
            return None
        return doc["record"]

    def _tell(self, path: Path) -> None:
        self.rejected.append(path)
        if len(self.rejected) == 1:  # once per cache: a hand edit often touches several
            print(
                f"sgdlab: warning: the cached result {path} does not match its checksum "
                "(edited or damaged); it is computed again (so is any other such file)",
                file=sys.stderr,
            )

    def put(self, spec: RunSpec, record: dict[str, Any]) -> Path:
        """Write ``record`` sealed and atomically; return its path. A full disk is one
        :class:`ConfigError` line."""
        if not self._cleaned:  # once: what killed writers left (never read, only disk space)
            remove_stale_temporaries(self.dir)
            self._cleaned = True
        doc = {
            "schema": SCHEMA,
            "key": self.key(spec),
            "identity": identity(spec, self.data_sha256, self.version),
            "record": record,
        }
        return sealed.write(self.path(spec), doc, what="experiment cache file")
