"""Test-set scores of the final model, computed once and stored as plain numbers (scikit-learn)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix

from .data import CLASS_NAMES

__all__ = ["ClassScores", "score_predictions", "scores_from_confusion"]


@dataclasses.dataclass(frozen=True)
class ClassScores:
    """Accuracy, macro F1, per-class precision/recall/F1/support (label order 0-9) and the confusion matrix."""

    accuracy: float
    macro_f1: float
    precision: tuple[float, ...]
    recall: tuple[float, ...]
    f1: tuple[float, ...]
    support: tuple[int, ...]
    confusion: tuple[tuple[int, ...], ...]  # (n_classes, n_classes), rows = true class, columns = predicted
    class_names: tuple[str, ...] = CLASS_NAMES

    def to_dict(self) -> dict[str, Any]:
        return {k: [list(r) for r in v] if k == "confusion" else (list(v) if isinstance(v, tuple) else v)
                for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClassScores:
        return cls(accuracy=data["accuracy"], macro_f1=data["macro_f1"], precision=tuple(data["precision"]),
                   recall=tuple(data["recall"]), f1=tuple(data["f1"]), support=tuple(data["support"]),
                   confusion=tuple(tuple(r) for r in data["confusion"]), class_names=tuple(data["class_names"]))


def score_predictions(y_true: np.ndarray, y_pred: np.ndarray) -> ClassScores:
    """Scores for integer labels; classes absent from a small subset still get a (zero) row."""
    return scores_from_confusion(confusion_matrix(y_true, y_pred, labels=list(range(len(CLASS_NAMES)))))


def scores_from_confusion(confusion: np.ndarray) -> ClassScores:
    """Scores from a (10, 10) confusion matrix (rows = true class), as scikit-learn's with zero_division=0: a replayed
    final fit has the stored matrix of its epoch, not the predictions."""
    cm = np.asarray(confusion, dtype=np.int64)
    hits = np.diag(cm).astype(float)
    predicted, support = cm.sum(axis=0), cm.sum(axis=1)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, support, out=np.zeros_like(hits), where=support > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(hits), where=total > 0)
    return ClassScores(accuracy=float(hits.sum() / max(cm.sum(), 1)), macro_f1=float(np.mean(f1)),
                       precision=tuple(map(float, precision)), recall=tuple(map(float, recall)),
                       f1=tuple(map(float, f1)), support=tuple(map(int, support)),
                       confusion=tuple(tuple(map(int, row)) for row in cm))
