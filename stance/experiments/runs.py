"""Run directories: what a finished run holds, and loading one safely.

A run directory is written whole under a temporary name and renamed when complete,
so a half-written run is never seen. ``manifest.json`` lists the sha256 of every
other file; :func:`load_run` checks them all, and the schema, before it unpickles
``model.joblib`` (unpickling runs code, so a changed file is never opened).

Hashes catch accidents, not someone who rewrites a model and its manifest together.
So every run is signed: ``manifest.sig`` holds an HMAC-SHA256 of the manifest's bytes
under a key of this user's (``~/.config/stance/signing.key``, mode 0600; the
directory is ``$STANCE_CONFIG_DIR`` when set). A model is unpickled only from a run
whose signature checks; a run made elsewhere is refused until the user says
:func:`trust_run` (``stance experiments trust RUN``), which signs it with their key.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stance.encoders import check_recorded
from stance.errors import StanceError
from stance.experiments import portable
from stance.experiments.recheck import near_ties, rechecked
from stance.schema import Schema, load_schema

DEFAULT_RUNS_DIR = Path("artifacts/runs")
RUNS_ENV = "STANCE_RUNS_DIR"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
MODEL_FILE = "model.joblib"
CONFIG_ENV = "STANCE_CONFIG_DIR"


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
            for p in sorted(directory.rglob("*")) if p.is_file() and p.name not in (MANIFEST, SIGNATURE)}


def config_dir() -> Path:
    """This user's stance settings: ``$STANCE_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/stance`` or ``~/.config/stance``."""
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "stance"


def signing_key() -> bytes:
    """This user's key for signing runs, made at random on first use and kept 0600."""
    path = config_dir() / "signing.key"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            return bytes.fromhex(path.read_text().strip())
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
    return bytes.fromhex(path.read_text().strip())


def _signature(manifest_bytes: bytes) -> str:
    return hmac.new(signing_key(), manifest_bytes, hashlib.sha256).hexdigest()


def sign_run(path: Path) -> None:
    """Sign the run at ``path`` (its manifest as it is now) with this user's key."""
    (Path(path) / SIGNATURE).write_text(_signature((Path(path) / MANIFEST).read_bytes()) + "\n")


def trust_run(ref: str | os.PathLike) -> Path:
    """Accept a run made by someone else: check its files against its manifest, then sign it
    with this user's key, so that :func:`load_run` opens it. Trust only runs whose source you trust:
    unpickling a model runs its code."""
    path = resolve_run(ref)
    verify_run(path)
    sign_run(path)
    return path


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
    """What ``model.joblib`` holds: per dimension a fitted pipeline, or, when ``features``
    is set, a head over those shared features, computed once for every dimension."""

    pipelines: dict[str, object]
    labels: dict[str, list[str]]
    features: object | None = None
    #: per dimension, the margin under which a label from int8 encoders is a near-tie,
    #: predicted again in float32 (see ``stance.experiments.recheck``); None without encoders
    recheck: dict[str, float] | None = None

    def predict_proba(self, sentences) -> dict[str, np.ndarray]:
        """Per dimension, an (n, classes) array in the schema's class order. With encoders on int8
        ONNX, near-ties are predicted again in float32, so that labels agree with torch's."""
        sentences = list(sentences)
        proba = self._proba(sentences)
        ties = near_ties(proba, self.recheck) if self.recheck and sentences else None
        if ties is not None and ties.any():
            from stance.encoders import RECHECK_BACKEND
            from stance.experiments.embeddings import on_backend
            with on_backend(self.estimators(), RECHECK_BACKEND, only_from="onnx") as switched:
                if switched:
                    again = self._proba([sentences[i] for i in np.flatnonzero(ties)])
                    for dim, p in proba.items():
                        p[ties] = again[dim]
                    rechecked["sentences"] += int(ties.sum())
        return proba

    def _proba(self, sentences: list) -> dict[str, np.ndarray]:
        X = self.features.transform(sentences) if self.features is not None and sentences else sentences
        return {dim: aligned_proba(pipe, X, len(self.labels[dim])) for dim, pipe in self.pipelines.items()}

    def predict(self, sentences) -> dict[str, list[str]]:
        return {dim: [self.labels[dim][i] for i in proba.argmax(axis=1)]
                for dim, proba in self.predict_proba(sentences).items()}

    def estimators(self) -> list:
        return [*([self.features] if self.features is not None else []), *self.pipelines.values()]

    def encoders(self) -> list:
        """The transformer encoders (frozen or fine-tuned) inside the model."""
        from stance.experiments.embeddings import transformer_encoders
        return transformer_encoders(self.estimators())

    def use_backend(self, backend: str, prepare: bool = False) -> None:
        """Run the model's transformer encoders on ``backend``; with ``prepare``, export what it needs
        now, near-ties' float32 encoder included."""
        from stance.encoders import RECHECK_BACKEND
        from stance.experiments.embeddings import on_backend, use_backend
        use_backend(self.estimators(), backend, prepare)
        if prepare and self.recheck:
            with on_backend(self.estimators(), RECHECK_BACKEND, only_from="onnx"):
                pass  # switching there prepares it


