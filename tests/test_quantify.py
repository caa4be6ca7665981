"""The share estimators: small cases worked by hand, the reference libraries (QuaPy, ppi-python),
and seeded coverage simulations."""

import numpy as np
import pytest
from scipy import stats

from stance import quantify as q


# ---------------------------------------------------------------- hand-computed cases

def test_em_two_classes_by_hand():
    # q_s = p_s / prior = 2 p_s; two sentences (0.75, 0.25) and one (0.25, 0.75):
    # L(pi) = 2 log(0.5 + pi) + log(1.5 - pi); L' = 0 at 2 (1.5 - pi) = 0.5 + pi, pi = 5/6
    # (EM stops when a step moves no share by more than 1e-6; it is then within 1e-5 of the fixed point)
    proba = np.array([[0.75, 0.25], [0.75, 0.25], [0.25, 0.75]])
    assert q.em_prior(proba, np.array([0.5, 0.5]))[0] == pytest.approx([5 / 6, 1 / 6], abs=1e-5)


def test_em_groups_are_estimated_separately():
    proba = np.array([[0.75, 0.25], [0.75, 0.25], [0.25, 0.75], [0.8, 0.2], [0.2, 0.8]])
    groups = np.array([0, 0, 0, 1, 1])
    result = q.em_prior(proba, np.array([0.5, 0.5]), groups, 2)
    assert result[0] == pytest.approx([5 / 6, 1 / 6], abs=1e-5)
    assert result[1] == pytest.approx([0.5, 0.5], abs=1e-5)  # symmetric: no shift


def test_adjusted_count_by_hand():
    m = np.array([[0.8, 0.3], [0.2, 0.7]])       # column i: mean prediction over true class i
    # 0.8 a + 0.3 (1 - a) = 0.55  ->  a = 0.5
    assert q.adjusted_count(np.array([0.55, 0.45]), m)[0] == pytest.approx([0.5, 0.5])
    # 0.5 a + 0.3 = 0.9 -> a = 1.2, b = -0.2: clipped to (1.2, 0), normalised to (1, 0)
    assert q.adjusted_count(np.array([0.9, 0.1]), m)[0] == pytest.approx([1.0, 0.0])


def test_misclassification_matrix_by_hand():
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]])
    y = np.array([0, 0, 1, 1])
    assert q.misclassification_matrix(vectors, y, 2) == pytest.approx(np.array([[0.5, 0.0], [0.5, 1.0]]))


def test_bootstrap_resamples_articles_by_hand():
    # article A: ten sentences of class 0; article B: ten of class 1. Resampling two articles gives
    # shares of class 0 of 1, 0.5 or 0 with probabilities 1/4, 1/2, 1/4: the 95% interval is [0, 1].
    proba = np.repeat([[0.9, 0.1], [0.1, 0.9]], 10, axis=0)
    reference = q.Reference(proba, np.repeat([0, 1], 10))
    articles = np.repeat([0, 1], 10)
    result = q.estimate_groups(proba, np.zeros(20, int), articles, reference, "cc", replicates=400)
    assert result.estimate[0] == pytest.approx([0.5, 0.5])
    assert result.low[0] == pytest.approx([0.0, 0.0]) and result.high[0] == pytest.approx([1.0, 1.0])
    # were sentences the unit (twenty articles), the interval would be far narrower
    single = q.estimate_groups(proba, np.zeros(20, int), np.arange(20), reference, "cc", replicates=400)
    assert single.high[0, 0] - single.low[0, 0] < 0.6


def test_calibration_keeps_calibrated_probabilities_and_matches_frequencies():
    rng = np.random.default_rng(0)
    proba = rng.dirichlet([2, 2, 2], size=20_000)
    y = np.array([rng.choice(3, p=p) for p in proba])
    fitted = q.fit_calibration(proba, y)
    assert fitted.temperature == pytest.approx(1.0, abs=0.05)
    assert fitted.bias == pytest.approx([0, 0, 0], abs=0.05)
    # overconfident probabilities are softened, and the fitted ones average to the class frequencies
    sharp = proba ** 3 / (proba ** 3).sum(axis=1, keepdims=True)
    fitted = q.fit_calibration(sharp, y)
    assert fitted.temperature == pytest.approx(1 / 3, abs=0.05)
    assert fitted.apply(sharp).mean(axis=0) == pytest.approx(np.bincount(y) / len(y), abs=1e-4)


