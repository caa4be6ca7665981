"""Transformer encoders through ONNX Runtime, int8 dynamically quantized, for scoring.

The model's transformer is exported once to ONNX (torch's exporter), its weights
quantized to int8 per channel (``onnxruntime.quantization.quantize_dynamic``), and the
result kept under the cache directory by the model's identity. Encoding then needs
only ONNX Runtime and the model's ``tokenizer.json``: no torch, no transformers.
Pooling and normalisation follow the model's own sentence-transformers modules.

Measured on BASIL sentences, two cores, side by side: 2.2x torch's sentences/s, cosine
0.992 to torch's vectors. Per-tensor weight scales were as fast but reached only 0.956.
Keeping the six feed-forward output projections in float (their GELU inputs have
outliers) raised the cosine to 0.996 but cost a fifth of the speed (1.8x) and moved
label agreement with torch from 97.8% to only 98.0%; onnxruntime's transformer graph
optimiser added nothing.
The float32 export is kept beside the int8 file (backend ``onnx-fp32``): torch's arithmetic
(cosine 1.0000, the same labels on 2,000 BASIL sentences) at 1.2x its speed, loaded in 0.4 s
where torch takes 5. Scoring runs it on int8's near-ties (``stance.model.recheck``).
sentence-transformers' own ONNX backend needs optimum, which does not install beside
transformers 5; this module is its equivalent for the models it supports.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

import stance.encoders
from stance.encoders import (RECHECK_BACKEND, SCORING_BACKEND, TRAINING_BACKEND, EncoderError, EncoderFiles,
                             quiet_transformers, read_json)

#: Bumped when the export or quantization changes, so that cached files and vectors of an older recipe are not reused.
RECIPE = "int8-r1"
QUANTIZED = f"model.{RECIPE}.onnx"
FLOAT = "model.fp32-r1.onnx"
#: The file each ONNX backend runs.
MODEL_FILES = {SCORING_BACKEND: QUANTIZED, RECHECK_BACKEND: FLOAT}
_POOLING = ("mean", "cls", "max")
_sessions: dict[tuple, "OnnxEncoder"] = {}


def vector_tag(backend: str) -> str:
    """What vectors are cached under, beside the model's identity: ``torch``, ``onnx-int8-r1``, ``onnx-fp32-r1``."""
    if backend == TRAINING_BACKEND:
        return TRAINING_BACKEND
    return "onnx-" + MODEL_FILES[backend].removeprefix("model.").removesuffix(".onnx")


def onnx_encoder(files: EncoderFiles, cache_dir: Path, device: str = "cpu",
                 backend: str = SCORING_BACKEND) -> "OnnxEncoder":
    """The ONNX encoder ``backend`` names for ``files``, exported on first use, loaded once per process."""
    key = (files.identity, device, backend)
    if key not in _sessions:
        _sessions[key] = OnnxEncoder(files, onnx_model(files, cache_dir, backend), device)
    return _sessions[key]


