"""Scores in the shape of ``metrics.json``, and a paired bootstrap for comparing runs."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support


def scores(y_true: np.ndarray, y_pred: np.ndarray, names: list[str]) -> dict:
    """Macro-F1, accuracy, per-class precision/recall/F1/support and the confusion matrix.

    ``y_true``/``y_pred`` hold class indices into ``names``. Macro-F1 averages over the
    classes that occur in either, as scikit-learn does.
    """
    labels = list(range(len(names)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0)
    return {
        "macro_f1": round(float(macro_f1(y_true, y_pred)), 6),
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 6) if len(y_true) else 0.0,
        "n": int(len(y_true)),
        "per_class": {name: {"precision": round(float(precision[i]), 6), "recall": round(float(recall[i]), 6),
                             "f1": round(float(f1[i]), 6), "support": int(support[i])}
                      for i, name in enumerate(names)},
        "confusion": {"labels": names,
                      "matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist()},
    }


def macro_f1(y_true, y_pred) -> float:
    if len(y_true) == 0:
        return 0.0
    return f1_score(y_true, y_pred, average="macro", zero_division=0)


def paired_bootstrap(y_true: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, groups: np.ndarray,
                     rounds: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """Macro-F1 of b minus a, with a 95% interval from resampling whole articles.

    Sentences of one article are not independent, so articles are what is resampled.
    """
    diff = macro_f1(y_true, pred_b) - macro_f1(y_true, pred_a)
    unique, inverse = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(len(unique))]
    rng = np.random.default_rng(seed)
    draws = np.empty(rounds)
    for r in range(rounds):
        rows = np.concatenate([members[g] for g in rng.integers(0, len(unique), len(unique))])
        draws[r] = macro_f1(y_true[rows], pred_b[rows]) - macro_f1(y_true[rows], pred_a[rows])
    low, high = np.percentile(draws, [2.5, 97.5])
    return float(diff), float(low), float(high)
