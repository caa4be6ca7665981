"""Config sections to plain scikit-learn pipelines: ``features`` (a union) then ``model``."""

from __future__ import annotations

import itertools

from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.naive_bayes import ComplementNB
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline

from stance.experiments.config import ConfigError
from stance.model.heads import CalibratedLinearSVC  # runs pickled before model/ also name it here

_TUPLE_PARAMS = ("ngram_range",)


def build_pipeline(config: dict) -> Pipeline:
    """A fresh, unfitted pipeline for one dimension."""
    blocks, weights = [], {}
    for name, block in config["features"].items():
        params = _params(block, skip=("type", "weight"))
        blocks.append((name, _feature(block["type"], params, f"features.{name}")))
        if "weight" in block:
            weights[name] = float(block["weight"])
    union = FeatureUnion(blocks, transformer_weights=weights or None)
    return Pipeline([("features", union), ("model", _model(config["model"], config["seed"]))])


def search_grid(config: dict) -> dict[str, list]:
    """The ``[search]`` section as scikit-learn parameter names (``model.C`` -> ``model__C``). A
    block's weight (``features.NAME.weight``) is the union's ``transformer_weights``: one dict per
    combination of the weights searched, the other blocks at their configured weights."""
    grid, weights = {}, {}
    for key, values in config.get("search", {}).items():
        if key in ("scoring", "inner_folds"):
            continue
        parts = key.split(".")
        if parts[0] == "features" and parts[-1] == "weight" and len(parts) == 3:
            if parts[1] not in config["features"]:
                raise ConfigError(f"search.{key}: there is no feature block {parts[1]!r}; the blocks are "
                                  f"{', '.join(config['features'])}")
            weights[parts[1]] = [float(v) for v in values]
            continue
        name = key.replace(".", "__")
        grid[name] = [tuple(v) if isinstance(v, list) and key.endswith(_TUPLE_PARAMS) else v for v in values]
    if weights:
        fixed = {name: float(block.get("weight", 1.0)) for name, block in config["features"].items()}
        grid["features__transformer_weights"] = [{**fixed, **dict(zip(weights, chosen))}
                                                 for chosen in itertools.product(*weights.values())]
    return grid


def _params(block: dict, skip: tuple[str, ...]) -> dict:
    return {k: tuple(v) if k in _TUPLE_PARAMS and isinstance(v, list) else v
            for k, v in block.items() if k not in skip}


def _feature(kind: str, params: dict, where: str):
    try:
        if kind == "tfidf":
            return TfidfVectorizer(**{"sublinear_tf": True, "strip_accents": "unicode", **params})
        if kind == "hashing":
            idf = params.pop("idf", True)
            vectorizer = HashingVectorizer(**{"alternate_sign": False, "n_features": 2**20,
                                              "strip_accents": "unicode", **params})
            return make_pipeline(vectorizer, TfidfTransformer(sublinear_tf=True)) if idf else vectorizer
        if kind == "finetuned":
            from stance.model.finetune import FinetunedEncoder
            return FinetunedEncoder(**params)
        from stance.model.embeddings import SentenceEmbedder, StaticEmbedder
        return (StaticEmbedder if kind == "static" else SentenceEmbedder)(**params)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _model(section: dict, seed: int):
    kind = section["type"]
    params = _params(section, skip=("type",))
    try:
        if kind == "logreg":
            return LogisticRegression(**{"C": 4.0, "max_iter": 3000, "class_weight": "balanced",
                                         "random_state": seed, **params})
        if kind == "linear_svm":
            return CalibratedLinearSVC(**{"random_state": seed, **params})
        if kind == "sgd":
            return SGDClassifier(**{"loss": "log_loss", "alpha": 1e-4, "class_weight": "balanced",
                                    "max_iter": 50, "tol": None, "random_state": seed, **params})
        return ComplementNB(**params)
    except TypeError as exc:
        raise ConfigError(f"model ({kind}): {exc}") from None
