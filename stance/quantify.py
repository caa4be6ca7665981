"""Class shares per group, corrected for the model's mistakes, with intervals.

Plain numpy over arrays, so that ``stance.findings.estimate`` can run a thousand bootstrap
replicates of every group as a few matrix products. Three families:

* **Without an audit** the model's known errors (its cross-validated predictions)
  correct the shares under a shifted class mix. A table of methods (``QUANTIFIERS``):

  - ``cc`` / ``pcc``: classify and count, mean probabilities (no correction);
  - ``acc`` / ``pacc``: (probabilistic) adjusted count: solve ``q = M pi`` where ``M``
    holds the mean prediction for each true class;
  - ``em``: EM prior adjustment (Saerens, Latinne & Decaestecker 2002) on the probabilities;
  - ``em-calibrated``: the same after bias-corrected temperature scaling (BCTS).

  No one of them is best everywhere: calibration and misclassification rates fitted in
  distribution need not transfer to a shifted corpus. So :func:`measure` checks every
  method under shift on the run's own predictions (leaving out each source, or by
  artificial prevalence), ``auto`` takes the one of least error, and the interval adds
  that measured error to the sampling error of a bootstrap over the group's *articles*
  (sentences of one article are not independent). The counts are linear in article
  sums, so a replicate is a weighted sum; EM takes one Newton step of each replicate's
  own likelihood from the full-sample estimate.

* **With an audit** (a random sample of sentences with true labels): the difference
  estimator of survey sampling with a power-tuned coefficient, which is PPI++
  (Angelopoulos et al. 2023) under a stratified design, with design-based variance:
  ``theta = [lam * sum_all f + sum_sample (y - lam f) / pi_i] / N``. ``lam`` minimises
  the variance, clipped to [0, 1]: at 0 it is the audit labels alone. Where the audit
  holds fewer than ``FEW_EVENTS`` sentences in (or out of) the class, the normal
  interval also spans the audit's Wilson interval, which keeps coverage at shares near 0 or 1.

* **Audits pooled across many groups** (:func:`pooled_shares`): each group's PPI++ estimate
  moves toward a line through the model's shares of the groups (a Fay-Herriot small-area
  model), with robust empirical-Bayes intervals that cover on average over the groups.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scipy import sparse
# scipy (about 1 s to import) is loaded by the functions that use it, so that the command
# line, which reads the defaults below, starts without it.

EPS = 1e-12
#: Below this many audited sentences in (or out of) a class, a normal interval is not trusted alone.
FEW_EVENTS = 5
#: Article bootstrap resamples, and the fewest articles in a group for its interval to be trusted
#: (fewer and the row is flagged ``few_articles``).
REPLICATES = 1000
MIN_ARTICLES = 20


# ---------------------------------------------------------------- calibration

@dataclass
class Calibration:
    """Bias-corrected temperature scaling: ``softmax(temperature * log p + bias)``."""

    temperature: float
    bias: np.ndarray

    def apply(self, proba: np.ndarray) -> np.ndarray:
        logits = self.temperature * np.log(np.maximum(proba, EPS)) + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        out = np.exp(logits)
        return out / out.sum(axis=1, keepdims=True)


def fit_calibration(proba: np.ndarray, y: np.ndarray) -> Calibration:
    """Fit BCTS to probabilities ``proba`` (n, K) and true class indices ``y`` by maximum likelihood.

    With a free bias per class the fitted probabilities average exactly to the class
    frequencies of ``y``, which is what EM takes as the training prior.
    """
    n, k = proba.shape
    logp = np.log(np.maximum(proba, EPS))
    onehot = np.eye(k)[y]

    def loss(params):
        t, b = params[0], np.r_[0.0, params[1:]]
        z = t * logp + b
        z -= z.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(z).sum(axis=1, keepdims=True))
        logq = z - log_norm
        q = np.exp(logq)
        nll = -(onehot * logq).sum() / n
        residual = (q - onehot) / n
        grad_t = (residual * logp).sum()
        grad_b = residual.sum(axis=0)[1:]
        return nll, np.r_[grad_t, grad_b]

    from scipy import optimize

    start = np.r_[1.0, np.zeros(k - 1)]
    bounds = [(0.05, 20.0)] + [(-30.0, 30.0)] * (k - 1)
    fitted = optimize.minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds)
    return Calibration(float(fitted.x[0]), np.r_[0.0, fitted.x[1:]])


# ---------------------------------------------------------------- groups

def group_matrix(codes: np.ndarray, n_groups: int) -> sparse.csr_matrix:
    """A (groups, n) 0/1 matrix: row g sums the rows of group g."""
    from scipy import sparse

    n = len(codes)
    return sparse.csr_matrix((np.ones(n), (codes, np.arange(n))), shape=(n_groups, n))


def em_prior(proba: np.ndarray, train_prior: np.ndarray, groups: np.ndarray | None = None,
             n_groups: int | None = None, *, tol: float = 1e-6, max_iter: int = 2000) -> np.ndarray:
    """EM prior adjustment (Saerens et al. 2002) for every group at once: (groups, K) shares.

    ``proba`` must be calibrated for ``train_prior``; each group's shares are the
    fixed point of ``pi = mean_s normalise(pi / train_prior * p_s)``, which is the
    maximum-likelihood mix of the classes under label shift.
    """
    if groups is None:
        groups, n_groups = np.zeros(len(proba), dtype=np.int64), 1
    n_groups = int(n_groups if n_groups is not None else groups.max() + 1)
    summing = group_matrix(groups, n_groups)
    sizes = np.asarray(summing.sum(axis=1)).ravel()
    ratio = proba / np.maximum(train_prior, EPS)
    pi = np.tile(np.asarray(train_prior, dtype=float), (n_groups, 1))
    for _ in range(max_iter):
        weighted = ratio * pi[groups]
        weighted /= np.maximum(weighted.sum(axis=1, keepdims=True), EPS)
        new = np.asarray(summing @ weighted) / np.maximum(sizes, 1)[:, None]
        done = np.abs(new - pi).max() < tol
        pi = new
        if done:
            break
    return pi


def adjusted_count(means: np.ndarray, misclassification: np.ndarray) -> np.ndarray:
    """Solve ``q = M pi`` for each row ``q`` of ``means``, then clip to [0, 1] and renormalise.

    ``misclassification[j, i]`` is the mean prediction of class ``j`` over sentences of
    true class ``i`` (cross-validated). A singular ``M`` (the model cannot tell two
    classes apart) falls back to the least-squares solution.
    """
    means = np.atleast_2d(means)
    solved = np.linalg.lstsq(misclassification, means.T, rcond=None)[0].T
    return _onto_simplex(solved)


def misclassification_matrix(vectors: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """Column ``i``: the mean of ``vectors`` (probabilities or one-hot predictions) over true class ``i``."""
    m = np.zeros((k, k))
    for i in range(k):
        rows = vectors[y == i]
        m[:, i] = rows.mean(axis=0) if len(rows) else np.eye(k)[i]
    return m


def _onto_simplex(values: np.ndarray) -> np.ndarray:
    clipped = np.clip(values, 0.0, None)
    total = clipped.sum(axis=-1, keepdims=True)
    uniform = np.full_like(clipped, 1.0 / clipped.shape[-1])
    return np.where(total > 0, clipped / np.where(total > 0, total, 1.0), uniform)


# ---------------------------------------------------------------- the model-only estimators

@dataclass
class Reference:
    """What the run knows about its own errors on one dimension (from its CV predictions): the
    probabilities, the true classes, and where known each row's fold, article and source."""

    proba: np.ndarray      # (m, K) cross-validated probabilities
    y: np.ndarray          # (m,) true class indices
    folds: np.ndarray | None = None
    articles: np.ndarray | None = None
    sources: np.ndarray | None = None

    @property
    def k(self) -> int:
        return self.proba.shape[1]

    def prior(self) -> np.ndarray:
        return np.bincount(self.y, minlength=self.k) / len(self.y)

    def macro_f1(self) -> float:
        from sklearn.metrics import f1_score
        return float(f1_score(self.y, self.proba.argmax(axis=1), average="macro", labels=np.unique(self.y)))

    def squared_correlations(self) -> np.ndarray:
        """Per class, the squared correlation between the model's probability of it and the truth:
        the share of an audit's variance that PPI++ removes (see :func:`audit_size`)."""
        out = np.zeros(self.k)
        for c in range(self.k):
            truth, predicted = (self.y == c).astype(float), self.proba[:, c]
            if truth.std() > 0 and predicted.std() > 0:
                out[c] = np.corrcoef(truth, predicted)[0, 1] ** 2
        return out

    @classmethod
    def from_predictions(cls, table, dim: str, names: list[str]) -> "Reference":
        """The rows of a run's ``cv_predictions`` table (a DataFrame) labelled on ``dim``."""
        known = table[f"{dim}_true"].notna().to_numpy()
        rows = table[known]
        column = (lambda name: rows[name].to_numpy() if name in rows else None)
        return cls(rows[[f"{dim}_p_{n}" for n in names]].to_numpy(dtype=np.float64),
                   rows[f"{dim}_true"].map({n: i for i, n in enumerate(names)}).to_numpy(dtype=np.int64),
                   column(f"{dim}_fold"), column("article_id"),
                   rows["source"].to_numpy(dtype=object) if "source" in rows else None)


