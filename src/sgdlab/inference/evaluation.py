"""``sgdlab evaluate``'s numbers: a saved model on the test set, class by class.

:func:`evaluate_classifier` runs a :class:`~sgdlab.inference.loading.FashionClassifier` (raw
uint8 images in, its preprocessing built in) over a split and returns an :class:`Evaluation`:
the cost C and accuracy exactly as :func:`sgdlab.model.evaluate` computes them for the bare
model (same chunks, same sums), the confusion matrix (rows: true class, columns: predicted),
the accuracy per class, the most frequent confusions and the most confident mistakes. The pure
helpers (:func:`confusion_matrix`, :func:`per_class_accuracy`, :func:`top_confusions`,
:func:`confident_mistakes`) work on any labels and predictions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from sgdlab.model import N_CLASSES


def confusion_matrix(
    labels: torch.Tensor, predictions: torch.Tensor, n_classes: int = N_CLASSES
) -> torch.Tensor:
    """int64 (n_classes, n_classes): entry [t, p] counts the samples of true class t predicted
    as p. Row t sums to the number of samples of class t."""
    labels, predictions = labels.reshape(-1).long(), predictions.reshape(-1).long()
    if labels.shape != predictions.shape:
        raise ValueError(f"{labels.numel()} labels but {predictions.numel()} predictions")
    flat = labels * n_classes + predictions
    return torch.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def per_class_accuracy(confusion: torch.Tensor) -> list[float | None]:
    """Correct / samples of each true class (the diagonal over the row sums); None for a class
    with no samples."""
    counts = confusion.sum(1)
    return [
        None if int(n) == 0 else float(confusion[c, c]) / float(n)
        for c, n in enumerate(counts.tolist())
    ]


def top_confusions(
    confusion: torch.Tensor, class_names: tuple[str, ...], k: int = 5
) -> list[dict[str, Any]]:
    """The ``k`` largest off-diagonal entries (true class t predicted as p, t ≠ p), largest
    first, ties in (t, p) order; zero counts are left out. Each as ``{"true", "predicted",
    "true_index", "predicted_index", "count"}``."""
    n = confusion.shape[0]
    cells = [
        (-int(confusion[t, p]), t, p)
        for t in range(n)
        for p in range(n)
        if t != p and int(confusion[t, p]) > 0
    ]
    return [
        {
            "true": class_names[t],
            "predicted": class_names[p],
            "true_index": t,
            "predicted_index": p,
            "count": -neg,
        }
        for neg, t, p in sorted(cells)[:k]
    ]


def confident_mistakes(probabilities: torch.Tensor, labels: torch.Tensor, k: int) -> list[int]:
    """Indices of up to ``k`` misclassified samples, the most confident mistakes first (highest
    probability of the wrong predicted class; ties by index)."""
    top, predicted = probabilities.max(1)
    wrong = torch.nonzero(predicted != labels).reshape(-1)
    order = sorted(wrong.tolist(), key=lambda i: (-float(top[i]), i))
    return order[:k]


@dataclass(frozen=True)
class Evaluation:
    """A model's results on one split (see the module). ``labels``, ``predictions`` and
    ``probabilities`` hold every sample's true class, predicted class (int64 (N,)) and
    softmax (float32 (N,10))."""

    split: str
    n: int
    cost: float
    accuracy: float
    correct: int
    confusion: torch.Tensor
    labels: torch.Tensor
    predictions: torch.Tensor
    probabilities: torch.Tensor
    class_names: tuple[str, ...]

    @property
    def class_counts(self) -> list[int]:
        return [int(v) for v in self.confusion.sum(1).tolist()]

    @property
    def per_class_accuracy(self) -> list[float | None]:
        return per_class_accuracy(self.confusion)

    def top_confusions(self, k: int = 5) -> list[dict[str, Any]]:
        return top_confusions(self.confusion, self.class_names, k)

    def to_dict(self, *, top: int = 5) -> dict[str, Any]:
        """JSON-ready: cost, accuracy, per class, the confusion matrix (nested lists, rows =
        true class) and the ``top`` confusions."""
        return {
            "split": self.split,
            "n": self.n,
            "cost": self.cost,
            "accuracy": self.accuracy,
            "correct": self.correct,
            "class_names": list(self.class_names),
            "per_class": [
                {"class": name, "n": n, "correct": int(self.confusion[c, c]), "accuracy": a}
                for c, (name, n, a) in enumerate(
                    zip(self.class_names, self.class_counts, self.per_class_accuracy, strict=True)
                )
            ],
            "confusion_matrix": self.confusion.tolist(),
            "top_confusions": self.top_confusions(top),
        }


@torch.no_grad()
def evaluate_classifier(
    model: torch.nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    split: str = "test",
    class_names: tuple[str, ...] | None = None,
    chunk_size: int = 8192,
) -> Evaluation:
    """Run ``model`` (raw images -> logits, e.g. :func:`sgdlab.load_model`'s) over ``images``
    (uint8 (N,28,28)) and ``labels`` (int64 (N,)). The cost is Σ H over chunks of
    ``chunk_size`` divided by N, as in :func:`sgdlab.model.evaluate_sums`."""
    n = int(images.shape[0])
    if n == 0:
        raise ValueError("no images to evaluate")
    names = tuple(class_names or getattr(model, "class_names", None) or ())
    if len(names) != N_CLASSES:
        from sgdlab.data.fashion import CLASS_NAMES

        names = CLASS_NAMES
    total, correct = 0.0, 0
    preds, probs = [], []
    for i in range(0, n, chunk_size):
        logits = model(images[i : i + chunk_size])
        y = labels[i : i + chunk_size].to(logits.device)
        total += F.cross_entropy(logits, y, reduction="sum").item()
        p = logits.argmax(1)
        correct += int((p == y).sum())
        preds.append(p.cpu())
        probs.append(torch.softmax(logits, 1).cpu())
    predictions = torch.cat(preds)
    return Evaluation(
        split=split,
        n=n,
        cost=total / n,
        accuracy=correct / n,
        correct=correct,
        confusion=confusion_matrix(labels.cpu(), predictions, N_CLASSES),
        labels=labels.cpu(),
        predictions=predictions,
        probabilities=torch.cat(probs),
        class_names=names,
    )
