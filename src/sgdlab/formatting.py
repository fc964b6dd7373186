"""Small output helpers shared by the commands, the report and the benchmarks: durations with a
readable unit, and strict JSON (NaN and ±inf written as null). Imports nothing of sgdlab."""

from __future__ import annotations

import math
from typing import Any


def fmt_seconds(s: float | None) -> str:
    """Seconds with a readable unit, three significant digits (whole units from 100 on):
    ``1.2 s``, ``250 ms``, ``32 µs``, ``320 ns``; ``–`` for None, NaN and ±inf."""
    if s is None or not math.isfinite(s):
        return "–"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(s) >= scale:
            return f"{s / scale:.3g} {unit}" if s / scale < 100 else f"{s / scale:.0f} {unit}"
    return f"{s * 1e9:.3g} ns"


def finite_or_null(o: Any) -> Any:
    """``o`` with every NaN/±inf float replaced by None, recursively through dicts, lists and
    tuples (tuples become lists): NaN is not JSON, so ``json.dumps(..., allow_nan=False)``
    can then write strict JSON with null."""
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {k: finite_or_null(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [finite_or_null(v) for v in o]
    return o


#: The version of the shape of every ``sgdlab COMMAND --json`` document (:func:`document`), one
#: for all commands; raised when any command's document changes incompatibly.
DOCUMENT_SCHEMA = "sgdlab.cli/1"


def document(
    command: str, *, config: dict[str, Any], environment: dict[str, Any], result: dict[str, Any]
) -> dict[str, Any]:
    """The one shape of every ``sgdlab COMMAND --json`` document, strict JSON (NaN/±inf ->
    null): ``schema`` (:data:`DOCUMENT_SCHEMA`), ``command``, ``config`` (the options that
    determined the result, keyed by their long names with ``_`` for ``-``: given back to the
    command they reproduce it; ``sgdlab train``'s is its :class:`~sgdlab.config.TrainConfig`),
    ``environment`` (:func:`sgdlab.measure.provenance.environment`, with what a command adds)
    and ``result`` (everything the command computed or wrote, ``data``: the data set's
    provenance)."""
    return finite_or_null(
        {
            "schema": DOCUMENT_SCHEMA,
            "command": command,
            "config": config,
            "environment": environment,
            "result": result,
        }
    )
