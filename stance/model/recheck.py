"""Near-ties: the labels int8 ONNX may get wrong, predicted again in float32, as torch computes them.

Int8 vectors differ a little from torch's (cosine about 0.99 for MiniLM), so a label changes
only where the best class barely leads the runner-up. On BASIL 2.5–5% of labels changed,
spread over every layer, and no quantization recipe that kept 99% ran at twice torch's speed.
So scoring keeps int8 and re-predicts the sentences whose margin (best probability minus the
runner-up's) is under a threshold with the float32 ONNX export (``RECHECK_BACKEND``: torch's
arithmetic, loaded in a tenth of torch's time). ``experiments run`` sets the threshold per
dimension from held-out sentences predicted with int8 and with torch: the smallest that leaves
at most ``1 - AGREEMENT`` of them disagreeing with torch.
"""

from __future__ import annotations

import numpy as np

#: The share of held-out labels that must equal torch's once near-ties are re-predicted: above
#: the 99% promised, because the threshold is then applied to sentences it was not set on.
AGREEMENT = 0.995

def margins(proba: np.ndarray) -> np.ndarray:
    """Per row, the best class's probability minus the runner-up's (1 with a single class)."""
    if proba.shape[1] < 2:
        return np.ones(proba.shape[0])
    top = np.partition(proba, -2, axis=1)
    return top[:, -1] - top[:, -2]


def threshold(fast: np.ndarray, reference: np.ndarray, agreement: float = AGREEMENT) -> float:
    """The smallest margin such that re-predicting the rows of ``fast`` under it with the
    reference leaves at most ``1 - agreement`` of the rows labelled otherwise than ``reference``."""
    changed = fast.argmax(axis=1) != reference.argmax(axis=1)
    allowed = int(np.floor((1 - agreement) * len(fast) + 1e-9))
    kept = np.sort(margins(fast)[changed])[::-1]  # the changed labels the threshold may leave, widest first
    if len(kept) <= allowed:
        return 0.0
    return float(np.nextafter(kept[allowed], np.inf))


def near_ties(proba: dict[str, np.ndarray], thresholds: dict[str, float]) -> np.ndarray:
    """Rows where some dimension's best class leads by less than that dimension's threshold."""
    rows = next(iter(proba.values())).shape[0] if proba else 0
    ties = np.zeros(rows, dtype=bool)
    for dim, p in proba.items():
        if thresholds.get(dim):
            ties |= margins(p) < thresholds[dim]
    return ties
