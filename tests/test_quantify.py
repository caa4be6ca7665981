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


# ---------------------------------------------------------------- which method, and how wrong it was

def _evidence(errors: dict, truth=None) -> q.Evidence:
    return q.Evidence("hand", {m: np.asarray(errors.get(m, errors["cc"]), float) for m in q.QUANTIFIERS},
                      None if truth is None else np.asarray(truth, float))


def test_a_correction_must_beat_counting_clearly():
    cc = [[0.10, -0.10], [0.10, -0.10]]                       # classify and count off by 10 points
    close = _evidence({"cc": cc, "pacc": [[0.085, -0.085]] * 2})  # 8.5: better, but not by a fifth
    assert close.mae("pacc") == pytest.approx(0.085) and close.chosen == "cc"
    clear = _evidence({"cc": cc, "pacc": [[0.07, -0.07]] * 2, "em": [[0.075, -0.075]] * 2})
    assert clear.chosen == "pacc"                               # 7 <= 0.8 x 10, and the least
    # few cells: the margin is the largest error seen; many: the quantile per class
    assert clear.margin("pacc", 0.95) == pytest.approx([0.07, 0.07])
    many = _evidence({"cc": np.c_[np.linspace(0, 0.1, 101), -np.linspace(0, 0.2, 101)]})
    assert many.margin("cc", 0.9) == pytest.approx([0.09, 0.18])
    back = q.Evidence.from_dict(clear.to_dict())
    assert back.chosen == "pacc" and back.mae("em") == pytest.approx(0.075)


def test_leaving_each_source_out_by_hand():
    # source a: 20 sentences of class 0, all predicted 0; source b: 10 of class 0 and 10 of class 1,
    # all predicted 0 (a model blind to class 1). Counting is off by 0 on a and by 0.5 on b.
    proba = np.repeat([[0.9, 0.1]], 40, axis=0)
    y = np.r_[np.zeros(30, int), np.ones(10, int)]
    sources = np.array(["a"] * 20 + ["b"] * 20, dtype=object)
    evidence = q.measure(q.Reference(proba, y, sources=sources))
    assert evidence.protocol == "leave one source out (2 sources)"
    assert evidence.errors["cc"] == pytest.approx(np.array([[0.0, 0.0], [0.5, -0.5]]))
    assert evidence.errors["pcc"] == pytest.approx(np.array([[-0.1, 0.1], [0.4, -0.4]]))
    assert evidence.truth == pytest.approx(np.array([[1.0, 0.0], [0.5, 0.5]]))


def test_few_articles_widen_the_interval_by_hand():
    from scipy import stats
    point, low, high = np.array([[0.5, 0.5]]), np.array([[0.4, 0.4]]), np.array([[0.6, 0.6]])
    # three articles: the bootstrap's half-width times t(2) / z * sqrt(3 / 2)
    scale = stats.t.ppf(0.975, 2) / stats.norm.ppf(0.975) * np.sqrt(1.5)
    wide_low, wide_high = q._few_articles(point, low, high, np.array([3]), 0.95)
    assert wide_high[0, 0] == pytest.approx(min(0.5 + 0.1 * scale, 1.0))
    assert wide_low[0, 0] == pytest.approx(max(0.5 - 0.1 * scale, 0.0))
    # one article: a bootstrap has no spread; the interval is Wilson's for one observation of 0.2
    one_low, one_high = q._few_articles(np.array([[0.2, 0.8]]), np.array([[0.2, 0.8]]),
                                        np.array([[0.2, 0.8]]), np.array([1]), 0.95)
    z = 1.96
    centre, half = (0.2 + z * z / 2) / (1 + z * z), z * np.sqrt(0.16 + z * z / 4) / (1 + z * z)
    assert (one_low[0, 0], one_high[0, 0]) == pytest.approx((max(centre - half, 0), centre + half), abs=1e-3)
    # through estimate_groups: a one-article group is never zero width
    proba = np.repeat([[0.9, 0.1]], 10, axis=0)
    result = q.estimate_groups(proba, np.zeros(10, int), np.zeros(10, int), q.Reference(proba, np.zeros(10, int)),
                               "cc", replicates=50, min_articles=20)
    assert result.high[0, 0] - result.low[0, 0] > 0.5


