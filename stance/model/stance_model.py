"""What a run's ``model.joblib`` holds: one pipeline per dimension (or heads over shared
features), predicting probabilities in the schema's class order, with near-ties of int8 encoders
predicted again in float32."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stance.encoders import RECHECK_BACKEND, SCORING_BACKEND
from stance.model.recheck import near_ties


@dataclass
class StanceModel:
    """What ``model.joblib`` holds: per dimension a fitted pipeline, or, when ``features``
    is set, a head over those shared features, computed once for every dimension."""

    pipelines: dict[str, object]
    labels: dict[str, list[str]]
    features: object | None = None
    #: per dimension, the margin under which a label from int8 encoders is a near-tie,
    #: predicted again in float32 (see ``stance.model.recheck``); None without encoders
    recheck: dict[str, float] | None = None

    def predict_proba(self, sentences) -> dict[str, np.ndarray]:
        """Per dimension, an (n, classes) array in the schema's class order. With encoders on int8
        ONNX, near-ties are predicted again in float32, so that labels agree with torch's."""
        return self.predict_proba_rechecked(sentences)[0]

    def predict_proba_rechecked(self, sentences) -> tuple[dict[str, np.ndarray], int]:
        """:meth:`predict_proba`, and how many sentences were near-ties predicted again in float32."""
        sentences = list(sentences)
        proba = self._proba(sentences)
        ties = near_ties(proba, self.recheck) if self.recheck and sentences else None
        if ties is None or not ties.any():
            return proba, 0
        from stance.model.embeddings import on_backend
        with on_backend(self.estimators(), RECHECK_BACKEND, only_from=SCORING_BACKEND) as switched:
            if not switched:
                return proba, 0
            again = self._proba([sentences[i] for i in np.flatnonzero(ties)])
        for dim, p in proba.items():
            p[ties] = again[dim]
        return proba, int(ties.sum())

    def _proba(self, sentences: list) -> dict[str, np.ndarray]:
        X = self.features.transform(sentences) if self.features is not None and sentences else sentences
        return {dim: aligned_proba(pipe, X, len(self.labels[dim])) for dim, pipe in self.pipelines.items()}

    def predict(self, sentences) -> dict[str, list[str]]:
        return {dim: [self.labels[dim][i] for i in proba.argmax(axis=1)]
                for dim, proba in self.predict_proba(sentences).items()}

    def estimators(self) -> list:
        return [*([self.features] if self.features is not None else []), *self.pipelines.values()]

    def encoders(self) -> list:
        """The transformer encoders (frozen or fine-tuned) inside the model."""
        from stance.model.embeddings import transformer_encoders
        return transformer_encoders(self.estimators())

    def use_backend(self, backend: str, prepare: bool = False) -> None:
        """Run the model's transformer encoders on ``backend``; with ``prepare``, export what it needs
        now, near-ties' float32 encoder included."""
        from stance.model.embeddings import on_backend, use_backend
        use_backend(self.estimators(), backend, prepare)
        if prepare and self.recheck:
            with on_backend(self.estimators(), RECHECK_BACKEND, only_from=SCORING_BACKEND):
                pass  # switching there prepares it


def aligned_proba(pipeline, X, n_classes: int) -> np.ndarray:
    """``predict_proba`` with a column for every schema class, zero for classes unseen in training."""
    rows = X.shape[0] if hasattr(X, "shape") else len(X)
    out = np.zeros((rows, n_classes))
    if rows:
        out[:, pipeline.classes_] = pipeline.predict_proba(X)
    return out
