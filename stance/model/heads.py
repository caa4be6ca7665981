"""Classifier heads of our own that a run's model holds (pickled in ``model.joblib``), beside
scikit-learn's: here so that loading a model needs ``stance.model``, not the training code."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.svm import LinearSVC


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

