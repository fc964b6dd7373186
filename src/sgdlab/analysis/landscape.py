"""A small non-convex cost where minibatch noise lets SGD escape a local minimum GD stops in.

The chapter claims SGD's noise "helps escape local minima". The Fashion-MNIST cost C of
sgdlab's softmax regression is convex in (W, b): it has no local minima besides the global one,
so the claim cannot be seen there. Here it is on a 2-D cost built like a training cost, a mean
over M "samples":

    c_i(θ) = f(θ) + g_i·θ,   f(x, y) = (x² − 1)² + tilt·x + ½·y²,   θ = (x, y),

with g_i ∈ R² (i = 1..M) drawn from N(0, σ²·I) and centred, so the full cost
C(θ) = 1/M Σ c_i(θ) = f(θ) exactly. f has a local minimum near x = +1 (higher, for tilt > 0)
and the global one near x = −1, separated by a saddle near x = 0. Minibatch SGD (a fresh
permutation of the M samples each epoch, minibatches of b) steps along ∇f + mean of the
minibatch's g_i: the true gradient plus noise of standard deviation ≈ σ/√b per coordinate.

:func:`escape_study` starts every run at the same point in the local minimum's basin, runs
``steps`` steps at a constant lr then ``anneal`` steps with the lr decaying linearly to 0 (so
every run settles in a basin), and counts the seeds that end in the global minimum's basin
(x < x of the saddle), for each batch size and for full GD. All randomness comes from explicit
``torch.Generator`` objects: the data from ``data_seed``, each run's minibatches from its seed.
Float64 throughout.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from sgdlab.errors import ConfigError
from sgdlab.values import is_int as _is_int


@dataclass(frozen=True)
class Landscape:
    """f(x, y) = (x² − 1)² + tilt·x + ½·y² plus M centred linear data terms g_i·θ."""

    tilt: float = 0.3
    sigma: float = 3.0
    m: int = 256
    data_seed: int = 0

    def __post_init__(self) -> None:
        if not _is_int(self.m) or self.m < 2:
            raise ConfigError(f"m must be an integer ≥ 2, got {self.m!r}")
        if not 0 < self.tilt < 1:
            raise ConfigError(f"tilt must be in (0, 1) (two minima), got {self.tilt!r}")
        if not self.sigma >= 0:
            raise ConfigError(f"sigma must be ≥ 0, got {self.sigma!r}")

    def data(self) -> torch.Tensor:
        """The g_i, float64 (M, 2), centred so that their mean is exactly ~0."""
        gen = torch.Generator().manual_seed(self.data_seed)
        g = torch.randn(self.m, 2, generator=gen, dtype=torch.float64) * self.sigma
        return g - g.mean(0)

    def cost(self, theta: torch.Tensor) -> torch.Tensor:
        """C(θ) = f(θ) for θ float64 (..., 2); returns (...)."""
        x, y = theta[..., 0], theta[..., 1]
        return (x**2 - 1) ** 2 + self.tilt * x + 0.5 * y**2

    def grad(self, theta: torch.Tensor) -> torch.Tensor:
        """∇f, (..., 2)."""
        x, y = theta[..., 0], theta[..., 1]
        return torch.stack((4 * x * (x**2 - 1) + self.tilt, y), dim=-1)

    def critical_xs(self) -> tuple[float, float, float]:
        """x of the global minimum, the saddle and the local minimum (roots of ∂f/∂x, y = 0)."""
        import numpy as np

        roots = np.sort(np.roots([4.0, 0.0, -4.0, self.tilt]).real)
        return float(roots[0]), float(roots[1]), float(roots[2])


@dataclass
class EscapeStudy:
    """Where runs from one start end, per batch size; results carry their config and seeds."""

    config: dict[str, Any]
    critical_xs: tuple[float, float, float]
    gd_final: list[float]
    gd_path: list[list[float]]
    escape: dict[str, float] = field(default_factory=dict)  # batch label -> fraction escaped
    finals: dict[str, list[list[float]]] = field(default_factory=dict)
    paths: dict[str, list[list[list[float]]]] = field(default_factory=dict)  # a few runs

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _batches(m: int, b: int, steps: int, seed: int) -> torch.Tensor:
    """Minibatch indices int64 (steps, b): epochs of random permutations of range(m) (argsort of
    uniforms, one draw for all epochs) cut into m//b minibatches (a remainder < b is dropped)."""
    gen = torch.Generator().manual_seed(seed)
    per = m // b
    perms = torch.rand(-(-steps // per), m, generator=gen).argsort(dim=1)[:, : per * b]
    return perms.reshape(-1)[: steps * b].reshape(steps, b)


def run(
    land: Landscape,
    *,
    batch_size: int | None,
    lr: float,
    steps: int,
    anneal: int,
    start: tuple[float, float],
    seeds: list[int],
) -> torch.Tensor:
    """Trajectories float64 (len(seeds), steps + anneal + 1, 2); ``batch_size=None`` = full GD
    (every seed then gives the same path)."""
    g = land.data()
    total = steps + anneal
    lrs = torch.cat(
        (
            torch.full((steps,), lr, dtype=torch.float64),
            lr * (1 - torch.arange(anneal, dtype=torch.float64) / anneal),
        )
    )
    theta = torch.tensor(start, dtype=torch.float64).repeat(len(seeds), 1)  # (S, 2)
    if batch_size is not None:
        idx = torch.stack([_batches(land.m, batch_size, total, s) for s in seeds])  # (S,T,b)
    path = [theta]
    for t in range(total):
        step = land.grad(theta)
        if batch_size is not None:
            step = step + g[idx[:, t]].mean(1)  # (S, 2): the minibatch's data terms
        theta = theta - lrs[t] * step
        path.append(theta)
    return torch.stack(path, dim=1)


def escape_study(
    *,
    land: Landscape | None = None,
    batch_sizes: tuple[int, ...] = (1, 2, 4, 16),
    lr: float = 0.05,
    steps: int = 2000,
    anneal: int = 1000,
    start: tuple[float, float] = (1.5, 1.0),
    seeds: int = 200,
    keep_paths: int = 4,
) -> EscapeStudy:
    """Escape fraction of minibatch SGD per batch size over ``seeds`` seeds (0..seeds-1), and
    the full-GD path, all from ``start`` with the same lr schedule. See the module docstring."""
    land = land or Landscape()
    for name, v in (("steps", steps), ("anneal", anneal), ("seeds", seeds)):
        if not _is_int(v) or v < 1:
            raise ConfigError(f"{name} must be an integer ≥ 1, got {v!r}")
    if not lr > 0:
        raise ConfigError(f"lr must be > 0, got {lr!r}")
    for b in batch_sizes:
        if not isinstance(b, int) or not 1 <= b <= land.m:
            raise ConfigError(f"batch sizes must be integers in 1..{land.m}, got {b!r}")
    xs = land.critical_xs()
    cfg = {
        "landscape": asdict(land),
        "batch_sizes": list(batch_sizes),
        "lr": lr,
        "steps": steps,
        "anneal": anneal,
        "start": list(start),
        "seeds": list(range(seeds)),
        "escaped_means": "final x < x of the saddle (the global minimum's basin)",
    }
    gd = run(land, batch_size=None, lr=lr, steps=steps, anneal=anneal, start=start, seeds=[0])[0]
    out = EscapeStudy(
        config=cfg, critical_xs=xs, gd_final=gd[-1].tolist(), gd_path=gd[::10].tolist()
    )
    for b in batch_sizes:
        paths = run(
            land,
            batch_size=b,
            lr=lr,
            steps=steps,
            anneal=anneal,
            start=start,
            seeds=list(range(seeds)),
        )
        final = paths[:, -1]
        out.escape[str(b)] = float((final[:, 0] < xs[1]).double().mean())
        out.finals[str(b)] = final.tolist()
        out.paths[str(b)] = paths[:keep_paths, ::10].tolist()
    out.escape["full"] = float(gd[-1, 0] < xs[1])
    return out
