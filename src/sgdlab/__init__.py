"""sgdlab: train and study minibatch SGD on Fashion-MNIST (the course chapter's classifier).

Importing the package has no side effects: no data is loaded, no file or thread is touched.
"""

__version__ = "0.1.0"

from .data import CLASS_NAMES, load_fashion_mnist
from .model import SoftmaxRegression, cost
from .sampler import MinibatchSampler
from .steps import gd_step, sgd_step
from .train import train

__all__ = [
    "CLASS_NAMES", "load_fashion_mnist", "SoftmaxRegression", "cost", "MinibatchSampler",
    "sgd_step", "gd_step", "train", "__version__",
]  # fmt: skip
