"""Text → value parsers with their range checks: the command line's option types and the
``--config`` file's values go through them (raising :class:`argparse.ArgumentTypeError`, whose
message argparse prints after the option's name), and :mod:`sgdlab.config` names them per field.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

#: The largest float32: weights are float32, so a larger step overflows at once.
FLOAT32_MAX = 3.4028234663852886e38


def is_int(v: Any) -> bool:
    """An ``int`` that is not a ``bool``."""
    return isinstance(v, int) and not isinstance(v, bool)


def is_finite(v: Any) -> bool:
    """A finite ``int`` or ``float`` that is not a ``bool``."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def positive_int(text: str) -> int:
    """argparse type: an integer ≥ 1."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be ≥ 1, got {text!r}")
    return v


def nonneg_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer ≥ 0, got {text!r}") from None
    if not 0 <= v < 2**63:
        raise argparse.ArgumentTypeError(f"must be in 0..2**63-1, got {text!r}")
    return v


def batch_sizes(text: str) -> tuple[int, ...]:
    """argparse type: comma-separated positive integers, e.g. ``1,16,64``."""
    parts = [t for t in text.replace(" ", "").split(",") if t]
    if not parts:
        raise argparse.ArgumentTypeError("expected batch sizes like 1,16,64")
    return tuple(positive_int(t) for t in parts)


def positive_float(text: str) -> float:
    """argparse type: a finite float > 0 (refuses nan, inf, 0, negatives, non-numbers)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise argparse.ArgumentTypeError(f"must be finite and > 0, got {text!r}")
    if v > FLOAT32_MAX:
        raise argparse.ArgumentTypeError(f"must be ≤ {FLOAT32_MAX:.3g} (float32), got {text!r}")
    return v


def nonneg_float(text: str) -> float:
    """argparse type: a finite float ≥ 0."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(v) or v < 0:
        raise argparse.ArgumentTypeError(f"must be finite and ≥ 0, got {text!r}")
    return v


def momentum_float(text: str) -> float:
    """argparse type: a momentum μ in [0, 1)."""
    v = nonneg_float(text)
    if v >= 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text!r}")
    return v
