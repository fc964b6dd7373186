"""Minibatches *without replacement*: each epoch a fresh random partition of range(n).

>>> import torch
>>> s = MinibatchSampler(10, 4, generator=torch.Generator().manual_seed(0))
>>> batches = list(s)                  # one epoch
>>> [len(b) for b in batches]
[4, 4, 2]
>>> sorted(torch.cat(batches).tolist()) == list(range(10))
True
>>> s.epoch
1
"""

from __future__ import annotations

from typing import Any

import torch


class MinibatchSampler:
    """Yields int64 index tensors (≤ batch_size,) that partition range(n), one epoch per iter.

    Each epoch draws ``torch.randperm(n, generator=generator)`` and cuts it into consecutive
    minibatches (the last one short unless ``drop_last``). Iterating again starts the next
    epoch with a different permutation. The position inside an epoch is part of
    :meth:`state_dict`, so a run can stop after any minibatch and resume exactly.
    """

    def __init__(
        self, n: int, batch_size: int, *, generator: torch.Generator, drop_last: bool = False
    ) -> None:
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if batch_size > n:
            raise ValueError(f"batch_size {batch_size} exceeds the number of samples {n}")
        if not isinstance(generator, torch.Generator):
            raise TypeError("generator must be a torch.Generator (randomness is explicit)")
        self.n, self.batch_size, self.drop_last = n, batch_size, drop_last
        self.generator = generator
        self.epoch = 0  # completed epochs
        self.batch = 0  # minibatches consumed in the current epoch
        self._perm: torch.Tensor | None = None
        self._epoch_state: torch.Tensor | None = None  # generator state before this epoch's draw

    def __len__(self) -> int:
        """Minibatches per epoch."""
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def permutation(self) -> torch.Tensor:
        """This epoch's permutation of range(n), int64 (n,), drawn on first use."""
        if self._perm is None:
            self._epoch_state = self.generator.get_state()
            self._perm = torch.randperm(self.n, generator=self.generator)
        return self._perm

    def advance(self, k: int = 1) -> None:
        """Mark ``k`` more minibatches consumed; finishing the last one ends the epoch."""
        if not 0 <= self.batch + k <= len(self):
            raise ValueError(f"cannot advance {k} batches from {self.batch} of {len(self)}")
        self.permutation()
        self.batch += k
        if self.batch == len(self):
            self.epoch, self.batch, self._perm, self._epoch_state = self.epoch + 1, 0, None, None

    def __iter__(self):
        """The remaining minibatches of the current epoch (all of them at an epoch start)."""
        perm, b = self.permutation(), self.batch_size
        while self._perm is perm:
            i = self.batch
            self.advance()  # state already counts this batch while the caller uses it
            yield perm[i * b : (i + 1) * b]

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: sizes, epoch, position and generator states."""
        return {
            "n": self.n,
            "batch_size": self.batch_size,
            "drop_last": self.drop_last,
            "epoch": self.epoch,
            "batch": self.batch,
            "epoch_generator_state": self._epoch_state,
            "generator_state": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`; the same minibatches follow, bit for bit."""
        for key in ("n", "batch_size", "drop_last"):
            if state[key] != getattr(self, key):
                raise ValueError(f"sampler {key} mismatch: {state[key]} != {getattr(self, key)}")
        self.epoch, self.batch = int(state["epoch"]), int(state["batch"])
        self._perm = self._epoch_state = None
        if state["epoch_generator_state"] is not None:
            self.generator.set_state(state["epoch_generator_state"])
            self.permutation()  # redraw this epoch's permutation: generator ends where it was
        self.generator.set_state(state["generator_state"])
