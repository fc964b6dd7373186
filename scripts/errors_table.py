"""Run every bad input in :data:`CASES` through the sgdlab CLI and write ``docs/errors.md``.

    .venv/bin/python scripts/errors_table.py           # rewrite docs/errors.md
    .venv/bin/python scripts/errors_table.py --check   # exit 1 if docs/errors.md is stale

``tests/test_errors.py`` runs the same cases (and checks that each rendered row is in the doc),
so the table and the tests cannot drift apart. Each case runs ``sgdlab.cli.main`` in-process in
a fresh scratch directory holding a tiny generated data set (``DATA``; ``sgdlab.data.FILES`` is
pointed at its checksums, exactly as the real table points at the real files), an empty cache
and an empty system directory; mirrors point at a closed loopback port, so nothing leaves the
machine. Paths in the rendered messages are shown as ``DATA``, ``TMP``, the default cache and
``/usr/share/datasets/fashion-mnist``; SHA-256 prefixes as ``<sha256>``.

To add a row, add a :class:`Case` (checkpoint cases go in :data:`CHECKPOINT_CASES`) and rerun.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import io
import os
import re
import socket
import struct
import sys
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "errors.md"
N_TRAIN, N_TEST = 64, 32
STEMS = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
IMAGES, LABELS = STEMS[0], STEMS[1]


# --------------------------------------------------------------------------- tiny data set


def idx_bytes(arr: np.ndarray, *, code: int = 8, magic: int = 0) -> bytes:
    """IDX encoding of uint8 ``arr`` (header fields overridable to make bad files)."""
    head = struct.pack(">HBB", magic, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return head + np.ascontiguousarray(arr, dtype=np.uint8).tobytes()


def tiny_arrays() -> dict[str, np.ndarray]:
    """A deterministic tiny look-alike of Fashion-MNIST (64 train, 32 test images)."""
    rng = np.random.default_rng(6)
    return {
        STEMS[0]: rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8),
        STEMS[1]: (np.arange(N_TRAIN) % 10).astype(np.uint8),
        STEMS[2]: rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8),
        STEMS[3]: (np.arange(N_TEST) % 10).astype(np.uint8),
    }


def files_table(raw: dict[str, bytes]) -> dict:
    """A ``sgdlab.data.FILES`` look-alike: checksums and shapes of the IDX contents ``raw``."""

    def shape(b: bytes) -> tuple[int, ...]:
        return struct.unpack(f">{b[3]}I", b[4 : 4 + 4 * b[3]])

    kinds = {"train": (STEMS[0], STEMS[1]), "test": (STEMS[2], STEMS[3])}
    return {
        split: {
            kind: (stem, hashlib.sha256(raw[stem]).hexdigest(), shape(raw[stem]))
            for kind, stem in zip(("images", "labels"), stems, strict=True)
        }
        for split, stems in kinds.items()
    }


def write_gz(path: Path, content: bytes) -> None:
    path.write_bytes(gzip.compress(content, mtime=0))


# ----------------------------------------------------------------------------- bad files


def _gz_of(stem: str, content: bytes) -> Callable[[Path], None]:
    return lambda d: write_gz(d / f"{stem}.gz", content)


def _bytes_as(stem: str, content: bytes) -> Callable[[Path], None]:
    return lambda d: (d / f"{stem}.gz").write_bytes(content)


def _good_gz(stem: str) -> bytes:
    return gzip.compress(idx_bytes(tiny_arrays()[stem]), mtime=0)


def _remove(stem: str) -> Callable[[Path], None]:
    return lambda d: (d / f"{stem}.gz").unlink()


def _garble(stem: str) -> Callable[[Path], None]:
    def apply(d: Path) -> None:
        gz = bytearray(_good_gz(stem))
        for i in range(len(gz) // 2, len(gz) // 2 + 40):
            gz[i] ^= 0x5A
        (d / f"{stem}.gz").write_bytes(bytes(gz))

    return apply


_IMG = tiny_arrays()[IMAGES]
_LAB = tiny_arrays()[LABELS]
_HTML = b"<!DOCTYPE html>\n<html><body><h1>429 Too Many Requests</h1></body></html>\n"


def _img_header(n: int) -> bytes:
    return struct.pack(">HBB3I", 0, 8, 3, n, 28, 28)


#: (what, setup of DATA, which file the IDX reader is shown on)
BAD_FILES: list[tuple[str, Callable[[Path], None]]] = [
    ("`train-images-idx3-ubyte.gz` missing (the other three present)", _remove(IMAGES)),
    ("empty `.gz` file (0 bytes)", _bytes_as(IMAGES, b"")),
    (
        "truncated `.gz` (first half of the file)",
        _bytes_as(IMAGES, _good_gz(IMAGES)[: len(_good_gz(IMAGES)) // 2]),
    ),
    ("garbled `.gz` (40 bytes flipped inside the deflate stream)", _garble(IMAGES)),
    ("an HTML error page saved as the `.gz`", _bytes_as(IMAGES, _HTML)),
    ("wrong magic (first two bytes `01 00`)", _gz_of(IMAGES, idx_bytes(_IMG, magic=0x0100))),
    (
        "wrong dtype code (`0x0D` float32 instead of `0x08` uint8)",
        _gz_of(IMAGES, idx_bytes(_IMG, code=0x0D)),
    ),
    (
        "dims disagree with the file size: header says 65 images, file holds 64",
        _gz_of(IMAGES, _img_header(N_TRAIN + 1) + _IMG.tobytes()),
    ),
    (
        "dims disagree with the file size: header says 63 images, file holds 64",
        _gz_of(IMAGES, _img_header(N_TRAIN - 1) + _IMG.tobytes()),
    ),
    (
        "header claims 10⁹ images (784 GB) in a 50 kB file",
        _gz_of(IMAGES, _img_header(10**9) + _IMG.tobytes()),
    ),
    ("labels outside 0–9 (a label 12)", _gz_of(LABELS, idx_bytes(np.where(_LAB == 2, 12, _LAB)))),
    ("image/label count mismatch (64 images, 63 labels)", _gz_of(LABELS, idx_bytes(_LAB[:-1]))),
    (
        "wrong checksum (valid IDX, right shape, one pixel changed)",
        _gz_of(
            IMAGES,
            idx_bytes(np.where(np.arange(_IMG.size).reshape(_IMG.shape) == 0, _IMG ^ 1, _IMG)),
        ),
    ),
]


# ------------------------------------------------------------------------------------ cases


@dataclass(frozen=True)
class Case:
    """One bad input: ``argv`` after ``sgdlab`` (placeholders ``{data}``, ``{tmp}``,
    ``{file}``: the data dir, the scratch dir, an existing regular file), key words the one
    error line must contain, and optionally a change to ``DATA`` before the run."""

    group: str
    what: str
    argv: tuple[str, ...]
    expect: tuple[str, ...]
    setup: Callable[[Path], None] | None = None
    env: dict[str, str] = field(default_factory=dict)
    #: the checksum table is updated to match DATA after ``setup`` (a library user's own table)
    vouch: bool = False
    #: the message goes on with indented lines (the ways to get the data)
    multiline: bool = False
    #: the row does not meet the contract yet (exit 2, no traceback): why, for the report
    bug: str | None = None

    @property
    def id(self) -> str:
        return re.sub(r"[^A-Za-z0-9.+-]+", "_", f"{self.group} {self.what}").strip("_")


DATA_CMD = ("train", "--data-dir", "{data}", "-q", "--epochs", "1")
SAMPLE = ("--sample", "-q")

_FILE_EXPECT = {
    0: (
        "Fashion-MNIST not found",
        "could not download train-images-idx3-ubyte.gz",
        "connection refused",
    ),
    1: ("train-images-idx3-ubyte.gz", "file is empty"),
    2: ("train-images-idx3-ubyte.gz", "corrupt or truncated gzip"),
    3: ("train-images-idx3-ubyte.gz", "corrupt or truncated gzip"),
    4: ("train-images-idx3-ubyte.gz", "not an IDX file"),
    5: ("train-images-idx3-ubyte.gz", "not an IDX file"),
    6: ("train-images-idx3-ubyte.gz", "header says shape"),
    7: ("train-images-idx3-ubyte.gz", "header says shape"),
    8: ("train-images-idx3-ubyte.gz", "holds more data than its IDX header declares"),
    9: ("train-images-idx3-ubyte.gz", "declares shape (1000000000, 28, 28)"),
    10: ("train-labels-idx1-ubyte.gz", "content does not match"),
    11: ("train-labels-idx1-ubyte.gz", "content does not match"),
    12: ("train-images-idx3-ubyte.gz", "content does not match"),
}

CASES: list[Case] = [
    *(
        Case("Data files", what, DATA_CMD, _FILE_EXPECT[i], setup, multiline=i == 0)
        for i, (what, setup) in enumerate(BAD_FILES)
    ),
    Case(
        "Data files",
        "labels outside 0–9, checksum table vouching for the file",
        DATA_CMD,
        ("label 12 outside 0–9",),
        BAD_FILES[10][1],
        vouch=True,
    ),
    Case(
        "Data files",
        "image/label count mismatch, checksum table vouching for the file",
        DATA_CMD,
        ("64 images but 63 labels",),
        BAD_FILES[11][1],
        vouch=True,
    ),
    # ---------------------------------------------------------------- where the data is
    Case(
        "Data location",
        "`--data-dir` that does not exist",
        ("train", "--data-dir", "{tmp}/missing", "-q"),
        ("data directory", "does not exist"),
    ),
    Case(
        "Data location",
        "`--data-dir` that is a file",
        ("train", "--data-dir", "{file}", "-q"),
        ("data directory", "not a directory"),
    ),
    Case(
        "Data location",
        "`SGDLAB_DATA` that does not exist, with `--require-full`",
        ("train", "--require-full", "-q"),
        ("data directory", "does not exist"),
        env={"SGDLAB_DATA": "{tmp}/missing"},
    ),
    Case(
        "Data location",
        "`SGDLAB_DATA` that does not exist (no sample fallback)",
        ("train", "-q"),
        ("data directory", "does not exist"),
        env={"SGDLAB_DATA": "{tmp}/missing"},
    ),
    Case(
        "Data location",
        "no data anywhere, no network, `--require-full`",
        ("train", "--require-full", "-q"),
        ("Fashion-MNIST not found", "dataset-fashion-mnist", "connection refused"),
        setup=lambda d: [p.unlink() for p in d.iterdir()],
        multiline=True,
    ),
    # ---------------------------------------------------------------- option values
    *(
        Case(
            "Option values",
            f"`--batch-size {v}`",
            ("train", *SAMPLE, "--batch-size", v),
            ("--batch-size", w),
        )
        for v, w in [
            ("0", "must be ≥ 1"),
            ("-1", "must be ≥ 1"),
            ("1.5", "positive integer"),
            ("nan", "positive integer"),
            ("inf", "positive integer"),
            ("abc", "positive integer"),
            ("", "positive integer"),
        ]
    ),
    Case(
        "Option values",
        "`--batch-size` larger than N (1001 > 1,000 samples)",
        ("train", *SAMPLE, "--batch-size", "1001"),
        ("batch size", "1..1000", "1001"),
    ),
    Case(
        "Option values",
        "`minibatch --batch-size` larger than N",
        ("minibatch", *SAMPLE, "--batch-size", "1001"),
        ("batch size", "1..1000"),
    ),
    Case(
        "Option values",
        "`step --batch-size` larger than N",
        ("step", *SAMPLE, "--batch-size", "1001"),
        ("batch size", "1..1000"),
    ),
    *(
        Case("Option values", f"`--epochs {v}`", ("train", *SAMPLE, "--epochs", v), ("--epochs", w))
        for v, w in [
            ("0", "must be ≥ 1"),
            ("-1", "must be ≥ 1"),
            ("1.5", "positive integer"),
            ("nan", "positive integer"),
            ("inf", "positive integer"),
            ("abc", "positive integer"),
        ]
    ),
    *(
        Case("Option values", f"`--lr {v}`", ("train", *SAMPLE, "--lr", v), ("--lr", w))
        for v, w in [
            ("0", "finite and > 0"),
            ("-1", "finite and > 0"),
            ("nan", "finite and > 0"),
            ("inf", "finite and > 0"),
            ("1e-400", "finite and > 0"),
            ("abc", "expected a number"),
        ]
    ),
    Case(
        "Option values",
        "`--lr -inf` (argparse reads `-inf` as an option name)",
        ("train", *SAMPLE, "--lr", "-inf"),
        ("--lr", "expected one argument"),
    ),
    Case(
        "Option values", "`--lr=-inf`", ("train", *SAMPLE, "--lr=-inf"), ("--lr", "finite and > 0")
    ),
    Case(
        "Option values",
        "`step --lr nan`",
        ("step", *SAMPLE, "--lr", "nan"),
        ("--lr", "finite and > 0"),
    ),
    Case(
        "Option values",
        "`--lr 1e300` (beyond float32)",
        ("train", *SAMPLE, "--lr", "1e300", "--epochs", "1"),
        ("--lr", "float32"),
    ),
    Case(
        "Option values",
        "`--lr 1e36` (training diverges: non-finite cost)",
        ("train", *SAMPLE, "--lr", "1e36", "--epochs", "1", "--engine", "reference"),
        ("diverged", "non-finite", "at step", "smaller learning rate"),
    ),
    *(
        Case("Option values", f"`--seed {v}`", ("train", *SAMPLE, "--seed", v), ("--seed", w))
        for v, w in [
            ("-1", "0..2**63-1"),
            ("1.5", "integer ≥ 0"),
            ("nan", "integer ≥ 0"),
            ("inf", "integer ≥ 0"),
            ("abc", "integer ≥ 0"),
        ]
    ),
    Case(
        "Option values",
        "`--seed 18446744073709551616` (2⁶⁴, too big for the generator)",
        ("train", *SAMPLE, "--epochs", "1", "--seed", "18446744073709551616"),
        ("--seed", "0..2**63-1"),
    ),
    # ---------------------------------------------------------------- options, engines
    Case(
        "Options",
        "unknown option",
        ("train", *SAMPLE, "--bogus"),
        ("unrecognized arguments", "--bogus"),
    ),
    Case("Options", "unknown command", ("bogus",), ("invalid choice", "bogus")),
    Case(
        "Options",
        "option without its value",
        ("train", *SAMPLE, "--epochs"),
        ("--epochs", "expected one argument"),
    ),
    Case(
        "Options",
        "unknown `--method`",
        ("train", *SAMPLE, "--method", "adam"),
        ("--method", "invalid choice"),
    ),
    Case(
        "Options",
        "unknown `--init`",
        ("train", *SAMPLE, "--init", "ones"),
        ("--init", "invalid choice"),
    ),
    Case(
        "Options",
        "unknown engine",
        ("train", *SAMPLE, "--engine", "warp"),
        ("unknown engine", "warp"),
    ),
    Case(
        "Options",
        "unknown device",
        ("train", *SAMPLE, "--device", "tpu"),
        ("unknown device", "tpu"),
    ),
    Case(
        "Options",
        "`step` with an unknown device",
        ("step", *SAMPLE, "--device", "tpu"),
        ("unknown device", "tpu"),
    ),
    Case(
        "Options",
        "a torch device sgdlab cannot train on (`--device meta`)",
        ("train", *SAMPLE, "--epochs", "1", "--device", "meta"),
        ("unknown device", "meta"),
    ),
    # ---------------------------------------------------------------- the update, schedules
    *(
        Case("Option values", f"`{' '.join(a)}`", ("train", *SAMPLE, *a), w)
        for a, w in [
            (("--momentum=-0.1",), ("--momentum", "finite and ≥ 0")),
            (("--momentum", "1"), ("--momentum", "[0, 1)")),
            (("--weight-decay=-1e-4",), ("--weight-decay", "finite and ≥ 0")),
            (("--weight-decay", "nan"), ("--weight-decay", "finite and ≥ 0")),
            (("--nesterov",), ("nesterov", "momentum > 0")),
            (("--schedule", "warmup"), ("--schedule", "invalid choice")),
            (("--schedule", "step", "--gamma", "0"), ("--gamma", "finite and > 0")),
            (("--schedule", "step", "--step-epochs", "0"), ("--step-epochs", "≥ 1")),
            (("--schedule", "inverse", "--t0=-5"), ("--t0", "finite and > 0")),
            (("--validation", "1000"), ("validation size", "0..999")),
            (("--validation=-1",), ("--validation", "0..2**63-1")),
            (("--validation", "900", "--batch-size", "200"), ("batch size", "1..100")),
        ]
    ),
    # ---------------------------------------------------------------- --config FILE.toml
    *(
        Case(
            "Options",
            f"`--config` {what}: `{text.strip()}`",
            ("train", *SAMPLE, "--config", "{data}/c.toml"),
            w,
            setup=lambda d, text=text: (d / "c.toml").write_text(text),
        )
        for what, text, w in [
            ("with an unknown key", "bogus = 1\n", ("--config", "unknown key 'bogus'")),
            ("with a bad value", "momentum = -1\n", ("key 'momentum'", "≥ 0")),
            (
                "with a value of the wrong type",
                'batch-size = "big"\n',
                ("key 'batch-size'", "positive integer"),
            ),
            (
                "with a boolean option given a number",
                "average = 1\n",
                ("key 'average'", "true or false"),
            ),
            (
                "with a choice it does not know",
                'schedule = "warmup"\n',
                ("key 'schedule'", "invalid choice"),
            ),
            ("that is not TOML", "batch-size = = 3\n", ("--config", "not valid TOML")),
        ]
    ),
    Case(
        "Options",
        "`--config` that does not exist",
        ("train", *SAMPLE, "--config", "{tmp}/missing.toml"),
        ("--config", "cannot read"),
    ),
    # ---------------------------------------------------------------- output paths
    Case(
        "Output files",
        "`--save-weights` with an unknown extension",
        ("train", *SAMPLE, "--save-weights", "{tmp}/w.txt"),
        ("--save-weights", ".pt"),
    ),
    Case(
        "Output files",
        "`--save-weights` into a directory that does not exist (.pt)",
        ("train", *SAMPLE, "--epochs", "1", "--save-weights", "{tmp}/missing/w.pt"),
        ("--save-weights", "missing", "does not exist"),
    ),
    Case(
        "Output files",
        "`--save-weights` into a directory that does not exist (.safetensors)",
        ("train", *SAMPLE, "--epochs", "1", "--save-weights", "{tmp}/missing/w.safetensors"),
        ("--save-weights", "missing", "does not exist"),
    ),
    Case(
        "Output files",
        "`--save-weights` under a path that is a file",
        ("train", *SAMPLE, "--epochs", "1", "--save-weights", "{file}/w.pt"),
        ("--save-weights", "does not exist"),
    ),
    Case(
        "Output files",
        "`--save-weights` naming an existing directory",
        ("train", *SAMPLE, "--epochs", "1", "--save-weights", "{tmp}/adir.pt"),
        ("cannot write", "adir.pt", "Is a directory"),
    ),
    Case(
        "Output files",
        "`minibatch --save` into a directory that does not exist",
        ("minibatch", *SAMPLE, "--save", "{tmp}/missing/x.png"),
        ("--save", "missing", "does not exist"),
    ),
    Case(
        "Output files",
        "`minibatch --save` under a path that is a file",
        ("minibatch", *SAMPLE, "--save", "{file}/x.png"),
        ("--save", "does not exist"),
    ),
    Case(
        "Output files",
        "`train --plot` with an unknown extension",
        ("train", *SAMPLE, "--plot", "{tmp}/c.txt"),
        ("--plot", ".png"),
    ),
    Case(
        "Output files",
        "`train --plot` into a directory that does not exist",
        ("train", *SAMPLE, "--plot", "{tmp}/missing/c.png"),
        ("--plot", "does not exist"),
    ),
    Case(
        "Output files",
        "`minibatch --save` with an image format matplotlib does not know",
        ("minibatch", *SAMPLE, "--save", "{tmp}/x.xyz"),
        ("--save", "x.xyz", ".png"),
    ),
]


#: Checkpoint errors (unwritable checkpoint dir, corrupt or foreign checkpoint, ...): add here.
def _bad_checkpoints(d: Path, *, keep_good: bool = False) -> None:
    """A checkpoint dir ``d/ck``: a truncated newest checkpoint (and a good older one)."""
    from sgdlab import train
    from sgdlab.data import load_sample
    from sgdlab.training import checkpoint

    ck = d / "ck"
    train(
        epochs=1,
        data=load_sample(),
        engine="reference",
        progress=False,
        checkpoint_dir=ck,
        checkpoint_every=30,
        keep=2,
    )
    old, new = checkpoint.list_checkpoints(ck)
    new.write_bytes(new.read_bytes()[:1000])
    if not keep_good:
        old.write_bytes(b"not a checkpoint")


def _finished_run(d: Path) -> None:
    """A checkpoint dir ``d/ck`` holding a finished 2-epoch run (seed 0, batch 16, 126 steps)."""
    from sgdlab import train
    from sgdlab.data import load_sample

    train(epochs=2, data=load_sample(), engine="reference", progress=False, checkpoint_dir=d / "ck")


CHECKPOINT_CASES: list[Case] = [
    Case(
        "Checkpoints",
        "`--checkpoint-dir` under a path that is a file",
        ("train", *SAMPLE, "--epochs", "1", "--checkpoint-dir", "{file}/ck"),
        ("cannot create checkpoint directory",),
    ),
    Case(
        "Checkpoints",
        "`--checkpoint-every 0`",
        ("train", *SAMPLE, "--checkpoint-dir", "{tmp}/ck", "--checkpoint-every", "0"),
        ("--checkpoint-every", "must be ≥ 1"),
    ),
    Case(
        "Checkpoints",
        "`--resume` where every checkpoint is damaged",
        ("train", *SAMPLE, "--resume", "{data}/ck"),
        ("no valid checkpoint", "all 2 damaged"),
        setup=_bad_checkpoints,
    ),
    Case(
        "Checkpoints",
        "`--resume` under another engine than the checkpoint's",
        ("train", *SAMPLE, "--resume", "{data}/ck", "--engine", "torch"),
        ("--engine 'torch' (the checkpoint has 'reference')", "Drop these options"),
        setup=lambda d: _bad_checkpoints(d, keep_good=True),
    ),
    Case(
        "Checkpoints",
        "a new run into a directory holding another run's checkpoints",
        ("train", *SAMPLE, "--epochs", "1", "--checkpoint-dir", "{data}/ck"),
        (
            "already holds the checkpoints of a run",
            "seed 0, step 126",
            "--resume",
            "empty directory",
        ),
        setup=_finished_run,
    ),
    Case(
        "Checkpoints",
        "`--resume` with options that differ from the checkpoint's",
        ("train", *SAMPLE, "--resume", "{data}/ck", "--lr", "0.5", "--batch-size", "8"),
        ("--lr 0.5 (the checkpoint has 0.005)", "--batch-size 8 (the checkpoint has 16)"),
        setup=_finished_run,
    ),
    Case(
        "Checkpoints",
        "`--resume --epochs` fewer than the epochs already done",
        ("train", *SAMPLE, "--resume", "{data}/ck", "--epochs", "1"),
        ("--epochs 1", "already done", "cannot be shortened"),
        setup=_finished_run,
    ),
    Case(
        "Checkpoints",
        "`--resume` naming a file",
        ("train", *SAMPLE, "--resume", "{file}"),
        ("cannot create checkpoint directory",),
    ),
    Case(
        "Checkpoints",
        "`--resume` and `--checkpoint-dir` naming different directories",
        ("train", *SAMPLE, "--resume", "{data}/ck", "--checkpoint-dir", "{tmp}/other"),
        ("different directories",),
        setup=_finished_run,
    ),
]

assert len({c.id for c in CASES + CHECKPOINT_CASES}) == len(CASES + CHECKPOINT_CASES), "ids"

GROUPS = ("Data files", "Data location", "Option values", "Options", "Output files", "Checkpoints")


# ----------------------------------------------------------------------------------- runner


@dataclass(frozen=True)
class Outcome:
    code: int
    stderr: str  # shown paths normalized
    changed: tuple[str, ...]  # files created, changed or removed under the scratch dir
    traceback: bool


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        if p.is_file()
        else (-1, 0)
        for p in root.rglob("*")
    }


def _fill(s: str, places: dict[str, Path]) -> str:
    return s.format(**{k: str(v) for k, v in places.items()})


def run_case(case: Case, scratch: Path) -> Outcome:
    """Run ``case`` in the empty directory ``scratch``; return what the user saw."""
    from sgdlab import paths
    from sgdlab.cli.main import main
    from sgdlab.data import fashion as data

    places = {"data": scratch / "data", "tmp": scratch, "file": scratch / "afile"}
    for d in ("data", "cache", "system", "adir.pt"):
        (scratch / d).mkdir()
    (scratch / "afile").write_text("a regular file\n")
    arrays = tiny_arrays()
    raw = {stem: idx_bytes(a) for stem, a in arrays.items()}
    for stem, content in raw.items():
        write_gz(places["data"] / f"{stem}.gz", content)
    table = files_table(raw)
    if case.setup:
        case.setup(places["data"])
    if case.vouch:
        from sgdlab.data.idx import read_bytes

        table = files_table({s: read_bytes(places["data"] / f"{s}.gz") for s in STEMS})
    mirror = f"https://127.0.0.1:{closed_port()}/"
    env = {
        "SGDLAB_CACHE_DIR": str(scratch / "cache"),
        "SGDLAB_MIRRORS": mirror,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    env.update({k: _fill(v, places) for k, v in case.env.items()})
    argv = [_fill(a, places) for a in case.argv]
    before = _snapshot(scratch)
    err = io.StringIO()
    traceback = False
    with contextlib.ExitStack() as stack:
        caught = stack.enter_context(warnings.catch_warnings(record=True))
        _python_default_warning_filters()
        stack.enter_context(mock.patch("torch.cuda.is_available", return_value=False))
        stack.enter_context(mock.patch.dict(os.environ, env))
        if "SGDLAB_DATA" not in case.env:
            os.environ.pop("SGDLAB_DATA", None)
        stack.enter_context(mock.patch.object(data, "FILES", table))
        stack.enter_context(mock.patch.object(paths, "SYSTEM_DATA_DIR", scratch / "system"))
        stack.enter_context(contextlib.redirect_stderr(err))
        stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
        try:
            code = main(argv)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except Exception as e:  # what Python would show: a traceback, exit status 1
            traceback = True
            print(f"Traceback (most recent call last): … {type(e).__name__}: {e}", file=err)
            code = 1
    shown = [
        f"{w.category.__name__}: {w.message} ({Path(w.filename).name}:{w.lineno})" for w in caught
    ]
    stderr = "".join(f"{line}\n" for line in dict.fromkeys(shown)) + err.getvalue()
    after = _snapshot(scratch)
    changed = tuple(
        sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    )
    return Outcome(code, normalize(stderr, scratch, mirror), changed, traceback)


def _python_default_warning_filters() -> None:
    """The filters a plain ``python`` starts with (pytest installs its own)."""
    warnings.resetwarnings()
    warnings.simplefilter("default")
    for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
        warnings.simplefilter("ignore", category)


def normalize(text: str, scratch: Path, mirror: str) -> str:
    """Replace this run's scratch paths, port and hashes by stable names."""
    text = text.replace(str(scratch / "data"), "DATA")
    text = text.replace(str(scratch / "cache"), "~/.cache/sgdlab/fashion-mnist")
    text = text.replace(str(scratch / "system"), "/usr/share/datasets/fashion-mnist")
    text = text.replace(str(scratch), "TMP")
    text = text.replace(mirror, "https://MIRROR/")
    text = re.sub(r"\b[0-9a-f]{16}…", "<sha256>…", text)
    text = re.sub(r"/\.tmp[A-Za-z0-9_]{6,}\b", "/.tmpXXXXXX", text)  # random temporary names
    return re.sub(r" at 0x[0-9a-f]+", "", text)


