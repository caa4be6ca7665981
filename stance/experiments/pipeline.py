"""Config sections to plain scikit-learn pipelines: ``features`` (a union) then ``model``."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.naive_bayes import ComplementNB
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline
from sklearn.svm import LinearSVC

from stance.experiments.config import ConfigError

_TUPLE_PARAMS = ("ngram_range",)


def build_pipeline(config: dict) -> Pipeline:
    """A fresh, unfitted pipeline for one dimension."""
    blocks, weights = [], {}
    for name, block in config["features"].items():
        params = _params(block, skip=("type", "weight"))
        blocks.append((name, _feature(block["type"], params, f"features.{name}")))
        if "weight" in block:
            weights[name] = float(block["weight"])
    union = FeatureUnion(blocks, transformer_weights=weights or None)
    return Pipeline([("features", union), ("model", _model(config["model"], config["seed"]))])


def search_grid(config: dict) -> dict[str, list]:
    """The ``[search]`` section as scikit-learn parameter names (``model.C`` -> ``model__C``)."""
    grid = {}
    for key, values in config.get("search", {}).items():
        if key in ("scoring", "inner_folds"):
            continue
        name = key.replace(".", "__")
        grid[name] = [tuple(v) if isinstance(v, list) and key.endswith(_TUPLE_PARAMS) else v for v in values]
    return grid


def _params(block: dict, skip: tuple[str, ...]) -> dict:
    return {k: tuple(v) if k in _TUPLE_PARAMS and isinstance(v, list) else v
            for k, v in block.items() if k not in skip}


def _feature(kind: str, params: dict, where: str):
    try:
        if kind == "tfidf":
            return TfidfVectorizer(**{"sublinear_tf": True, "strip_accents": "unicode", **params})
        if kind == "hashing":
            idf = params.pop("idf", True)
            vectorizer = HashingVectorizer(**{"alternate_sign": False, "n_features": 2**20,
                                              "strip_accents": "unicode", **params})
            return make_pipeline(vectorizer, TfidfTransformer(sublinear_tf=True)) if idf else vectorizer
        if kind == "finetuned":
            from stance.experiments.finetune import FinetunedEncoder
            return FinetunedEncoder(**params)
        from stance.experiments.embeddings import SentenceEmbedder, StaticEmbedder
        return (StaticEmbedder if kind == "static" else SentenceEmbedder)(**params)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _model(section: dict, seed: int):
    kind = section["type"]
    params = _params(section, skip=("type",))
    try:
        if kind == "logreg":
            return LogisticRegression(**{"C": 4.0, "max_iter": 3000, "class_weight": "balanced",
                                         "random_state": seed, **params})
        if kind == "linear_svm":
            return CalibratedLinearSVC(**{"random_state": seed, **params})
        if kind == "sgd":
            return SGDClassifier(**{"loss": "log_loss", "alpha": 1e-4, "class_weight": "balanced",
                                    "max_iter": 50, "tol": None, "random_state": seed, **params})
        return ComplementNB(**params)
    except TypeError as exc:
        raise ConfigError(f"model ({kind}): {exc}") from None


class CalibratedLinearSVC(ClassifierMixin, BaseEstimator):
    """A linear SVM whose scores are calibrated into probabilities, with the SVM's own
    parameters at the top level (so ``model.C`` searches work as for the other models)."""

    def __init__(self, C: float = 0.5, class_weight="balanced", calibration: str = "sigmoid",
                 calibration_folds: int = 3, max_iter: int = 5000, random_state: int | None = None):
        self.C = C
        self.class_weight = class_weight
        self.calibration = calibration
        self.calibration_folds = calibration_folds
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, X, y):
        svm = LinearSVC(C=self.C, class_weight=self.class_weight, max_iter=self.max_iter,
                        random_state=self.random_state)
        smallest = int(np.min(np.unique(y, return_counts=True)[1]))
        folds = max(2, min(self.calibration_folds, smallest))
        if smallest < 2:  # too few of some class to calibrate by folds: fit once, calibrate on the same data
            self.calibrated_ = CalibratedClassifierCV(FrozenEstimator(clone(svm).fit(X, y)),
                                                      method=self.calibration)
        else:
            self.calibrated_ = CalibratedClassifierCV(svm, method=self.calibration, cv=folds)
        self.calibrated_.fit(X, y)
        self.classes_ = self.calibrated_.classes_
        return self

    def predict_proba(self, X):
        return self.calibrated_.predict_proba(X)

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