class Quantifier:
    """A share estimator without an audit (QuaPy's shape): ``fit`` on the run's cross-validated
    probabilities and true classes, ``quantify`` the shares of every group of new probabilities.
    ``replicator`` gives what a bootstrap over articles needs to redo the estimate cheaply."""

    name = ""
    description = ""

    def fit(self, proba: np.ndarray, y: np.ndarray) -> "Quantifier":
        return self

    def quantify(self, proba: np.ndarray, groups: np.ndarray | None = None, n_groups: int = 1) -> np.ndarray:
        raise NotImplementedError

    def replicator(self, proba, groups, articles, n_articles, point):
        raise NotImplementedError


class _Counting(Quantifier):
    """Shares from the mean of a per-sentence vector (a one-hot label or the probabilities), adjusted
    or not: linear in article sums, so a bootstrap replicate is a weighted sum."""

    hard = False      # count the top label (one-hot) instead of averaging the probabilities
    adjusted = False  # solve q = M pi with the misclassification matrix M of the reference

    def vectors(self, proba: np.ndarray) -> np.ndarray:
        return np.eye(proba.shape[1])[proba.argmax(axis=1)] if self.hard else proba

    def fit(self, proba, y):
        self.k_ = proba.shape[1]
        self.matrix_ = misclassification_matrix(self.vectors(proba), y, self.k_) if self.adjusted else None
        return self

    def finish(self, means: np.ndarray) -> np.ndarray:
        return adjusted_count(means, self.matrix_) if self.adjusted else np.atleast_2d(means)

    def quantify(self, proba, groups=None, n_groups=1):
        groups = np.zeros(len(proba), dtype=np.int64) if groups is None else groups
        sums = _article_sum(self.vectors(proba), groups, n_groups)
        counts = np.bincount(groups, minlength=n_groups)
        return self.finish(sums / np.maximum(counts, 1)[:, None])

    def replicator(self, proba, groups, articles, n_articles, point):
        sums = _article_sum(self.vectors(proba), articles, n_articles)
        counts = np.bincount(articles, minlength=n_articles).astype(float)

        def replicate(g, members, weights):
            return self.finish((weights @ sums[members]) / np.maximum(weights @ counts[members], 1)[:, None])
        return replicate


class ClassifyAndCount(_Counting):
    name, description, hard = "cc", "classify and count (uncorrected)", True


class ProbabilisticCount(_Counting):
    name, description = "pcc", "mean probability (uncorrected)"


class AdjustedCount(_Counting):
    name, description, hard, adjusted = "acc", "adjusted count", True, True


class ProbabilisticAdjustedCount(_Counting):
    name, description, adjusted = "pacc", "probabilistic adjusted count", True


class ExpectationMaximisation(Quantifier):
    """EM prior adjustment (Saerens et al. 2002) on the model's probabilities as they are, with the
    reference's class frequencies as the training prior."""

    name, description = "em", "EM prior adjustment"

    def prepare(self, proba: np.ndarray) -> np.ndarray:
        return proba

    def fit(self, proba, y):
        self.prior_ = np.bincount(y, minlength=proba.shape[1]) / len(y)
        return self

    def quantify(self, proba, groups=None, n_groups=1):
        return em_prior(self.prepare(proba), self.prior_, groups, n_groups if groups is not None else None)

    def replicator(self, proba, groups, articles, n_articles, point):
        """One Newton step of each replicate's own likelihood from the full-sample estimate: only
        per-article sums of gradients and Hessians are needed."""
        gradient, hessian = _em_article_derivatives(self.prepare(proba) / np.maximum(self.prior_, EPS),
                                                    point[groups], articles, n_articles)

        def replicate(g, members, weights):
            g_b, h_b = weights @ gradient[members], np.einsum("ba,aij->bij", weights, hessian[members])
            free = point[g][None, :-1] - _solve(h_b, g_b)
            return _onto_simplex(np.c_[free, 1.0 - free.sum(axis=1)])
        return replicate


class CalibratedExpectationMaximisation(ExpectationMaximisation):
    """EM on probabilities first calibrated by bias-corrected temperature scaling (BCTS; Alexandari
    et al. 2020) on the reference. Calibration fitted in-distribution need not transfer to a shifted
    corpus: measured, not assumed."""

    name, description = "em-calibrated", "EM prior adjustment on calibrated probabilities"

    def prepare(self, proba):
        return self.calibration_.apply(proba)

    def fit(self, proba, y):
        self.calibration_ = fit_calibration(proba, y)
        self.prior_ = self.calibration_.apply(proba).mean(axis=0)
        return self