def run_in_scratch(case: Case) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="sgdlab-errors-") as d:
        return run_case(case, Path(d))


# ------------------------------------------------------------------------------- rendering


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def command(case: Case) -> str:
    env = "".join(f"{k}={v} " for k, v in case.env.items())
    args = " ".join(a if a and " " not in a else f"'{a}'" for a in case.argv)
    return (
        (env + "sgdlab " + args)
        .replace("{data}", "DATA")
        .replace("{tmp}", "TMP")
        .replace("{file}", "TMP/afile")
    )


def render_row(case: Case, out: Outcome) -> str:
    lines = out.stderr.rstrip("\n").splitlines() or ["(nothing)"]
    shown = "<br>".join(f"`{_cell(line)}`" for line in lines)
    left = "nothing" if not out.changed else ", ".join(f"`{c}`" for c in out.changed)
    what = case.what + (" **(not yet fixed)**" if case.bug else "")
    return f"| {what} | `{_cell(command(case))}` | {shown} | {out.code} | {left} |"


HEADER = """\
# Bad inputs and what the user sees

Generated by `scripts/errors_table.py` from the cases that `tests/test_errors.py` runs; do not
edit by hand (rerun the script). Every row: `sgdlab …` run on a scratch directory (`TMP`) with
a tiny generated data set in `DATA` whose checksums stand in for the official ones, an empty
cache, an empty system directory, no network (the mirror is a closed local port) and no GPU
(CUDA is hidden, so the table is the same on every machine). Python warnings are shown as the
lines a user would see before the error.

The contract: **one line on stderr** naming the bad thing (`sgdlab COMMAND: error: …`),
**exit status 2**, **no traceback**, and **nothing left behind** (the last column lists files
created or changed; "nothing" is the goal). The one planned exception is "Fashion-MNIST not
found", whose error line is followed by the ways to get the data.

How files are checked, in order: the file must exist and decompress (gzip errors name the
file); an IDX header that declares more than 200 MB, or content longer than its header
declares, is refused while reading (nothing big is allocated); then the SHA-256 of the
decompressed bytes must match the official one, which catches every other change (wrong magic,
dtype or dims, other pixels, labels outside 0–9, a short labels file) before parsing. The IDX
parser and the image/label consistency checks behind it are shown in the last table and in the
two "vouching" rows, which use a checksum table made for the damaged files.
"""


