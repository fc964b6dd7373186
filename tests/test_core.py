"""sgdlab.training.core: the one training core that train(), the experiments and data
parallelism drive. Its steps equal a plain loop over the engine; where a driver stops
(stretch lengths, evaluation points) does not change the bits; divergence is reported with
the step; the state round-trips."""

from __future__ import annotations

import pytest
import torch

import sgdlab
from sgdlab import engines
from sgdlab.config import TrainConfig
from sgdlab.errors import DivergenceError
from sgdlab.experiments import run as run_mod
from sgdlab.experiments.spec import FULL, RunSpec
from sgdlab.model import SoftmaxRegression
from sgdlab.sampler import MinibatchSampler
from sgdlab.training.core import Core

CPU = torch.device("cpu")


def _core(sample, **kw) -> Core:
    cfg = TrainConfig(**{"engine": "reference", **kw})
    eng = engines.get_engine(cfg.engine, sample.train_images, sample.train_labels, CPU)
    return Core(cfg, eng, n=sample.train_images.shape[0], device=CPU)


def test_steps_are_the_plain_engine_loop(sample):
    """The core's epoch = seeded init, one permutation, the engine's steps at lr."""
    core = _core(sample, batch_size=50, lr=0.05, seed=4, init="uniform")
    costs = core.advance(7)
    costs = torch.cat([costs, core.advance(10**6)])  # never past the epoch's end
    assert core.epoch_done and core.step == 20 == len(costs)
    gen = torch.Generator().manual_seed(4)
    model = SoftmaxRegression(init="uniform", generator=gen)
    perm = MinibatchSampler(1000, 50, generator=gen).permutation()
    eng = engines.get_engine("reference", sample.train_images, sample.train_labels, CPU)
    ref = eng.sgd_steps(model, perm, 50, 0.05, 0, 20)
    assert torch.equal(costs, ref)
    assert torch.equal(core.model.z.weight, model.z.weight)
    rec = core.end_epoch()
    assert rec["epoch"] == 1 and rec["steps"] == 20 and not core.epoch_done
    assert rec["mean_minibatch_cost"] == pytest.approx(ref.mean().item())


@pytest.mark.parametrize("engine", ["reference", "fast"])
def test_stretch_lengths_do_not_change_the_bits(sample, engine):
    a, b = _core(sample, engine=engine, momentum=0.9), _core(sample, engine=engine, momentum=0.9)
    while a.epochs_done < 2:
        a.advance(10**6)
        a.end_epoch()
    for k in [1, 2, 3, 5, 8, 13, 21] * 20:
        if b.epochs_done == 2:
            break
        b.advance(k)
        if b.epoch_done:
            b.end_epoch()
    assert a.step == b.step and torch.equal(a.model.z.weight, b.model.z.weight)
    assert torch.equal(a.opt.buf_w, b.opt.buf_w)


def test_divergence_carries_the_step_and_the_costs(sample):
    core = _core(sample, lr=3e38)
    with pytest.raises(DivergenceError, match="at step") as e:
        for _ in range(5):
            core.advance(3)
    assert e.value.step >= 1 and len(e.value.costs) >= 1
    assert f"at step {e.value.step} " in str(e.value)


def test_state_round_trip_continues_bitwise(sample):
    a = _core(sample, batch_size=32, momentum=0.5, average=True)
    a.advance(5)
    b = _core(sample, batch_size=32, momentum=0.5, average=True)
    b.load_state_dict(a.state_dict())
    a.advance(100)
    b.advance(100)
    assert torch.equal(a.model.z.weight, b.model.z.weight)
    assert torch.equal(a.result_model().z.weight, b.result_model().z.weight)


def test_full_gd_is_one_step_per_epoch(sample):
    core = _core(sample, method="gd", lr=0.1)
    c = core.advance(99)
    assert len(c) == 1 and core.epoch_done and core.end_epoch()["order_sha256"] is None


def test_experiment_gd_run_matches_train_bitwise(sample):
    """The experiments' full-GD runs (evaluated every few steps) are train(method="gd")."""
    spec = RunSpec(batch_size=FULL, lr=0.5, seed=0, epochs=6, eval_every_steps=4, validation=200)
    rec, model = run_mod._Run(spec, sample).go()
    ref = sgdlab.train(method="gd", epochs=6, lr=0.5, data=sample, validation=200, progress=False)
    assert torch.equal(model.z.weight, ref.model.z.weight)
    assert rec["curve"][-1]["val_accuracy"] == ref.history[-1]["val_accuracy"]
    assert [p["step"] for p in rec["curve"]] == list(range(7))  # GD: a point per step
