"""sgdlab.load_model: weights that carry their preprocessing (mean/std, class names)."""

from __future__ import annotations

import json

import pytest
import torch

import sgdlab
from sgdlab.data.fashion import CLASS_NAMES
from sgdlab.errors import CheckpointError
from sgdlab.training.weights import load_weights_and_metadata, save_weights


@pytest.fixture(scope="module")
def trained(sample):
    return sgdlab.train(
        data=sample, epochs=1, batch_size=16, engine="reference", seed=0, progress=False
    )


def _accuracy(model, images, labels) -> float:
    with torch.no_grad():
        return (model(images).argmax(1) == labels).double().mean().item()


@pytest.mark.parametrize("ext", [".safetensors", ".pt"])
def test_metadata_holds_the_preprocessing(trained, tmp_path, ext):
    path = save_weights(trained.model, tmp_path / f"w{ext}", {"config": "{}"})
    _, meta = load_weights_and_metadata(path)
    assert meta["config"] == "{}"  # the caller's metadata is kept
    assert len(json.loads(meta["pixel_mean"])) == 784 and len(json.loads(meta["pixel_std"])) == 784
    assert tuple(json.loads(meta["class_names"])) == CLASS_NAMES


@pytest.mark.parametrize("ext", [".safetensors", ".pt"])
def test_uint8_and_unit_floats_match_the_trainers_evaluation(trained, sample, tmp_path, ext):
    path = save_weights(trained.model, tmp_path / f"w{ext}")
    model = sgdlab.load_model(path)
    assert isinstance(model, torch.nn.Module) and model.preprocessing_source == "file metadata"
    assert model.class_names == CLASS_NAMES
    images, labels = sample.test_images, sample.test_labels
    expected = trained.history[-1]["test_accuracy"]
    assert _accuracy(model, images, labels) == pytest.approx(expected, abs=1e-12)
    # the chapter's / PyTorch's x/255 convention, also flattened (N,784) and (N,1,28,28)
    unit = images.float() / 255
    assert _accuracy(model, unit, labels) == pytest.approx(expected, abs=2 / len(labels))
    assert _accuracy(model, unit.reshape(-1, 784), labels) == _accuracy(model, unit, labels)
    assert _accuracy(model, unit[:, None], labels) == _accuracy(model, unit, labels)
    # the uint8 path computes the trainer's floats exactly
    from sgdlab.data.fashion import to_float

    with torch.no_grad():
        assert torch.equal(model(images[:64]), trained.model(to_float(images[:64])))
    p = model.predict_proba(images[:5])
    assert p.shape == (5, 10) and torch.allclose(p.sum(1), torch.ones(5))


def test_old_files_without_metadata_load_with_package_stats(trained, sample, tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "old.safetensors"
    save_file(
        {"z.weight": trained.model.z.weight.detach(), "z.bias": trained.model.z.bias.detach()},
        str(path),
    )
    model = sgdlab.load_model(path)
    assert model.preprocessing_source == "package default"
    expected = trained.history[-1]["test_accuracy"]
    assert _accuracy(model, sample.test_images, sample.test_labels) == pytest.approx(expected)


def test_bad_inputs_raise_clear_errors(trained, tmp_path):
    model = sgdlab.load_model(save_weights(trained.model, tmp_path / "w.safetensors"))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        model(torch.full((2, 28, 28), 255.0))
    with pytest.raises(ValueError, match="shape"):
        model(torch.zeros(2, 27, 27, dtype=torch.uint8))
    with pytest.raises(ValueError, match="uint8"):
        model(torch.zeros(2, 784, dtype=torch.int32))
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="cannot load weights"):
        sgdlab.load_model(bad)


def test_load_model_is_public():
    assert "load_model" in sgdlab.__all__ and sgdlab.load_model.__doc__
