"""Experiment configs: a TOML file names the features, the model, the folds and the seed.

```toml
name = "default"
seed = 13
dimensions = []            # empty: every schema dimension the data carries

[features.word]            # one table per feature block; several are joined side by side
type = "tfidf"             # tfidf | hashing | embeddings | static | finetuned; other keys go to the transformer
ngram_range = [1, 2]

[model]
type = "logreg"            # logreg | linear_svm | sgd | complement_nb; other keys go to the model
C = 4.0

[cv]
folds = 5
group_by = "event"         # optional: folds keep each event's articles together (default: near-duplicate stories)

[search]                   # optional: a grid searched inside each training fold
"model.C" = [1.0, 4.0, 16.0]
```

Overrides set any dotted key (``{"model.C": 2}``, on the command line ``--set model.C=2``);
overriding ``model.type`` swaps the model and drops the old model's parameters.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import tomllib
from pathlib import Path

import tomli_w

from stance.errors import StanceError

FEATURE_TYPES = ("tfidf", "hashing", "embeddings", "static", "finetuned")
#: Feature types whose values can be negative (dense vectors from an encoder).
DENSE_TYPES = ("embeddings", "static", "finetuned")
MODEL_TYPES = ("logreg", "linear_svm", "sgd", "complement_nb")
DEFAULTS = {"seed": 13, "dimensions": [], "cv": {"folds": 5}}


class ConfigError(StanceError):
    """An experiment config that cannot be run, named by file and key."""


def load_config(config: str | os.PathLike | dict, overrides: dict | None = None) -> dict:
    """Read ``config`` (a TOML file, or a dict of the same shape), apply ``overrides``
    (dotted key -> value), fill defaults and check it."""
    if isinstance(config, dict):
        raw, where = copy.deepcopy(config), "config"
    else:
        path = Path(config)
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found (the shipped ones are in experiments/)") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        raw.setdefault("name", path.stem)
        where = str(path)
    for key, value in (overrides or {}).items():
        apply_override(raw, key, value)
    return resolve_config(raw, where)


def resolve_config(raw: dict, where: str = "config") -> dict:
    """Defaults filled in and every key checked; the result is what a run records."""
    config = copy.deepcopy(DEFAULTS)
    for key, value in copy.deepcopy(raw).items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key].update(value)
        else:
            config[key] = value
    features = config.get("features")
    if not isinstance(features, dict) or not features:
        raise ConfigError(f"{where}: needs at least one [features.NAME] table")
    for name, block in features.items():
        if not isinstance(block, dict) or block.get("type") not in FEATURE_TYPES:
            got = block.get("type") if isinstance(block, dict) else block
            raise ConfigError(f"{where}: features.{name}.type must be one of {', '.join(FEATURE_TYPES)}, got {got!r}")
    model = config.get("model")
    if not isinstance(model, dict) or model.get("type") not in MODEL_TYPES:
        got = model.get("type") if isinstance(model, dict) else model
        raise ConfigError(f"{where}: model.type must be one of {', '.join(MODEL_TYPES)}, got {got!r}")
    if model["type"] == "complement_nb" and any(b["type"] in DENSE_TYPES for b in features.values()):
        raise ConfigError(f"{where}: complement_nb needs non-negative features; encoder vectors are not")
    folds = config["cv"].get("folds")
    if not isinstance(folds, int) or folds < 2:
        raise ConfigError(f"{where}: cv.folds must be an integer of at least 2, got {folds!r}")
    group_by = config["cv"].get("group_by")
    if group_by is not None and (not isinstance(group_by, str) or not group_by):
        raise ConfigError(f"{where}: cv.group_by names a field of the labelled data (an event, say), "
                          f"got {group_by!r}")
    if not isinstance(config["seed"], int):
        raise ConfigError(f"{where}: seed must be an integer, got {config['seed']!r}")
    if not isinstance(config["dimensions"], list):
        raise ConfigError(f"{where}: dimensions must be a list of names, got {config['dimensions']!r}")
    search = config.get("search", {})
    for key, values in search.items():
        if key in ("scoring", "inner_folds"):
            continue
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{where}: search.{key} must be a non-empty list of values")
        if key.split(".")[0] not in ("model", "features"):
            raise ConfigError(f"{where}: search.{key} must start with 'model.' or 'features.NAME.'")
    return config


def apply_override(config: dict, key: str, value) -> None:
    """Set the dotted ``key`` of ``config`` to ``value`` in place. The key is read as TOML,
    so a dotted name can be quoted: ``search."model.C"``."""
    try:
        patch = tomllib.loads(f"{key} = 0")
    except tomllib.TOMLDecodeError:
        patch = None
    leaf = patch
    while isinstance(leaf, dict) and len(leaf) == 1 and isinstance(next(iter(leaf.values())), dict):
        leaf = next(iter(leaf.values()))
    if not isinstance(leaf, dict) or len(leaf) != 1:
        raise ConfigError(f"override {key!r}: not a dotted config key such as model.C or search.\"model.C\"")
    leaf[next(iter(leaf))] = value
    _merge(config, patch, key)


def _merge(config: dict, patch: dict, item: str) -> None:
    """Deep merge; a table whose ``type`` changes starts afresh (other types take other parameters)."""
    for key, value in patch.items():
        old = config.get(key)
        if isinstance(value, dict) and old is not None and not isinstance(old, dict):
            raise ConfigError(f"override {item!r}: {key!r} is not a table in the config")
        if isinstance(value, dict) and isinstance(old, dict) and value.get("type", old.get("type")) == old.get("type"):
            _merge(old, value, item)
        else:
            config[key] = value


def config_hash(config: dict) -> str:
    """Hash of what changes results: everything but the name and description."""
    relevant = {k: v for k, v in config.items() if k not in ("name", "description")}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def dump_config(config: dict) -> str:
    return tomli_w.dumps(config)
