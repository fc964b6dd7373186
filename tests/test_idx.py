"""The IDX reader: round trips, every rejection, and fuzzing.

Contract under test: :func:`sgdlab.data.idx.parse_idx` / :func:`read_idx` either return an array
whose shape is the header's dims, whose dtype is the header's (native byte order) and whose
bytes are the file's data, or raise :class:`DataFormatError` naming the file. Nothing else:
no other exception, no allocation larger than the file.

The default run fuzzes 12,000 generated inputs (about 10 s); ``-m slow`` runs 120,000 more.
"""

from __future__ import annotations

import gzip
import shutil
import struct
import tempfile
import tracemalloc
import zlib
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from idx_files import files_table, idx_bytes, idx_header, tiny_set

from sgdlab.data import fashion as data
from sgdlab.data.idx import IDX_DTYPES, MAX_DIMS, parse_idx, read_bytes, read_idx
from sgdlab.errors import DataFormatError


def write(path: Path, content: bytes, *, gz: bool) -> Path:
    path.write_bytes(gzip.compress(content, mtime=0) if gz else content)
    return path


# ----------------------------------------------------------------------------- round trip

ROUND_TRIP = [
    np.arange(10, dtype=np.uint8),
    np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28),
    np.array([-128, -1, 0, 127], dtype=np.int8),
    np.array([[-32768, 7], [32767, 0]], dtype=np.int16),
    np.array([-(2**31), 2**31 - 1, 5], dtype=np.int32),
    np.array([1.5, -0.0, np.inf, 3e38], dtype=np.float32),
    np.array([[np.pi, -1e-300]], dtype=np.float64),
    np.zeros((1, 1, 1, 1, 1, 1, 1, 2), dtype=np.uint8),  # MAX_DIMS dimensions
]


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("arr", ROUND_TRIP, ids=lambda a: f"{a.dtype}{list(a.shape)}")
def test_round_trip(tmp_path, arr, gz):
    got = read_idx(write(tmp_path / "f", idx_bytes(arr, arr.dtype), gz=gz))
    assert got.shape == arr.shape
    assert got.dtype == arr.dtype and got.dtype.isnative
    np.testing.assert_array_equal(got, arr)


def test_fashion_mnist_style_files(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 5, dtype=np.uint8)
    img = read_idx(write(tmp_path / "i.gz", idx_bytes(images), gz=True))
    lab = read_idx(write(tmp_path / "l", idx_bytes(labels), gz=False))
    assert img.dtype == np.uint8 and img.shape == (5, 28, 28)
    np.testing.assert_array_equal(img, images)
    np.testing.assert_array_equal(lab, labels)


def test_bundled_sample_files_parse():
    root = resources.files("sgdlab.data") / "sample"
    img = read_idx(Path(str(root / "train-images-idx3-ubyte.gz")))
    lab = read_idx(Path(str(root / "train-labels-idx1-ubyte.gz")))
    assert img.shape == (1000, 28, 28) and lab.shape == (1000,)
    assert np.bincount(lab, minlength=10).tolist() == [100] * 10


# ----------------------------------------------------------------------- explicit rejections

GOOD = idx_bytes(np.arange(3 * 28 * 28, dtype=np.uint8).reshape(3, 28, 28))
GOOD_GZ = gzip.compress(GOOD, mtime=0)