def render(outcomes: dict[str, Outcome], reader: list[tuple[str, str]]) -> str:
    parts = [HEADER]
    bugs = [c for c in CASES + CHECKPOINT_CASES if c.bug]
    if bugs:
        parts.append("Rows marked **(not yet fixed)** do not meet the contract yet:\n")
        parts += [f"- {c.what}: {c.bug}." for c in bugs]
        parts.append("")
    head = (
        "| Bad input | Command | What the user sees (stderr) | Exit | Left behind |\n"
        "|---|---|---|---|---|"
    )
    for group in GROUPS:
        cases = [c for c in CASES + CHECKPOINT_CASES if c.group == group]
        parts.append(f"## {group}\n")
        if not cases:
            parts.append(
                "No rows yet: checkpoint errors (unwritable checkpoint directory, "
                "corrupt or incompatible checkpoint) are being added.\n"
            )
            continue
        parts.append(head)
        parts += [render_row(c, outcomes[c.id]) for c in cases]
        parts.append("")
    parts.append("## The IDX reader on the same files (library: `sgdlab.data.idx.read_idx`)\n")
    parts.append(
        "What `read_idx(path)` raises (`DataFormatError`) for the damaged file of each "
        "row above, without any checksum.\n"
    )
    parts.append("| Bad file | `DataFormatError` message |\n|---|---|")
    parts += [f"| {what} | `{_cell(msg)}` |" for what, msg in reader]
    return "\n".join(parts) + "\n"


