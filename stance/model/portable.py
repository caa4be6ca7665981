"""A run's TF-IDF + logistic-regression model as plain arrays, so scoring starts without scikit-learn.

Importing scikit-learn takes about 1.4 s on two cores (it pulls in scipy.stats and
pandas): more than scoring a few hundred articles. A model made only of
``TfidfVectorizer`` blocks shared by ``LogisticRegression`` heads (the default config)
is therefore also saved as ``portable.json`` (each vectorizer's settings, vocabulary
and stop words) and ``portable.npz`` (idf weights, coefficients, intercepts), and
``stance score`` computes it here with numpy alone. Neither file is pickled, so
loading one runs no code.

The export checks itself: it is written only when its probabilities equal
scikit-learn's, within 1e-9, on the run's own training sentences. Any other model
(hashing, encoders, other classifiers, a search over feature parameters) is scored from
``model.joblib`` as before.
"""

from __future__ import annotations

import io
import json
import re
import unicodedata
from pathlib import Path

import numpy as np

PORTABLE_FILE = "portable.json"
ARRAYS_FILE = "portable.npz"
#: Bumped when the format changes; a run written in another format is scored from model.joblib.
FORMAT = 1
#: How many training sentences the export is checked on.
CHECK_SENTENCES = 2000
_ANALYZERS = ("word", "char", "char_wb")
_NORMS = ("l1", "l2", None)
_ACCENTS = (None, "unicode", "ascii")
_WHITE_SPACES = re.compile(r"\s\s+")  # scikit-learn's, for character n-grams


class PortableModel:
    """``predict_proba`` and ``predict`` like the run's ``StanceModel``, from arrays."""

    def __init__(self, spec: dict, arrays: dict[str, np.ndarray]):
        self.labels: dict[str, list[str]] = spec["labels"]
        self.blocks = [_Block(block, arrays.get(f"idf.{i}")) for i, block in enumerate(spec["blocks"])]
        self.heads = []
        columns, start = [], 0
        for dim, head in spec["heads"].items():
            coef = arrays[f"coef.{dim}"]  # (1 or classes) x features
            self.heads.append((dim, np.asarray(head["classes"]), arrays[f"intercept.{dim}"],
                               slice(start, start + len(coef))))
            columns.append(coef.T)
            start += len(coef)
        stacked = np.concatenate(columns, axis=1)  # features x every head's columns
        starts = np.cumsum([0] + [len(b.vocabulary) for b in self.blocks])
        self._weights = [stacked[start:end] * block.weight for block, start, end
                         in zip(self.blocks, starts[:-1], starts[1:])]

    def predict_proba(self, sentences) -> dict[str, np.ndarray]:
        """Per dimension, an (n, classes) array in the schema's class order."""
        sentences = list(sentences)
        decision = np.zeros((len(sentences), self._weights[0].shape[1]))
        for block, weights in zip(self.blocks, self._weights):
            decision += block.product(sentences, weights)
        out = {}
        for dim, classes, intercept, columns in self.heads:
            scores = decision[:, columns] + intercept
            if len(classes) <= 2:  # scikit-learn's binary logistic regression: one column, a sigmoid
                positive = np.exp(-np.logaddexp(0.0, -scores[:, 0]))
                proba = np.column_stack([1.0 - positive, positive])
            else:
                scores = np.exp(scores - scores.max(axis=1, keepdims=True))
                proba = scores / scores.sum(axis=1, keepdims=True)
            aligned = np.zeros((len(sentences), len(self.labels[dim])))
            aligned[:, classes] = proba
            out[dim] = aligned
        return out

    def predict_proba_rechecked(self, sentences) -> tuple[dict[str, np.ndarray], int]:
        """:meth:`predict_proba` as a ``StanceModel`` gives it to scoring: no encoders, so no near-ties."""
        return self.predict_proba(sentences), 0

    def predict(self, sentences) -> dict[str, list[str]]:
        return {dim: [self.labels[dim][i] for i in proba.argmax(axis=1)]
                for dim, proba in self.predict_proba(sentences).items()}

    def encoders(self) -> list:
        """None: a portable model has no transformer encoder to run."""
        return []

    def use_backend(self, backend: str, prepare: bool = False) -> None:
        """Nothing to set: the backend is for transformer encoders."""


