"""sgdlab.data.split: a seeded held-out set, independent of the training seed, recorded by hash."""

from __future__ import annotations

import pytest
import torch

from sgdlab import train
from sgdlab.data.split import hold_out, indices_sha256, validation_split
from sgdlab.errors import ConfigError


def test_partition_sorted_and_seeded():
    fit, val = validation_split(100, 30, seed=4)
    assert fit.dtype == val.dtype == torch.int64 and len(val) == 30 and len(fit) == 70
    assert torch.equal(torch.cat([fit, val]).sort().values, torch.arange(100))
    assert torch.equal(val, val.sort().values)
    assert torch.equal(val, validation_split(100, 30, seed=4)[1])
    assert not torch.equal(val, validation_split(100, 30, seed=5)[1])


def test_hold_out_removes_the_samples(sample):
    rest, (vx, vy), info = hold_out(sample, 100, seed=0)
    assert rest.train_images.shape[0] == 900 and vx.shape == (100, 28, 28) and vy.shape == (100,)
    assert info == {
        "size": 100,
        "seed": 0,
        "sha256": indices_sha256(validation_split(1000, 100, seed=0)[1]),
    }
    rows = {bytes(r.numpy()) for r in rest.train_images} & {bytes(r.numpy()) for r in vx}
    assert len(rows) <= 1  # disjoint (up to identical images)
    assert rest.test_images is sample.test_images


def test_train_records_split_same_for_every_training_seed(sample):
    kw = dict(epochs=1, data=sample, progress=False, validation=250, engine="reference")
    a, b = train(seed=1, **kw), train(seed=2, **kw)
    assert a.data["validation"] == b.data["validation"]
    assert a.data["validation"]["size"] == 250 and a.data["n_train"] == 750
    assert a.config["validation"] == 250 and a.config["validation_seed"] == 0
    h = a.history[-1]
    assert 0 <= h["val_accuracy"] <= 1 and h["val_cost"] > 0
    assert a.history[-1]["steps"] == -(-750 // 16)  # the engine saw only the 750
    c = train(seed=1, validation_seed=3, **kw)
    assert c.data["validation"]["sha256"] != a.data["validation"]["sha256"]
    assert "val_cost" not in train(epochs=1, data=sample, progress=False).history[-1]


@pytest.mark.parametrize("v", [1000, 5000, -1, 2.5])
def test_validation_size_out_of_range(sample, v):
    with pytest.raises(ConfigError, match="validation size"):
        train(data=sample, progress=False, validation=v)


def test_batch_size_checked_against_the_remaining_samples(sample):
    with pytest.raises(ConfigError, match=r"1\.\.900"):
        train(data=sample, progress=False, validation=100, batch_size=901)


def test_standardized_split_is_to_float_bit_for_bit_and_computed_once(sample):
    from sgdlab.data.fashion import to_float

    ds, _, _ = hold_out(sample, 100, seed=0)
    for name in ("train", "test"):
        images = ds.split(name)[0]
        x = ds.standardized(name)
        assert x.dtype == torch.float32 and x.shape == (images.shape[0], 784)
        assert torch.equal(x, to_float(images))
        assert ds.standardized(name) is x  # cached on the data set
