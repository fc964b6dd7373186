"""Save and load the trained ``z.weight`` (10,784) and ``z.bias`` (10,), never executing code.

Format from the extension: ``.safetensors`` (provenance in its string metadata) or ``.pt`` (a
plain dict of the two tensors plus ``"metadata"``, a JSON string, that loads with
``torch.load(path, weights_only=True)``). Files are written atomically
(:func:`sgdlab.atomic.atomic_write`: a temporary file, fsync'ed, renamed into place).

Every file also carries its preprocessing in the metadata (:func:`preprocessing_metadata`):
``"pixel_mean"`` and ``"pixel_std"`` (JSON lists of 784 floats, [0,1] units), ``"std_floor"`` and
``"class_names"`` (JSON list of 10 names), so :func:`sgdlab.load_model` rebuilds the input map
``x = (u8/255 − mean) / max(std, std_floor)`` from the file alone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from sgdlab.atomic import atomic_write
from sgdlab.errors import CheckpointError, ConfigError
from sgdlab.model import SoftmaxRegression

FORMATS = (".safetensors", ".pt")

#: Metadata keys written by :func:`preprocessing_metadata` (JSON-encoded strings).
PREPROCESSING_KEYS = ("pixel_mean", "pixel_std", "std_floor", "class_names")


def preprocessing_metadata() -> dict[str, str]:
    """The training-time input normalization and class names, as safetensors string metadata."""
    from sgdlab.data.fashion import CLASS_NAMES, STD_FLOOR, pixel_stats

    mean, std = pixel_stats()
    return {
        "pixel_mean": json.dumps(list(mean)),
        "pixel_std": json.dumps(list(std)),
        "std_floor": json.dumps(STD_FLOOR),
        "class_names": json.dumps(list(CLASS_NAMES)),
    }


def save_weights(
    model: SoftmaxRegression, path: str | os.PathLike, metadata: dict[str, str] | None = None
) -> Path:
    path = Path(path)
    if path.suffix not in FORMATS:
        raise ConfigError(f"weights file must end in .safetensors or .pt, got {path.name!r}")
    metadata = {**(metadata or {}), **preprocessing_metadata()}
    tensors = {
        "z.weight": model.z.weight.detach().cpu().contiguous(),
        "z.bias": model.z.bias.detach().cpu().contiguous(),
    }
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import save

            atomic_write(path, save(tensors, metadata=metadata))
        else:  # provenance as one JSON string: still loads with weights_only=True
            import io

            doc, buf = {**tensors, "metadata": json.dumps(metadata or {})}, io.BytesIO()
            torch.save(doc, buf)  # in memory first: a full disk is then an OSError of ours
            atomic_write(path, buf.getvalue())
    except Exception as e:  # noqa: BLE001 - torch/safetensors raise RuntimeError-like errors
        raise ConfigError(f"cannot write {path}: {getattr(e, 'strerror', None) or e}") from None
    return path


def load_weights(path: str | os.PathLike) -> SoftmaxRegression:
    """The model of a weights file (float32 ``z.weight`` (10,784), ``z.bias`` (10,), on CPU)."""
    return load_weights_and_metadata(path)[0]


def load_weights_and_metadata(path: str | os.PathLike) -> tuple[SoftmaxRegression, dict[str, str]]:
    """The model and the file's string metadata (``{}`` for a file written without any)."""
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors import safe_open
            from safetensors.torch import load_file

            tensors = load_file(str(path))
            with safe_open(str(path), framework="pt") as f:
                metadata = dict(f.metadata() or {})
        else:
            tensors = torch.load(path, weights_only=True, map_location="cpu")
            raw = tensors.get("metadata", "{}") if isinstance(tensors, dict) else "{}"
            metadata = json.loads(raw)
    except OSError as e:
        raise CheckpointError(f"cannot read weights {path}: {e.strerror or e}") from None
    except Exception as e:  # noqa: BLE001 - any parse failure is a bad file
        raise CheckpointError(f"cannot load weights from {path}: {_first_line(e)}") from None
    model = SoftmaxRegression()
    try:
        model.z.weight.data.copy_(tensors["z.weight"])
        model.z.bias.data.copy_(tensors["z.bias"])
    except (KeyError, RuntimeError, TypeError) as e:
        raise CheckpointError(
            f"{path} does not hold z.weight (10,784) and z.bias (10,): {e}"
        ) from None
    if not (torch.isfinite(model.z.weight).all() and torch.isfinite(model.z.bias).all()):
        raise CheckpointError(f"{path}: the weights are not finite (NaN or infinity)")
    return model, {str(k): str(v) for k, v in metadata.items()}


def _first_line(e: Exception) -> str:
    """One line of sgdlab's own for torch's and safetensors' multi-line load errors."""
    text = str(e)
    if "Weights only load failed" in text and "Unsupported global" not in text:
        return "not a PyTorch weights file (damaged, or another kind of file)"
    if "Weights only load failed" in text or "weights_only" in text:
        return (
            "it holds Python objects other than tensors (it could run code when loaded), "
            "so it is refused; save weights with sgdlab train --save-weights"
        )
    first = text.strip().splitlines()[0] if text.strip() else type(e).__name__
    return first[:200]
