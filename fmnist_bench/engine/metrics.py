"""Test-set scores of the final model, computed once and stored as plain numbers (scikit-learn)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import confusion_matrix

from ..data import CLASS_NAMES
from ..records import ClassScores

__all__ = ["TEST_BATCH_SIZE", "score_predictions", "scores_from_confusion"]

# Images per call when a trained model scores the test set (a study's final fit, every epoch of a table build): one
# fixed size, so that every scoring runs alike.
TEST_BATCH_SIZE = 1024


def score_predictions(y_true: np.ndarray, y_pred: np.ndarray,
                      class_names: tuple[str, ...] = CLASS_NAMES) -> ClassScores:
    """Scores for integer labels; classes absent from a small subset still get a (zero) row."""
    return scores_from_confusion(confusion_matrix(y_true, y_pred, labels=list(range(len(class_names)))), class_names)


def scores_from_confusion(confusion: np.ndarray, class_names: tuple[str, ...] = CLASS_NAMES) -> ClassScores:
    """Scores from a (n_classes, n_classes) confusion matrix (rows = true class), as scikit-learn's with
    zero_division=0: a replayed final fit has the stored matrix of its epoch, not the predictions."""
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
                       confusion=tuple(tuple(map(int, row)) for row in cm), class_names=tuple(class_names))