#: Methods without an audit; ``auto`` (the default) takes the one the run's evidence favours.
QUANTIFIERS: dict[str, type[Quantifier]] = {q.name: q for q in (
    ClassifyAndCount, ProbabilisticCount, AdjustedCount, ProbabilisticAdjustedCount, ExpectationMaximisation,
    CalibratedExpectationMaximisation)}
METHODS = ("auto", *QUANTIFIERS)
DEFAULT_METHOD = "auto"


# ---------------------------------------------------------------- evidence: which method, how wrong

#: Artificial-prevalence samples drawn from each held-out fold, and their size (sentences).
APP_SAMPLES = 40
APP_SIZE = 300


#: Below this cross-validated macro-F1 no correction is trusted: they amplify the model's noise more
#: than they remove its bias (BASIL, macro-F1 0.39: on an outlet the model never saw, counting erred by
#: 4 to 6 points and every correction by 16 to 58, while the run's own checks favoured them).
WEAK_MODEL_F1 = 0.5
#: A correction replaces classify and count only where it erred clearly less: at most this fraction
#: of classify and count's error. Corrections amplify whatever the checks could not see (BASIL: every
#: correction did far worse than counting on an unseen outlet, while barely ahead on the checks).
CLEARLY_BETTER = 0.8
#: The checks nearest a group (by what classify and count observes in it) that judge it: this share
#: of them, and at least ``MIN_NEIGHBOURS``.
NEIGHBOURS = 0.25
MIN_NEIGHBOURS = 20
#: The corrections that all hold under a pure shift of the class mix: where they disagree on a group
#: far more than they did on the checks of shares like its own, the group differs from the labelled
#: data in more than its class mix, and none of them is trusted there.
CONSISTENT = ("acc", "pacc", "em-calibrated")
#: How much more than the checks' 95th percentile of disagreement a group may show (share points).
DISAGREEMENT_SLACK = 0.02


@dataclass
class Evidence:
    """Each method's errors on shares it could check: ``errors[method]`` is (cells, K) of estimate
    minus truth, one cell per held-out source (or artificial-prevalence sample); ``errors["cc"]`` plus
    the truth is what classify and count observed in each cell, which locates a new group among them."""

    protocol: str
    errors: dict[str, np.ndarray]
    truth: np.ndarray | None = None  # (cells, K) the true shares of each cell

    def mae(self, method: str, cells: np.ndarray | None = None) -> float:
        errors = self.errors[method] if cells is None else self.errors[method][cells]
        return float(np.abs(errors).mean())

    @property
    def chosen(self) -> str:
        """The method judged best over every cell (see :meth:`choose`)."""
        return self.choose()

    def choose(self, cells: np.ndarray | None = None) -> str:
        """The method of least mean absolute error over ``cells`` (all by default); a correction wins
        over classify and count only when clearly better (``CLEARLY_BETTER``)."""
        best = min(QUANTIFIERS, key=lambda m: (round(self.mae(m, cells), 6), list(QUANTIFIERS).index(m)))
        return best if self.mae(best, cells) <= CLEARLY_BETTER * self.mae("cc", cells) else "cc"

    def near(self, counted: np.ndarray) -> np.ndarray | None:
        """The cells whose classify-and-count shares lie nearest ``counted`` (a group's): the checks of
        shares like this group's. None where the checks are few (each source left out): all judge."""
        if self.truth is None or len(self.truth) < 2 * MIN_NEIGHBOURS:
            return None
        observed = self.truth + self.errors["cc"]
        distance = np.abs(observed - counted[None, :]).sum(axis=1)
        return np.argsort(distance, kind="stable")[:max(MIN_NEIGHBOURS, int(NEIGHBOURS * len(distance)))]

    def disagreement(self, cells: np.ndarray | None = None) -> float:
        """The 95th percentile over ``cells`` of how far the ``CONSISTENT`` corrections lay apart."""
        estimates = np.stack([self.errors[m] if cells is None else self.errors[m][cells] for m in CONSISTENT])
        return float(np.quantile(spread(estimates), 0.95))

    def margin(self, method: str, level: float, cells: np.ndarray | None = None) -> np.ndarray:
        """(K,) how far the method's estimates were off: the ``level`` quantile of the absolute errors
        per class over ``cells``, and never below the largest error seen when there are fewer than 20
        (a quantile of three numbers is their maximum)."""
        errors = np.abs(self.errors[method] if cells is None else self.errors[method][cells])
        if len(errors) < 20:
            return np.full(errors.shape[1], errors.max())
        return np.quantile(errors, level, axis=0)

    def difference_margin(self, method_a: str, cells_a, method_b: str, cells_b, level: float) -> np.ndarray:
        """(K,) how far a difference of two groups' estimates was off: the ``level`` quantile of
        ``|e_i - e_j|`` over pairs of distinct checks near each group. A bias both groups share
        cancels in their difference; what remains is how the error varies between such checks."""
        every = np.arange(len(self.errors["cc"]))
        a = every if cells_a is None else np.asarray(cells_a)
        b = every if cells_b is None else np.asarray(cells_b)
        pairs = np.abs(self.errors[method_a][a][:, None, :] - self.errors[method_b][b][None, :, :])
        distinct = (a[:, None] != b[None, :])
        values = pairs[distinct]
        if len(values) < 20:
            return np.full(pairs.shape[-1], values.max() if len(values) else 0.0)
        return np.quantile(values, level, axis=0)

    def to_dict(self) -> dict:
        return {"protocol": self.protocol, "chosen": self.chosen, "cells": len(next(iter(self.errors.values()))),
                "mae": {m: round(self.mae(m), 5) for m in self.errors},
                "errors": {m: np.round(e, 5).tolist() for m, e in self.errors.items()},
                "truth": None if self.truth is None else np.round(self.truth, 5).tolist()}

    @classmethod
    def from_dict(cls, data: dict) -> "Evidence":
        truth = data.get("truth")
        return cls(data["protocol"], {m: np.asarray(e, dtype=float) for m, e in data["errors"].items()},
                   None if truth is None else np.asarray(truth, dtype=float))


def spread(estimates: np.ndarray) -> np.ndarray:
    """How far estimates of the same shares lie apart: (methods, cells, K) -> (cells,), the largest
    range over methods of any class's share (errors work too: the truth cancels)."""
    return (estimates.max(axis=0) - estimates.min(axis=0)).max(axis=-1)


