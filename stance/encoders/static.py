"""Static embeddings (model2vec): a vector per token, averaged; thousands of sentences/s per core.

A static model is distilled from a sentence-transformers model: every token of its
vocabulary is encoded once and weighted (model2vec's recipe). It takes about 15 s for
the packaged MiniLM on two cores. Encoding then needs model2vec, numpy and tokenizers
only, no torch.

The token vectors keep the encoder's own size unless asked for fewer, and are never
centred: model2vec's PCA subtracts the mean token vector, which lost 0.11 macro-F1 on
held-out NYT news (0.428 against 0.541, benchmarks/held_out.py). Fewer dimensions come
from an uncentred projection onto the vectors' leading singular directions instead.
"""

from __future__ import annotations

import os
import shutil
from functools import partial
from pathlib import Path

import numpy as np

from stance.encoders import DEFAULT_MODEL, EncoderError, EncoderFiles, locate, quiet_transformers
from stance.progress import progress_bar

#: None keeps the encoder's own size (384 for MiniLM); measured no worse than 256 or 128.
DIMENSIONS: int | None = None
_loaded: dict[str, object] = {}


def distill(model: str | os.PathLike = DEFAULT_MODEL, out: str | os.PathLike | None = None, *,
            dimensions: int | None = DIMENSIONS, cache_dir: Path | None = None, overwrite: bool = False,
            progress: bool = False) -> Path:
    """Distil the sentence-transformers ``model`` into a static model saved at ``out``.

    Without ``out`` the model goes under ``cache_dir/static/`` by the source's identity
    and size, and is reused if already there. Returns the directory. ``progress``
    shows that it is working while it distils (about 15 s for MiniLM).
    """
    source = locate(model)
    if source.kind == "static":
        raise EncoderError(f"{source.path}: already a static (model2vec) model; use it as it is")
    if out is None:
        if cache_dir is None:
            raise EncoderError("distill needs an output directory or a cache directory")
        target = cache_dir / "static" / f"{source.identity}-{'full' if dimensions is None else f'svd{dimensions}'}"
        if (target / "config.json").is_file():
            return target
    else:
        target = Path(out)
        if target.exists() and any(target.iterdir()) and not overwrite:
            raise EncoderError(f"{target}: exists and is not empty; choose a new directory or overwrite it")
    if dimensions is not None and dimensions < 2:
        raise EncoderError(f"dimensions: must be at least 2, got {dimensions}")
    try:
        quiet_transformers()
        from model2vec.distill import distill as model2vec_distill
    except ImportError as exc:
        raise EncoderError(f"distilling needs model2vec's distill extra and torch ({exc}): "
                           "pip install 'stance[embeddings]'") from None
    from model2vec.distill import inference
    bar = inference.tqdm
    inference.tqdm = partial(bar, disable=True)  # its own bar would write over ours, line after line
    try:
        with progress_bar(f"distilling {model} into a static encoder", None, enabled=progress):
            static = model2vec_distill(str(source.path), pca_dims=None, device="cpu")
    finally:
        inference.tqdm = bar
    if dimensions is not None:
        static = _projected(static, dimensions)
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    static.save_pretrained(str(staging))
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging.rename(target)
    return target


def _projected(static, dimensions: int):
    """``static`` with its token vectors projected onto their ``dimensions`` leading singular
    directions, without centring them first (unlike PCA), so sentence means keep their shared part."""
    from model2vec import StaticModel
    vectors = static.embedding.astype(np.float32)
    if dimensions > vectors.shape[1]:
        raise EncoderError(f"dimensions: {static.base_model_name or 'the encoder'} has {vectors.shape[1]}, "
                           f"cannot reduce to {dimensions}")
    _, _, directions = np.linalg.svd(vectors, full_matrices=False)
    return StaticModel(vectors=vectors @ directions[:dimensions].T, tokenizer=static.tokenizer,
                       config={**static.config, "hidden_dim": dimensions, "uncentred_projection": dimensions},
                       normalize=static.normalize, base_model_name=static.base_model_name, language=static.language,
                       weights=static.weights, token_mapping=static.token_mapping)


def load_static(model: str | os.PathLike, *, dimensions: int | None = DIMENSIONS, cache_dir: Path,
                progress: bool = False) -> tuple[object, EncoderFiles]:
    """A model2vec ``StaticModel``: ``model`` itself if it is one, else distilled from it (once, cached)."""
    files = locate(model)
    if files.kind != "static":
        files = locate(distill(model, dimensions=dimensions, cache_dir=cache_dir, progress=progress))
    if files.identity not in _loaded:
        from model2vec import StaticModel
        _loaded[files.identity] = StaticModel.from_pretrained(str(files.path))
    return _loaded[files.identity], files
