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
import stat
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
#: A manifest lists a run's files and figures: a few kB. Anything far larger is not one.
MAX_MANIFEST_BYTES = 16 << 20
CONFIG_ENV = "STANCE_CONFIG_DIR"
#: A new signing key's length; a shorter key than MIN_KEY_BYTES is refused.
KEY_BYTES = 32
MIN_KEY_BYTES = 16


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
    """This user's key for signing runs, made at random on first use and kept 0600. A key that others
    may read or write, that is empty or short, or that is not hex is refused: any of these would let
    someone else sign a model that runs code here."""
    path = config_dir() / "signing.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            return _read_key(path)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(KEY_BYTES) + "\n")
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    """The key file's bytes, opened once (no symlink followed) and checked on that open file."""
    fix = f"remove it to have a new one made (runs signed with it must then be trusted again), or `chmod 600 {path}`"
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise StanceError(f"{path}: the signing key cannot be read ({exc.strerror}); {fix}") from None
    status = os.fstat(fd)
    if not stat.S_ISREG(status.st_mode):
        os.close(fd)
        raise StanceError(f"{path}: the signing key is not a regular file; {fix}")
    with os.fdopen(fd, "rb") as fh:
        if status.st_mode & 0o077:
            raise StanceError(f"{path}: the signing key may be read or written by others (mode "
                              f"{stat.S_IMODE(status.st_mode):o}); `chmod 600 {path}`, and trust again only runs "
                              "you made since it was exposed")
        text = fh.read(4 * KEY_BYTES + 16)
    try:
        key = bytes.fromhex(text.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        raise StanceError(f"{path}: the signing key is not hex; {fix}") from None
    if len(key) < MIN_KEY_BYTES:
        raise StanceError(f"{path}: the signing key holds {len(key)} bytes, fewer than {MIN_KEY_BYTES}: anyone "
                          f"could forge a signature; {fix}")
    return key


def _signature(manifest_bytes: bytes) -> str:
    return hmac.new(signing_key(), manifest_bytes, hashlib.sha256).hexdigest()


def sign_run(path: Path, manifest_bytes: bytes | None = None) -> None:
    """Sign the run at ``path`` with this user's key: ``manifest_bytes`` (those checked), or its
    manifest as it is now."""
    data = (Path(path) / MANIFEST).read_bytes() if manifest_bytes is None else manifest_bytes
    (Path(path) / SIGNATURE).write_text(_signature(data) + "\n")


def trust_run(ref: str | os.PathLike) -> Path:
    """Accept a run made by someone else: check its files against its manifest, then sign it
    with this user's key, so that :func:`load_run` opens it. Trust only runs whose source you trust:
    unpickling a model runs its code."""
    path = resolve_run(ref)
    data = _manifest_bytes(path)
    verify_run(path, data)
    sign_run(path, data)  # the bytes checked, not a manifest swapped in since
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


def read_manifest(path: Path, data: bytes | None = None) -> dict:
    """The run's manifest, parsed from ``data`` (its bytes, read once by the caller) or read now."""
    try:
        manifest = json.loads(_manifest_bytes(path) if data is None else data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunError(f"{path / MANIFEST}: damaged or unreadable ({exc}); move that run out of the runs "
                       "directory or re-run its experiment") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("run_id"), str):
        raise RunError(f"{path / MANIFEST}: damaged (no run id); move that run out of the runs directory or "
                       "re-run its experiment")
    return manifest


def _manifest_bytes(path: Path) -> bytes:
    try:
        with open(path / MANIFEST, "rb") as fh:
            data = fh.read(MAX_MANIFEST_BYTES + 1)
    except OSError as exc:
        raise RunError(f"{path / MANIFEST}: unreadable ({exc.strerror}); move that run out of the runs "
                       "directory or re-run its experiment") from None
    if len(data) > MAX_MANIFEST_BYTES:
        raise RunError(f"{path / MANIFEST}: larger than {MAX_MANIFEST_BYTES:,} bytes; not a manifest stance wrote")
    return data


def verify_run(path: Path, manifest_bytes: bytes | None = None) -> dict:
    """Check every file against the manifest (``manifest_bytes`` when the caller read and checked
    them, so that the manifest used is the one checked); return the manifest."""
    manifest = read_manifest(path, manifest_bytes)
    recorded = manifest.get("files") or {}
    if not isinstance(recorded, dict) or MODEL_FILE not in recorded:
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
    data = _manifest_bytes(path)  # read once: the bytes signed are the bytes used
    if with_model:
        _check_signature(path, data)
    manifest = verify_run(path, data)
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


def _check_signature(path: Path, manifest: bytes) -> None:
    signature = path / SIGNATURE
    if not signature.is_file():
        raise RunError(f"{path}: the run is not signed (made by an older stance, or elsewhere); if you trust "
                       f"where it came from, `stance experiments trust {path}` signs it with your key")
    with open(signature, "rb") as fh:
        signed = fh.read(256).strip()
    if not hmac.compare_digest(signed, _signature(manifest).encode("ascii")):
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
