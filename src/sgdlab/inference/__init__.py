"""After training: a saved model that carries its preprocessing (:func:`load_model`), and
``sgdlab evaluate``'s numbers (:mod:`sgdlab.inference.evaluation`) and ``sgdlab predict``'s
photos made Fashion-MNIST-like (:mod:`sgdlab.inference.images`)."""

from sgdlab.inference.loading import FashionClassifier, load_model

__all__ = ["FashionClassifier", "load_model"]