def test_audit_share_by_hand_simple_random_sample():
    # population of 10 sentences; the model's f sums to 4.0 over them; audit of 4 with truth y
    f_sample = np.array([0.9, 0.2, 0.6, 0.1])
    y = np.array([1.0, 0.0, 1.0, 0.0])
    one = np.zeros(4, int)
    r = q.audit_share(4.0, 10, y, f_sample, np.ones(4, bool), one, np.array([10]), coefficient=1.0)
    # residuals y - f: 0.1, -0.2, 0.4, -0.1 (sum 0.2): estimate (4.0 + 10/4 * 0.2) / 10 = 0.45
    assert r.estimate == pytest.approx(0.45)
    # variance: (1 - 4/10) * s^2 / 4, with s^2 of the residuals = 0.07
    # (mean 0.05; squared deviations 0.0025 + 0.0625 + 0.1225 + 0.0225 = 0.21; / 3)
    half = stats.t.ppf(0.975, 3) * np.sqrt(0.6 * 0.07 / 4)
    # only 2 of the 4 audited are in the class (< FEW_EVENTS), so the interval also spans the
    # audit's Wilson interval for 2/4: centre 0.5, half-width 1.96 sqrt(1/16 + 1.96^2/64) / (1 + 1.96^2/4)
    wilson = 1.96 * np.sqrt(1 / 16 + 1.96 ** 2 / 64) / (1 + 1.96 ** 2 / 4)
    assert (r.low, r.high) == pytest.approx((min(0.45 - half, 0.5 - wilson), max(0.45 + half, 0.5 + wilson)),
                                            abs=1e-4)
    assert r.low == pytest.approx(0.45 - half)
    # the audit alone: the sample mean, with the binomial sample's variance
    alone = q.audit_share(4.0, 10, y, f_sample, np.ones(4, bool), one, np.array([10]), coefficient=0.0)
    assert alone.estimate == pytest.approx(0.5)


def test_audit_share_by_hand_stratified_domain():
    # strata of 100 and 300 sentences, 2 audited in each; the domain is the whole population.
    # Labels alone: the stratified mean (100 * 1/2 + 300 * 2/2) / 400 = 0.875
    y = np.array([1.0, 0.0, 1.0, 1.0])
    strata = np.array([0, 0, 1, 1])
    r = q.audit_share(0.0, 400, y, np.zeros(4), np.ones(4, bool), strata, np.array([100, 300]), coefficient=0.0)
    assert r.estimate == pytest.approx(0.875)
    # a domain that is stratum 1 only: units outside it count as zeros in the other stratum
    inside = np.array([False, False, True, True])
    r = q.audit_share(0.0, 300, y, np.zeros(4), inside, strata, np.array([100, 300]), coefficient=0.0)
    assert r.estimate == pytest.approx(1.0)


def test_wilson_interval_by_hand():
    p, low, high = q.weighted_proportion(np.array([1] * 3 + [0] * 7), np.ones(10))
    assert p == pytest.approx(0.3)
    assert (low, high) == pytest.approx((0.1078, 0.6032), abs=1e-3)  # Wilson 3/10 at 95%


def test_reliability_by_hand():
    confidence = np.array([0.95, 0.95, 0.55, 0.55])
    correct = np.array([1, 1, 0, 1])
    ece, rows = q.reliability(confidence, correct)
    # bin 9: conf 0.95, acc 1.0; bin 5: conf 0.55, acc 0.5 -> ECE = 0.5 * 0.05 + 0.5 * 0.05
    assert ece == pytest.approx(0.05)
    assert [r["bin"] for r in rows] == [5, 9]


# ---------------------------------------------------------------- the reference libraries

def test_em_matches_quapy():
    from quapy.method.aggregative import EMQ
    rng = np.random.default_rng(3)
    proba = rng.dirichlet([1, 2, 3], size=500)
    prior = np.array([0.5, 0.3, 0.2])
    theirs, _ = EMQ.EM(prior, proba, epsilon=1e-12)
    assert q.em_prior(proba, prior, tol=1e-12)[0] == pytest.approx(theirs, abs=1e-6)


