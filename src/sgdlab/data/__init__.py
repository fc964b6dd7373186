"""The data: Fashion-MNIST found, verified and loaded (:mod:`.fashion`), the IDX format
(:mod:`.idx`), verified downloads (:mod:`.download`), the seeded validation split
(:mod:`.split`), the bundled sample and the pixel statistics."""

from sgdlab.data.fashion import (
    CLASS_NAMES,
    FashionMNIST,
    load,
    load_dataset,
    load_fashion_mnist,
    load_sample,
    pixel_affine,
    to_float,
)

__all__ = [
    "CLASS_NAMES",
    "FashionMNIST",
    "load",
    "load_dataset",
    "load_fashion_mnist",
    "load_sample",
    "pixel_affine",
    "to_float",
]