REJECTS = [
    (b"", "file is empty"),
    (gzip.compress(b""), "file is empty"),
    (GOOD_GZ[:10], "corrupt or truncated gzip"),  # header only
    (GOOD_GZ[: len(GOOD_GZ) // 2], "corrupt or truncated gzip"),
    (GOOD_GZ[:-4], "corrupt or truncated gzip"),  # size trailer missing
    (GOOD_GZ[:2], "corrupt or truncated gzip"),  # the magic alone
    (GOOD_GZ[:12] + bytes(b ^ 0x5A for b in GOOD_GZ[12:40]) + GOOD_GZ[40:], "corrupt"),
    (GOOD_GZ[:-8] + b"\0\0\0\0" + GOOD_GZ[-4:], "corrupt or truncated gzip"),  # bad CRC
    (GOOD_GZ + b"garbage!", "corrupt or truncated gzip"),
    (b"<!DOCTYPE html><html>Not Found</html>", "not an IDX file (bad magic 3c21444f)"),
    (b"\x01\x00" + GOOD[2:], "bad magic 0100"),
    (b"\0\0\x07\x03" + GOOD[4:], "unknown IDX dtype code 0x07"),
    (b"\0\0\x08\x00", "unsupported number of dimensions 0"),
    (b"\0\0\x08\x09" + bytes(36), "unsupported number of dimensions 9"),
    (b"\0\0\x08\x03\0\0\0\x03", "header truncated"),
    (b"\0\0", "too short for an IDX header"),
    (idx_header((3, 0, 28)), "empty dimension"),
    (idx_header((4, 28, 28)) + GOOD[16:], "header says shape (4, 28, 28)"),  # one image short
    (idx_header((3, 28, 27)) + GOOD[16:], "holds more data than its IDX header declares"),
    (
        idx_header((3, 28, 28), code=0x0D) + GOOD[16:],
        "header says shape (3, 28, 28) of float32 (9408 data",
    ),
    (GOOD + b"\0", "holds more data than its IDX header declares"),
    (GOOD[:-1], "but the file holds 2351"),
]


@pytest.mark.parametrize(
    ("content", "words", "gz"),
    [
        pytest.param(c, w, gz, id=f"{i}-{'gz' if gz else 'raw'}")
        for i, (c, w) in enumerate(REJECTS)
        for gz in (False, True)
        if not (gz and c[:2] == b"\x1f\x8b")  # a gzip stream is already the damaged file
    ],
)
def test_rejects(tmp_path, content, words, gz):
    path = write(tmp_path / "bad.gz", content, gz=gz)
    with pytest.raises(DataFormatError) as info:
        read_idx(path)
    assert str(info.value).startswith(str(path) + ": ")
    assert words in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataFormatError, match="no such file"):
        read_idx(tmp_path / "nope.gz")


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(DataFormatError, match="cannot read"):
        read_idx(tmp_path)


def test_dims_product_does_not_overflow():
    """2**16 ** 4 = 2**64 wraps to 0 in int64; the size check must use exact integers."""
    with pytest.raises(DataFormatError, match="header says shape"):
        parse_idx(idx_header((65536, 65536, 65536, 65536)))


def _peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
    except DataFormatError:
        pass
    else:
        raise AssertionError("no DataFormatError")
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_billion_images_header_allocates_nothing_big(tmp_path, gz):
    content = idx_header((10**9, 28, 28)) + GOOD[16:]
    path = write(tmp_path / "huge", content, gz=gz)
    with pytest.raises(DataFormatError, match=r"declares shape \(1000000000, 28, 28\)"):
        read_idx(path)
    assert _peak(lambda: read_idx(path)) < 4_000_000
    assert _peak(lambda: parse_idx(content)) < 100_000


def test_gzip_bomb_under_a_small_header_stops_early(tmp_path):
    """10 images declared, 50 MB of zeros behind them: reading stops after the 10 images."""
    path = tmp_path / "bomb.gz"
    with gzip.open(path, "wb") as f:
        f.write(idx_header((10, 28, 28)))
        for _ in range(50):
            f.write(bytes(1_000_000))
    assert path.stat().st_size < 100_000
    peak = _peak(lambda: read_idx(path))
    assert peak < 1_000_000  # not 50 MB
    with pytest.raises(DataFormatError, match="holds more data than its IDX header declares"):
        read_idx(path)


def test_gzip_bomb_without_header_hits_the_size_limit(tmp_path):
    path = write(tmp_path / "bomb.gz", b"x" * 3_000_000, gz=True)
    with pytest.raises(DataFormatError, match="decompresses to more than 1000000 bytes"):
        read_bytes(path, max_bytes=1_000_000)
    assert _peak(lambda: read_bytes(path, max_bytes=1_000_000)) < 4_000_000


# ------------------------------------------------------------- data-level checks via load


def _tiny(labels_max: int = 9) -> dict[str, bytes]:
    return tiny_set(2, 30, 20, classes=labels_max + 1)


def _vouch(monkeypatch, content: dict[str, bytes]) -> None:
    """Make data.FILES describe ``content`` (hashes and shapes), as if it were the real set."""
    monkeypatch.setattr(data, "FILES", files_table(content))


def _write_dir(d: Path, content: dict[str, bytes]) -> Path:
    d.mkdir()
    for stem, raw in content.items():
        write(d / (stem + ".gz"), raw, gz=True)
    return d


def test_load_labels_outside_0_to_9(tmp_path, monkeypatch):
    content = _tiny(labels_max=12)
    _vouch(monkeypatch, content)
    with pytest.raises(DataFormatError, match="label 12 outside 0–9"):
        data.load(_write_dir(tmp_path / "d", content), download=False)


def test_load_image_label_count_mismatch(tmp_path, monkeypatch):
    content = _tiny()
    content["train-labels-idx1-ubyte"] = idx_bytes(np.arange(29, dtype=np.uint8) % 10)
    _vouch(monkeypatch, content)
    with pytest.raises(DataFormatError, match="30 images but 29 labels"):
        data.load(_write_dir(tmp_path / "d", content), download=False)


def test_load_wrong_checksum_modified_file(tmp_path, monkeypatch):
    content = _tiny()
    _vouch(monkeypatch, content)
    d = _write_dir(tmp_path / "d", content)
    data.load(d, download=False)  # fine as written
    raw = bytearray(content["t10k-images-idx3-ubyte"])
    raw[100] ^= 1  # one pixel off by one: still a valid IDX file
    write(d / "t10k-images-idx3-ubyte.gz", bytes(raw), gz=True)
    with pytest.raises(DataFormatError, match=r"t10k-images-idx3-ubyte.gz: content does not match"):
        data.load(d, download=False)


def test_load_real_checksums_refuse_the_sample_files(tmp_path):
    """With the real FILES table, the (valid) sample files are not Fashion-MNIST: refused."""
    d = tmp_path / "d"
    shutil.copytree(Path(str(resources.files("sgdlab.data") / "sample")), d)
    with pytest.raises(DataFormatError) as info:
        data.load(d, download=False)
    msg = str(info.value)
    assert "train-images-idx3-ubyte.gz: content does not match Fashion-MNIST" in msg
    assert "expected c59f468a2f672dc8" in msg and "delete or replace it" in msg


# ----------------------------------------------------------------------------------- fuzz


def check_contract(content: bytes, parse) -> None:
    """``parse(content)`` returns an array consistent with the header or raises
    DataFormatError; anything else fails the test."""
    try:
        arr = parse(content)
    except DataFormatError:
        return
    code, ndim = content[2], content[3]
    shape = struct.unpack(f">{ndim}I", content[4 : 4 + 4 * ndim])
    assert content[:2] == b"\0\0"
    assert isinstance(arr, np.ndarray)
    assert arr.shape == shape
    assert arr.dtype == IDX_DTYPES[code].newbyteorder("=") and arr.dtype.isnative
    assert arr.nbytes == len(content) - 4 - 4 * ndim
    expected = np.frombuffer(content, IDX_DTYPES[code], offset=4 + 4 * ndim).reshape(shape)
    np.testing.assert_array_equal(arr, expected)


dims = st.one_of(
    st.integers(0, 6),
    st.integers(0, 2**32 - 1),
    st.sampled_from([28, 255, 256, 2**16, 2**31, 2**32 - 1, 10**9]),
)


@st.composite
def idx_like(draw) -> bytes:
    """Mostly plausible IDX files: a header (sometimes wrong) and a payload whose length is
    right, a little off, or arbitrary."""
    magic = draw(st.sampled_from([0, 0, 0, 0, 1, 0x0100, 0x1F8B]))
    code = draw(st.sampled_from([*IDX_DTYPES, *IDX_DTYPES, 0, 7, 0x0A, 0x0F, 0xFF]))
    ndim = draw(st.sampled_from([1, 1, 2, 3, 3, 4, MAX_DIMS, 0, MAX_DIMS + 1, 255]))
    small = draw(st.booleans())
    shape = draw(st.lists(st.integers(1, 5) if small else dims, min_size=ndim, max_size=ndim))
    head = idx_header(shape, code=code, magic=magic)
    head = head[: draw(st.integers(0, len(head)))] if draw(st.integers(0, 9)) == 0 else head
    itemsize = IDX_DTYPES[code].itemsize if code in IDX_DTYPES else 1
    n = int(np.prod(shape, dtype=object)) * itemsize if shape else 0
    n = n if n <= 4096 else draw(st.integers(0, 4096))
    n = max(0, n + draw(st.sampled_from([0, 0, 0, 0, -1, 1, -itemsize, itemsize])))
    return head + draw(st.binary(min_size=n, max_size=n))


FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)


