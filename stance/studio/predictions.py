"""Label Studio's prediction payload: what a run's probabilities look like to Label Studio
(pre-annotations on pushed tasks, ``labels predict``, and the ML backend's answers)."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from stance.studio.config import SENTENCE_TAG


class Predictor(Protocol):
    """What pre-annotating needs of a model; a saved run (``stance.load_run``) is one."""

    run_id: str
    labels: dict[str, list[str]]

    def predict_proba(self, texts: list[str]) -> dict[str, np.ndarray]: ...


def prediction(labels: dict[str, list[str]], proba: dict[str, np.ndarray], row: int, model_version: str) -> dict:
    """A Label Studio prediction for one sentence: every dimension's likeliest choice.

    ``score`` is the mean over dimensions of the chosen class's probability.
    """
    result, confidence = [], []
    for dim, names in labels.items():
        p = proba[dim][row]
        best = int(np.argmax(p))
        confidence.append(float(p[best]))
        result.append({"from_name": dim, "to_name": SENTENCE_TAG, "type": "choices",
                       "value": {"choices": [names[best]]}, "score": round(float(p[best]), 4)})
    return {"model_version": model_version, "score": round(float(np.mean(confidence)), 4), "result": result}
