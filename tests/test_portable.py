"""Portable models: TF-IDF + logistic regression scored from arrays, without scikit-learn."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from sklearn.feature_extraction.text import HashingVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.pipeline import FeatureUnion

from stance.model import portable
from stance.model.runs import RunError, load_run
from stance.model.stance_model import StanceModel
from stance.resources import demo_dir

# Accents, case, runs of white space, tabs and newlines, digits, punctuation, an empty sentence:
# what the vectorizers' preprocessing and n-gram rules treat differently.
TEXTS = [
    "Beijing  warned\tWashington on Tuesday.", "Café talks in Zürich ended; both sides said “constructive”.",
    "THE SUMMIT WAS POSTPONED", "a b c", "", "Naïve hopes?\n\nNo: 2 sides, 3 rounds, 0 deals.",
    "Tariffs rose again — and again.", "ﬁnancial ties (ligature) and résumé", "x", "Trade deal signed.",
    "Officials met in Geneva and said little.", "The ministry rejected the claims as baseless.",
]
LABELS = {"framing": ["us", "prc", "neutral"], "tone": ["adversarial", "conciliatory"],
          "speaker": ["journalist", "us_official", "prc_official", "other"]}


def _model(features: FeatureUnion, heads: dict | None = None) -> StanceModel:
    X = features.fit_transform(TEXTS)
    rng = np.random.default_rng(0)
    targets = {"framing": rng.integers(0, 3, len(TEXTS)), "tone": rng.integers(0, 2, len(TEXTS)),
               "speaker": rng.choice([0, 2, 3], len(TEXTS))}  # speaker never "us_official": a column of zeros
    heads = heads or {dim: LogisticRegression(C=10.0, max_iter=2000) for dim in targets}
    return StanceModel({dim: head.fit(X, targets[dim]) for dim, head in heads.items()}, LABELS, features=features)


def _round_trip(model: StanceModel, tmp_path) -> portable.PortableModel:
    assert portable.export(model, tmp_path, TEXTS)
    return portable.load((tmp_path / portable.PORTABLE_FILE).read_bytes(),
                         (tmp_path / portable.ARRAYS_FILE).read_bytes())


@pytest.mark.parametrize("blocks, weights", [
    ([("word", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, strip_accents="unicode"))], None),
    ([("word", TfidfVectorizer(ngram_range=(2, 3), stop_words="english", lowercase=False, binary=True,
                               norm="l1", use_idf=False)),
      ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), strip_accents="ascii"))],
     {"word": 0.5, "char": 2.0}),
    ([("char", TfidfVectorizer(analyzer="char", ngram_range=(1, 3), norm=None, sublinear_tf=True)),
      ("word", TfidfVectorizer(token_pattern=r"(?u)\b(\w)\w*\b"))], None),  # a pattern with a group
])
def test_portable_probabilities_equal_scikit_learns(blocks, weights, tmp_path):
    model = _model(FeatureUnion(blocks, transformer_weights=weights))
    unseen = ["Washington and Beijing, again.", "Zürich  café\nrésumé", "", "words never seen before"]
    expected, got = model.predict_proba(TEXTS + unseen), _round_trip(model, tmp_path).predict_proba(TEXTS + unseen)
    for dim in LABELS:
        assert got[dim].shape == (len(TEXTS) + len(unseen), len(LABELS[dim]))
        np.testing.assert_allclose(got[dim], expected[dim], rtol=0, atol=1e-12)
    assert np.all(got["speaker"][:, 1] == 0.0)  # a class unseen in training keeps its zero column


def test_models_portable_cannot_express_are_not_exported(tmp_path):
    hashing = _model(FeatureUnion([("hash", HashingVectorizer(n_features=2**10))]))
    sgd = _model(FeatureUnion([("word", TfidfVectorizer())]),
                 {dim: SGDClassifier(loss="log_loss", random_state=0) for dim in LABELS})
    own_tokenizer = _model(FeatureUnion([("word", TfidfVectorizer(tokenizer=str.split, token_pattern=None))]))
    for model in (hashing, sgd, own_tokenizer):
        assert not portable.export(model, tmp_path, TEXTS)
    assert not list(tmp_path.iterdir())


def test_a_default_run_scores_from_arrays_without_importing_scikit_learn(default_run, tmp_path):
    run = load_run(default_run, prefer_portable=True)
    assert isinstance(run.model, portable.PortableModel)
    sentences = ["Beijing rejected the accusation.", "Both sides agreed to keep talking.", ""]
    expected = load_run(default_run).model.predict_proba(sentences)
    for dim, proba in run.model.predict_proba(sentences).items():
        np.testing.assert_allclose(proba, expected[dim], rtol=0, atol=1e-12)
    script = ("import sys; from stance.scoring.batch import score; "
              f"r = score([{str(demo_dir() / 'articles.jsonl')!r}], {str(default_run)!r}, {str(tmp_path / 'out')!r}, "
              "workers=1); print(r.counts.scored, 'sklearn' in sys.modules, 'scipy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["30", "False", "False"]


def test_changed_arrays_are_refused(default_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(default_run, copy)
    spec = json.loads((copy / portable.PORTABLE_FILE).read_text())
    spec["blocks"][0]["vocabulary"].reverse()
    (copy / portable.PORTABLE_FILE).write_text(json.dumps(spec))
    with pytest.raises(RunError, match=portable.PORTABLE_FILE):
        load_run(copy, prefer_portable=True)