def measure(reference: Reference, *, seed: int = 0, samples: int = APP_SAMPLES, size: int = APP_SIZE) -> Evidence:
    """How far off each method is under shift, from the run's own cross-validated predictions.

    With two or more sources, each is left out in turn: every method is fitted on the others and
    estimates the left-out source's shares (real differences between outlets, beyond their class
    mix). Otherwise QuaPy's artificial-prevalence protocol: each fold in turn is held out, the
    methods are fitted on the others, and ``samples`` samples of ``size`` sentences are drawn from
    the held-out fold with class mixes from a flat Dirichlet.
    """
    k = reference.k
    errors: dict[str, list] = {m: [] for m in QUANTIFIERS}
    truths: list[np.ndarray] = []
    sources = reference.sources
    names = [s for s in np.unique(sources[sources != None]) if (sources == s).sum() >= 20] \
        if sources is not None else []  # noqa: E711  (an object array)
    if len(names) >= 2:
        for source in names:
            held = sources == source
            truth = np.bincount(reference.y[held], minlength=k) / held.sum()
            truths.append(truth)
            for name, method in QUANTIFIERS.items():
                fitted = method().fit(reference.proba[~held], reference.y[~held])
                errors[name].append(fitted.quantify(reference.proba[held])[0] - truth)
        return Evidence(f"leave one source out ({len(names)} sources)", {m: np.array(e) for m, e in errors.items()},
                        np.array(truths))
    rng = np.random.default_rng(seed)
    folds = reference.folds if reference.folds is not None else _folds_by_article(reference, 5, rng)
    for fold in np.unique(folds):
        held = folds == fold
        if held.all() or (~held).sum() < k:
            continue
        fitted = {name: method().fit(reference.proba[~held], reference.y[~held])
                  for name, method in QUANTIFIERS.items()}
        by_class = [np.flatnonzero(held & (reference.y == c)) for c in range(k)]
        present = [c for c in range(k) if len(by_class[c])]
        for _ in range(samples):
            mix = np.zeros(k)
            mix[present] = rng.dirichlet(np.ones(len(present)))
            counts = rng.multinomial(min(size, int(held.sum())), mix)
            rows = np.concatenate([rng.choice(by_class[c], n) for c, n in enumerate(counts) if n])
            truth = counts / counts.sum()
            truths.append(truth)
            for name, method in fitted.items():
                errors[name].append(method.quantify(reference.proba[rows])[0] - truth)
    return Evidence("artificial prevalence (held-out folds)", {m: np.array(e) for m, e in errors.items()},
                    np.array(truths))


def _folds_by_article(reference: Reference, n: int, rng: np.random.Generator) -> np.ndarray:
    units = reference.articles if reference.articles is not None else np.arange(len(reference.y))
    unique, codes = np.unique(units, return_inverse=True)
    return rng.permutation(len(unique))[codes] % n


# ---------------------------------------------------------------- shares per group, with intervals

@dataclass
class GroupEstimates:
    estimate: np.ndarray   # (groups, K)
    low: np.ndarray
    high: np.ndarray
    methods: list[str] = field(default_factory=list)  # the method of each group
    #: (groups, K) the sampling error alone, before the model's measured error is added
    sampling_low: np.ndarray | None = None
    sampling_high: np.ndarray | None = None
    draws: list[np.ndarray] = field(default_factory=list)  # each group's bootstrap replicates, (B, K)
    cells: list = field(default_factory=list)  # each group's checks (evidence cells), None for all


def estimate_groups(proba: np.ndarray, groups: np.ndarray, articles: np.ndarray, reference: Reference,
                    method: str = DEFAULT_METHOD, *, level: float = 0.95, replicates: int = 1000,
                    seed: int = 0, evidence: Evidence | None = None,
                    min_articles: int = 1) -> GroupEstimates:
    """Shares of each class per group, with intervals.

    ``groups`` and ``articles`` are integer codes per sentence (0..G-1, 0..A-1); an article must
    lie in one group. ``method`` ``auto`` lets ``evidence`` (measured from ``reference`` when not
    given) judge each group by the checks of shares like its own: those whose classify-and-count
    shares lie nearest the group's. Each side of the interval is the larger of the sampling error,
    from a percentile bootstrap over the group's articles (sentences of one article are not
    independent), and the error that those checks measured (its ``level`` quantile: the checks'
    own samples hold their sampling error too, so adding the two would count it twice); without
    evidence (a method named and none given) only the first.

    A group of fewer than ``min_articles`` articles says little about its own spread: its
    bootstrap interval is widened by Student's t for that many articles, and one article's
    interval is a binomial (Wilson) interval of one observation.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if method == "auto" and evidence is None:
        evidence = measure(reference, seed=seed)
    k = reference.k
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    n_articles = int(articles.max()) + 1 if len(articles) else 0
    article_group = np.zeros(n_articles, dtype=np.int64)
    article_group[articles] = groups
    fitted: dict[str, Quantifier] = {}

    def quantifier(name: str) -> Quantifier:
        if name not in fitted:
            fitted[name] = QUANTIFIERS[name]().fit(reference.proba, reference.y)
        return fitted[name]

    counted = quantifier("cc").quantify(proba, groups, n_groups)
    cells = [evidence.near(counted[g]) if evidence is not None else None for g in range(n_groups)]
    weak = method == "auto" and reference.macro_f1() < WEAK_MODEL_F1
    methods = ["cc" if weak else evidence.choose(cells[g]) if method == "auto" else method
               for g in range(n_groups)]
    estimates = {name: quantifier(name).quantify(proba, groups, n_groups)
                 for name in {*methods, *(CONSISTENT if method == "auto" else ())}}
    if method == "auto" and not weak:  # corrections only where the group shows no more than a shifted mix
        apart = spread(np.stack([estimates[m] for m in CONSISTENT]))
        methods = [m if apart[g] <= evidence.disagreement(cells[g]) + DISAGREEMENT_SLACK else "cc"
                   for g, m in enumerate(methods)]
        estimates.setdefault("cc", counted)
    replicators = {name: quantifier(name).replicator(proba, groups, articles, n_articles, estimates[name])
                   for name in estimates}
    point = np.array([estimates[methods[g]][g] for g in range(n_groups)]).reshape(n_groups, k)
    low, high = np.zeros_like(point), np.zeros_like(point)
    alpha = (1 - level) / 2
    members = _members(article_group, n_groups)
    rng = np.random.default_rng(seed)
    kept = []
    for g in range(n_groups):
        replicate = replicators[methods[g]]
        draws = _replicates(lambda w, g=g: replicate(g, members[g], w), len(members[g]), replicates, rng)
        low[g], high[g] = np.quantile(draws, [alpha, 1 - alpha], axis=0)
        kept.append(draws)
    low, high = np.minimum(low, point), np.maximum(high, point)
    sizes = np.bincount(article_group, minlength=n_groups)
    thin = sizes < min_articles
    if thin.any():
        low[thin], high[thin] = _few_articles(point[thin], low[thin], high[thin], sizes[thin], level)
    sampling_low, sampling_high = low.copy(), high.copy()
    if evidence is not None:
        margin = np.array([evidence.margin(methods[g], level, cells[g]) for g in range(n_groups)]).reshape(point.shape)
        low = np.clip(point - np.maximum(point - low, margin), 0.0, 1.0)
        high = np.clip(point + np.maximum(high - point, margin), 0.0, 1.0)
    return GroupEstimates(point, low, high, methods, sampling_low, sampling_high, kept, cells)


@dataclass
class Difference:
    """A difference of two groups' shares, per class, with its interval and two-sided p-value."""

    estimate: np.ndarray   # (K,)
    low: np.ndarray
    high: np.ndarray
    p_value: np.ndarray


