"""Reader for the IDX format of (Fashion-)MNIST, raw or gzip-compressed.

IDX layout (big-endian): two zero bytes, a dtype code, the number of dimensions ``d``, then ``d``
uint32 sizes, then the data in C order. Fashion-MNIST uses dtype 0x08 (uint8) with d=3 for
images (N, 28, 28) and d=1 for labels (N,).

Every check happens *before* the data is allocated: a header that claims 10**9 images in a
1 kB file is refused from its size alone.

>>> import gzip, io
>>> raw = bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9])
>>> parse_idx(raw, name="labels").tolist()
[7, 8, 9]
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from .errors import DataFormatError

# dtype code -> (numpy dtype, big-endian)
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
MAX_DIMS = 8
# Largest decompressed file we accept: 4x the Fashion-MNIST training images (47 MB).
MAX_DECOMPRESSED_BYTES = 200_000_000


def read_bytes(path: str | os.PathLike, *, max_bytes: int = MAX_DECOMPRESSED_BYTES) -> bytes:
    """Return the decompressed content of ``path`` (gzip if it starts with the gzip magic).

    Raises :class:`DataFormatError` naming the file if it is empty, truncated, not valid gzip,
    or decompresses to more than ``max_bytes`` (a gzip bomb).
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(2)
            f.seek(0)
            if head == b"\x1f\x8b":
                with gzip.GzipFile(fileobj=f) as g:
                    data = g.read(max_bytes + 1)
            else:
                data = f.read(max_bytes + 1)
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise DataFormatError(f"{path}: corrupt or truncated gzip file ({e})") from None
    except OSError as e:
        raise DataFormatError(f"{path}: cannot read ({e.strerror or e})") from None
    if len(data) > max_bytes:
        raise DataFormatError(f"{path}: decompresses to more than {max_bytes} bytes; refusing")
    if not data:
        raise DataFormatError(f"{path}: file is empty")
    return data


def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data`` (used on *decompressed* bytes, so any gzip wrapper passes)."""
    return hashlib.sha256(data).hexdigest()


def parse_idx(data: bytes, *, name: str = "<bytes>") -> np.ndarray:
    """Parse IDX ``data`` into a read-only numpy array in native byte order.

    Checks: magic (two zero bytes), known dtype code, 1..8 dimensions, every size ≥ 1, and
    that header + sizes × itemsize equals the byte count exactly. ``name`` appears in errors.
    """
    if len(data) < 4:
        raise DataFormatError(f"{name}: too short for an IDX header ({len(data)} bytes)")
    zero, code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0:
        raise DataFormatError(f"{name}: not an IDX file (bad magic {data[:4].hex()})")
    if code not in IDX_DTYPES:
        raise DataFormatError(f"{name}: unknown IDX dtype code 0x{code:02x}")
    if not 1 <= ndim <= MAX_DIMS:
        raise DataFormatError(f"{name}: unsupported number of dimensions {ndim}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataFormatError(f"{name}: header truncated ({len(data)} < {header} bytes)")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    if min(shape) < 1:
        raise DataFormatError(f"{name}: empty dimension in shape {shape}")
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize  # python int: no overflow
    if len(data) - header != expected:
        raise DataFormatError(
            f"{name}: header says shape {shape} ({expected} data bytes) "
            f"but the file holds {len(data) - header}"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=False)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read and parse the IDX file at ``path`` (raw or .gz)."""
    return parse_idx(read_bytes(path), name=str(path))