@settings(FUZZ, max_examples=3_000)
@given(st.binary(max_size=300))
def test_fuzz_parse_arbitrary_bytes(content):
    check_contract(content, parse_idx)


@settings(FUZZ, max_examples=1_500)  # the long runs (60,000 each) are marked slow below
@given(idx_like())
def test_fuzz_parse_idx_like(content):
    check_contract(content, parse_idx)


def _via_gzip_file(content: bytes, mutate: tuple[int, int, int]) -> None:
    """Write ``content`` gzip-compressed (then damaged by ``mutate``) and read it back."""
    gz = bytearray(gzip.compress(content, mtime=0))
    kind, where, value = mutate
    where %= len(gz)
    if kind == 1:
        gz[where] ^= value or 1
    elif kind == 2:
        del gz[where:]
    with tempfile.NamedTemporaryFile(suffix=".gz") as f:
        f.write(gz)
        f.flush()
        try:
            arr = read_idx(f.name)
        except DataFormatError:
            return
    if kind == 0:  # undamaged: must equal parsing the bytes directly
        check_contract(content, lambda c: arr)
    else:  # damaged gzip that still decompressed: the content must make sense by itself
        assert isinstance(arr, np.ndarray)


mutations = st.tuples(st.sampled_from([0, 0, 1, 2]), st.integers(0, 10**6), st.integers(0, 255))


@settings(FUZZ, max_examples=1_000)
@given(st.one_of(idx_like(), st.binary(max_size=200)), mutations)
def test_fuzz_read_gzip_files(content, mutate):
    _via_gzip_file(content, mutate)


@pytest.mark.slow
@settings(FUZZ, max_examples=60_000)
@given(st.one_of(idx_like(), st.binary(max_size=2000)))
def test_fuzz_parse_long(content):
    check_contract(content, parse_idx)


@pytest.mark.slow
@settings(FUZZ, max_examples=60_000)
@given(st.one_of(idx_like(), st.binary(max_size=500)), mutations)
def test_fuzz_read_gzip_files_long(content, mutate):
    _via_gzip_file(content, mutate)


def test_zlib_errors_are_wrapped(tmp_path):
    """A raw deflate stream behind a gzip header (zlib.error territory) is a DataFormatError."""
    body = zlib.compress(GOOD)[2:]  # deflate data, wrong framing for the member
    path = write(tmp_path / "x.gz", b"\x1f\x8b\x08\x00" + bytes(6) + body[::-1], gz=False)
    with pytest.raises(DataFormatError, match="corrupt or truncated gzip"):
        read_idx(path)
