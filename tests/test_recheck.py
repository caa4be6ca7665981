"""Near-ties re-predicted in float32: the threshold by hand, set out of sample, and how often it holds."""

import numpy as np
import pytest

from stance.experiments.runner import _rechecked
from stance.model.recheck import margins, near_ties, threshold


def test_margins_are_the_best_probability_less_the_runner_up():
    proba = np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8], [0.4, 0.4, 0.2]])
    np.testing.assert_allclose(margins(proba), [0.2, 0.7, 0.0])
    np.testing.assert_allclose(margins(np.ones((2, 1))), [1, 1])


def test_threshold_re_predicts_the_fewest_rows_that_reach_the_agreement():
    fast = np.array([[0.9, 0.1], [0.6, 0.4], [0.52, 0.48], [0.3, 0.7]])  # margins 0.8, 0.2, 0.04, 0.4
    reference = np.array([[0.8, 0.2], [0.4, 0.6], [0.45, 0.55], [0.2, 0.8]])  # rows 1 and 2 labelled otherwise
    # all four must agree: both changed rows are re-predicted, so the threshold lies just above 0.2
    assert threshold(fast, reference, agreement=1.0) == np.nextafter(0.6 - 0.4, 1)
    # three of four may: the widest change (0.2) stays, the narrow one (0.04) is re-predicted
    assert threshold(fast, reference, agreement=0.75) == np.nextafter(0.52 - 0.48, 1)
    assert threshold(fast, reference, agreement=0.5) == 0.0  # both may stay: nothing is re-predicted
    assert threshold(fast, fast) == 0.0


def test_near_ties_are_rows_under_any_dimensions_threshold():
    proba = {"tone": np.array([[0.5, 0.5], [0.9, 0.1], [0.7, 0.3]]),
             "framing": np.array([[1.0, 0.0], [0.55, 0.45], [0.8, 0.2]])}
    assert near_ties(proba, {"tone": 0.1, "framing": 0.2}).tolist() == [True, True, False]
    assert near_ties(proba, {"tone": 0.5}).tolist() == [True, False, True]  # tone's margin 0.4 < 0.5
    assert near_ties(proba, {"tone": 0.0}).tolist() == [False, False, False]


def test_each_folds_threshold_is_set_on_the_other_folds():
    """Fold 0's one changed label (margin 0.3) is above the threshold fold 1 sets (just over 0.1), so it
    stays; fold 1's (0.1), and its unchanged near-tie (0.2), are under fold 0's (just over 0.3)."""
    rows = [  # (fold, int8 probabilities, torch's)
        (0, [0.65, 0.35], [0.4, 0.6]),    # changed, margin 0.3
        (0, [0.75, 0.25], [0.7, 0.3]),    # margin 0.5
        (1, [0.55, 0.45], [0.45, 0.55]),  # changed, margin 0.1
        (1, [0.6, 0.4], [0.62, 0.38]),    # margin 0.2
        (1, [0.8, 0.2], [0.85, 0.15]),    # margin 0.6
    ]
    fold_of = np.array([r[0] for r in rows])
    fast, reference = np.array([r[1] for r in rows]), np.array([r[2] for r in rows])
    scored, summary = _rechecked(fast, reference, fold_of)
    np.testing.assert_array_equal(scored, np.array([fast[0], fast[1], reference[2], reference[3], fast[4]]))
    assert summary == {"agreement": 0.6, "agreement_rechecked": 0.8, "rechecked": 0.4,
                       "threshold": float(np.nextafter(0.65 - 0.35, 1))}


def test_agreement_holds_on_sentences_the_threshold_was_not_set_on():
    """Seeded simulation: torch's logits, and int8's as torch's plus small noise (as measured on BASIL,
    where 2.5-5% of labels changed). A threshold set on 4,000 rows, at 99.5%, keeps at least 99%
    of labels on 4,000 others, re-predicting a small share."""
    rng = np.random.default_rng(7)

    def softmax(z):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    agreements, shares, before = [], [], []
    for _ in range(20):
        logits = rng.normal(0, 1.5, size=(8000, 3))
        reference, fast = softmax(logits), softmax(logits + rng.normal(0, 0.08, size=logits.shape))
        t = threshold(fast[:4000], reference[:4000])
        ties = margins(fast[4000:]) < t
        labels = np.where(ties, reference[4000:].argmax(axis=1), fast[4000:].argmax(axis=1))
        agreements.append(np.mean(labels == reference[4000:].argmax(axis=1)))
        before.append(np.mean(fast[4000:].argmax(axis=1) == reference[4000:].argmax(axis=1)))
        shares.append(ties.mean())
    assert np.mean(before) < 0.98  # the noise changes labels as int8 did
    assert min(agreements) >= 0.99 and np.mean(agreements) == pytest.approx(0.995, abs=0.002)
    assert max(shares) < 0.15
