"""One way to encode with a model whatever runs it: torch (the reference), int8 ONNX or float32 ONNX;
and through the embedding cache, so that feature blocks and static fits alike encode a sentence once."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stance.encoders import BACKENDS, TRAINING_BACKEND, EncoderError, EncoderFiles, resolve_device, sentence_transformer
from stance.encoders.cache import EmbeddingCache, caching, stats
from stance.encoders.onnx import onnx_encoder, vector_tag
from stance.progress import progress_bar


def batch_encoder(files: EncoderFiles, backend: str, device: str, cache_dir: Path):
    """``encode(texts, batch_size)`` for the model in ``files`` on ``backend``: an ONNX one, or torch."""
    if backend not in BACKENDS:
        raise EncoderError(f"backend {backend!r}: must be one of {', '.join(BACKENDS)}")
    if backend != TRAINING_BACKEND:
        return onnx_encoder(files, cache_dir, resolve_device(device, backend), backend).encode
    model = sentence_transformer(files, resolve_device(device))

    def encode(texts: list[str], batch_size: int = 64) -> np.ndarray:
        return model.encode(texts, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False)
    return encode


def encode_cached(files: EncoderFiles, texts: list[str], cache_dir: Path, backend: str = TRAINING_BACKEND,
                  device: str = "auto", batch_size: int = 64, progress: bool = False,
                  description: str = "encoding") -> np.ndarray:
    """``files``' vector for each of ``texts`` (a float32 row each), each sentence encoded once ever:
    read from the cache in ``cache_dir`` where an earlier run, fold or fit wrote it (unless
    :func:`~stance.encoders.cache.uncached`), encoded and written there otherwise."""
    if backend not in BACKENDS:
        raise EncoderError(f"backend {backend!r}: must be one of {', '.join(BACKENDS)}")
    if not caching():
        stats["uncached"] += len(texts)
        return _stacked(_encode(files, texts, cache_dir, backend, device, batch_size, progress, description))
    cache = EmbeddingCache(cache_dir, f"{files.identity}/{vector_tag(backend)}")
    try:
        found = cache.get(texts)
        missing = list(dict.fromkeys(t for t, v in zip(texts, found) if v is None))
        stats["cached"] += len(texts) - sum(v is None for v in found)
        if missing:
            vectors = _encode(files, missing, cache_dir, backend, device, batch_size, progress, description)
            stats["encoded"] += len(missing)
            cache.put(missing, vectors)
            new = dict(zip(missing, vectors))
            found = [v if v is not None else new[t] for t, v in zip(texts, found)]
    finally:
        cache.close()
    return _stacked(found)


def _stacked(vectors: list[np.ndarray]) -> np.ndarray:
    return np.vstack(vectors).astype(np.float32, copy=False) if vectors else np.zeros((0, 0), dtype=np.float32)


def _encode(files: EncoderFiles, texts: list[str], cache_dir: Path, backend: str, device: str, batch_size: int,
            progress: bool, description: str) -> list[np.ndarray]:
    encode = batch_encoder(files, backend, device, cache_dir)
    out = []
    step = batch_size * 8  # several batches per call: the encoder sorts them by length
    with progress_bar(description, len(texts), enabled=progress, unit="sentences") as bar:
        for start in range(0, len(texts), step):
            batch = texts[start:start + step]
            out.extend(np.asarray(encode(batch, batch_size=batch_size), dtype=np.float32))
            bar.advance(len(batch))
    return out