class _Block:
    """One TF-IDF vectorizer, as scikit-learn's ``TfidfVectorizer.transform`` computes it."""

    def __init__(self, spec: dict, idf: np.ndarray | None):
        self.vocabulary = dict(zip(spec["vocabulary"], range(len(spec["vocabulary"]))))
        self.idf = idf
        self.weight = spec["weight"]
        self.binary, self.sublinear_tf, self.norm = spec["binary"], spec["sublinear_tf"], spec["norm"]
        self.analyze = _analyzer(spec)

    def product(self, sentences: list[str], weights: np.ndarray) -> np.ndarray:
        """The TF-IDF rows of ``sentences`` times ``weights`` (features x columns), without forming the rows."""
        vocabulary, analyze = self.vocabulary, self.analyze
        indptr, indices, counts = [0], [], []
        for sentence in sentences:
            found: dict[int, int] = {}
            for feature in analyze(sentence):
                index = vocabulary.get(feature)
                if index is not None:
                    found[index] = found.get(index, 0) + 1
            indices.extend(found)
            counts.extend(found.values())
            indptr.append(len(indices))
        indices_ = np.asarray(indices, dtype=np.intp)
        values = np.ones(len(counts)) if self.binary else np.asarray(counts, dtype=np.float64)
        if self.sublinear_tf:
            values = np.log(values) + 1.0
        if self.idf is not None:
            values *= self.idf[indices_]
        lengths = np.diff(indptr)
        rows = np.repeat(np.arange(len(sentences)), lengths)
        if self.norm:
            norms = np.bincount(rows, weights=values ** 2 if self.norm == "l2" else np.abs(values),
                                minlength=len(sentences))
            norms = np.sqrt(norms) if self.norm == "l2" else norms
            norms[norms == 0.0] = 1.0
            values /= norms[rows]
        out = np.zeros((len(sentences), weights.shape[1]))
        if len(values):
            terms = weights[indices_] * values[:, None]
            nonempty = lengths > 0
            out[nonempty] = np.add.reduceat(terms, np.asarray(indptr[:-1])[nonempty], axis=0)
        return out


def _analyzer(spec: dict):
    """The block's sentence-to-features function, step for step as scikit-learn's ``build_analyzer``."""
    lower = spec["lowercase"]
    strip = {None: None, "unicode": _strip_accents_unicode, "ascii": _strip_accents_ascii}[spec["strip_accents"]]
    low, high = spec["ngram_range"]

    def preprocess(text: str) -> str:
        if lower:
            text = text.lower()
        return strip(text) if strip else text

    if spec["analyzer"] == "word":
        tokens = re.compile(spec["token_pattern"]).findall
        stop = frozenset(spec["stop_words"]) if spec["stop_words"] is not None else None
        return lambda text: _word_ngrams(tokens(preprocess(text)), stop, low, high)
    ngrams = _char_wb_ngrams if spec["analyzer"] == "char_wb" else _char_ngrams
    return lambda text: ngrams(preprocess(text), low, high)


def _word_ngrams(tokens: list[str], stop: frozenset | None, low: int, high: int) -> list[str]:
    if stop is not None:
        tokens = [t for t in tokens if t not in stop]
    if high == 1:
        return tokens
    original = tokens
    tokens = list(original) if low == 1 else []
    for n in range(max(low, 2), min(high + 1, len(original) + 1)):
        tokens.extend(" ".join(original[i:i + n]) for i in range(len(original) - n + 1))
    return tokens


def _char_ngrams(text: str, low: int, high: int) -> list[str]:
    text = _WHITE_SPACES.sub(" ", text)
    grams = list(text) if low == 1 else []
    for n in range(max(low, 2), min(high + 1, len(text) + 1)):
        grams.extend(text[i:i + n] for i in range(len(text) - n + 1))
    return grams