def _gaussian_model(rng, separation=2.0):
    """Calibrated posteriors of a known model: x | 0 ~ N(-s/2, 1), x | 1 ~ N(s/2, 1), prior (0.5, 0.5)."""
    def posterior(x):
        p1 = 1 / (1 + np.exp(-separation * x))
        return np.c_[1 - p1, p1]

    def draw(y):
        return posterior(rng.normal(separation * (y - 0.5), 1))
    y_ref = rng.integers(0, 2, 3000)
    return q.Reference(draw(y_ref), y_ref, folds=np.arange(3000) % 5, articles=np.arange(3000) // 10), draw


def _shifted_groups(rng, reference, draw, evidence, repeats: int = 4):
    """Per repeat, 20 groups of 300 sentences (articles of 15) with class mixes drawn from [0.05, 0.95],
    estimated model-only: (estimates, true shares of class 1, group of each sentence, truth)."""
    for _ in range(repeats):
        shares = rng.uniform(0.05, 0.95, 20)
        groups = np.repeat(np.arange(20), 300)
        y = (rng.random(len(groups)) < shares[groups]).astype(int)
        result = q.estimate_groups(draw(y), groups, np.arange(len(groups)) // 15, reference, "auto",
                                   replicates=200, seed=int(rng.integers(1000)), evidence=evidence)
        yield result, np.bincount(groups, weights=y) / 300, groups, y


def test_model_only_intervals_cover_and_beat_counting_under_label_shift():
    """auto: the checks pick a correction for a good model, and the interval with the measured
    error covers the truth in at least 80% of cells (target of issue 22), at no more error than counting."""
    rng = np.random.default_rng(21)
    reference, draw = _gaussian_model(rng)
    evidence = q.measure(reference, seed=1)
    hits, errors, counted = [], [], []
    for result, truth, groups, y in _shifted_groups(rng, reference, draw, evidence):
        hits += list((result.low[:, 1] <= truth) & (truth <= result.high[:, 1]))
        errors += list(np.abs(result.estimate[:, 1] - truth))
        counted += list(np.abs(np.bincount(groups, weights=draw(y).argmax(axis=1)) / 300 - truth))
        assert set(result.methods) - {"cc"}  # a correction was trusted somewhere
    assert np.mean(hits) >= 0.8
    assert np.mean(errors) <= np.mean(counted)


def test_a_weak_model_or_disagreeing_corrections_fall_back_to_counting():
    rng = np.random.default_rng(22)
    weak, draw = _gaussian_model(rng, separation=0.3)
    weak.y = (rng.random(len(weak.y)) < 0.15).astype(int)  # labels unrelated to the model: macro-F1 about 0.43
    assert weak.macro_f1() < q.WEAK_MODEL_F1
    groups = np.repeat(np.arange(3), 200)
    proba = draw((rng.random(600) < 0.8).astype(int))
    result = q.estimate_groups(proba, groups, np.arange(600) // 10, weak, "auto", replicates=20)
    assert result.methods == ["cc"] * 3
    # a good model, but a group that is no shifted mix of its classes: every sentence a coin toss.
    # Counting calls them all class 0, so the adjusted count says about (1, 0); the probabilistic
    # one and EM keep (0.5, 0.5): they disagree by half, and the group is counted.
    reference, draw = _gaussian_model(rng)
    odd = np.c_[np.full(300, 0.5), np.full(300, 0.5)]
    fitted = {m: q.QUANTIFIERS[m]().fit(reference.proba, reference.y).quantify(odd) for m in q.CONSISTENT}
    assert fitted["acc"][0, 0] == pytest.approx(1.0) and fitted["pacc"][0] == pytest.approx([0.5, 0.5], abs=0.02)
    result = q.estimate_groups(odd, np.zeros(300, int), np.arange(300) // 10, reference, "auto", replicates=20)
    assert q.measure(reference).chosen != "cc" and result.methods == ["cc"]


# ---------------------------------------------------------------- differences between groups

def test_holm_by_hand():
    # sorted 0.01, 0.03, 0.04 times 3, 2, 1: 0.03, 0.06, 0.04 -> running maximum 0.03, 0.06, 0.06
    assert q.holm(np.array([0.01, 0.04, 0.03])) == pytest.approx([0.03, 0.06, 0.06])
    assert q.holm(np.array([0.5, 0.6])) == pytest.approx([1.0, 1.0])  # capped at one


def test_audit_difference_by_hand():
    # one stratum of 100 sentences, 10 audited: 6 in group a (60 sentences), 4 in b (40 sentences);
    # with coefficient 0 each share is the weighted count, N/n = 10 per audited sentence
    y = np.array([1, 1, 0, 1, 0, 0, 1, 0, 0, 0], float)
    in_a = np.arange(10) < 6
    strata, population = np.zeros(10, int), np.array([100])
    f = np.full(10, 0.5)
    a = q.audit_share(30.0, 60, y, f, in_a, strata, population, coefficient=0.0)
    b = q.audit_share(20.0, 40, y, f, ~in_a, strata, population, coefficient=0.0)
    assert a.estimate == pytest.approx(10 * 3 / 60) and b.estimate == pytest.approx(10 * 1 / 40)
    d, low, high, p = q.audit_difference(a, b, 60, 40, y, f, in_a, ~in_a, strata, population)
    z = np.where(in_a, y / 60, -y / 40)
    se = np.sqrt(100 ** 2 * (1 - 10 / 100) / 10 * np.var(z, ddof=1))
    half = stats.t.ppf(0.975, 8) * se
    assert d == pytest.approx(0.5 - 0.25)
    assert (low, high) == pytest.approx((0.25 - half, min(0.25 + half, 1.0)))  # clipped to a share's range
    assert p == pytest.approx(2 * stats.t.sf(0.25 / se, 8))


def test_audit_difference_coverage_in_a_seeded_simulation():
    """Two outlets, 40 audited sentences each (stratified by outlet), PPI++: the interval of the
    difference of shares covers the true difference in at least 93% of draws (issue 22's target)."""
    rng = np.random.default_rng(31)
    hits = []
    for _ in range(400):
        sizes = np.array([800, 500])
        shares = rng.uniform(0.1, 0.6, 2)
        outlet = np.repeat([0, 1], sizes)
        y = (rng.random(sizes.sum()) < shares[outlet]).astype(float)
        f = np.clip(0.2 + 0.55 * y + rng.normal(0, 0.2, len(y)), 0, 1)
        sample = np.r_[rng.choice(800, 40, replace=False), 800 + rng.choice(500, 40, replace=False)]
        strata = outlet[sample]
        est = [q.audit_share(f[outlet == g].sum(), int(sizes[g]), y[sample], f[sample], strata == g, strata, sizes)
               for g in (0, 1)]
        d, low, high, _ = q.audit_difference(est[0], est[1], 800, 500, y[sample], f[sample], strata == 0,
                                             strata == 1, strata, sizes)
        truth = y[outlet == 0].mean() - y[outlet == 1].mean()
        hits.append(low <= truth <= high)
    assert np.mean(hits) >= 0.93


def test_model_only_difference_coverage_in_a_seeded_simulation():
    """Pairs of groups with shifted class mixes, model-only (a good model, the run's measured error
    added): the interval of their difference covers the truth in at least 93% of pairs."""
    rng = np.random.default_rng(32)
    reference, draw = _gaussian_model(rng)
    evidence = q.measure(reference, seed=2)
    hits = []
    for result, truth, _, _ in _shifted_groups(rng, reference, draw, evidence):
        for a in range(0, 20, 2):
            diff = q.difference(result, a, a + 1, evidence)
            hits.append(diff.low[1] <= truth[a] - truth[a + 1] <= diff.high[1])
            assert diff.estimate[1] == pytest.approx(result.estimate[a, 1] - result.estimate[a + 1, 1])
    assert np.mean(hits) >= 0.93


# ---------------------------------------------------------------- active audits

def test_active_share_by_hand():
    # 4 drawn of a domain of 10 (model total 4.0), coefficient 1: residuals y - f weighted back by 1 / pi
    y, f = np.array([1, 0, 1, 0.0]), np.array([0.8, 0.2, 0.6, 0.1])
    pi = np.array([0.5, 0.5, 0.25, 1.0])
    r = q.active_share(4.0, 10, y, f, pi, np.ones(4, bool), coefficient=1.0)
    assert r.estimate == pytest.approx((4.0 + 0.4 - 0.4 + 1.6 - 0.1) / 10)
    # Horvitz-Thompson for Poisson sampling: (1 - pi) / pi^2 = 2, 2, 12, 0 times the squared residuals
    assert r.se == pytest.approx(np.sqrt(2 * 0.04 + 2 * 0.04 + 12 * 0.16) / 10)
    # the coefficient that minimises that variance: sum w y f / sum w f^2, clipped to [0, 1]
    best = q.active_share(4.0, 10, y, f, pi, np.ones(4, bool))
    w = np.array([2, 2, 12, 0.0])
    assert best.coefficient == pytest.approx(min((w * y * f).sum() / (w * f * f).sum(), 1.0))


def test_active_probabilities_favour_the_uncertain_and_sum_to_the_size():
    proba = np.array([[0.98, 0.01, 0.01]] * 50 + [[0.4, 0.3, 0.3]] * 50)
    pi = q.active_probabilities(q.expected_error(proba), 20)
    assert pi.sum() == pytest.approx(20) and (pi > 0).all() and (pi <= 1).all()
    # expected error: sqrt(1 - sum p^2), 0.1985 for the sure and 0.8124 for the unsure; 80% of the
    # sample in proportion to it, 20% evenly
    sure, unsure = np.sqrt(1 - 0.98 ** 2 - 2e-4), np.sqrt(1 - 0.16 - 0.09 - 0.09)
    total = 50 * (sure + unsure)
    assert pi[0] == pytest.approx(20 * (0.8 * sure / total + 0.2 / 100))
    assert pi[99] == pytest.approx(20 * (0.8 * unsure / total + 0.2 / 100))
    assert pi[99] > 2.5 * pi[0]                        # the unsure drawn far more often
    capped = q.active_probabilities(q.expected_error(proba), 90)         # more than the unsure half: they are all taken
    assert capped.sum() == pytest.approx(90) and (capped[50:] == 1).all()


def test_active_audit_coverage_and_width_in_a_seeded_simulation():
    """An audit drawn by the model's uncertainty and weighted back covers the truth about 95% of the
    time, and is narrower than a simple random audit of the same expected size (PPI++)."""
    rng = np.random.default_rng(41)
    _, draw = _gaussian_model(rng, separation=3.0)
    hits, widths, random_widths = [], [], []
    for _ in range(300):
        n = 1000
        y = (rng.random(n) < rng.uniform(0.1, 0.6)).astype(int)
        proba = draw(y)
        pi = q.active_probabilities(q.expected_error(proba), 40)
        drawn = np.flatnonzero(rng.random(n) < pi)
        r = q.active_share(proba[:, 1].sum(), n, y[drawn] * 1.0, proba[drawn, 1], pi[drawn], np.ones(len(drawn), bool))
        sample = rng.choice(n, 40, replace=False)
        srs = q.audit_share(proba[:, 1].sum(), n, y[sample] * 1.0, proba[sample, 1], np.ones(40, bool),
                            np.zeros(40, int), np.array([n]))
        hits.append(r.low <= y.mean() <= r.high)
        widths.append(r.high - r.low)
        random_widths.append(srs.high - srs.low)
    assert np.mean(hits) >= 0.92
    assert np.mean(widths) < 0.9 * np.mean(random_widths)


# ---------------------------------------------------------------- how many to audit

def test_audit_size_by_hand():
    # share 0.3, labels alone: (2 x 1.96 / 0.2)^2 x 0.21 = 80.7 before t and the finite population;
    # t on n - 1 degrees of freedom and a population of 10,000 bring it to about 82
    n = q.audit_size(0.21, 0.2, 10_000)
    t = stats.t.ppf(0.975, n - 1)
    first = (2 * t / 0.2) ** 2 * 0.21
    assert n == pytest.approx(first / (1 + first / 10_000), abs=1.01)
    assert q.audit_size(0.21, 0.2, 50) <= 50                     # never more than the group holds
    assert q.audit_size(0.21 * (1 - 0.5), 0.2, 10_000) < 0.55 * n  # a model explaining half the variance


def test_planned_audits_reach_the_width_planned():
    """The size planned from the run's held-out predictions gives intervals about as wide as asked
    when the audit is drawn from the same kind of data (seeded simulation)."""
    rng = np.random.default_rng(51)
    reference, draw = _gaussian_model(rng, separation=2.5)
    rho2 = reference.squared_correlations()[1]
    assert 0.2 < rho2 < 0.8
    widths = []
    for _ in range(200):
        y = (rng.random(3000) < 0.3).astype(int)
        proba = draw(y)
        share = proba[:, 1].mean()
        n = q.audit_size(share * (1 - share) * (1 - rho2), 0.15, 3000)
        sample = rng.choice(3000, n, replace=False)
        r = q.audit_share(proba[:, 1].sum(), 3000, y[sample] * 1.0, proba[sample, 1], np.ones(n, bool),
                          np.zeros(n, int), np.array([3000]))
        widths.append(r.high - r.low)
    assert 0.13 < np.mean(widths) < 0.17


# ---------------------------------------------------------------- audits pooled across groups

@pytest.mark.parametrize("m2", [0.1, 1.0, 4.0])
def test_robust_critical_value_by_hand(m2):
    """At the critical value, the worst distribution of the bias with E b^2 = m2 (all at m2, or at 0
    and one larger value: found here by a brute-force grid) misses exactly 5% of the time."""
    assert q.robust_critical_value(0.0) == pytest.approx(stats.norm.ppf(0.975))
    chi = q.robust_critical_value(m2)

    def miss(u):
        return stats.norm.cdf(-chi - np.sqrt(u)) + stats.norm.cdf(-chi + np.sqrt(u))

    u1 = np.linspace(m2, 2000, 400_001)
    worst = max(miss(m2), (miss(0) + m2 * (miss(u1) - miss(0)) / u1).max())
    assert worst == pytest.approx(0.05, abs=2e-4)
    # all the bias at b = sqrt(m2) alone would allow a smaller value: the robust one is larger
    assert chi > stats.norm.ppf(0.975) and miss(m2) <= 0.05 + 1e-9
    assert q.robust_critical_values(np.array([m2]))[0] == pytest.approx(chi, rel=1e-3)


def test_shared_coefficient_by_hand():
    groups = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    hits = np.array([1, 0, 1, 0, 1, 1, 0, 0], float)
    assert q.shared_coefficient(hits, hits, groups) == pytest.approx((1.0, 0.0))           # a perfect model
    assert q.shared_coefficient(hits, np.full(8, 0.3), groups) == pytest.approx((0.0, 1.0))  # a constant one
    # within groups u = +-0.5 and v = 0.25 u: a = 2, b = 0.5, c = 0.125; b / c = 4 is clipped to 1,
    # which leaves (a - 2 b + c) / a
    f = 0.5 + 0.25 * (hits - 0.5)
    assert q.shared_coefficient(hits, f, groups) == pytest.approx((1.0, (2 - 1 + 0.125) / 2))
    # v = 2 u: b / c = 0.5, and 1 - rho^2 = 0 is left
    assert q.shared_coefficient(hits, 2 * (hits - 0.5), groups) == pytest.approx((0.5, 0.0))


def test_pooled_shares_on_the_line_keep_their_estimates_and_move_noisier_groups_further():
    model = np.linspace(0.1, 0.7, 20)
    pooled = q.pooled_shares(model, model, np.full(20, 40), np.full(20, 400), keep=1.0)
    assert pooled.estimate == pytest.approx(model)      # nothing to move toward: groups lie on the line
    assert ((pooled.low < model) & (model < pooled.high)).all()
    rng = np.random.default_rng(3)
    direct = np.clip(model + rng.normal(0, 0.08, 20), 0, 1)
    n = np.where(np.arange(20) % 2 == 0, 20, 200)
    pooled = q.pooled_shares(direct, model, n, np.full(20, 1000), keep=1.0)
    assert pooled.shrinkage[n == 20].max() < pooled.shrinkage[n == 200].min()
    assert ((pooled.low <= pooled.estimate) & (pooled.estimate <= pooled.high)).all()
    # a group audited whole keeps its own share, with no width
    whole = q.pooled_shares(direct, model, n, np.where(np.arange(20) == 1, 200, 1000), keep=1.0)
    assert whole.shrinkage[1] == 1.0 and whole.low[1] == whole.estimate[1] == whole.high[1] == pytest.approx(direct[1])


def test_pooled_audits_cover_on_average_and_are_narrower_in_a_seeded_simulation():
    """Twenty outlets with shares from a Dirichlet, a model whose mean is biased and noisy per outlet,
    40 audited sentences each: pooled intervals cover about 95% of outlets on average and are narrower
    than each outlet's own PPI++ interval."""
    rng = np.random.default_rng(5)
    hits, widths, own_widths = [], [], []
    for _ in range(60):
        shares = rng.dirichlet(np.ones(3), size=20)[:, 0]
        audits = []
        for g, share in enumerate(shares):
            n = 300
            y = (rng.random(n) < share).astype(float)
            f = np.clip(0.15 + 0.5 * y + rng.normal(0, 0.25, n), 0, 1)
            audits.append((y, f, rng.choice(n, 40, replace=False)))
            shares[g] = y.mean()
        lam, keep = q.shared_coefficient(np.concatenate([y[s] for y, _, s in audits]),
                                         np.concatenate([f[s] for _, f, s in audits]), np.repeat(np.arange(20), 40))
        direct, own = [], []
        for y, f, sample in audits:
            args = (f.sum(), 300, y[sample], f[sample], np.ones(40, bool), np.zeros(40, int), np.array([300]))
            direct.append(q.audit_share(*args, coefficient=lam).estimate)
            r = q.audit_share(*args)
            own.append(r.high - r.low)
        pooled = q.pooled_shares(np.array(direct), np.array([f.mean() for _, f, _ in audits]), np.full(20, 40),
                                 np.full(20, 300), keep)
        hits.extend((pooled.low <= shares) & (shares <= pooled.high))
        widths.extend(pooled.high - pooled.low)
        own_widths.extend(own)
    assert np.mean(hits) >= 0.93
    assert np.mean(widths) < 0.9 * np.mean(own_widths)


def test_a_class_absent_from_a_groups_audit_keeps_its_wilson_interval():
    model = np.linspace(0.02, 0.5, 20)
    direct = model.copy()
    direct[0] = 0.0
    events = np.round(direct * 40)   # 0, 1, 2, ... audited sentences in the class
    without = q.pooled_shares(direct, model, np.full(20, 40), np.full(20, 400), keep=1.0)
    guarded = q.pooled_shares(direct, model, np.full(20, 40), np.full(20, 400), keep=1.0, events=events)
    few = np.minimum(events, 40 - events) < q.POOL_FEW_EVENTS
    assert few.any() and not few.all()
    # no positives in 40: Wilson's upper bound z^2 / (n + z^2) = 3.84 / 43.84
    _, _, wilson_high = q.weighted_proportion(np.zeros(40), np.ones(40))
    assert wilson_high == pytest.approx(3.8415 / 43.8415, abs=1e-4)
    assert events[0] == 0 and guarded.high[0] >= wilson_high - 1e-12 > without.high[0]
    assert (guarded.high[~few] == without.high[~few]).all() and (guarded.low[~few] == without.low[~few]).all()
    assert guarded.low[0] == 0.0 < without.low[0]   # Wilson reaches down to 0 where none was audited
