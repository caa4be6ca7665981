"""``experiments run``: a config and a labelled dataset in, a complete run directory out.

Each dimension gets its own pipeline. Cross-validation folds are grouped by article,
by near-duplicate cluster and by repeated sentence text (a sentence's neighbours, its
story's wire copies and its own repeats never sit on the other side; see
``LabelledData.groups``) and stratified; rows whose
label did not resolve (ties, unlabelled) are skipped and counted. With a
``[search]`` section, the grid is searched inside each training fold, so the
reported scores never saw the data that chose the parameters.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import sklearn
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold

import stance
from stance.encoders import RECHECK_BACKEND, SCORING_BACKEND, TRAINING_BACKEND, EncoderError
from stance.encoders.cache import stats as encoder_stats
from stance.encoders.cache import uncached
from stance.errors import StanceError
from stance.model import embeddings, portable, recheck
from stance.experiments.config import config_hash, dump_config, load_config
from stance.model.finetune import check_enough_to_finetune, encoders_loaded_from, encoders_saved_in
from stance.experiments.metrics import scores
from stance.experiments.pipeline import build_pipeline, search_grid
from stance.model.runs import MANIFEST, MODEL_FILE, file_hashes, list_run_dirs, read_manifest, runs_dir
from stance.model.signing import sign_run
from stance.model.stance_model import StanceModel, aligned_proba
from stance.labels.dataset import LabelledData, read_labelled
from stance.progress import progress_bar
from stance.schema import Schema, load_schema

#: The scoring speed a run reports: at most this many of its sentences, in batches, for about this long.
SPEED_SAMPLE = 2048
SPEED_BATCH = 256
SPEED_BUDGET_S = 5.0


@dataclass
class RunResult:
    path: Path
    run_id: str
    metrics: dict
    reused: bool = False

    def __str__(self) -> str:
        lines = [f"run {self.run_id} {'(reused) ' if self.reused else ''}in {self.path}"]
        for dim, m in self.metrics["dimensions"].items():
            line = f"  {dim:<10} cv macro-F1 {m['cv']['macro_f1']:.3f}  accuracy {m['cv']['accuracy']:.3f}"
            if "test" in m:
                line += f"  | test macro-F1 {m['test']['macro_f1']:.3f} (n={m['test']['n']})"
            lines.append(line)
        for dim, why in self.metrics.get("skipped_dimensions", {}).items():
            lines.append(f"  {dim:<10} not trained: {why}")
        return "\n".join(lines)


def run(config: str | Path | dict, data: str | Path, *, test: str | Path | None = None,
        out: str | Path | None = None, overrides: dict | None = None, run_id: str | None = None,
        reuse: bool = False, report: bool = True, schema: Schema | None = None,
        progress: bool = False) -> RunResult:
    """Train and evaluate ``config`` on the labelled dataset ``data``; write a run under ``out``.

    ``reuse=True`` returns an existing run of the same config and data, made by the same
    code (commit and package versions), instead of training again (the demo uses it so that
    running twice adds nothing; a run of older code may lack what newer runs save).
    """
    schema = schema or load_schema()
    config = load_config(config, overrides)
    root = Path(out) if out else runs_dir()
    train = read_labelled(data, schema, config["cv"].get("group_by"))
    train.groups  # noqa: B018  (an unknown group_by field is an error before any training)
    held_out = read_labelled(test, schema) if test else None
    dims, skipped_dims = select_dimensions(config, train, schema)
    for dim in dims:
        check_enough_to_finetune(config, int((train.labels[dim] >= 0).sum()), config["cv"]["folds"], str(train.path))
    chash = config_hash(config)
    if reuse:
        code = {"git_commit": git_commit(), "versions": _versions(config)}
        for existing in reversed(list_run_dirs(root)):
            manifest = read_manifest(existing)
            if manifest.get("config_hash") == chash and manifest["data"]["hash"] == train.hash and \
                    (manifest.get("test_data") or {}).get("hash") == (held_out.hash if held_out else None) and \
                    all(manifest.get(key) == value for key, value in code.items()):
                return RunResult(existing, manifest["run_id"],
                                 json.loads((existing / "metrics.json").read_text()), reused=True)
    run_id = run_id or _new_run_id(root, config["name"])
    staging = root / f".staging-{run_id}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    started = time.perf_counter()
    before = dict(encoder_stats)
    try:
        metrics, model, predictions, test_predictions = _train_and_evaluate(
            config, train, held_out, dims, schema, progress)
        metrics["run_id"] = run_id
        metrics["seconds"] = round(time.perf_counter() - started, 2)
        if skipped_dims:
            metrics["skipped_dimensions"] = skipped_dims
        (staging / "config.toml").write_text(dump_config(config), encoding="utf-8")
        with encoders_saved_in(staging):  # fine-tuned weights go beside the model, hashed in the manifest
            joblib.dump(model, staging / MODEL_FILE)
        if portable.export(model, staging, train.texts):  # scored without scikit-learn (starts faster)
            scored_as = portable.load((staging / portable.PORTABLE_FILE).read_bytes(),
                                      (staging / portable.ARRAYS_FILE).read_bytes())
        else:
            with encoders_loaded_from(staging):  # as scoring will load it: fine-tuned encoders from their files
                scored_as = joblib.load(staging / MODEL_FILE)
        metrics["speed"] = scoring_speed(scored_as, train.texts)
        pq.write_table(predictions, staging / "cv_predictions.parquet")
        _measure_quantifiers(metrics, predictions.to_pandas(), model.labels, config["seed"])
        if test_predictions is not None:
            pq.write_table(test_predictions, staging / "test_predictions.parquet")
        (staging / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
        if report:
            from stance.experiments.report import write_run_report
            write_run_report(staging / "report.html", run_id, config, metrics)
        manifest = {
            "run_id": run_id,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "config_name": config["name"],
            "config_hash": chash,
            "seed": config["seed"],
            "schema": schema.to_dict(),
            "schema_fingerprint": schema.fingerprint,
            "labels": {dim: schema.dimension(dim).names for dim in dims},
            "data": {"path": str(train.path), "hash": train.hash, "rows": len(train.texts)},
            "test_data": {"path": str(held_out.path), "hash": held_out.hash, "rows": len(held_out.texts)}
            if held_out else None,
            "embeddings": {k: encoder_stats[k] - before.get(k, 0) for k in ("encoded", "cached")},
            "encoders": embeddings.encoder_records(model.estimators()),
            "versions": _versions(config),
            "git_commit": git_commit(),
            "files": file_hashes(staging),
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        sign_run(staging, (staging / MANIFEST).read_bytes())
        final = root / run_id
        staging.rename(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return RunResult(final, run_id, metrics)


def select_dimensions(config: dict, data: LabelledData, schema: Schema) -> tuple[list[str], dict[str, str]]:
    """The dimensions to train, and why each other one is skipped; checked before any slow work.

    A dimension the config names must be in the data. One without two classes among its
    resolved labels, or whose labelled sentences come from a single article (no grouped
    cross-validation), is skipped with its reason; only when nothing is left is it an error.
    """
    wanted = config["dimensions"] or [d for d in schema.names if d in data.labels]
    trained, skipped = [], {}
    for dim in wanted:
        schema.dimension(dim)
        if dim not in data.labels:
            raise StanceError(f"{data.path}: has no labels for dimension {dim!r} that the config asks for "
                              f"(it has {', '.join(data.labels)})")
        resolved = data.labels[dim] >= 0
        classes = len(np.unique(data.labels[dim][resolved]))
        if classes < 2:
            skipped[dim] = (f"fewer than two classes among its {int(resolved.sum()):,} resolved labels"
                            if resolved.any() else "no resolved labels")
        elif len(np.unique(data.article_ids[resolved])) < 2:
            skipped[dim] = "its labelled sentences come from one article: grouped cross-validation needs two"
        else:
            trained.append(dim)
    if not trained:
        reasons = "; ".join(f"{d}: {why}" for d, why in skipped.items())
        raise StanceError(f"{data.path}: no dimension can be trained ({reasons}); label more before training")
    return trained, skipped


def _warm_embeddings(config: dict, texts, progress: bool) -> None:
    """Encode every sentence once per backend, with a progress bar, before the folds read the cache:
    torch vectors to train on, int8 ONNX vectors to predict held-out sentences as scoring will."""
    for block in config["features"].values():
        if block["type"] == "embeddings":
            params = {k: v for k, v in block.items() if k not in ("type", "weight", "progress")}
            embeddings.SentenceEmbedder(**params, progress=progress).transform(texts)
            if params.get("backend", TRAINING_BACKEND) != SCORING_BACKEND:
                try:
                    embeddings.SentenceEmbedder(**{**params, "backend": SCORING_BACKEND},
                                                progress=progress).transform(texts)
                except EncoderError:  # a model ONNX cannot run: held-out sentences are predicted with torch
                    pass


def _as_scored(estimators):
    """Inside, the transformer encoders among ``estimators`` run as ``stance score`` runs them
    (int8 ONNX), so that held-out errors, and the corrections ``estimate`` draws from them,
    describe the labels scoring gives. Encoders are trained with torch, the reference; a model
    ONNX cannot run is scored as trained (scoring says so). Yields the encoders switched."""
    return embeddings.on_backend(estimators, SCORING_BACKEND)


def _rechecked(fast: np.ndarray, reference: np.ndarray, fold_of: np.ndarray) -> tuple[np.ndarray, dict]:
    """Held-out probabilities as scoring gives them: int8, and torch's for near-ties, each fold's
    under a threshold set on the other folds, so that the agreement reported is out of sample.
    Also the agreement with torch before and after, the share re-predicted, and the threshold
    set on every fold, which the saved model uses."""
    ties = np.zeros(len(fast), dtype=bool)
    for k in np.unique(fold_of):
        here = fold_of == k
        ties[here] = recheck.margins(fast[here]) < recheck.threshold(fast[~here], reference[~here])
    scored = np.where(ties[:, None], reference, fast)
    same = reference.argmax(axis=1)
    return scored, {"agreement": round(float(np.mean(fast.argmax(axis=1) == same)), 4),
                    "agreement_rechecked": round(float(np.mean(scored.argmax(axis=1) == same)), 4),
                    "rechecked": round(float(np.mean(ties)), 4),
                    "threshold": recheck.threshold(fast, reference)}


def _train_and_evaluate(config, train: LabelledData, held_out, dims, schema, progress):
    _warm_embeddings(config, list(dict.fromkeys([*train.texts, *(held_out.texts if held_out else [])])),
                     progress)
    n_folds = config["cv"]["folds"]
    grid = search_grid(config)
    metrics = {"config": config["name"], "dimensions": {}}
    labels = {dim: schema.dimension(dim).names for dim in dims}
    columns: dict[str, list] = {"sentence_id": list(train.sentence_ids), "article_id": list(train.article_ids)}
    if "source" in train.fields:  # kept by `labels import --keep source`: estimate then learns how outlets differ
        columns["source"] = list(train.fields["source"])
    rows: dict[str, np.ndarray] = {}
    thresholds: dict[str, float] = {}
    for dim in dims:
        names = labels[dim]
        y_all = train.labels[dim]
        keep = rows[dim] = np.flatnonzero(y_all >= 0)
        skipped = {status: int(n) for status, n in
                   zip(*np.unique(train.statuses[dim][y_all < 0], return_counts=True))}
        X, y, groups = train.texts[keep], y_all[keep], train.groups[keep]
        folds = min(n_folds, len(np.unique(groups)))  # at least 2: select_dimensions checked
        splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=config["seed"])
        proba = np.zeros((len(y), len(names)))
        fold_of = np.zeros(len(y), dtype=np.int64)
        chosen = []
        reference = None  # torch's held-out probabilities, where the folds predicted with int8
        with warnings.catch_warnings(), progress_bar(f"{dim}: {folds}-fold CV", folds, enabled=progress,
                                                     unit="fits") as bar:
            warnings.filterwarnings("ignore", message=".*least populated class.*")
            for k, (tr, te) in enumerate(splitter.split(X, y, groups)):
                fitted, params = _fit(config, grid, X[tr], y[tr], groups[tr], progress)
                with _as_scored([fitted]) as switched:
                    proba[te] = aligned_proba(fitted, X[te], len(names))
                if switched:
                    reference = np.zeros_like(proba) if reference is None else reference
                    reference[te] = aligned_proba(fitted, X[te], len(names))
                fold_of[te] = k
                chosen.append(params)
                bar.advance()
        int8 = None
        if reference is not None:
            proba, int8 = _rechecked(proba, reference, fold_of)
            thresholds[dim] = int8["threshold"]
        pred = proba.argmax(axis=1)
        entry = {"cv": {**scores(y, pred, names), "folds": folds, "skipped": skipped}}
        if int8:
            entry["int8"] = int8
        if grid:
            entry["search"] = {"per_fold": chosen}
        _add_columns(columns, dim, names, keep, len(train.texts), y, pred, proba, fold_of)
        metrics["dimensions"][dim] = entry
    with warnings.catch_warnings(), progress_bar("final model", 1, enabled=progress, unit="fits") as bar:
        warnings.filterwarnings("ignore", message=".*least populated class.*")
        model, final_params = _fit_final(config, grid, train, rows, labels, progress)
        model.recheck = thresholds or None
        bar.advance()
    if grid:
        for dim, params in final_params.items():
            metrics["dimensions"][dim]["search"]["final"] = params
    test_columns = None
    if held_out is not None:
        test_columns = {"sentence_id": list(held_out.sentence_ids), "article_id": list(held_out.article_ids)}
        with _as_scored(model.estimators()):
            test_proba = model.predict_proba(held_out.texts)
        for dim in dims:
            if dim not in held_out.labels:
                continue
            t_keep = np.flatnonzero(held_out.labels[dim] >= 0)
            t_y, t_proba = held_out.labels[dim][t_keep], test_proba[dim][t_keep]
            t_pred = t_proba.argmax(axis=1)
            metrics["dimensions"][dim]["test"] = scores(t_y, t_pred, labels[dim])
            _add_columns(test_columns, dim, labels[dim], t_keep, len(held_out.texts), t_y, t_pred, t_proba, None)
    return metrics, model, pa.table(columns), pa.table(test_columns) if test_columns else None


def _fit_final(config, grid, train: LabelledData, rows: dict[str, np.ndarray], labels,
               progress: bool = False) -> tuple[StanceModel, dict]:
    """The model a run saves. Its feature blocks are fitted once, on every labelled sentence,
    and shared by the dimensions' heads, so scoring computes them once per sentence; each head
    is fitted (and searched) on its own dimension's rows. A search over feature parameters may
    choose differently per dimension, so it keeps a whole pipeline per dimension. A fine-tuned
    encoder learns from every dimension's labels at once (a column each, -1 where missing)."""
    if any(name.startswith("features__") for name in grid):
        fitted = {dim: _fit(config, grid, train.texts[keep], train.labels[dim][keep], train.groups[keep], progress)
                  for dim, keep in rows.items()}
        return (StanceModel({dim: f[0] for dim, f in fitted.items()}, labels),
                {dim: f[1] for dim, f in fitted.items()})
    everything = np.unique(np.concatenate(list(rows.values())))
    template = build_pipeline(config)
    features = template.named_steps["features"]
    embeddings.show_progress(features, progress)
    X = features.fit_transform(train.texts[everything],
                               np.column_stack([train.labels[dim][everything] for dim in rows]))
    heads, params = {}, {}
    for dim, keep in rows.items():
        at = np.searchsorted(everything, keep)
        head_grid = {name.removeprefix("model__"): values for name, values in grid.items()}
        heads[dim], chosen = _fit_searched(config, head_grid, clone(template.named_steps["model"]), X[at],
                                           train.labels[dim][keep], train.groups[keep])
        params[dim] = {f"model__{k}": v for k, v in chosen.items()} if chosen else None
    return StanceModel(heads, labels, features=features), params


