"""Static embeddings (model2vec): a vector per token, averaged; thousands of sentences/s per core.

A static model is distilled from a sentence-transformers model: every token of its
vocabulary is encoded once, reduced by PCA and weighted (model2vec's recipe). It
takes about 15 s for the packaged MiniLM on two cores. Encoding then needs model2vec,
numpy and tokenizers only, no torch.
"""

from __future__ import annotations

import os
import shutil
from functools import partial
from pathlib import Path

from stance.encoders import DEFAULT_MODEL, EncoderError, EncoderFiles, locate, quiet_transformers
from stance.progress import progress_bar

DIMENSIONS = 256
_loaded: dict[str, object] = {}


def distill(model: str | os.PathLike = DEFAULT_MODEL, out: str | os.PathLike | None = None, *,
            dimensions: int = DIMENSIONS, cache_dir: Path | None = None, overwrite: bool = False,
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
        target = cache_dir / "static" / f"{source.identity}-{dimensions}"
        if (target / "config.json").is_file():
            return target
    else:
        target = Path(out)
        if target.exists() and any(target.iterdir()) and not overwrite:
            raise EncoderError(f"{target}: exists and is not empty; choose a new directory or overwrite it")
    if dimensions < 2:
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
            static = model2vec_distill(str(source.path), pca_dims=dimensions, device="cpu")
    finally:
        inference.tqdm = bar
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    static.save_pretrained(str(staging))
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging.rename(target)
    return target


def load_static(model: str | os.PathLike, *, dimensions: int = DIMENSIONS, cache_dir: Path,
                progress: bool = False) -> tuple[object, EncoderFiles]:
    """A model2vec ``StaticModel``: ``model`` itself if it is one, else distilled from it (once, cached)."""
    files = locate(model)
    if files.kind != "static":
        files = locate(distill(model, dimensions=dimensions, cache_dir=cache_dir, progress=progress))
    if files.identity not in _loaded:
        from model2vec import StaticModel
        _loaded[files.identity] = StaticModel.from_pretrained(str(files.path))
    return _loaded[files.identity], files