def _char_wb_ngrams(text: str, low: int, high: int) -> list[str]:
    grams = []
    for word in _WHITE_SPACES.sub(" ", text).split():
        word = f" {word} "
        for n in range(low, high + 1):
            offset = 0
            grams.append(word[offset:offset + n])
            while offset + n < len(word):
                offset += 1
                grams.append(word[offset:offset + n])
            if offset == 0:  # a word shorter than n counts once
                break
    return grams


def _strip_accents_unicode(text: str) -> str:
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _strip_accents_ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ASCII", "ignore").decode("ASCII")


def export(model, directory: Path, texts: list[str]) -> bool:
    """Write ``model`` (a ``StanceModel``) into ``directory`` as arrays, if it is made only of
    TF-IDF blocks and logistic-regression heads and the arrays give its probabilities; says whether."""
    described = _describe(model)
    if described is None:
        return False
    spec, arrays = described
    sample = list(dict.fromkeys(texts))[:CHECK_SENTENCES]
    expected, got = model.predict_proba(sample), PortableModel(spec, arrays).predict_proba(sample)
    if any(not np.allclose(got[dim], expected[dim], rtol=0.0, atol=1e-9) for dim in expected):
        return False
    (directory / PORTABLE_FILE).write_text(json.dumps(spec), encoding="utf-8")
    np.savez(directory / ARRAYS_FILE, **arrays)
    return True


def _describe(model) -> tuple[dict, dict[str, np.ndarray]] | None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion

    union = model.features
    if type(union) is not FeatureUnion or not all(type(h) is LogisticRegression for h in model.pipelines.values()):
        return None
    weights = union.transformer_weights or {}
    blocks, arrays = [], {}
    for i, (name, vectorizer) in enumerate(union.transformer_list):
        if type(vectorizer) is not TfidfVectorizer or not _plain(vectorizer):
            return None
        terms = [""] * len(vectorizer.vocabulary_)
        for term, index in vectorizer.vocabulary_.items():
            terms[index] = term
        stop = vectorizer.get_stop_words()
        blocks.append({"name": name, "weight": float(weights.get(name, 1.0)), "analyzer": vectorizer.analyzer,
                       "lowercase": bool(vectorizer.lowercase), "strip_accents": vectorizer.strip_accents,
                       "token_pattern": vectorizer.token_pattern, "ngram_range": list(vectorizer.ngram_range),
                       "stop_words": sorted(stop) if stop is not None else None, "binary": bool(vectorizer.binary),
                       "sublinear_tf": bool(vectorizer.sublinear_tf), "norm": vectorizer.norm, "vocabulary": terms})
        if vectorizer.use_idf:
            arrays[f"idf.{i}"] = vectorizer.idf_
    heads = {}
    for dim, head in model.pipelines.items():
        heads[dim] = {"classes": [int(c) for c in head.classes_]}
        arrays[f"coef.{dim}"] = head.coef_
        arrays[f"intercept.{dim}"] = head.intercept_
    return {"format": FORMAT, "labels": model.labels, "blocks": blocks, "heads": heads}, arrays


def _plain(vectorizer) -> bool:
    """Whether the vectorizer uses only settings this module computes (no callables, no bytes)."""
    return (vectorizer.input == "content" and vectorizer.preprocessor is None and vectorizer.tokenizer is None
            and vectorizer.analyzer in _ANALYZERS and vectorizer.strip_accents in _ACCENTS
            and vectorizer.norm in _NORMS and vectorizer.dtype in (np.float64, float)
            and (vectorizer.analyzer != "word" or isinstance(vectorizer.token_pattern, str)))


def load(spec_bytes: bytes, arrays_bytes: bytes) -> PortableModel | None:
    """The model from its two files' bytes (as checked against the run's manifest); None for another format."""
    spec = json.loads(spec_bytes.decode("utf-8"))
    if spec.get("format") != FORMAT:
        return None
    with np.load(io.BytesIO(arrays_bytes), allow_pickle=False) as arrays:
        return PortableModel(spec, dict(arrays))
