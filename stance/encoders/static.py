"""Static embeddings (model2vec): a vector per token, averaged; thousands of sentences/s per core.

A static model is distilled from a sentence-transformers model: every token of its
vocabulary is encoded once and weighted (model2vec's recipe). It takes about 15 s for
the packaged MiniLM on two cores. Encoding then needs model2vec, numpy and tokenizers
only, no torch.

The token vectors keep the encoder's own size unless asked for fewer, and are never
centred: model2vec's PCA subtracts the mean token vector, which lost 0.11 macro-F1 on
held-out NYT news (0.428 against 0.541, benchmarks/held_out.py). Fewer dimensions come
from an uncentred projection onto the vectors' leading singular directions instead.

Given sentences (``fit_to``: the corpus to be scored; or, through ``StaticEmbedder``'s
``fit_tokens``, the training texts) the token vectors are then refitted so that each
sentence's mean of them comes near the source model's own vector for it: tokenlearn's
aim (model2vec's authors), solved here as one ridge regression toward the distilled
vectors. That added 0.014 to 0.042 macro-F1 on held-out news (benchmarks/static_fit.py).
MiniLM's tokenizer pads every sentence to 128 tokens and model2vec keeps that; a
distilled model here has padding off, so a sentence's vector averages its own tokens.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from functools import partial
from itertools import chain
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix

from stance.encoders import DEFAULT_MODEL, EncoderError, EncoderFiles, locate, quiet_transformers
from stance.encoders.backends import encode_cached
from stance.encoders.cache import cache_location
from stance.progress import progress_bar

#: Names how a cached static model was made, so one made another way (centred, padded) is never reused.
RECIPE = "unpadded-r1"
#: None keeps the encoder's own size (384 for MiniLM); measured no worse than 256 or 128.
DIMENSIONS: int | None = None
#: model2vec's own cut: a sentence's first 512 tokens.
MAX_TOKENS = 512
#: How hard fitting to a corpus pulls token vectors back toward the distilled ones (the ridge
#: penalty); chosen among 0.1, 1 and 10 on BASIL's first two halvings, then checked on NYT.
FIT_PULL = 0.1
#: Sentences of a corpus the command line fits to by default: about a minute of MiniLM on two cores.
FIT_SENTENCES = 10_000
_loaded: dict[str, object] = {}


def distill(model: str | os.PathLike = DEFAULT_MODEL, out: str | os.PathLike | None = None, *,
            dimensions: int | None = DIMENSIONS, fit_to: Sequence[str] | None = None,
            cache_dir: Path | None = None, overwrite: bool = False, progress: bool = False) -> Path:
    """Distil the sentence-transformers ``model`` into a static model saved at ``out``.

    ``fit_to``: sentences (of the corpus to be scored) to fit the token vectors to; each is
    encoded once by ``model`` (about 150 a second with torch on two cores). Without
    ``out`` the model goes under ``cache_dir/static/`` by the source's identity and size,
    and is reused if already there. Returns the directory. ``progress`` shows that it
    is working (distilling MiniLM takes about 15 s).
    """
    source = locate(model)
    if source.kind == "static":
        raise EncoderError(f"{source.path}: already a static (model2vec) model; use it as it is")
    if fit_to is not None and out is None:
        raise EncoderError("an encoder fitted to sentences needs a directory of its own to be saved in")
    if out is None:
        if cache_dir is None:
            raise EncoderError("distill needs an output directory or a cache directory")
        size = "full" if dimensions is None else f"svd{dimensions}"
        target = cache_dir / "static" / f"{source.identity}-{RECIPE}-{size}"
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
    static.tokenizer.no_padding()  # else each mean has (128 - length) parts of MiniLM's [PAD] row
    if fit_to is not None:
        texts = [str(text) for text in fit_to]
        static = fit_token_vectors(static, texts, source_vectors(source, texts, cache_dir, progress),
                                   progress=progress)
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


def source_vectors(source: EncoderFiles, texts: list[str], cache_dir: Path | None, progress: bool = False
                   ) -> np.ndarray:
    """``source``'s unit vector for each text (torch, the reference encoder): what token vectors are
    fitted to. Through the embedding cache, so sentences an `embeddings` run or an earlier fit
    encoded are not encoded again."""
    vectors = encode_cached(source, texts, cache_location(cache_dir), progress=progress,
                            description=f"encoding {len(texts):,} sentences to fit to")
    return vectors / (np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-32)


def fit_token_vectors(static, texts: list[str], target: np.ndarray, pull: float = FIT_PULL, progress: bool = False):
    """A copy of ``static`` with the rows of the tokens in ``texts`` refitted: minimise, over those rows E,
    |A E - T|^2 + pull |E - E0|^2, where A averages each text's tokens, T is ``target`` (a unit
    vector per text) and E0 the distilled rows (weights folded in) scaled so A E0 has T's mean
    length. Tokens the texts lack keep E0. Solved by conjugate gradients from E0, with the
    system applied as A'(A X) + pull X: A'A formed has ten times A's entries, and a sparse LU
    of it took minutes (fill-in)."""
    from model2vec import StaticModel
    ids = static.tokenize(texts, max_length=MAX_TOKENS)
    kept = np.fromiter(map(len, ids), np.int64, count=len(ids)) > 0
    if not kept.any():
        raise EncoderError("none of the sentences to fit to has a token the encoder knows")
    target, ids = target[kept], [i for i in ids if len(i)]
    rows = token_rows(static, np.float64)
    averaging = averaging_matrix(ids, rows.shape[0], np.float64)
    rows *= np.linalg.norm(target, axis=1).mean() / np.linalg.norm(averaging @ rows, axis=1).mean()
    present = np.unique(averaging.indices)
    part = averaging[:, present]
    transposed = part.T.tocsr()
    goal = transposed @ target + pull * rows[present]
    with progress_bar(f"fitting {len(present):,} token vectors", None, enabled=progress):
        rows[present] = conjugate_gradients(lambda x: transposed @ (part @ x) + pull * x, goal, rows[present])
    return StaticModel(vectors=rows.astype(static.embedding.dtype), tokenizer=static.tokenizer,
                       config={**static.config, "fitted_to_sentences": len(ids), "fit_pull": pull},
                       normalize=static.normalize, base_model_name=static.base_model_name,
                       language=static.language)


def token_rows(static, dtype=np.float32) -> np.ndarray:
    """Each token's vector as a sentence's mean takes it: mapped and weighted, in ``dtype``."""
    rows = static.embedding.astype(dtype)
    if static.token_mapping is not None:
        rows = rows[static.token_mapping]
    if static.weights is not None:
        rows = rows * static.weights[:, None].astype(dtype)
    return rows


def averaging_matrix(ids: list[list[int]], tokens: int, dtype=np.float32):
    """A sparse (texts x ``tokens``) matrix whose product with the token rows is each text's mean
    of its tokens' rows (a text without tokens gets a row of zeros)."""
    lengths = np.fromiter(map(len, ids), np.int64, count=len(ids))
    indptr = np.zeros(len(ids) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    columns = np.fromiter(chain.from_iterable(ids), np.int64, count=int(indptr[-1]))
    shares = np.repeat(1.0 / np.maximum(lengths, 1), lengths).astype(dtype)
    return csr_matrix((shares, columns, indptr), shape=(len(ids), tokens))


def conjugate_gradients(system: Callable[[np.ndarray], np.ndarray], goal: np.ndarray, start: np.ndarray,
                        rtol: float = 1e-6, maxiter: int = 500) -> np.ndarray:
    """X with ``system(X) = goal`` for a symmetric positive definite linear ``system``, every column
    at once (scipy's ``cg`` takes one column a call). Fitting the NYT set's 12,163 token vectors
    took 5.5 s so, against 19.4 s with scipy's ``cg`` on A'A formed, column by column (best of
    2, side by side). A column stops once its residual is ``rtol`` of its goal."""
    x = np.array(start, dtype=np.float64)
    residual = goal - system(x)
    direction = residual.copy()
    squared = np.einsum("ij,ij->j", residual, residual)
    enough = rtol ** 2 * np.einsum("ij,ij->j", goal, goal)
    for _ in range(maxiter):
        active = squared > enough
        if not active.any():
            break
        product = system(direction)
        curvature = np.einsum("ij,ij->j", direction, product)
        step = np.where(active, squared / np.where(active, curvature, 1.0), 0.0)
        x += step * direction
        residual -= step * product
        updated = np.einsum("ij,ij->j", residual, residual)
        direction = residual + np.where(active, updated / np.where(active, squared, 1.0), 0.0) * direction
        squared = updated
    return x


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
