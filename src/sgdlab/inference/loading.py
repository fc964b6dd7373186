"""``sgdlab.load_model(path)``: a weights file as an ``nn.Module`` that takes raw images.

The trainer standardizes every pixel (``x = (u8/255 − μ) / max(σ, floor)``, see
:mod:`sgdlab.data.fashion`); a bare ``SoftmaxRegression`` loaded from the file expects those
standardized floats, so feeding it ``x/255`` silently loses ~13 points of accuracy.
:class:`FashionClassifier` puts the map in front of the layer, with the statistics read from the
file's metadata (written by :func:`sgdlab.training.weights.save_weights` since sgdlab records
them). Files written before that carry no statistics: they load with the package's own
statistics (the only ones sgdlab ever trained with), and ``preprocessing_source`` says
``"package default"``.
"""

from __future__ import annotations

import json
import os

import torch
from torch import nn

from sgdlab.errors import CheckpointError
from sgdlab.model import N_CLASSES, N_PIXELS

#: Tolerance on the [0,1] range check of float input (float rounding of ``u8/255``).
RANGE_SLACK = 1e-4


class FashionClassifier(nn.Module):
    """Raw Fashion-MNIST-style images -> logits (N,10); the file's preprocessing built in.

    Input (N is the batch): ``uint8`` (N,28,28), (N,1,28,28) or (N,784) with values 0..255, or a
    floating tensor of the same shapes with values in [0, 1] (``ToTensor``'s and the chapter's
    ``x/255`` convention). Light-on-dark, like Fashion-MNIST. Floats outside [0, 1] (for
    example raw 0..255 floats) raise ``ValueError`` rather than giving quietly wrong answers.
    Output: float32 logits (N,10); :meth:`predict_proba` gives softmax probabilities.

    Attributes: ``class_names`` (10 str), ``pixel_mean`` and ``pixel_std`` (float32 (784,),
    [0,1] units, std floored), ``preprocessing_source`` ("file metadata" or "package default").
    """

    def __init__(
        self,
        weight: torch.Tensor,
        bias: torch.Tensor,
        *,
        pixel_mean: torch.Tensor,
        pixel_std: torch.Tensor,
        class_names: tuple[str, ...],
        preprocessing_source: str,
    ) -> None:
        super().__init__()
        self.z = nn.Linear(N_PIXELS, N_CLASSES)
        with torch.no_grad():
            self.z.weight.copy_(weight)
            self.z.bias.copy_(bias)
        mean = pixel_mean.to(torch.float64)
        std = pixel_std.to(torch.float64)
        # The trainer's affine map x = u8·scale + shift, in float32 (sgdlab.data.fashion.to_float)
        self.register_buffer("scale", (1.0 / (255.0 * std)).float())
        self.register_buffer("shift", (-mean / std).float())
        self.register_buffer("pixel_mean", mean.float())
        self.register_buffer("pixel_std", std.float())
        self.class_names = tuple(class_names)
        self.preprocessing_source = preprocessing_source

    def standardize(self, x: torch.Tensor) -> torch.Tensor:
        """Images as documented on the class -> standardized float32 (N,784)."""
        per_image = x.shape[1:].numel() if x.dim() > 1 else -1
        if x.dim() not in (2, 3, 4) or per_image != N_PIXELS:
            raise ValueError(
                f"images must be (N,28,28), (N,1,28,28) or (N,784), got shape {tuple(x.shape)}"
            )
        flat = x.reshape(x.shape[0], N_PIXELS)
        if flat.dtype == torch.uint8:
            return flat.to(torch.float32).mul_(self.scale).add_(self.shift)
        if not flat.is_floating_point():
            raise ValueError(f"images must be uint8 (0..255) or float in [0,1], got {x.dtype}")
        if flat.numel():
            lo, hi = float(flat.min()), float(flat.max())
            if lo < -RANGE_SLACK or hi > 1 + RANGE_SLACK:
                raise ValueError(
                    f"float images must lie in [0, 1], got values in [{lo:g}, {hi:g}]; "
                    "divide 0..255 pixels by 255 or pass them as uint8"
                )
        u8 = flat.to(torch.float32) * 255.0
        return u8.mul_(self.scale).add_(self.shift)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images (see the class) -> logits float32 (N,10)."""
        return self.z(self.standardize(x.to(self.scale.device)))

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities float32 (N,10), rows sum to 1."""
        return torch.softmax(self(x), dim=1)


def load_model(path: str | os.PathLike) -> FashionClassifier:
    """Load a ``.safetensors``/``.pt`` weights file saved by sgdlab as a :class:`FashionClassifier`
    (CPU, eval mode): ``load_model("w.safetensors")(images_uint8).argmax(1)`` gives classes.

    The pixel statistics and class names come from the file's metadata; a file without them (an
    older sgdlab) uses the package's statistics, which are the ones sgdlab trains with.
    Raises :class:`sgdlab.errors.CheckpointError` for a file that is not sgdlab weights.
    """
    from sgdlab.data.fashion import CLASS_NAMES, STD_FLOOR, pixel_stats
    from sgdlab.training.weights import load_weights_and_metadata

    bare, meta = load_weights_and_metadata(path)
    if "pixel_mean" in meta:
        try:
            mean = torch.tensor(json.loads(meta["pixel_mean"]), dtype=torch.float64)
            std = torch.tensor(json.loads(meta["pixel_std"]), dtype=torch.float64)
            floor = float(json.loads(meta.get("std_floor", str(STD_FLOOR))))
            names = tuple(str(n) for n in json.loads(meta.get("class_names", "null")) or ())
        except (KeyError, ValueError, TypeError) as e:
            raise CheckpointError(f"{path}: unreadable preprocessing metadata: {e}") from None
        if mean.shape != (N_PIXELS,) or std.shape != (N_PIXELS,) or len(names) != N_CLASSES:
            raise CheckpointError(
                f"{path}: preprocessing metadata must hold 784 means, 784 stds and 10 class "
                f"names, got {tuple(mean.shape)}, {tuple(std.shape)}, {len(names)}"
            )
        source = "file metadata"
    else:
        mean_, std_ = pixel_stats()
        mean = torch.tensor(mean_, dtype=torch.float64)
        std = torch.tensor(std_, dtype=torch.float64)
        floor, names, source = STD_FLOOR, CLASS_NAMES, "package default"
    model = FashionClassifier(
        bare.z.weight.detach(),
        bare.z.bias.detach(),
        pixel_mean=mean,
        pixel_std=std.clamp_min(floor),
        class_names=names,
        preprocessing_source=source,
    )
    return model.eval()
