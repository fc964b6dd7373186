"""sgdlab: train and study minibatch SGD on Fashion-MNIST (the course chapter's classifier).

Importing the package has no side effects: no data is loaded, no file or thread is touched.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sgdlab._version import __version__

#: public name -> the module that defines it, imported on first use (PEP 562), so that
#: ``import sgdlab`` and ``sgdlab --help`` do not import torch
_LAZY = {
    "gradient_noise_scale": "sgdlab.analysis.noise_scale",
    "TrainConfig": "sgdlab.config",
    "CLASS_NAMES": "sgdlab.data",
    "load_fashion_mnist": "sgdlab.data",
    "load_model": "sgdlab.inference",
    "SoftmaxRegression": "sgdlab.model",
    "cost": "sgdlab.model",
    "MinibatchSampler": "sgdlab.sampler",
    "sgd_step": "sgdlab.steps",
    "gd_step": "sgdlab.steps",
    "train": "sgdlab.training",
}

if TYPE_CHECKING:  # for type checkers and IDEs: the same names, eagerly
    from sgdlab.analysis.noise_scale import gradient_noise_scale
    from sgdlab.config import TrainConfig
    from sgdlab.data import CLASS_NAMES, load_fashion_mnist
    from sgdlab.inference import load_model
    from sgdlab.model import SoftmaxRegression, cost
    from sgdlab.sampler import MinibatchSampler
    from sgdlab.steps import gd_step, sgd_step
    from sgdlab.training import train


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sgdlab' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "CLASS_NAMES",
    "load_fashion_mnist",
    "load_model",
    "SoftmaxRegression",
    "cost",
    "MinibatchSampler",
    "sgd_step",
    "gd_step",
    "train",
    "TrainConfig",
    "gradient_noise_scale",
    "__version__",
]
