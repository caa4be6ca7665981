"""One way to encode with a model whatever runs it: torch (the reference), int8 ONNX or float32 ONNX."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stance.encoders import BACKENDS, TRAINING_BACKEND, EncoderError, EncoderFiles, resolve_device, sentence_transformer
from stance.encoders.onnx import onnx_encoder


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
