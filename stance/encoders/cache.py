"""Sentence vectors on disk: one SQLite file, keyed by encoder and the text's hash.

A transformer encodes about 80 sentences/s on two cores, so a sentence is encoded
once per encoder, ever, and shared by every fold, run and scoring worker. The key
names the encoder by its identity (a hash of its files) and its backend, so vectors
of two models, or of torch and of int8 ONNX, are never mixed.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections import Counter
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import numpy as np

CACHE_ENV = "STANCE_CACHE_DIR"
_LOOKUP_BATCH = 500

#: Sentences encoded into the cache, served from it, and encoded with it switched off, in this process.
stats: Counter = Counter()
_caching: ContextVar[bool] = ContextVar("caching", default=True)


@contextmanager
def uncached():
    """Inside, encoders neither read nor write the cache: to time an encoder rather than the
    cache, or to score a corpus too big to keep its vectors (about 1.5 kB a sentence for MiniLM)."""
    token = _caching.set(False)
    try:
        yield
    finally:
        _caching.reset(token)


def caching() -> bool:
    """Whether encoders use the cache here (see :func:`uncached`)."""
    return _caching.get()


def default_cache_dir() -> Path:
    """``$STANCE_CACHE_DIR``, else ``$XDG_CACHE_HOME/stance`` or ``~/.cache/stance``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "stance"


def cache_location(directory: str | os.PathLike | None) -> Path:
    """``directory`` if given, else :func:`default_cache_dir`: what an encoder's ``cache_dir=None`` means."""
    return Path(directory) if directory else default_cache_dir()


class EmbeddingCache:
    """Vectors by (encoder key, sha256 of text) in one SQLite file, safe for several processes."""

    def __init__(self, directory: Path, encoder: str):
        directory.mkdir(parents=True, exist_ok=True)
        self.encoder = encoder
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
                                    [self.encoder, *batch])
            known.update((k, np.frombuffer(v, dtype=np.float32)) for k, v in rows)
        return [known.get(k) for k in keys]

    def put(self, texts: list[str], vectors) -> None:
        with self._db:
            self._db.executemany("INSERT OR IGNORE INTO vectors VALUES (?, ?, ?)",
                                 [(self.encoder, self.key(t), np.asarray(v, dtype=np.float32).tobytes())
                                  for t, v in zip(texts, vectors)])

    def encoders(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT DISTINCT model FROM vectors")]

    def close(self) -> None:
        self._db.close()
