"""The bad inputs of docs/errors.md, part 3: ``sgdlab evaluate`` and ``sgdlab predict`` (their
weights, images and test-image indices; see :mod:`errors_cases`)."""

from __future__ import annotations

from pathlib import Path

from errors_cases import SAMPLE, Case

GROUP = "Evaluate and predict"


def _files(d: Path) -> None:
    """``d/w.safetensors`` (zero weights), ``d/cut.png`` (a PNG cut in half), ``d/notes.txt``."""
    import numpy as np
    from PIL import Image

    from sgdlab.model import SoftmaxRegression
    from sgdlab.training.weights import save_weights

    save_weights(SoftmaxRegression(), d / "w.safetensors")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(d / "full.png")
    data = (d / "full.png").read_bytes()
    (d / "cut.png").write_bytes(data[: len(data) // 2])
    (d / "full.png").unlink()
    (d / "notes.txt").write_text("not an image\n")


W = ("--weights", "{data}/w.safetensors")

INFERENCE_CASES: list[Case] = [
    Case(GROUP, "`evaluate` without `--weights`", ("evaluate", *SAMPLE), ("--weights", "required")),
    Case(
        GROUP,
        "`evaluate --weights` of a file that does not exist",
        ("evaluate", *SAMPLE, "--weights", "{tmp}/missing.safetensors"),
        ("cannot read weights", "missing.safetensors", "No such file"),
    ),
    Case(
        GROUP,
        "`evaluate --weights` of a text file",
        ("evaluate", *SAMPLE, "--weights", "{data}/notes.txt"),
        ("cannot load weights", "notes.txt"),
        _files,
    ),
    Case(
        GROUP,
        "`evaluate --plot` with an unknown extension",
        ("evaluate", *SAMPLE, *W, "--plot", "{tmp}/e.txt"),
        ("--plot", ".png"),
        _files,
    ),
    Case(
        GROUP,
        "`predict` an IMAGE that does not exist",
        ("predict", *W, "{tmp}/missing.png"),
        ("image", "missing.png", "no such file"),
        _files,
    ),
    Case(
        GROUP,
        "`predict` an IMAGE that is a text file",
        ("predict", *W, "{data}/notes.txt"),
        ("notes.txt", "not an image", "PNG or JPEG"),
        _files,
    ),
    Case(
        GROUP,
        "`predict` a truncated PNG (first half of the file)",
        ("predict", *W, "{data}/cut.png"),
        ("cut.png", "cannot read it"),
        _files,
    ),
    Case(
        GROUP,
        "`predict` an IMAGE that is a directory",
        ("predict", *W, "{tmp}/adir.png"),
        ("adir.png", "is a directory"),
        _files,
    ),
    Case(
        GROUP,
        "`predict --index` past the test set (1000 of 1,000 images)",
        ("predict", *SAMPLE, *W, "--index", "1000"),
        ("--index must be in 0..999", "1000"),
        _files,
    ),
    Case(
        GROUP,
        "`predict --index -1`",
        ("predict", *SAMPLE, *W, "--index=-1"),
        ("--index", "must be in 0.."),
        _files,
    ),
    Case(
        GROUP,
        "`predict` with neither IMAGE nor `--index`",
        ("predict", *W),
        ("IMAGE files or --index",),
        _files,
    ),
    Case(
        GROUP,
        "`predict IMAGE --sample` (only `--index` reads the data set)",
        ("predict", *SAMPLE, *W, "{data}/cut.png"),
        ("--sample has no effect with IMAGE files",),
        _files,
    ),
    Case(
        GROUP,
        "`predict --weights` of a file that does not exist",
        ("predict", "--weights", "{tmp}/missing.pt", "--index", "0", *SAMPLE),
        ("cannot read weights", "missing.pt"),
    ),
]
