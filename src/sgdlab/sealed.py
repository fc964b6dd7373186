"""JSON files that carry the SHA-256 of their own content: sgdlab's caches never trust an edit.

A cache file is ``{"sealed": "sha256", "sha256": H, "content": DOC}`` where ``H`` is the
SHA-256 of DOC's canonical JSON (sorted keys, NaN allowed). :func:`read` recomputes it: a file
whose number was edited by hand, or damaged on disk, no longer matches and is treated as
missing, so the result is computed again instead of silently changing a table (a cache is
about speed, never about truth). :func:`write` goes through :func:`sgdlab.atomic.atomic_write`
and turns a full disk (or any other write error) into one :class:`~sgdlab.errors.ConfigError`
line; the temporary file is removed.

Used by the experiment/study pass cache (:mod:`sgdlab.experiments.cache`) and the report's
section cache (:mod:`sgdlab.report.build`).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sgdlab.atomic import atomic_write
from sgdlab.errors import ConfigError

#: The seal's name in the file (the algorithm), so a future one can be told apart.
SEAL = "sha256"


def digest(content: Any) -> str:
    """Hex SHA-256 of ``content``'s canonical JSON (sorted keys, NaN/Infinity allowed)."""
    text = json.dumps(content, sort_keys=True, allow_nan=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Read:
    """What :func:`read` found: ``content`` (None unless intact) and, for a file that exists but
    cannot be used, ``problem`` ("does not parse", "is not sealed", "fails its checksum")."""

    content: Any = None
    problem: str | None = None

    @property
    def tampered(self) -> bool:
        """The file was sealed but its content no longer matches: edited or damaged."""
        return self.problem == "fails its checksum"


def read(path: str | os.PathLike) -> Read:
    """The sealed content of ``path``; a missing file is ``Read()`` with no problem."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Read()
    except (OSError, ValueError):
        return Read(problem="does not parse")
    if not isinstance(doc, dict) or doc.get("sealed") != SEAL or "content" not in doc:
        return Read(problem="is not sealed")
    if doc.get("sha256") != digest(doc["content"]):
        return Read(problem="fails its checksum")
    return Read(content=doc["content"])


def write(path: str | os.PathLike, content: Any, *, what: str = "cache file") -> Path:
    """Write ``content`` sealed, atomically; any OS error (a full disk: ENOSPC, a read-only
    directory) is one :class:`ConfigError` line naming ``what`` and the path."""
    path = Path(path)
    # as it will read back (int keys become strings, tuples lists), so the digest matches
    content = json.loads(json.dumps(content, allow_nan=True))
    text = json.dumps(
        {"sealed": SEAL, "sha256": digest(content), "content": content}, allow_nan=True
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return atomic_write(path, text)
    except OSError as e:
        raise ConfigError(f"cannot write the {what} {path}: {e.strerror or e}") from None
