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
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stance.encoders import check_recorded
from stance.errors import StanceError
from stance.model import portable
from stance.model.signing import SIGNATURE, check_signature, sign_run
from stance.model.stance_model import StanceModel
from stance.schema import Schema, load_schema

DEFAULT_RUNS_DIR = Path("artifacts/runs")
RUNS_ENV = "STANCE_RUNS_DIR"
MANIFEST = "manifest.json"
MODEL_FILE = "model.joblib"
#: A manifest lists a run's files and figures: a few kB. Anything far larger is not one.
MAX_MANIFEST_BYTES = 16 << 20


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


def trust_run(ref: str | os.PathLike) -> Path:
    """Accept a run made by someone else: check its files against its manifest, then sign it
    with this user's key, so that :func:`load_run` opens it. Trust only runs whose source you trust:
    unpickling a model runs its code."""
    path = resolve_run(ref)
    data = _manifest_bytes(path)
    verify_run(path, data)
    sign_run(path, data)  # the bytes checked, not a manifest swapped in since
    return path


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
    run has them (see ``stance.model.portable``): same probabilities, and no scikit-learn
    to import.
    """
    path = resolve_run(ref)
    data = _manifest_bytes(path)  # read once: the bytes signed are the bytes used
    if with_model:
        check_signature(path, data, RunError)
    manifest = verify_run(path, data)
    if check_schema:
        _check_schema(path, manifest, schema or load_schema())
    run = Run(path, manifest)
    if with_model and prefer_portable and portable.PORTABLE_FILE in manifest["files"]:
        run.model = portable.load(_checked_bytes(path, manifest, portable.PORTABLE_FILE),
                                  _checked_bytes(path, manifest, portable.ARRAYS_FILE))
    if with_model and run.model is None:
        import joblib

        from stance.model.finetune import encoders_loaded_from
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


def _check_schema(path: Path, manifest: dict, schema: Schema) -> None:
    current = schema.to_dict()
    for dim, names in manifest["labels"].items():
        if dim not in current:
            raise RunError(f"{path}: the run predicts {dim!r}, which the schema ({schema.path}) does not have")
        if current[dim] != names:
            raise RunError(f"{path}: the run's {dim!r} choices {names} differ from the schema's {current[dim]} "
                           f"({schema.path}); retrain on labels of this schema")
