"""Agreement and resolution rules, without a server."""

import pytest

from stance.labels.agreement import agreement, krippendorff_alpha_nominal
from stance.labels.dataset import Annotation, resolve
from stance.schema import load_schema


def test_alpha_matches_krippendorffs_published_nominal_example():
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability": 4 coders, 12 units, nominal alpha 0.743
    units = [[1, 1, 1], [2, 2, 3, 2], [3, 3, 3, 3], [3, 3, 3, 3], [2, 2, 2, 2], [1, 2, 3, 4],
             [4, 4, 4, 4], [1, 1, 2, 1], [2, 2, 2, 2], [5, 5, 5], [1, 1], [3]]
    assert krippendorff_alpha_nominal(units) == pytest.approx(0.743, abs=0.001)


def test_alpha_is_one_for_perfect_agreement_and_undefined_without_pairs():
    assert krippendorff_alpha_nominal([["a", "a"], ["b", "b"]]) == 1.0
    assert krippendorff_alpha_nominal([["a"], ["b"]]) is None


@pytest.mark.parametrize("values, truth, expected", [
    ([], [], (None, "unlabelled")),
    (["us"], [], ("us", "single")),
    (["us", "us"], [], ("us", "unanimous")),
    (["us", "us", "prc"], [], ("us", "majority")),
    (["us", "prc"], [], (None, "tie")),
    (["us", "prc", "prc"], ["us"], ("us", "ground_truth")),
])
def test_resolution_rules(values, truth, expected):
    assert resolve(values, truth) == expected


def test_pairwise_agreement_and_coverage_count_cancelled_apart():
    schema = load_schema()
    anns = [
        Annotation("s1", "ann1", {"framing": "us"}), Annotation("s1", "ann2", {"framing": "us"}),
        Annotation("s2", "ann1", {"framing": "us"}), Annotation("s2", "ann2", {"framing": "prc"}),
        Annotation("s3", "ann1", {}, cancelled=True),
    ]
    report = agreement(anns, schema, ["s1", "s2", "s3", "s4"])
    assert report["dimensions"]["framing"]["pairwise"]["ann1 ~ ann2"] == {"n": 2, "agreement": 0.5}
    assert report["sentences_by_annotators"] == {"0": 2, "2": 2}
    assert report["cancelled"] == 1
