"""The held-out validation split the sweep chooses learning rates on.

``holdout(data, n_val, seed=s)``: the last ``n_val`` images of ``torch.randperm(N)`` drawn from
``torch.Generator().manual_seed(s)`` are the validation set, the others (in their original order)
the training set. The test set is never used to choose anything.
"""

from __future__ import annotations

import torch

from ..data import FashionMNIST
from ..errors import ConfigError


def holdout(data: FashionMNIST, n_val: int, *, seed: int
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """(train images uint8 (N−n_val,28,28), train labels int64, val images, val labels)."""
    n = data.train_images.shape[0]
    if not 1 <= n_val < n:
        raise ConfigError(f"validation must be in 1..{n - 1} images, got {n_val}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    val = perm[n - n_val:]
    keep = torch.ones(n, dtype=torch.bool)
    keep[val] = False
    return (data.train_images[keep], data.train_labels[keep],
            data.train_images[val], data.train_labels[val])  # fmt: skip