def onnx_model(files: EncoderFiles, cache_dir: Path, backend: str = SCORING_BACKEND) -> Path:
    """The cached ONNX file ``backend`` runs (int8, or float32), made if missing: the float32 export
    first (kept: it is the recheck's, and int8's source), then int8 from it; each written aside, then renamed."""
    directory = cache_dir / "onnx" / files.identity
    target = directory / MODEL_FILES[backend]
    if target.is_file():
        return target
    _runtime("onnx")  # the exporter writes with it
    layout = _layout(files.path)
    directory.mkdir(parents=True, exist_ok=True)
    full = directory / FLOAT
    partial = directory / f"model.{os.getpid()}.onnx"
    try:
        if not full.is_file():
            _export(files.path / layout["transformer"], partial)
            partial.replace(full)
        if backend == SCORING_BACKEND:
            from onnxruntime.quantization import QuantType, quantize_dynamic
            root = logging.getLogger()
            level = root.level
            root.setLevel(logging.ERROR)  # quantize_dynamic advises pre-processing on the root logger
            try:
                quantize_dynamic(full, partial, weight_type=QuantType.QInt8, per_channel=True,
                                 extra_options={"DefaultTensorType": 1})  # FLOAT, for shapes the exporter left open
            finally:
                root.setLevel(level)
            partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def _export(transformer_dir: Path, out: Path) -> None:
    quiet_transformers()
    import warnings

    import torch
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(transformer_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(transformer_dir)
    sample = tokenizer(["an example sentence", "a second, longer example sentence"], padding=True,
                       return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]

    class LastHidden(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *inputs):
            return self.inner(**dict(zip(names, inputs))).last_hidden_state

    axes = {name: {0: "batch", 1: "tokens"} for name in [*names, "hidden"]}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(LastHidden(model), tuple(sample[n] for n in names), str(out), input_names=names,
                          output_names=["hidden"], dynamic_axes=axes, opset_version=17, dynamo=False)


def _runtime(*also: str):
    """onnxruntime (after the modules ``also`` names), or one clear error when the extra that brings them is missing."""
    import importlib
    try:
        for name in also:
            importlib.import_module(name)
        return importlib.import_module("onnxruntime")
    except ImportError as exc:
        raise EncoderError(f"ONNX scoring needs onnx and onnxruntime ({exc}): pip install 'stance[embeddings]', "
                           "or use backend='torch'") from None


def supported(path: Path) -> None:
    """Raise ``EncoderError`` (saying to use torch) unless this module can run the model at ``path``."""
    _layout(path)


def _layout(path: Path) -> dict:
    """The transformer's subdirectory, the pooling, whether vectors are normalised, the max length."""
    try:
        modules = json.loads((path / "modules.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EncoderError(f"{path}: cannot read modules.json ({exc})") from None
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
    if kinds[:2] != ["Transformer", "Pooling"] or any(k not in ("Normalize",) for k in kinds[2:]):
        raise EncoderError(f"{path}: ONNX scoring supports Transformer + Pooling (+ Normalize) models, this one is "
                           f"{' + '.join(kinds)}; score it with backend='torch'")
    pooling_config = read_json(path / modules[1]["path"] / "config.json")
    if "pooling_mode" in pooling_config:  # sentence-transformers 6 names the mode
        modes = [pooling_config["pooling_mode"]] if pooling_config["pooling_mode"] in _POOLING else []
    else:
        modes = [m for m in _POOLING if pooling_config.get("pooling_mode_cls_token" if m == "cls"
                                                           else f"pooling_mode_{m}_tokens")]
    if len(modes) != 1:
        raise EncoderError(f"{path}: ONNX scoring supports one of mean, cls or max pooling; this model's pooling "
                           f"is {pooling_config}; score it with backend='torch'")
    transformer = path / modules[0]["path"]
    max_length = (read_json(transformer / "sentence_bert_config.json").get("max_seq_length")
                  or read_json(transformer / "tokenizer_config.json").get("model_max_length") or 512)
    return {"transformer": modules[0]["path"], "pooling": modes[0], "normalize": "Normalize" in kinds,
            "max_length": min(int(max_length), 8192)}  # some tokenizers say 1e30 for "no limit"


class OnnxEncoder:
    """``encode(texts)`` like sentence-transformers, on an ONNX Runtime session."""

    def __init__(self, files: EncoderFiles, model_file: Path, device: str = "cpu"):
        from tokenizers import Tokenizer

        ort = _runtime()
        self.layout = _layout(files.path)
        transformer = files.path / self.layout["transformer"]
        self.tokenizer = Tokenizer.from_file(str(transformer / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.layout["max_length"])
        pad = self.tokenizer.padding or {}
        self.tokenizer.enable_padding(pad_id=pad.get("pad_id", 0), pad_token=pad.get("pad_token", "[PAD]"))
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if stance.encoders.threads:
            options.intra_op_num_threads = stance.encoders.threads
        providers = (["CUDAExecutionProvider", "CPUExecutionProvider"] if device == "cuda"
                     else ["CPUExecutionProvider"])
        self.session = ort.InferenceSession(str(model_file), options, providers=providers)
        self.inputs = [i.name for i in self.session.get_inputs()]

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Vectors in the order of ``texts``; batches of similar length, so little padding is computed."""
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out: np.ndarray | None = None
        for start in range(0, len(texts), batch_size):
            rows = order[start:start + batch_size]
            vectors = self._batch([texts[i] for i in rows])
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            out[rows] = vectors
        return out if out is not None else np.zeros((0, 0), dtype=np.float32)

    def _batch(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        feed = {"input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64)}
        hidden = self.session.run(None, {name: feed[name] for name in self.inputs})[0]
        mask = feed["attention_mask"][..., None].astype(np.float32)
        pooling = self.layout["pooling"]
        if pooling == "mean":
            vectors = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        elif pooling == "cls":
            vectors = hidden[:, 0]
        else:
            vectors = np.where(mask > 0, hidden, -1e9).max(axis=1)
        if self.layout["normalize"]:
            vectors = vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
        return vectors.astype(np.float32, copy=False)
