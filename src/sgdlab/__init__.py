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
    # the data and the model
    "CLASS_NAMES": "sgdlab.data",
    "load_dataset": "sgdlab.data",
    "load_fashion_mnist": "sgdlab.data",
    "to_float": "sgdlab.data",
    "SoftmaxRegression": "sgdlab.model",
    "cost": "sgdlab.model",
    "load_model": "sgdlab.inference",
    # training (exercises 1-3)
    "MinibatchSampler": "sgdlab.sampler",
    "sgd_step": "sgdlab.steps",
    "gd_step": "sgdlab.steps",
    "train": "sgdlab.training",
    "TrainConfig": "sgdlab.config",
    # timing (exercise 4: `sgdlab bench`)
    "benchmark": "sgdlab.measure.bench",
    "contamination": "sgdlab.measure.machine",
    # the likelihood and minibatch estimators (exercise 5: `sgdlab likelihood`)
    "per_sample": "sgdlab.analysis.likelihood",
    "likelihood_figures": "sgdlab.analysis.likelihood",
    "gradient_figures": "sgdlab.analysis.likelihood",
    "ascent_vs_descent": "sgdlab.analysis.likelihood",
    "monte_carlo": "sgdlab.analysis.estimators",
    # the batch-size study (`sgdlab experiment`)
    "StudySpec": "sgdlab.study",
    "run_study": "sgdlab.study",
    "gradient_noise_scale": "sgdlab.analysis.noise_scale",
    # figures: each draws one and saves it to the path it is given
    "image_grid": "sgdlab.plots",
    "gradient_images": "sgdlab.plots",
    "bench_figure": "sgdlab.plots",
    "likelihood_figure": "sgdlab.plots",
    "estimators_figure": "sgdlab.plots",
    "plot_steps": "sgdlab.study.plots",
}

if TYPE_CHECKING:  # for type checkers and IDEs: the same names, eagerly
    from sgdlab.analysis.estimators import monte_carlo
    from sgdlab.analysis.likelihood import (
        ascent_vs_descent,
        gradient_figures,
        likelihood_figures,
        per_sample,
    )
    from sgdlab.analysis.noise_scale import gradient_noise_scale
    from sgdlab.config import TrainConfig
    from sgdlab.data import CLASS_NAMES, load_dataset, load_fashion_mnist, to_float
    from sgdlab.inference import load_model
    from sgdlab.measure.bench import benchmark
    from sgdlab.measure.machine import contamination
    from sgdlab.model import SoftmaxRegression, cost
    from sgdlab.plots import (
        bench_figure,
        estimators_figure,
        gradient_images,
        image_grid,
        likelihood_figure,
    )
    from sgdlab.sampler import MinibatchSampler
    from sgdlab.steps import gd_step, sgd_step
    from sgdlab.study import StudySpec, run_study
    from sgdlab.study.plots import plot_steps
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


#: the public names: exactly those of _LAZY, and the version (tests/test_cli_parsing.py)
__all__ = [
    "CLASS_NAMES",
    "load_dataset",
    "load_fashion_mnist",
    "to_float",
    "SoftmaxRegression",
    "cost",
    "load_model",
    "MinibatchSampler",
    "sgd_step",
    "gd_step",
    "train",
    "TrainConfig",
    "benchmark",
    "contamination",
    "per_sample",
    "likelihood_figures",
    "gradient_figures",
    "ascent_vs_descent",
    "monte_carlo",
    "StudySpec",
    "run_study",
    "gradient_noise_scale",
    "image_grid",
    "gradient_images",
    "bench_figure",
    "likelihood_figure",
    "estimators_figure",
    "plot_steps",
    "__version__",
]
