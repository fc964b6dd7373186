"""sgdlab.schedules against PyTorch's lr_scheduler stepped after every step."""

from __future__ import annotations

import pytest
import torch

from sgdlab import schedules


def _torch_lrs(make, steps: int, lr: float = 0.1) -> torch.Tensor:
    """The lr of each of ``steps`` steps of an SGD optimizer under scheduler ``make(opt)``."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    sched, out = make(opt), []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return torch.tensor(out, dtype=torch.float64)


S = torch.optim.lr_scheduler
CASES = {
    "constant": (dict(schedule="constant"), lambda o: S.LambdaLR(o, lambda t: 1.0)),
    "step": (
        dict(schedule="step", gamma=0.5, step_epochs=2, steps_per_epoch=7),
        lambda o: S.StepLR(o, step_size=14, gamma=0.5),
    ),
    "cosine": (dict(schedule="cosine", total_steps=50), lambda o: S.CosineAnnealingLR(o, 50)),
    "inverse": (
        dict(schedule="inverse", t0=6.0),
        lambda o: S.LambdaLR(o, lambda t: 1 / (1 + t / 6.0)),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_matches_torch_lr_scheduler(name):
    kw, make = CASES[name]
    ours = schedules.lrs(0, 50, lr=0.1, **kw)
    assert ours.dtype == torch.float64 and ours.shape == (50,)
    torch.testing.assert_close(ours, _torch_lrs(make, 50), rtol=1e-12, atol=1e-15)
    assert (ours > 0).all()


@pytest.mark.parametrize("name", list(CASES))
def test_stretches_concatenate(name):
    kw, _ = CASES[name]
    whole = schedules.lrs(0, 50, lr=0.1, **kw)
    parts = torch.cat([schedules.lrs(a, b, lr=0.1, **kw) for a, b in ((0, 13), (13, 13), (13, 50))])
    assert torch.equal(whole, parts)


def test_unknown_schedule_and_bad_stretch():
    with pytest.raises(ValueError, match="schedule"):
        schedules.lrs(0, 3, lr=0.1, schedule="warmup")
    with pytest.raises(ValueError, match="stretch"):
        schedules.lrs(5, 3, lr=0.1)
