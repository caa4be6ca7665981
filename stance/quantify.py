"""Class shares per group, corrected for the model's mistakes, with intervals.

Plain numpy over arrays, so that ``stance.estimate`` can run a thousand bootstrap
replicates of every group as a few matrix products. Three families:

* **Without an audit** the model's known errors (its cross-validated predictions)
  correct the shares under a shifted class mix:

  - ``em``: EM prior adjustment (Saerens, Latinne & Decaestecker 2002) on probabilities
    first calibrated by bias-corrected temperature scaling on the cross-validated
    predictions (BCTS; Alexandari, Kundaje & Shrikumar 2020 found the pair hard to beat);
  - ``pacc`` / ``acc``: (probabilistic) adjusted count: solve ``q = M pi`` where ``M``
    holds the mean prediction for each true class;
  - ``cc`` / ``pcc``: classify and count, mean probabilities (biased; kept for comparison).

  Intervals resample the group's *articles* (sentences of one article are not
  independent). The adjusted counts are linear in article sums, so a replicate is a
  weighted sum; EM takes one Newton step of each replicate's own likelihood from the
  full-sample estimate, which needs only per-article sums of gradients and Hessians.

* **With an audit** (a random sample of sentences with true labels): the difference
  estimator of survey sampling with a power-tuned coefficient, which is PPI++
  (Angelopoulos et al. 2023) under a stratified design, with design-based variance:
  ``theta = [lam * sum_all f + sum_sample (y - lam f) / pi_i] / N``. ``lam`` minimises
  the variance, clipped to [0, 1]: at 0 it is the audit labels alone. Where the audit
  holds fewer than ``FEW_EVENTS`` sentences in (or out of) the class, the normal
  interval also spans the audit's Wilson interval, which keeps coverage at shares near 0 or 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scipy import sparse
# scipy (about 1 s to import) is loaded by the functions that use it, so that the command
# line, which reads the defaults below, starts without it.

EPS = 1e-12
#: Methods without an audit, and the one chosen by measurement (benchmarks/estimate_simulation.py).
METHODS = ("em", "pacc", "acc", "pcc", "cc")
DEFAULT_METHOD = "em"
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


# ---------------------------------------------------------------- the model-only estimator

@dataclass
class Reference:
    """What the run knows about its own errors on one dimension (from its CV predictions)."""

    proba: np.ndarray      # (m, K) cross-validated probabilities
    y: np.ndarray          # (m,) true class indices

    @property
    def k(self) -> int:
        return self.proba.shape[1]

    def prior(self) -> np.ndarray:
        return np.bincount(self.y, minlength=self.k) / len(self.y)

    def macro_f1(self) -> float:
        from sklearn.metrics import f1_score
        return float(f1_score(self.y, self.proba.argmax(axis=1), average="macro", labels=np.unique(self.y)))


@dataclass
class GroupEstimates:
    estimate: np.ndarray   # (groups, K)
    low: np.ndarray
    high: np.ndarray


def estimate_groups(proba: np.ndarray, groups: np.ndarray, articles: np.ndarray, reference: Reference,
                    method: str = DEFAULT_METHOD, *, level: float = 0.95, replicates: int = 1000,
                    seed: int = 0) -> GroupEstimates:
    """Shares of each class per group, with percentile intervals from a bootstrap over articles.

    ``groups`` and ``articles`` are integer codes per sentence (0..G-1, 0..A-1); an
    article must lie in one group.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    k = reference.k
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    n_articles = int(articles.max()) + 1 if len(articles) else 0
    article_group = np.zeros(n_articles, dtype=np.int64)
    article_group[articles] = groups
    rng = np.random.default_rng(seed)
    if method == "em":
        calibration = fit_calibration(reference.proba, reference.y)
        prior = calibration.apply(reference.proba).mean(axis=0)
        calibrated = calibration.apply(proba)
        point = em_prior(calibrated, prior, groups, n_groups)
        gradient, hessian = _em_article_derivatives(calibrated / np.maximum(prior, EPS), point[groups],
                                                    articles, n_articles)

        def replicate(g, members, weights):
            g_b, h_b = weights @ gradient[members], np.einsum("ba,aij->bij", weights, hessian[members])
            step = _solve(h_b, g_b)
            free = point[g][None, :-1] - step
            return _onto_simplex(np.c_[free, 1.0 - free.sum(axis=1)])
    else:
        vectors = np.eye(k)[proba.argmax(axis=1)] if method in ("cc", "acc") else proba
        m = None
        if method in ("acc", "pacc"):
            reference_vectors = (np.eye(k)[reference.proba.argmax(axis=1)] if method == "acc"
                                 else reference.proba)
            m = misclassification_matrix(reference_vectors, reference.y, k)
        sums = _article_sum(vectors, articles, n_articles)
        counts = np.bincount(articles, minlength=n_articles).astype(float)

        def finish(means):
            return adjusted_count(means, m) if m is not None else means

        group_sums = np.zeros((n_groups, k))
        np.add.at(group_sums, article_group, sums)
        group_counts = np.bincount(article_group, weights=counts, minlength=n_groups)
        point = finish(group_sums / np.maximum(group_counts, 1)[:, None])

        def replicate(g, members, weights):
            return finish((weights @ sums[members]) / np.maximum(weights @ counts[members], 1)[:, None])

    low, high = np.zeros_like(point), np.zeros_like(point)
    alpha = (1 - level) / 2
    members = _members(article_group, n_groups)
    for g in range(n_groups):
        draws = _replicates(lambda w, g=g: replicate(g, members[g], w), len(members[g]), replicates, rng)
        low[g], high[g] = np.quantile(draws, [alpha, 1 - alpha], axis=0)
    return GroupEstimates(point, np.minimum(low, point), np.maximum(high, point))


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
    return AuditEstimate(float(estimate), float(low), float(high), lam, n_domain)


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