def reader_messages() -> list[tuple[str, str]]:
    """``read_idx``'s message for each damaged file of :data:`BAD_FILES` (except missing)."""
    from sgdlab.data.idx import read_idx
    from sgdlab.errors import DataFormatError

    rows = []
    for what, setup in BAD_FILES:
        with tempfile.TemporaryDirectory() as d:
            root = Path(d)
            for stem, arr in tiny_arrays().items():
                write_gz(root / f"{stem}.gz", idx_bytes(arr))
            setup(root)
            stem = LABELS if "label" in what else IMAGES
            try:
                read_idx(root / f"{stem}.gz")
                msg = "(accepted: the IDX structure is valid; only the checks above refuse it)"
            except DataFormatError as e:
                msg = str(e).replace(d, "DIR")
        rows.append((what, msg))
    return rows


def generate() -> str:
    outcomes = {c.id: run_in_scratch(c) for c in CASES + CHECKPOINT_CASES}
    return render(outcomes, reader_messages())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="exit 1 if docs/errors.md is stale")
    args = p.parse_args(argv)
    text = generate()
    if args.check:
        if not DOC.exists() or DOC.read_text() != text:
            print(f"{DOC} is stale: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(text)
    print(f"wrote {DOC} ({len(CASES) + len(CHECKPOINT_CASES)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
