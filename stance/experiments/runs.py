"""Run directories: what a finished run holds, and loading one safely.

A run directory is written whole under a temporary name and renamed when complete,
so a half-written run is never seen. ``manifest.json`` lists the sha256 of every
other file; :func:`load_run` checks them all, and the schema, before it unpickles
``model.joblib`` (unpickling runs code, so a changed file is never opened).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np

from stance.errors import StanceError
from stance.schema import Schema, load_schema

DEFAULT_RUNS_DIR = Path("artifacts/runs")
RUNS_ENV = "STANCE_RUNS_DIR"
MANIFEST = "manifest.json"
MODEL_FILE = "model.joblib"


class RunError(StanceError):
    """A run that is missing, incomplete, changed since it was written, or of another schema."""


def runs_dir() -> Path:
    return Path(os.environ.get(RUNS_ENV) or DEFAULT_RUNS_DIR)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_hashes(directory: Path) -> dict[str, str]:
    return {p.relative_to(directory).as_posix(): sha256_file(p)
            for p in sorted(directory.rglob("*")) if p.is_file() and p.name != MANIFEST}


def git_commit() -> str | None:
    """The commit of the working tree stance runs from, if it is a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


@dataclass
class StanceModel:
    """One fitted pipeline per dimension; what ``model.joblib`` holds."""

    pipelines: dict[str, object]
    labels: dict[str, list[str]]

    def predict_proba(self, sentences) -> dict[str, np.ndarray]:
        """Per dimension, an (n, classes) array in the schema's class order."""
        sentences = list(sentences)
        return {dim: aligned_proba(pipe, sentences, len(self.labels[dim])) for dim, pipe in self.pipelines.items()}

    def predict(self, sentences) -> dict[str, list[str]]:
        return {dim: [self.labels[dim][i] for i in proba.argmax(axis=1)]
                for dim, proba in self.predict_proba(sentences).items()}


def aligned_proba(pipeline, texts, n_classes: int) -> np.ndarray:
    """``predict_proba`` with a column for every schema class, zero for classes unseen in training."""
    out = np.zeros((len(texts), n_classes))
    if len(texts):
        out[:, pipeline.classes_] = pipeline.predict_proba(texts)
    return out


@dataclass
class Run:
    """A verified run: its manifest, config and metrics, and the model once loaded."""

    path: Path
    manifest: dict
    model: StanceModel | None = field(default=None, repr=False)

    @property
    def run_id(self) -> str:
        return self.manifest["run_id"]

    @property
    def dimensions(self) -> list[str]:
        return list(self.manifest["labels"])

    @property
    def labels(self) -> dict[str, list[str]]:
        return self.manifest["labels"]

    @property
    def metrics(self) -> dict:
        return json.loads((self.path / "metrics.json").read_text(encoding="utf-8"))

    def predict_proba(self, sentences) -> dict[str, np.ndarray]:
        return self._model().predict_proba(sentences)

    def predict(self, sentences) -> dict[str, list[str]]:
        return self._model().predict(sentences)

    def _model(self) -> StanceModel:
        if self.model is None:
            raise RunError(f"{self.path}: opened without its model; use load_run()")
        return self.model


def resolve_run(ref: str | os.PathLike) -> Path:
    """A run directory from a path, a run id under the runs directory, or ``latest``."""
    path = Path(ref)
    if (path / MANIFEST).is_file():
        return path
    root = runs_dir()
    if str(ref) == "latest":
        runs = list_run_dirs(root)
        if not runs:
            raise RunError(f"no runs under {root} yet; make one with `stance experiments run`")
        return runs[-1]
    if (root / str(ref) / MANIFEST).is_file():
        return root / str(ref)
    if path.is_dir():
        raise RunError(f"{path}: not a complete run (no {MANIFEST})")
    raise RunError(f"no run {str(ref)!r}: not a directory, nor a run id under {root} "
                   "(see `stance experiments list`)")


def list_run_dirs(root: Path | None = None) -> list[Path]:
    """Complete runs under ``root``, oldest first."""
    root = root or runs_dir()
    if not root.is_dir():
        return []
    runs = [p for p in root.iterdir() if (p / MANIFEST).is_file() and not p.name.startswith(".")]
    return sorted(runs, key=lambda p: (json.loads((p / MANIFEST).read_text())["created"], p.name))


def read_manifest(path: Path) -> dict:
    try:
        return json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RunError(f"{path / MANIFEST}: unreadable ({exc})") from None


def verify_run(path: Path) -> dict:
    """Check every file against the manifest; return the manifest."""
    manifest = read_manifest(path)
    recorded = manifest.get("files") or {}
    if MODEL_FILE not in recorded:
        raise RunError(f"{path}: the manifest lists no {MODEL_FILE}")
    actual = file_hashes(path)
    changed = sorted(name for name, digest in recorded.items() if actual.get(name) != digest)
    added = sorted(set(actual) - set(recorded))
    if changed or added:
        parts = []
        if changed:
            parts.append("changed or missing: " + ", ".join(changed))
        if added:
            parts.append("not in the manifest: " + ", ".join(added))
        raise RunError(f"{path}: files differ from the run's manifest ({'; '.join(parts)}). "
                       "Refusing to load it: a model file runs code when opened. Re-run the experiment.")
    return manifest


def load_run(ref: str | os.PathLike, schema: Schema | None = None, *, with_model: bool = True,
             check_schema: bool = True) -> Run:
    """Open a run after checking its files and that it was trained on ``schema``'s labels.

    ``schema`` defaults to the current one (``labels/schema.toml``); ``check_schema=False``
    is for reading a run's records (listing), never for predicting.
    """
    path = resolve_run(ref)
    manifest = verify_run(path)
    if check_schema:
        _check_schema(path, manifest, schema or load_schema())
    run = Run(path, manifest)
    if with_model:
        run.model = joblib.load(path / MODEL_FILE)
    return run


def _check_schema(path: Path, manifest: dict, schema: Schema) -> None:
    current = schema.to_dict()
    for dim, names in manifest["labels"].items():
        if dim not in current:
            raise RunError(f"{path}: the run predicts {dim!r}, which the schema ({schema.path}) does not have")
        if current[dim] != names:
            raise RunError(f"{path}: the run's {dim!r} choices {names} differ from the schema's {current[dim]} "
                           f"({schema.path}); retrain on labels of this schema")
