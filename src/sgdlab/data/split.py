"""The validation split: N held-out training samples chosen by a seeded permutation.

>>> fit, val = validation_split(10, 3, seed=0)
>>> len(fit), len(val), sorted(fit.tolist() + val.tolist()) == list(range(10))
(7, 3, True)

The split has its own seed (``validation_seed``, default 0), independent of the training seed,
so runs with different training seeds are all validated on the same held-out samples.
:func:`split_info` records it in a run's output: size, seed and a SHA-256 prefix of the
held-out indices (int64 little-endian bytes, sorted), enough to check two runs used one split.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

import torch

from sgdlab.data import FashionMNIST


def validation_split(n: int, size: int, *, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(fit, val): sorted int64 indices partitioning range(n), ``len(val) == size``.

    ``val`` = the first ``size`` entries of ``torch.randperm(n)`` under
    ``torch.Generator().manual_seed(seed)``.
    """
    if not 0 <= size < n:
        raise ValueError(f"validation size must be in 0..{n - 1}, got {size}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))  # (n,)
    return perm[size:].sort().values, perm[:size].sort().values


def indices_sha256(idx: torch.Tensor) -> str:
    """First 16 hex digits of the SHA-256 of int64 indices (as little-endian bytes)."""
    return hashlib.sha256(idx.to(torch.int64).numpy().astype("<i8").tobytes()).hexdigest()[:16]


def split_info(val: torch.Tensor, seed: int) -> dict[str, Any]:
    """What a run records about its validation split."""
    return {"size": len(val), "seed": seed, "sha256": indices_sha256(val)}


Held = tuple[FashionMNIST, tuple[torch.Tensor, torch.Tensor], dict[str, Any]]


def hold_out(ds: FashionMNIST, size: int, *, seed: int = 0) -> Held:
    """(ds without the held-out samples, (val images (size,28,28) uint8, val labels (size,)),
    :func:`split_info`). ``size`` 0 returns ``ds`` itself and empty validation tensors."""
    fit, val = validation_split(ds.train_images.shape[0], size, seed=seed)
    if size == 0:
        return ds, (ds.train_images[:0], ds.train_labels[:0]), split_info(val, seed)
    rest = replace(ds, train_images=ds.train_images[fit], train_labels=ds.train_labels[fit])
    return rest, (ds.train_images[val], ds.train_labels[val]), split_info(val, seed)