def aligned_proba(pipeline, X, n_classes: int) -> np.ndarray:
    """``predict_proba`` with a column for every schema class, zero for classes unseen in training."""
    rows = X.shape[0] if hasattr(X, "shape") else len(X)
    out = np.zeros((rows, n_classes))
    if rows:
        out[:, pipeline.classes_] = pipeline.predict_proba(X)
    return out


@dataclass
class Run:
    """A verified run: its manifest, config and metrics, and the model once loaded."""

    path: Path
    manifest: dict
    model: StanceModel | portable.PortableModel | None = field(default=None, repr=False)

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


def resolve_run(ref: str | os.PathLike, runs: str | os.PathLike | None = None) -> Path:
    """A run directory from a path, or a run id or ``latest`` under ``runs`` (default: the runs
    directory, ``artifacts/runs`` or ``$STANCE_RUNS_DIR``)."""
    path = Path(ref)
    if (path / MANIFEST).is_file():
        return path
    root = Path(runs) if runs is not None else runs_dir()
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
    return sorted(runs, key=lambda p: (str(read_manifest(p).get("created")), p.name))


def read_manifest(path: Path) -> dict:
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunError(f"{path / MANIFEST}: damaged or unreadable ({exc}); move that run out of the runs "
                       "directory or re-run its experiment") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("run_id"), str):
        raise RunError(f"{path / MANIFEST}: damaged (no run id); move that run out of the runs directory or "
                       "re-run its experiment")
    return manifest


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
             check_schema: bool = True, prefer_portable: bool = False) -> Run:
    """Open a run after checking its files and that it was trained on ``schema``'s labels.

    With the model, the run's signature is checked first, and the model file is read
    once: the bytes hashed are the bytes unpickled. ``schema`` defaults to the current
    one (``labels/schema.toml``); ``check_schema=False`` is for reading a run's records
    (listing), never for predicting. ``prefer_portable`` loads the model from its arrays when the
    run has them (see ``stance.experiments.portable``): same probabilities, and no scikit-learn
    to import.
    """
    path = resolve_run(ref)
    if with_model:
        _check_signature(path)
    manifest = verify_run(path)
    if check_schema:
        _check_schema(path, manifest, schema or load_schema())
    run = Run(path, manifest)
    if with_model and prefer_portable and portable.PORTABLE_FILE in manifest["files"]:
        run.model = portable.load(_checked_bytes(path, manifest, portable.PORTABLE_FILE),
                                  _checked_bytes(path, manifest, portable.ARRAYS_FILE))
    if with_model and run.model is None:
        import joblib

        from stance.experiments.finetune import encoders_loaded_from
        check_recorded(manifest.get("encoders") or [], path)
        data = _checked_bytes(path, manifest, MODEL_FILE)
        with encoders_loaded_from(path):
            run.model = joblib.load(io.BytesIO(data))
    return run


def _checked_bytes(path: Path, manifest: dict, name: str) -> bytes:
    """A run file's bytes, read once, so that the bytes hashed are the bytes loaded."""
    data = (path / name).read_bytes()
    if hashlib.sha256(data).hexdigest() != manifest["files"].get(name):
        raise RunError(f"{path / name}: changed while it was being checked; refusing to load it")
    return data


def _check_signature(path: Path) -> None:
    signature = path / SIGNATURE
    if not signature.is_file():
        raise RunError(f"{path}: the run is not signed (made by an older stance, or elsewhere); if you trust "
                       f"where it came from, `stance experiments trust {path}` signs it with your key")
    manifest = (path / MANIFEST).read_bytes()
    if not hmac.compare_digest(signature.read_text().strip(), _signature(manifest)):
        raise RunError(f"{path}: the run was not made by this user, or was changed since (its signature does "
                       "not match). Refusing to load it: a model file runs code when opened. If you trust where "
                       f"it came from, `stance experiments trust {path}` signs it with your key")


def _check_schema(path: Path, manifest: dict, schema: Schema) -> None:
    current = schema.to_dict()
    for dim, names in manifest["labels"].items():
        if dim not in current:
            raise RunError(f"{path}: the run predicts {dim!r}, which the schema ({schema.path}) does not have")
        if current[dim] != names:
            raise RunError(f"{path}: the run's {dim!r} choices {names} differ from the schema's {current[dim]} "
                           f"({schema.path}); retrain on labels of this schema")