def difference(estimates: GroupEstimates, a: int, b: int, evidence: Evidence | None = None,
               level: float = 0.95) -> Difference:
    """Group ``a``'s shares minus group ``b``'s, model-only. The groups hold different articles, so
    their bootstrap replicates are independent and their differences are replicates of the
    difference; the error the checks measured on such differences is added in quadrature. The
    p-value is the normal one for that total spread."""
    z = normal_quantile(level)
    d = estimates.estimate[a] - estimates.estimate[b]
    draws = estimates.draws[a] - estimates.draws[b]
    alpha = (1 - level) / 2
    q_low, q_high = np.quantile(draws, [alpha, 1 - alpha], axis=0)
    margin = (evidence.difference_margin(estimates.methods[a], estimates.cells[a], estimates.methods[b],
                                         estimates.cells[b], level) if evidence is not None else np.zeros_like(d))
    low = d - np.sqrt(np.maximum(d - q_low, 0) ** 2 + margin ** 2)
    high = d + np.sqrt(np.maximum(q_high - d, 0) ** 2 + margin ** 2)
    se = np.sqrt(draws.var(axis=0, ddof=1) + (margin / z) ** 2) if len(draws) > 1 else margin / z
    return Difference(d, np.clip(low, -1, 1), np.clip(high, -1, 1), two_sided(d, se))


def two_sided(d: np.ndarray, se: np.ndarray, df: float | None = None) -> np.ndarray:
    """Two-sided p-values of ``d`` against 0 with standard errors ``se`` (normal, or t on ``df``)."""
    from scipy import stats

    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = np.abs(d) / se
    tail = stats.norm.sf(statistic) if df is None else stats.t.sf(statistic, df)
    return np.where(se > 0, 2 * tail, np.where(np.abs(d) > 0, 0.0, 1.0))


