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
import math
import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from sgdlab.errors import DataFormatError

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
_CHUNK = 1 << 20
_HEADER_PEEK = 4 + 4 * MAX_DIMS  # bytes that always hold a complete header


def read_bytes(path: str | os.PathLike, *, max_bytes: int = MAX_DECOMPRESSED_BYTES) -> bytes:
    """Return the decompressed content of ``path`` (gzip if it starts with the gzip magic).

    Raises :class:`DataFormatError` naming the file if it is missing, empty, truncated, not
    valid gzip, or decompresses to more than ``max_bytes`` (a gzip bomb). The content is read
    in chunks: once an IDX header has arrived, a file whose header declares more than
    ``max_bytes`` is refused at once, and reading stops as soon as the content exceeds what
    the header declares, so memory never exceeds the size of a valid file.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            is_gzip = f.read(2) == b"\x1f\x8b"
            f.seek(0)
            if is_gzip:
                with gzip.GzipFile(fileobj=f) as g:
                    data = _read_limited(g, max_bytes, str(path))
            else:
                data = _read_limited(f, max_bytes, str(path))
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise DataFormatError(f"{path}: corrupt or truncated gzip file ({e})") from None
    except FileNotFoundError:
        raise DataFormatError(f"{path}: no such file") from None
    except OSError as e:
        raise DataFormatError(f"{path}: cannot read ({e.strerror or e})") from None
    if not data:
        raise DataFormatError(f"{path}: file is empty")
    return data


def _read_limited(stream: BinaryIO, max_bytes: int, name: str) -> bytes:
    """Read ``stream`` to its end in chunks, refusing more than ``max_bytes`` or, once a valid
    IDX header has been seen, more than that header declares."""
    chunks: list[bytes] = []
    n = 0
    limit = max_bytes
    peeked = False
    # the header first (so a small file's limit is known before any big read), then chunks
    while chunk := stream.read(min(_CHUNK if peeked else _HEADER_PEEK - n, limit + 1 - n)):
        chunks.append(chunk)
        n += len(chunk)
        if not peeked and n >= _HEADER_PEEK:
            peeked = True
            head = chunks[0] if len(chunks[0]) >= _HEADER_PEEK else b"".join(chunks)
            declared = _declared_size(head, name, max_bytes)
            limit = declared if declared is not None else limit
        if n > limit:
            if limit == max_bytes:
                raise DataFormatError(
                    f"{name}: decompresses to more than {max_bytes} bytes; refusing"
                )
            raise DataFormatError(
                f"{name}: holds more data than its IDX header declares ({limit} bytes in all)"
            )
    return b"".join(chunks)


def _declared_size(head: bytes, name: str, max_bytes: int) -> int | None:
    """Total file size (header + data) an IDX header declares, or None if ``head`` does not
    start with a complete, valid IDX header. Raises when the size exceeds ``max_bytes``."""
    if len(head) < 4 or head[0] or head[1] or head[2] not in IDX_DTYPES:
        return None
    ndim = head[3]
    header = 4 + 4 * ndim
    if not 1 <= ndim <= MAX_DIMS or len(head) < header:
        return None
    shape = struct.unpack(f">{ndim}I", head[4:header])
    if min(shape) < 1:
        return None
    size = header + math.prod(shape) * IDX_DTYPES[head[2]].itemsize
    if size > max_bytes:
        raise DataFormatError(
            f"{name}: IDX header declares shape {shape} ({size} bytes), more than the "
            f"{max_bytes}-byte limit; refusing"
        )
    return size


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
    expected = math.prod(shape) * dtype.itemsize  # python ints: no overflow
    if len(data) - header != expected:
        raise DataFormatError(
            f"{name}: header says shape {shape} of {dtype.name} ({expected} data bytes) "
            f"but the file holds {len(data) - header}"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=False)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read and parse the IDX file at ``path`` (raw or .gz)."""
    return parse_idx(read_bytes(path), name=str(path))