def test_adjusted_count_matches_quapy():
    import quapy as qp
    from quapy.method.aggregative import ACC, PACC
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, 400)
    reference = rng.dirichlet([1, 1, 1], size=400)
    reference[np.arange(400), y] += 1
    reference /= reference.sum(axis=1, keepdims=True)
    ours = q.misclassification_matrix(reference, y, 3)
    assert ours == pytest.approx(PACC.getPteCondEstim(np.arange(3), y, reference))
    target = rng.dirichlet([1, 1, 1], size=300).mean(axis=0)
    expected = qp.functional.normalize_prevalence(
        ACC.solve_adjustment(ours, target, method="inversion", solver="exact-raise"), method="clip")
    assert q.adjusted_count(target, ours)[0] == pytest.approx(expected)


@pytest.mark.parametrize("coefficient", [0.0, 1.0, None])
def test_audit_share_matches_ppi_python(coefficient):
    from ppi_py import ppi_mean_pointestimate
    rng = np.random.default_rng(5)
    population = 100_000
    f = rng.random(population)
    y = (rng.random(population) < f).astype(float)
    sample = rng.choice(population, 60, replace=False)
    ours = q.audit_share(f.sum(), population, y[sample], f[sample], np.ones(60, bool), np.zeros(60, int),
                         np.array([population]), coefficient=coefficient)
    theirs = ppi_mean_pointestimate(y[sample], f[sample], f, lam=coefficient)
    # the tuned coefficient differs only by ppi-python's (1 + n/N) factor, negligible at this N
    assert ours.estimate == pytest.approx(float(np.ravel(theirs)[0]), abs=1e-3 if coefficient is None else 1e-9)


# ---------------------------------------------------------------- coverage, seeded

def test_ppi_coverage_and_width_in_a_seeded_simulation():
    """40 audited sentences per group: intervals cover the truth about 95% of the time and are
    narrower than the audit labels alone when the model is informative."""
    rng = np.random.default_rng(11)
    hits, widths, alone_widths = [], [], []
    for _ in range(150):
        n = 600
        share = rng.uniform(0.05, 0.6)
        y = (rng.random(n) < share).astype(float)
        f = np.clip(0.25 + 0.5 * y + rng.normal(0, 0.2, n), 0, 1)  # informative, biased predictions
        sample = rng.choice(n, 40, replace=False)
        args = (f.sum(), n, y[sample], f[sample], np.ones(40, bool), np.zeros(40, int), np.array([n]))
        r = q.audit_share(*args)
        alone = q.audit_share(*args, coefficient=0.0)
        truth = y.mean()
        hits.append(r.low <= truth <= r.high)
        widths.append(r.high - r.low)
        alone_widths.append(alone.high - alone.low)
    assert np.mean(hits) >= 0.9
    assert np.mean(widths) < 0.8 * np.mean(alone_widths)


def test_em_bootstrap_coverage_under_label_shift():
    """Calibrated posteriors of a known model (two Gaussian classes) and groups with shifted mixes:
    the corrected shares are close to the truth and the intervals cover it about 95% of the time."""
    rng = np.random.default_rng(12)

    def posterior(x):  # x | 0 ~ N(-1, 1), x | 1 ~ N(1, 1), training prior (0.5, 0.5)
        p1 = 1 / (1 + np.exp(-2 * x))
        return np.c_[1 - p1, p1]

    y_ref = rng.integers(0, 2, 3000)
    reference = q.Reference(posterior(rng.normal(2 * y_ref - 1, 1)), y_ref)
    hits, errors, naive = [], [], []
    for _ in range(6):
        shares = rng.uniform(0.1, 0.9, 20)
        groups = np.repeat(np.arange(20), 400)
        y = (rng.random(len(groups)) < shares[groups]).astype(int)
        proba = posterior(rng.normal(2 * y - 1, 1))
        articles = np.arange(len(groups)) // 10
        result = q.estimate_groups(proba, groups, articles, reference, "em", replicates=300,
                                   seed=int(rng.integers(1000)))
        truth = np.bincount(groups, weights=y) / 400
        hits += list((result.low[:, 1] <= truth) & (truth <= result.high[:, 1]))
        errors += list(np.abs(result.estimate[:, 1] - truth))
        counted = np.bincount(groups, weights=proba.argmax(axis=1)) / 400
        naive += list(np.abs(counted - truth))
    assert np.mean(hits) >= 0.88
    assert np.mean(errors) < 0.6 * np.mean(naive)