def scoring_speed(model: StanceModel | portable.PortableModel, texts, *, sample: int = SPEED_SAMPLE,
                  budget_s: float = SPEED_BUDGET_S) -> dict:
    """Sentences/s of the saved model over its own training sentences, as ``stance score`` computes
    them: every feature block afresh (no cached vectors), transformer encoders through int8 ONNX
    (near-ties again in float32: fewer among training sentences than in new text), a portable
    model from its arrays. Timed batch by batch until ``sample`` sentences or
    ``budget_s`` seconds, after one warm-up batch (which loads the encoder)."""
    texts = list(dict.fromkeys(str(t) for t in texts))[:sample]
    backend = SCORING_BACKEND if model.encoders() else None
    try:
        done, seconds = _time_batches(model, texts, backend, budget_s)
    except EncoderError:  # an encoder ONNX cannot run (its error says so when scoring): torch, as scoring must
        backend = TRAINING_BACKEND
        done, seconds = _time_batches(model, texts, backend, budget_s)
    return {"sentences_per_s": round(done / seconds, 1) if seconds else None, "sentences": done,
            "backend": backend, "cpus": os.cpu_count()}


def _time_batches(model: StanceModel | portable.PortableModel, texts: list[str], backend: str | None,
                  budget_s: float) -> tuple[int, float]:
    """Time ``model`` (a copy loaded for this: its backend is left as set) over ``texts``."""
    if backend:
        model.use_backend(backend)
    done, seconds = 0, 0.0
    with uncached():
        model.predict_proba(texts[:SPEED_BATCH // 8])
        if getattr(model, "recheck", None):  # load the float32 encoder too, which re-predicts near-ties
            with embeddings.on_backend(model.estimators(), RECHECK_BACKEND, only_from=backend):
                model.predict_proba(texts[:8])
        for start in range(0, len(texts), SPEED_BATCH):
            batch = texts[start:start + SPEED_BATCH]
            began = time.perf_counter()
            model.predict_proba(batch)
            seconds += time.perf_counter() - began
            done += len(batch)
            if seconds > budget_s:
                break
    return done, seconds


def _fit(config, grid, X, y, groups, progress: bool = False):
    pipeline = build_pipeline(config)
    embeddings.show_progress(pipeline, progress)
    return _fit_searched(config, grid, pipeline, X, y, groups)


def _fit_searched(config, grid, estimator, X, y, groups):
    """``estimator`` fitted, with ``grid`` searched inside the data when there is one; and the choice."""
    if not grid:
        return estimator.fit(X, y), None
    inner = min(config["search"].get("inner_folds", 3), len(np.unique(groups)))
    search = GridSearchCV(estimator, grid, scoring=config["search"].get("scoring", "f1_macro"),
                          cv=StratifiedGroupKFold(n_splits=inner, shuffle=True, random_state=config["seed"]),
                          refit=True, n_jobs=1)
    search.fit(X, y, groups=groups)
    return search.best_estimator_, {k: list(v) if isinstance(v, tuple) else v
                                    for k, v in search.best_params_.items()}


def _measure_quantifiers(metrics: dict, predictions, labels: dict[str, list[str]], seed: int) -> None:
    """Which share estimator to trust and how far off it was under shift, measured on the held-out
    predictions (``stance estimate`` uses it; see :func:`stance.quantify.measure`)."""
    from stance import quantify
    for dim, names in labels.items():
        reference = quantify.Reference.from_predictions(predictions, dim, names)
        metrics["dimensions"][dim]["quantification"] = quantify.measure(reference, seed=seed).to_dict()


def _add_columns(columns, dim, names, rows, n_total, y, pred, proba, fold_of):
    """Wide prediction columns for one dimension; rows it skipped stay null."""
    def spread(values, kind=None):
        out = [None] * n_total
        for r, v in zip(rows, values):
            out[r] = v if kind is None else kind(v)
        return out
    columns[f"{dim}_true"] = spread(y, lambda i: names[i])
    columns[f"{dim}_pred"] = spread(pred, lambda i: names[i])
    if fold_of is not None:
        columns[f"{dim}_fold"] = spread(fold_of, int)
    for c, name in enumerate(names):
        columns[f"{dim}_p_{name}"] = spread(proba[:, c], float)


def _new_run_id(root: Path, name: str) -> str:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{name}"
    run_id, n = base, 1
    while (root / run_id).exists():
        n += 1
        run_id = f"{base}-{n}"
    return run_id


def _versions(config: dict) -> dict:
    versions = {"python": platform.python_version(), "stance": stance.__version__,
                "scikit-learn": sklearn.__version__, "numpy": np.__version__, "joblib": joblib.__version__,
                "pyarrow": pa.__version__}
    kinds = {b["type"] for b in config["features"].values()}
    transformer = ("torch", "sentence_transformers", "transformers", "onnxruntime")
    packages = {"embeddings": transformer, "finetuned": transformer, "static": ("model2vec",)}
    for kind in kinds & set(packages):
        for package in packages[kind]:
            try:
                versions[package] = __import__(package).__version__
            except ImportError:
                continue
    return versions


def git_commit() -> str | None:
    """The commit of the working tree stance runs from, if it is a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None
