"""sgdlab: train and study minibatch SGD on Fashion-MNIST (the course chapter's classifier).

Importing the package has no side effects: no data is loaded, no file or thread is touched.
"""

from sgdlab._version import __version__
from sgdlab.analysis.noise_scale import gradient_noise_scale
from sgdlab.config import TrainConfig
from sgdlab.data import CLASS_NAMES, load_fashion_mnist
from sgdlab.inference import load_model
from sgdlab.model import SoftmaxRegression, cost
from sgdlab.sampler import MinibatchSampler
from sgdlab.steps import gd_step, sgd_step
from sgdlab.training import train

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
