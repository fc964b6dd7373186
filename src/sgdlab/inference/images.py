"""``sgdlab predict``'s input: a PNG or JPEG of any size and colour as a Fashion-MNIST image.

Fashion-MNIST's pictures are grey, light on dark (the product bright, the background 0), the
product trimmed and scaled so that its longer side is 28 pixels, centred on a 28×28 canvas.
:func:`to_fashion` does the same to a photo:

1. grey (an alpha channel is laid over white first; EXIF rotation applied);
2. **inverted** when it is dark on light: the mean of the border pixels (a ring 5 % of the
   shorter side wide) is above the mean of the centre (the middle half in each direction);
3. the levels stretched: the border's median becomes 0, the 99th percentile 255;
4. trimmed to the object's bounding box (pixels above 20 % after a 3×3 median filter, so that
   noise does not count), scaled to a longer side of 28 (Lanczos, aspect kept) and centred on a
   black 28×28 canvas.

Pillow is imported when an image is read, never at ``import sgdlab``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from sgdlab.errors import ConfigError

SIZE = 28
#: larger images are reduced to fit WORK×WORK first (speed; far above 28)
WORK = 512
BORDER = 0.05
OBJECT_LEVEL = 0.2


@dataclass(frozen=True)
class PreparedImage:
    """An image made Fashion-MNIST-like: ``pixels`` uint8 (28,28), light on dark."""

    source: str
    pixels: torch.Tensor
    size: tuple[int, int]  # the original (width, height)
    mode: str  # the original Pillow mode ("RGB", "L", "RGBA", ...)
    format: str  # "PNG", "JPEG", ...
    inverted: bool
    border_mean: float  # 0..255, before inverting
    centre_mean: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "size": list(self.size),
            "mode": self.mode,
            "format": self.format,
            "inverted": self.inverted,
            "border_mean": round(self.border_mean, 2),
            "centre_mean": round(self.centre_mean, 2),
        }


def load_image(path: str | os.PathLike) -> PreparedImage:
    """Read ``path`` with Pillow and make it Fashion-MNIST-like (:func:`to_fashion`). A file that
    is missing, unreadable or not an image raises :class:`~sgdlab.errors.ConfigError`, one line."""
    try:
        from PIL import Image, ImageOps, UnidentifiedImageError
    except ImportError:  # pragma: no cover - a dependency of sgdlab
        raise ConfigError("reading images needs Pillow: pip install pillow") from None
    name = os.fspath(path)
    try:
        with Image.open(name) as img:
            fmt, mode, size = img.format or "?", img.mode, img.size
            img.thumbnail((WORK, WORK))  # in place; keeps the aspect ratio
            img = ImageOps.exif_transpose(img)
            grey = _grey(img, Image)
    except FileNotFoundError:
        raise ConfigError(f"image {name}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"image {name}: is a directory, not an image file") from None
    except UnidentifiedImageError:
        raise ConfigError(f"image {name}: not an image Pillow can read (PNG or JPEG)") from None
    except Image.DecompressionBombError as e:
        raise ConfigError(f"image {name}: {e}") from None
    except (OSError, SyntaxError, ValueError) as e:  # unreadable, truncated, damaged
        why = getattr(e, "strerror", None) or str(e).strip().splitlines()[0] or type(e).__name__
        raise ConfigError(f"image {name}: cannot read it ({why})") from None
    pixels, inverted, border, centre = to_fashion(grey)
    return PreparedImage(name, pixels, size, mode, fmt, inverted, border, centre)


def _grey(img, Image) -> np.ndarray:
    """uint8 (H,W): transparency laid over white, then Pillow's luminance."""
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return np.asarray(img.convert("L"), dtype=np.uint8)


def border_and_centre(grey: np.ndarray) -> tuple[float, float]:
    """Mean of the border ring (5 % of the shorter side, at least 1 pixel) and of the middle
    half of each direction, in the image's units."""
    h, w = grey.shape
    centre = grey[h // 4 : h - h // 4, w // 4 : w - w // 4]
    return float(grey[_ring(h, w)].mean()), float(centre.mean())


def _ring(h: int, w: int) -> np.ndarray:
    """bool (H,W): the border ring, 5 % of the shorter side wide (at least 1 pixel)."""
    b = max(1, round(BORDER * min(h, w)))
    ring = np.ones((h, w), dtype=bool)
    ring[b : h - b, b : w - b] = False
    return ring


def to_fashion(grey: np.ndarray) -> tuple[torch.Tensor, bool, float, float]:
    """uint8 grey (H,W) -> (uint8 (28,28) light on dark, inverted?, border mean, centre mean);
    the steps are in the module's docstring."""
    from PIL import Image, ImageFilter

    g = np.asarray(grey, dtype=np.float64)
    if g.ndim != 2 or min(g.shape) < 1:
        raise ValueError(f"expected a grey image (H,W), got shape {g.shape}")
    border, centre = border_and_centre(g)
    inverted = border > centre
    if inverted:
        g = 255.0 - g
    lo = float(np.median(g[_ring(*g.shape)]))
    smooth = np.asarray(
        Image.fromarray(np.rint(g).astype(np.uint8)).filter(ImageFilter.MedianFilter(3)),
        dtype=np.float64,
    )
    hi = float(np.percentile(smooth, 99))
    if hi - lo < 1.0:  # a flat picture: nothing stands out
        return torch.zeros(SIZE, SIZE, dtype=torch.uint8), inverted, border, centre
    g = np.clip((g - lo) * (255.0 / (hi - lo)), 0, 255)
    mask = (smooth - lo) * (255.0 / (hi - lo)) > OBJECT_LEVEL * 255
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if rows.size and cols.size:
        g = g[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = g.shape
    scale = SIZE / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    small = Image.fromarray(np.rint(g).astype(np.uint8)).resize((nw, nh), Image.Resampling.LANCZOS)
    out = np.zeros((SIZE, SIZE), dtype=np.uint8)
    top, left = (SIZE - nh + 1) // 2, (SIZE - nw + 1) // 2  # an odd margin: one more above/left
    out[top : top + nh, left : left + nw] = np.asarray(small, dtype=np.uint8)
    return torch.from_numpy(out), bool(inverted), border, centre


@torch.no_grad()
def top_k(model: torch.nn.Module, pixels: torch.Tensor, k: int = 3) -> list[list[dict[str, Any]]]:
    """Per image of ``pixels`` (uint8 (N,28,28)): the ``k`` most probable classes under
    ``model`` (:func:`sgdlab.load_model`'s), each ``{"class", "index", "probability"}``."""
    from sgdlab.data.fashion import CLASS_NAMES

    names = tuple(getattr(model, "class_names", None) or CLASS_NAMES)
    probs = torch.softmax(model(pixels), 1)
    p, i = probs.topk(k, dim=1)
    return [
        [
            {"class": names[c], "index": c, "probability": float(v)}
            for v, c in zip(pr.tolist(), ix.tolist(), strict=True)
        ]
        for pr, ix in zip(p, i, strict=True)
    ]
