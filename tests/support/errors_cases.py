"""The bad inputs of docs/errors.md, part 1: :class:`Case`, the damaged data files and data
locations, and the checkpoint errors (the option cases are in :mod:`errors_options`, those of
``sgdlab evaluate`` and ``sgdlab predict`` in :mod:`errors_inference`).

Each case runs ``sgdlab ARGV`` on a scratch directory holding a tiny generated data set
(``DATA``: :func:`data_arrays`, 64 train and 32 test images), after an optional change to
``DATA``. To add a row, add a :class:`Case` here or in :mod:`errors_options` (checkpoint cases
go in :data:`CHECKPOINT_CASES`), then rerun ``scripts/errors_table.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from idx_files import IMAGES, LABELS, gz, idx_bytes, idx_header, tiny_arrays, write_gz

N_TRAIN, N_TEST = 64, 32


def data_arrays() -> dict[str, np.ndarray]:
    """The arrays of ``DATA``: a deterministic tiny look-alike of Fashion-MNIST."""
    return tiny_arrays(6, N_TRAIN, N_TEST)


# ----------------------------------------------------------------------------- bad files


def _gz_of(stem: str, content: bytes) -> Callable[[Path], None]:
    return lambda d: write_gz(d / f"{stem}.gz", content)


def _bytes_as(stem: str, content: bytes) -> Callable[[Path], None]:
    return lambda d: (d / f"{stem}.gz").write_bytes(content)


def _good_gz(stem: str) -> bytes:
    return gz(idx_bytes(data_arrays()[stem]))


def _remove(stem: str) -> Callable[[Path], None]:
    return lambda d: (d / f"{stem}.gz").unlink()


def _garble(stem: str) -> Callable[[Path], None]:
    def apply(d: Path) -> None:
        damaged = bytearray(_good_gz(stem))
        for i in range(len(damaged) // 2, len(damaged) // 2 + 40):
            damaged[i] ^= 0x5A
        (d / f"{stem}.gz").write_bytes(bytes(damaged))

    return apply


_IMG = data_arrays()[IMAGES]
_LAB = data_arrays()[LABELS]
_HTML = b"<!DOCTYPE html>\n<html><body><h1>429 Too Many Requests</h1></body></html>\n"


def _img_header(n: int) -> bytes:
    return idx_header((n, 28, 28))


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
        "data directory DATA is incomplete",
        "it lacks train-images-idx3-ubyte",
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

#: the data files and where they are
DATA_CASES: list[Case] = [
    *(
        Case("Data files", what, DATA_CMD, _FILE_EXPECT[i], setup)
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


def _nan_weights(d: Path) -> None:
    import torch
    from safetensors.torch import save_file

    w = torch.zeros(10, 784)
    w[3, 5] = float("nan")
    save_file({"z.weight": w, "z.bias": torch.zeros(10)}, str(d / "nan.safetensors"))


def _code_pt(d: Path) -> None:
    import torch

    torch.save(
        {"z.weight": torch.zeros(10, 784), "z.bias": torch.zeros(10), "f": print}, d / "x.pt"
    )


def _crafted_step(d: Path) -> None:
    from sgdlab.training import checkpoint

    _finished_run(d)
    path, state = checkpoint.latest_valid(d / "ck")
    state["step"] = 10**12
    checkpoint.save(state, d / "ck", step=int(path.name[5:15]), keep=0)


CHECKPOINT_CASES: list[Case] = [
    Case(
        "Checkpoints",
        "`--resume` of a checkpoint whose hash is valid but whose step is 10¹²",
        ("train", *SAMPLE, "--resume", "{data}/ck"),
        ("bad field step", "1000000000000", "cannot be resumed"),
        _crafted_step,
    ),
    Case(
        "Weights files",
        "`likelihood --weights` with a NaN in z.weight",
        ("likelihood", *SAMPLE, "--weights", "{data}/nan.safetensors"),
        ("nan.safetensors", "not finite"),
        _nan_weights,
    ),
    Case(
        "Weights files",
        "`likelihood --weights` of a `.pt` that carries code",
        ("likelihood", *SAMPLE, "--weights", "{data}/x.pt"),
        ("x.pt", "could run code", "refused"),
        _code_pt,
    ),
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
