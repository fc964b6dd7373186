"""sgdlab predict: photos (any size, colour, dark on light) and test images, top-3 classes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import sgdlab
from sgdlab.cli.main import main
from sgdlab.data.fashion import CLASS_NAMES
from sgdlab.errors import ConfigError
from sgdlab.inference.images import load_image, to_fashion
from sgdlab.training.weights import save_weights


@pytest.fixture(scope="module")
def weights(sample, tmp_path_factory):
    run = sgdlab.train(
        data=sample, epochs=1, batch_size=16, engine="reference", seed=0, progress=False
    )
    return save_weights(run.model, tmp_path_factory.mktemp("w") / "w.safetensors")


@pytest.fixture(scope="module")
def confident(weights, sample):
    """The first test image the model classifies right with probability > 0.9."""
    model = sgdlab.load_model(weights)
    p = model.predict_proba(sample.test_images)
    ok = (p.argmax(1) == sample.test_labels) & (p.max(1).values > 0.9)
    return int(torch.nonzero(ok)[0])


def photo(image: torch.Tensor, path, *, size=(300, 200), seed=0) -> None:
    """A photo-like RGB file of a 28x28 test image: scaled up (aspect kept) onto a wider
    canvas, inverted to dark on light, slightly tinted, with noise."""
    w, h = size
    side = min(w, h)
    big = np.asarray(
        Image.fromarray(image.numpy()).resize((side, side), Image.Resampling.BILINEAR), np.float64
    )
    canvas = np.zeros((h, w))
    top, left = (h - side) // 2, (w - side) // 2
    canvas[top : top + side, left : left + side] = big
    grey = 255.0 - canvas  # dark on light
    rgb = np.stack([grey, grey * 0.97, grey * 0.93], -1)
    rgb += np.random.default_rng(seed).normal(0, 8, rgb.shape)
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(path)


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_photo_gets_the_class_of_its_test_image_and_is_inverted(
    weights, sample, confident, tmp_path, capsys
):
    png, jpg = tmp_path / "shot.png", tmp_path / "shot.jpg"
    photo(sample.test_images[confident], png)
    photo(sample.test_images[confident], jpg, size=(200, 320), seed=1)
    code, out, _ = _run(
        capsys, "predict", "--sample", "--json", "--weights", weights, "--index", confident
    )
    assert code == 0
    by_index = json.loads(out)["result"]["predictions"][0]
    assert by_index["index"] == confident and by_index["correct"] is True
    code, out, _ = _run(capsys, "predict", "--json", "--weights", weights, png, jpg)
    doc = json.loads(out)
    assert code == 0 and {"config", "environment", "result"} <= set(doc)
    preds = doc["result"]["predictions"]
    assert [p["class"] for p in preds] == [by_index["class"]] * 2
    assert all(p["image"]["inverted"] and "inverted" in p["note"] for p in preds)
    assert preds[0]["image"]["size"] == [300, 200] and preds[0]["image"]["mode"] == "RGB"
    for p in preds:
        probs = [t["probability"] for t in p["top"]]
        assert len(probs) == 3 and probs == sorted(probs, reverse=True) and sum(probs) <= 1 + 1e-6
    code, out, _ = _run(capsys, "predict", "--weights", weights, png)
    assert code == 0 and f"{png} (300x200 RGB PNG): {by_index['class']}" in out
    assert "note: inverted" in out and "top 3: " in out


def test_prepared_photo_is_close_to_the_test_image(sample, confident, tmp_path):
    photo(sample.test_images[confident], tmp_path / "p.png")
    prepared = load_image(tmp_path / "p.png")
    x = sample.test_images[confident].float()
    assert prepared.pixels.dtype == torch.uint8 and prepared.pixels.shape == (28, 28)
    assert prepared.inverted and prepared.border_mean > prepared.centre_mean
    diff = (prepared.pixels.float() - x).abs().mean().item()
    assert diff < 40, diff  # the same picture, not a blank or a shifted one (blank: ~ x.mean())
    assert diff < 0.6 * x.mean().item()


def test_light_on_dark_is_not_inverted_and_keeps_aspect():
    grey = np.zeros((100, 50), np.uint8)
    grey[10:90, 15:35] = 200  # a bright bar, 80 tall and 20 wide, on black
    pixels, inverted, border, centre = to_fashion(grey)
    assert not inverted and border < centre
    cols = np.flatnonzero(pixels.numpy().max(0) > 100)
    rows = np.flatnonzero(pixels.numpy().max(1) > 100)
    assert len(rows) == 28 and 6 <= len(cols) <= 8  # trimmed, longer side 28, aspect 1:4 kept
    assert pixels.numpy()[:, : cols[0]].max() == 0  # black padding, centred
    assert abs((cols[0] + cols[-1]) / 2 - 13.5) <= 1
    flat, inv, _, _ = to_fashion(np.full((40, 40), 128, np.uint8))
    assert not inv and flat.max() == 0


def test_index_text_names_true_class(weights, capsys):
    code, out, _ = _run(
        capsys, "predict", "--sample", "--weights", weights, "--index", "0", "--index", "5"
    )
    assert code == 0
    assert out.count("test image #") == 2 and "top 3: " in out
    assert any(f"true class {n};" in out for n in CLASS_NAMES)


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["{tmp}/missing.png"], "no such file"),
        (["{tmp}/notes.txt"], "not an image"),
        (["{tmp}/cut.png"], "cannot read it"),
        (["{tmp}"], "is a directory"),
        (["--sample", "--index", "1000"], "--index must be in 0..999"),
        (["--sample", "--index", "-1"], "--index"),
        ([], "IMAGE files or --index"),
        (["--sample", "{tmp}/notes.txt"], "--sample has no effect"),
        (["--index", "0", "{tmp}/notes.txt"], "not both"),
    ],
)
def test_bad_input_is_one_line_exit_2(weights, tmp_path, capsys, argv, words):
    (tmp_path / "notes.txt").write_text("hello\n")
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    argv = [a.format(tmp=tmp_path) for a in argv]
    with pytest.raises(SystemExit) as e:
        raise SystemExit(main(["predict", "--weights", str(weights), *argv]))
    err = capsys.readouterr().err
    assert e.value.code == 2
    assert err.startswith("sgdlab predict: error: ") and len(err.strip().splitlines()) == 1
    assert words in err and "Traceback" not in err


def test_missing_weights(tmp_path, capsys):
    code, _, err = _run(
        capsys, "predict", "--sample", "--weights", tmp_path / "w.pt", "--index", "0"
    )
    assert code == 2 and "cannot read weights" in err and "w.pt" in err


def test_load_image_errors_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_image(tmp_path / "nope.jpg")
