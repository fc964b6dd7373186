"""IDX files for tests: the one builder of IDX bytes, tiny Fashion-MNIST look-alikes and the
``sgdlab.data.fashion.FILES`` table that vouches for them.

The files are written exactly as the real ones are laid out (magic ``00 00``, dtype code, number
of dims, big-endian uint32 dims, big-endian data); every header field can be overridden to make
a damaged file. ``gz`` compresses with ``mtime=0``, so the same content gives the same bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np

from sgdlab.data.idx import IDX_DTYPES

#: The four files of Fashion-MNIST, by split and kind (the layout of ``fashion.FILES``).
LAYOUT: dict[str, dict[str, str]] = {
    "train": {"images": "train-images-idx3-ubyte", "labels": "train-labels-idx1-ubyte"},
    "test": {"images": "t10k-images-idx3-ubyte", "labels": "t10k-labels-idx1-ubyte"},
}
STEMS: tuple[str, ...] = tuple(stem for kinds in LAYOUT.values() for stem in kinds.values())
IMAGES, LABELS = LAYOUT["train"]["images"], LAYOUT["train"]["labels"]

UINT8 = 0x08
#: IDX dtype code of each (native byte order) numpy dtype
CODES = {np.dtype(v).newbyteorder("="): k for k, v in IDX_DTYPES.items()}


def idx_header(shape: tuple[int, ...], *, code: int = UINT8, magic: int = 0) -> bytes:
    """The IDX header of an array of ``shape`` (dims count taken from ``shape``)."""
    return struct.pack(f">HBB{len(shape)}I", magic, code, len(shape), *shape)


def idx_bytes(arr, dtype=np.uint8, *, code: int | None = None, magic: int = 0) -> bytes:
    """IDX encoding of ``arr`` as ``dtype`` (uint8 as in Fashion-MNIST, or any type IDX knows).

    ``code`` overrides the header's dtype code only (the data stay ``dtype``): a bad file."""
    dt = np.dtype(dtype).newbyteorder("=")
    arr = np.asarray(arr)
    head = idx_header(arr.shape, code=CODES[dt] if code is None else code, magic=magic)
    return head + np.ascontiguousarray(arr, dtype=dt.newbyteorder(">")).tobytes()


def gz(content: bytes) -> bytes:
    """``content`` gzip-compressed, reproducibly (``mtime=0``)."""
    return gzip.compress(content, mtime=0)


def write_gz(path: Path, content: bytes) -> Path:
    path.write_bytes(gz(content))
    return path


def tiny_arrays(
    seed: int, n_train: int, n_test: int, *, classes: int = 10
) -> dict[str, np.ndarray]:
    """A tiny Fashion-MNIST look-alike by file stem: random uint8 images from
    ``default_rng(seed)`` (train, then test), labels ``0, 1, …, classes-1, 0, 1, …``."""
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        out[LAYOUT[split]["images"]] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        out[LAYOUT[split]["labels"]] = (np.arange(n) % classes).astype(np.uint8)
    return out


def tiny_set(seed: int, n_train: int, n_test: int, *, classes: int = 10) -> dict[str, bytes]:
    """The raw IDX content of :func:`tiny_arrays`, by file stem."""
    arrays = tiny_arrays(seed, n_train, n_test, classes=classes)
    return {stem: idx_bytes(arr) for stem, arr in arrays.items()}


def files_table(raw: dict[str, bytes]) -> dict:
    """A ``fashion.FILES`` look-alike: the SHA-256 and the header's shape of each IDX content in
    ``raw`` (by file stem), as if it were the real set."""

    def shape(b: bytes) -> tuple[int, ...]:
        return struct.unpack(f">{b[3]}I", b[4 : 4 + 4 * b[3]])

    return {
        split: {
            kind: (stem, hashlib.sha256(raw[stem]).hexdigest(), shape(raw[stem]))
            for kind, stem in kinds.items()
        }
        for split, kinds in LAYOUT.items()
    }