def normal_quantile(level: float) -> float:
    """z such that a normal interval of +- z standard errors holds ``level``."""
    from scipy import stats
    return float(stats.norm.ppf(0.5 + level / 2))


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment: p-values that hold the family-wise error rate over all the tests."""
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p, kind="stable")
    m = len(p)
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def _few_articles(point, low, high, n_articles, level):
    """Intervals of groups of few articles: a bootstrap over n articles is too narrow by Student's
    t for n - 1 degrees of freedom against the normal, and by sqrt(n / (n - 1)); over one article
    it has no spread at all, so one article counts as one observation (Wilson)."""
    from scipy import stats

    z = stats.norm.ppf(0.5 + level / 2)
    n = n_articles[:, None].astype(float)
    scale = np.where(n > 1, stats.t.ppf(0.5 + level / 2, np.maximum(n - 1, 1)) / z * np.sqrt(n / np.maximum(n - 1, 1)),
                     1.0)
    low, high = np.clip(point - scale * (point - low), 0, 1), np.clip(point + scale * (high - point), 0, 1)
    centre = (point + z * z / 2) / (1 + z * z)
    half = z * np.sqrt(point * (1 - point) + z * z / 4) / (1 + z * z)
    single = np.broadcast_to(n == 1, point.shape)
    low = np.where(single, np.minimum(low, np.clip(centre - half, 0, 1)), low)
    high = np.where(single, np.maximum(high, np.clip(centre + half, 0, 1)), high)
    return low, high


def _members(article_group: np.ndarray, n_groups: int) -> list[np.ndarray]:
    order = np.argsort(article_group, kind="stable")
    bounds = np.searchsorted(article_group[order], np.arange(n_groups + 1))
    return [order[bounds[g]:bounds[g + 1]] for g in range(n_groups)]


def _replicates(statistic, n_units: int, replicates: int, rng: np.random.Generator) -> np.ndarray:
    """``statistic(weights)`` over bootstrap weights (each row: how often each unit was drawn, a
    multinomial draw made by counting sampled indices), in blocks so that memory stays bounded
    whatever the group's size."""
    block = max(1, min(replicates, 5_000_000 // max(n_units, 1)))
    out = []
    for start in range(0, replicates, block):
        size = min(block, replicates - start)
        drawn = rng.integers(0, n_units, size=(size, n_units)) + (np.arange(size) * n_units)[:, None]
        weights = np.bincount(drawn.ravel(), minlength=size * n_units).reshape(size, n_units)
        out.append(statistic(weights.astype(np.float64)))
    return np.concatenate(out)


def _article_sum(values: np.ndarray, articles: np.ndarray, n_articles: int) -> np.ndarray:
    flat = values.reshape(len(values), -1)
    out = np.zeros((n_articles, flat.shape[1]))
    for j in range(flat.shape[1]):
        out[:, j] = np.bincount(articles, weights=flat[:, j], minlength=n_articles)
    return out.reshape((n_articles, *values.shape[1:]))


def _em_article_derivatives(ratio: np.ndarray, pi: np.ndarray, articles: np.ndarray, n_articles: int):
    """Per article, the gradient and Hessian of ``sum_s log(ratio_s . pi)`` in the first K-1 shares
    (the last is one minus the others), at each sentence's group estimate ``pi``."""
    d = ratio[:, :-1] - ratio[:, -1:]
    density = np.maximum((ratio * pi).sum(axis=1), EPS)
    gradient = d / density[:, None]
    hessian = -gradient[:, :, None] * gradient[:, None, :]
    return _article_sum(gradient, articles, n_articles), _article_sum(hessian, articles, n_articles)


def _solve(hessians: np.ndarray, gradients: np.ndarray) -> np.ndarray:
    """Newton steps ``H^-1 g`` per replicate, least-squares where ``H`` is singular."""
    try:
        return np.linalg.solve(hessians, gradients[..., None])[..., 0]
    except np.linalg.LinAlgError:
        return np.stack([np.linalg.lstsq(h, g, rcond=None)[0] for h, g in zip(hessians, gradients)])


# ---------------------------------------------------------------- with an audit

@dataclass
class AuditEstimate:
    estimate: float
    low: float
    high: float
    coefficient: float     # lam: 0 means the audit labels alone
    n_audit: int
    se: float = 0.0        # the design-based standard error


def audit_share(f_total: float, population: int, y: np.ndarray, f: np.ndarray, in_domain: np.ndarray,
                strata: np.ndarray, strata_population: np.ndarray, *, level: float = 0.95,
                coefficient: float | None = None) -> AuditEstimate:
    """The share of one class in one domain (group) from an audit under stratified random sampling.

    ``f_total`` is the sum of the model's prediction ``f`` (a probability) over the
    domain's ``population`` sentences. ``y`` (0/1 truth), ``f``, ``in_domain`` and
    ``strata`` (codes 0..H-1) describe every audited sentence of every stratum;
    ``strata_population[h]`` is stratum ``h``'s size. ``coefficient`` fixes ``lam``
    (1: plain PPI, 0: the audit alone); by default it minimises the variance, clipped
    to [0, 1] (PPI++). The interval is ``estimate +- t * se`` with the design-based,
    finite-population variance, clipped to [0, 1].
    """
    u = np.where(in_domain, y, 0.0).astype(float)
    v = np.where(in_domain, f, 0.0).astype(float)
    n_h = np.bincount(strata, minlength=len(strata_population)).astype(float)
    big_n = strata_population.astype(float)
    sampled = n_h > 0
    weight = np.zeros_like(n_h)
    weight[sampled] = big_n[sampled] / n_h[sampled]
    # per stratum: variance of u, of v, and their covariance (ddof 1)
    var_u, var_v, cov_uv = (np.zeros_like(n_h) for _ in range(3))
    for h in np.flatnonzero(n_h > 1):
        rows = strata == h
        c = np.cov(u[rows], v[rows], ddof=1)
        var_u[h], var_v[h], cov_uv[h] = c[0, 0], c[1, 1], c[0, 1]
    scale = np.zeros_like(n_h)
    scale[sampled] = big_n[sampled] ** 2 * (1 - n_h[sampled] / big_n[sampled]) / n_h[sampled]
    a, b, c = (scale * var_u).sum(), (scale * cov_uv).sum(), (scale * var_v).sum()
    if coefficient is None:
        coefficient = float(np.clip(b / c, 0.0, 1.0)) if c > 0 else 0.0
    lam = coefficient
    residual_total = (weight[strata] * (u - lam * v)).sum()
    estimate = (lam * f_total + residual_total) / population
    variance = max(a - 2 * lam * b + lam ** 2 * c, 0.0) / population ** 2
    n_domain = int(in_domain.sum())
    from scipy import stats

    t = stats.t.ppf(0.5 + level / 2, max(n_domain - 1, 1))
    half = t * np.sqrt(variance)
    low, high = max(estimate - half, 0.0), min(estimate + half, 1.0)
    positives = int(y[in_domain].sum())
    if min(positives, n_domain - positives) < FEW_EVENTS:
        # a class (nearly) absent from the sample: the sample variance says too little, so the
        # interval also spans the audit's own Wilson interval, which holds at the boundary
        _, wilson_low, wilson_high = weighted_proportion(y[in_domain], weight[strata[in_domain]], level)
        low, high = min(low, wilson_low), max(high, wilson_high)
    return AuditEstimate(float(estimate), float(low), float(high), lam, n_domain, float(np.sqrt(variance)))


def audit_difference(a: AuditEstimate, b: AuditEstimate, population_a: int, population_b: int, y: np.ndarray,
                     f: np.ndarray, in_a: np.ndarray, in_b: np.ndarray, strata: np.ndarray,
                     strata_population: np.ndarray, *, level: float = 0.95) -> tuple[float, float, float, float]:
    """Domain ``a``'s share minus domain ``b``'s from the same audit (see :func:`audit_share`, which
    gave ``a`` and ``b`` with their coefficients): the estimate, the interval and the p-value.

    Both estimates are a constant plus a weighted sum over the audited sentences, so their
    difference is one too, of ``z = [a](y - lam_a f) / N_a - [b](y - lam_b f) / N_b``, with the same
    stratified, finite-population variance; ``t`` on ``n_a + n_b - 2`` degrees of freedom. Domains in
    one stratum share its sentences, and the covariance that brings is in that variance."""
    from scipy import stats

    z = (np.where(in_a, y - a.coefficient * f, 0.0) / population_a
         - np.where(in_b, y - b.coefficient * f, 0.0) / population_b)
    n_h = np.bincount(strata, minlength=len(strata_population)).astype(float)
    big_n = strata_population.astype(float)
    variance = 0.0
    for h in np.flatnonzero(n_h > 1):
        variance += big_n[h] ** 2 * (1 - n_h[h] / big_n[h]) / n_h[h] * np.var(z[strata == h], ddof=1)
    d = a.estimate - b.estimate
    df = max(int(in_a.sum()) + int(in_b.sum()) - 2, 1)
    half = stats.t.ppf(0.5 + level / 2, df) * np.sqrt(variance)
    p = float(two_sided(np.array([d]), np.array([np.sqrt(variance)]), df)[0])
    return float(d), float(max(d - half, -1.0)), float(min(d + half, 1.0)), p


def audit_size(variance: float, width: float, population: int, level: float = 0.95) -> int:
    """Audit labels a simple random sample of one group needs for an interval ``width`` wide (both
    sides together) on a share whose per-sentence variance is ``variance`` (``share (1 - share)``
    for the labels alone; times ``1 - rho^2`` with a model whose predictions correlate ``rho`` with
    them, PPI++): ``n = (2 t / width)^2 variance``, finite-population corrected, with ``t`` on
    ``n - 1`` degrees of freedom (three rounds settle it)."""
    from scipy import stats

    if variance <= 0:
        return min(2, population)
    n = 30.0
    for _ in range(3):
        t = stats.t.ppf(0.5 + level / 2, max(n - 1, 1))
        first = (2 * t / width) ** 2 * variance
        n = first / (1 + first / population)
    return int(min(np.ceil(n), population))


#: In an active audit, this share of the expected sample is spread evenly over the sentences,
#: so that no sentence's inclusion probability (and weight) is extreme when the model is wrongly sure.
ACTIVE_FLOOR = 0.2


def expected_error(*probas: np.ndarray) -> np.ndarray:
    """Per sentence, the root of the model's expected squared error on the class shares of every
    dimension (``sum_c p_c (1 - p_c) = 1 - sum_c p_c^2`` each, for a calibrated model)."""
    return np.sqrt(sum(np.clip(1.0 - (np.asarray(p, float) ** 2).sum(axis=1), 0.0, None) for p in probas))


def active_probabilities(error: np.ndarray, n: float, floor: float = ACTIVE_FLOOR) -> np.ndarray:
    """Inclusion probabilities of an active audit of expected size ``n`` (Zrnic & Candes 2024,
    active statistical inference): proportional to each sentence's expected ``error`` (see
    :func:`expected_error`; the variance-optimal rule), mixed with an even spread (``floor``),
    at most 1."""
    size = len(error)
    if size == 0 or n <= 0:
        return np.zeros(size)
    if n >= size:
        return np.ones(size)
    error = np.asarray(error, float)
    share = (1 - floor) * error / error.sum() + floor / size if error.sum() > 0 else np.full(size, 1 / size)
    pi = n * share
    capped = np.zeros(size, dtype=bool)
    while (pi > 1).any():  # a sentence cannot be drawn more than surely: cap and spread the rest again
        capped |= pi >= 1
        pi[capped] = 1.0
        pi[~capped] = share[~capped] * (n - capped.sum()) / share[~capped].sum()
    return pi


def active_share(f_total: float, population: int, y: np.ndarray, f: np.ndarray, pi: np.ndarray,
                 in_domain: np.ndarray, *, level: float = 0.95, coefficient: float | None = None) -> AuditEstimate:
    """The share of one class in one domain from an active audit: each sentence was drawn on its own
    with probability ``pi`` (Poisson sampling; see :func:`active_probabilities`).

    ``y``, ``f``, ``pi`` and ``in_domain`` describe the drawn sentences. The estimate is
    ``(lam * f_total + sum (y - lam f) / pi) / N``, unbiased for any ``lam`` because each
    draw is weighted back by its probability; its variance is Horvitz-Thompson's for Poisson
    sampling, ``sum (1 - pi) / pi^2 (y - lam f)^2 / N^2``, and ``lam`` minimises it (clipped
    to [0, 1]). The interval is ``estimate +- t * se``, widened to the audit's own Wilson
    interval when the class is (nearly) absent from the sample.
    """
    u = np.where(in_domain, y, 0.0).astype(float)
    v = np.where(in_domain, f, 0.0).astype(float)
    w = (1 - pi) / pi ** 2
    if coefficient is None:
        denominator = (w * v * v).sum()
        coefficient = float(np.clip((w * u * v).sum() / denominator, 0.0, 1.0)) if denominator > 0 else 0.0
    lam = coefficient
    residual = u - lam * v
    estimate = (lam * f_total + (residual / pi).sum()) / population
    se = float(np.sqrt((w * residual ** 2).sum()) / population)
    n_domain = int(in_domain.sum())
    from scipy import stats

    half = stats.t.ppf(0.5 + level / 2, max(n_domain - 1, 1)) * se
    low, high = max(estimate - half, 0.0), min(estimate + half, 1.0)
    positives = int(y[in_domain].sum())
    if min(positives, n_domain - positives) < FEW_EVENTS:
        _, wilson_low, wilson_high = weighted_proportion(y[in_domain], 1 / pi[in_domain], level)
        low, high = min(low, wilson_low), max(high, wilson_high)
    return AuditEstimate(float(estimate), float(low), float(high), lam, n_domain, se)


def active_difference(a: AuditEstimate, b: AuditEstimate, population_a: int, population_b: int, y: np.ndarray,
                      f: np.ndarray, pi: np.ndarray, in_a: np.ndarray, in_b: np.ndarray, *,
                      level: float = 0.95) -> tuple[float, float, float, float]:
    """Domain ``a``'s share minus domain ``b``'s from one active audit (see :func:`active_share`): the
    estimate, the interval and the p-value, with the Poisson-sampling variance of the difference."""
    from scipy import stats

    z = (np.where(in_a, y - a.coefficient * f, 0.0) / population_a
         - np.where(in_b, y - b.coefficient * f, 0.0) / population_b)
    se = float(np.sqrt(((1 - pi) / pi ** 2 * z ** 2).sum()))
    d = a.estimate - b.estimate
    df = max(int(in_a.sum()) + int(in_b.sum()) - 2, 1)
    half = stats.t.ppf(0.5 + level / 2, df) * se
    p = float(two_sided(np.array([d]), np.array([se]), df)[0])
    return float(d), float(max(d - half, -1.0)), float(min(d + half, 1.0)), p


# ---------------------------------------------------------------- audits pooled across groups

#: Audited groups needed before a class's shares are pooled across them (fewer: each group's own audit).
#: Under real shift (BASIL, one outlet's groups) 20 groups covered 97-99%, 10 groups 94-97% (90-92% before
#: the Wilson guard below): 20 is the floor, since the spread of fewer groups is poorly known.
POOL_MIN_GROUPS = 20
#: How sure the spread of groups about the line is not larger than the value used (see :func:`pooled_shares`).
SPREAD_CONFIDENCE = 0.9
#: Fewer audited sentences in (or out of) a class in a group than this, and its pooled interval also
#: spans the group's own Wilson interval (shares under 5% were covered 87% of the time without it, 97% with it).
POOL_FEW_EVENTS = 2


def robust_critical_value(m2: float, level: float = 0.95) -> float:
    """The critical value ``chi`` of a robust empirical-Bayes interval (Armstrong, Kolesar &
    Plagborg-Moller 2022): ``P(|Z - b| > chi) <= 1 - level`` on average over any distribution of
    the normalised bias ``b`` with ``E b^2 = m2`` (``Z`` standard normal). At ``m2 = 0`` it is the
    normal quantile; it grows with ``m2`` toward ``sqrt(m2)`` plus that quantile."""
    from scipy import optimize, special

    alpha = 1 - level
    if m2 <= 0:
        return float(-special.ndtri(alpha / 2))

    def non_coverage(u, chi):  # as a function of u = b^2
        b = np.sqrt(u)
        return special.ndtr(-chi - b) + special.ndtr(-chi + b)

    def worst(chi):
        # the least concave majorant of non_coverage in u, at m2: the worst case puts b^2 at 0 or at
        # some u1 >= m2 (with chance m2 / u1); u1 = m2 is all of it at m2
        base = non_coverage(0.0, chi)
        u1 = m2 + np.concatenate([[0.0], np.geomspace(1e-6, 4 * chi ** 2 + 100, 2000)])
        return float((base + m2 * (non_coverage(u1, chi) - base) / u1).max())

    return float(optimize.brentq(lambda chi: worst(chi) - alpha, 1e-6, 50 + 10 * np.sqrt(m2)))


def robust_critical_values(m2: np.ndarray, level: float = 0.95) -> np.ndarray:
    """:func:`robust_critical_value` of many ``m2`` at once, interpolated (within 0.1%) on a grid
    computed once per level, since pooling asks for one per group and class."""
    grid, values = _critical_value_grid(level)
    return np.interp(np.log(np.clip(m2, grid[0], grid[-1])), np.log(grid), values)


@functools.lru_cache(maxsize=8)
def _critical_value_grid(level: float) -> tuple[np.ndarray, np.ndarray]:
    grid = np.concatenate([[1e-8], np.geomspace(1e-4, 1e4, 321)])
    return grid, np.array([robust_critical_value(m2, level) for m2 in grid])


@dataclass
class PooledShares:
    """One class's shares over audited groups, pooled (see :func:`pooled_shares`)."""

    estimate: np.ndarray
    low: np.ndarray
    high: np.ndarray
    shrinkage: np.ndarray   # weight of each group's own audit (1: its audit alone, 0: the line)


def pooled_shares(direct: np.ndarray, model_share: np.ndarray, n_audit: np.ndarray, population: np.ndarray,
                  keep: float, level: float = 0.95, events: np.ndarray | None = None) -> PooledShares:
    """Shares of one class in many groups, each audited by a random sample, pooled across the groups.

    A small-area model (Fay & Herriot 1979) on the arcsine-root scale, where a share's sampling
    variance does not depend on the share. Each group's own estimate ``direct`` (PPI++ from its
    ``n_audit`` labels of ``population`` sentences, with the coefficient of
    :func:`shared_coefficient`) is ``a + b * model_share``, plus the group's own departure, plus
    sampling noise. The departures' spread ``mu2`` is estimated from how far the groups lie from
    the line beyond their noise, and taken at the upper end of its one-sided
    ``SPREAD_CONFIDENCE`` interval (with tens of groups the point estimate is often too small).
    The noise's variance is ``keep / (4 n)``, finite-population corrected (``keep``: the share of
    the labels' variance PPI++ leaves, pooled over the groups) and widened from normal to Student
    quantiles. Each group's estimate moves toward the line as far as its own audit is noisier
    than the spread.

    The interval is the robust empirical-Bayes interval of Armstrong, Kolesar & Plagborg-Moller
    (2022), which counts the error of the fitted line too: it covers on average over the groups
    at ``level`` whatever the distribution of their departures, not for each group alone (an
    outlet far from the others can be missed). Where a group's audit holds fewer than
    ``POOL_FEW_EVENTS`` of its ``events`` (audited sentences in the class), or of the sentences
    out of it, the interval also spans that audit's Wilson interval: near a share of 0 or 1 the
    arcsine scale's normal noise says too little.
    """
    from scipy import optimize, stats

    n = np.asarray(n_audit, float)
    y = np.arcsin(np.sqrt(np.clip(direct, 0.0, 1.0)))
    x = np.column_stack([np.ones(len(y)), np.arcsin(np.sqrt(np.clip(model_share, 0.0, 1.0)))])
    z = stats.norm.ppf(0.5 + level / 2)
    sigma2 = (keep * (1 - n / np.asarray(population, float)) / (4 * n)
              * (stats.t.ppf(0.5 + level / 2, np.maximum(n - 1, 1)) / z) ** 2)
    inverse = np.linalg.pinv(x.T @ x)
    line = inverse @ x.T @ y
    leverage = np.einsum("ij,jk,ik->i", x, inverse, x)
    departure = y - x @ line
    groups, params = x.shape
    mu2 = max(((departure ** 2).sum() - ((1 - leverage) * sigma2).sum()) / (groups - params),
              sigma2.mean() / groups, EPS)
    # at least the upper end of mu2's one-sided SPREAD_CONFIDENCE interval (sum e^2 / (sigma2 + mu2) is about
    # chi-square on groups - params): with tens of groups the point estimate is often too small, and
    # groups pulled too hard toward the line are missed (measured: see benchmarks/estimate_simulation.py)
    pivot = stats.chi2.ppf(1 - SPREAD_CONFIDENCE, groups - params)
    if (departure ** 2 / (sigma2 + mu2)).sum() > pivot:
        mu2 = optimize.brentq(lambda m: (departure ** 2 / (sigma2 + m)).sum() - pivot, mu2, np.pi ** 2)
    weight = mu2 / (mu2 + sigma2)
    line_variance = np.einsum("ij,jk,ik->i", x, inverse @ (x.T * (mu2 + sigma2)) @ x @ inverse, x)
    noise = np.sqrt(weight ** 2 * sigma2 + (1 - weight) ** 2 * line_variance)
    # a group audited whole has no noise and no bias: its own share, exactly
    bias2 = np.divide((1 - weight) ** 2 * mu2, noise ** 2, out=np.zeros_like(noise), where=noise > 0)
    half = robust_critical_values(bias2, level) * noise
    centre = x @ line + weight * departure
    low, high = (np.sin(np.clip(v, 0.0, np.pi / 2)) ** 2 for v in (centre - half, centre + half))
    if events is not None:
        for g in np.flatnonzero(np.minimum(events, n - events) < POOL_FEW_EVENTS):
            hits = np.arange(int(n[g])) < events[g]
            _, wilson_low, wilson_high = weighted_proportion(hits, np.ones(len(hits)), level)
            low[g], high[g] = min(low[g], wilson_low), max(high[g], wilson_high)
    return PooledShares(np.sin(np.clip(centre, 0.0, np.pi / 2)) ** 2, low, high, weight)


def shared_coefficient(hits: np.ndarray, f: np.ndarray, groups: np.ndarray) -> tuple[float, float]:
    """PPI++'s coefficient for all ``groups`` at once, and the share of the audit labels' variance it
    leaves (``1 - rho^2`` of the within-group correlation of ``hits``, 0/1, and the model's ``f``, when
    the coefficient is not clipped): pooled audits give every group's estimate the same coefficient,
    so that their sampling variances differ by their sizes alone."""
    centred = []
    for values in (np.asarray(hits, float), np.asarray(f, float)):
        sums, counts = np.bincount(groups, weights=values), np.bincount(groups)
        centred.append(values - (sums / np.maximum(counts, 1))[groups])
    u, v = centred
    a, b, c = (u * u).sum(), (u * v).sum(), (v * v).sum()
    if a <= 0 or c <= 0:
        return 0.0, 1.0
    lam = float(np.clip(b / c, 0.0, 1.0))
    return lam, float(max(a - 2 * lam * b + lam ** 2 * c, 0.0) / a)

# ---------------------------------------------------------------- how far to trust the model

def reliability(confidence: np.ndarray, correct: np.ndarray, weights: np.ndarray | None = None,
                bins: int = 10) -> tuple[float, list[dict]]:
    """Expected calibration error of the top-class confidence, and the table behind the reliability plot.

    ECE is ``sum_b (n_b / n) |accuracy_b - confidence_b|`` over ``bins`` equal-width
    bins of confidence (weighted by design weights when given).
    """
    weights = np.ones(len(confidence)) if weights is None else np.asarray(weights, dtype=float)
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    total = weights.sum()
    ece, rows = 0.0, []
    for b in range(bins):
        rows_b = which == b
        w = weights[rows_b].sum()
        if not w:
            continue
        conf = float((weights[rows_b] * confidence[rows_b]).sum() / w)
        acc = float((weights[rows_b] * correct[rows_b]).sum() / w)
        ece += w / total * abs(acc - conf)
        rows.append({"bin": b, "n": int(rows_b.sum()), "confidence": conf, "accuracy": acc})
    return float(ece), rows


def weighted_proportion(hits: np.ndarray, weights: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """A proportion with a Wilson interval at Kish's effective sample size (for unequal design weights)."""
    weights = np.asarray(weights, dtype=float)
    total = weights.sum()
    if total <= 0:
        return float("nan"), float("nan"), float("nan")
    p = float((weights * hits).sum() / total)
    n_eff = total ** 2 / (weights ** 2).sum()
    from scipy import stats

    z = stats.norm.ppf(0.5 + level / 2)
    centre = (p + z * z / (2 * n_eff)) / (1 + z * z / n_eff)
    half = z * np.sqrt(p * (1 - p) / n_eff + z * z / (4 * n_eff ** 2)) / (1 + z * z / n_eff)
    return p, float(max(centre - half, 0.0)), float(min(centre + half, 1.0))
