"""A sentence encoder fine-tuned on the training labels, as a scikit-learn transformer.

``FinetunedEncoder.fit(texts, y)`` trains a copy of a sentence-transformers model with
a softmax head per dimension on its sentence vectors (cross-entropy, classes weighted
to balance, AdamW with a linear warm-up and decay), then drops the heads: ``transform``
gives the fine-tuned vectors, and the config's ``[model]`` is fitted on them like on any
other feature block. ``y`` is one label per text, or a column per dimension (-1 where
a sentence has no label), which is how a run fits one encoder shared by all its
dimensions' heads.

Why this recipe (``benchmarks/finetune_recipes.py``: BASIL, 2,400 training sentences,
a fifth of the events held out, logistic regression on the vectors): frozen MiniLM
0.385 macro-F1; this head, one epoch 0.402, two epochs 0.424; SetFit's contrastive
pairs (CosineSimilarityLoss) at the cost of two epochs 0.407; a learning rate of 2e-5
0.384; 128 tokens instead of 64 0.394. One split of a small task, so a point or two is
noise, but the head at two epochs led.

A run saves the fine-tuned weights as a sentence-transformers directory inside the run
(``encoders/finetuned-N/``, hashed in the manifest like every file); the pickled
estimator holds only that relative name, and ``load_run`` tells it where its run is.
"""

from __future__ import annotations

import copy
import math
import time
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from stance.encoders import (DEFAULT_MODEL, TRAINING_BACKEND, EncoderError, EncoderFiles, identity, locate,
                             resolve_device, sentence_transformer)
from stance.encoders.backends import batch_encoder
from stance.encoders.cache import cache_location
from stance.progress import progress_bar

#: How the encoder learns from the labels: a classification head, or SetFit's contrastive pairs.
OBJECTIVES = ("softmax", "contrastive")
#: Fewer labelled sentences than this cannot fine-tune a transformer usefully (or at all, for small classes).
MIN_SENTENCES = 50
_saving_to: ContextVar[dict | None] = ContextVar("saving_to", default=None)
_loading_from: ContextVar[Path | None] = ContextVar("loading_from", default=None)


@contextmanager
def encoders_saved_in(run_directory: Path):
    """While pickling a model, fine-tuned encoders write their weights under ``run_directory``."""
    token = _saving_to.set({"root": Path(run_directory), "count": 0})
    try:
        yield
    finally:
        _saving_to.reset(token)


@contextmanager
def encoders_loaded_from(run_directory: Path):
    """While unpickling a model, fine-tuned encoders find their weights under ``run_directory``."""
    token = _loading_from.set(Path(run_directory))
    try:
        yield
    finally:
        _loading_from.reset(token)


class FinetunedEncoder(TransformerMixin, BaseEstimator):
    """Fine-tune ``model`` on the labels, then encode with it.

    ``epochs`` may be a fraction (0.5 is half the data once). ``max_length`` cuts
    sentences in tokens (news sentences rarely pass 64). ``max_minutes`` stops
    training early when the time is up and keeps what was learnt. ``backend`` is how
    the saved encoder runs when scoring (``stance score`` sets it); training uses torch.

    ``objective`` is ``"softmax"`` (a classification head per dimension) or
    ``"contrastive"`` (SetFit's first stage, Tunstall et al. 2022: pairs of sentences
    of one class or of two, the cosine of their vectors trained toward 1 or 0; an epoch
    pairs each sentence once, and ``class_weight="balanced"`` draws the first sentence
    of each pair evenly across classes).
    """

    def __init__(self, model: str = DEFAULT_MODEL, epochs: float = 2.0, learning_rate: float = 5e-5,
                 batch_size: int = 16, max_length: int = 64, class_weight: str | None = "balanced",
                 max_minutes: float | None = None, device: str = "auto", backend: str = TRAINING_BACKEND,
                 seed: int = 13, cache_dir: str | None = None, progress: bool = False, objective: str = "softmax"):
        self.model = model
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_length = max_length
        self.class_weight = class_weight
        self.max_minutes = max_minutes
        self.device = device
        self.backend = backend
        self.seed = seed
        self.cache_dir = cache_dir
        self.progress = progress
        self.objective = objective

    def fit(self, X, y):
        import torch
        texts = [str(t) for t in X]
        labels = np.asarray(y).reshape(len(texts), -1)
        labelled = int((labels >= 0).any(axis=1).sum())
        if labelled < MIN_SENTENCES:
            raise EncoderError(f"too few labelled sentences to fine-tune an encoder: {labelled} in a training fold, "
                               f"at least {MIN_SENTENCES} needed; label more, or use a frozen encoder "
                               "(type = \"embeddings\") for data this small")
        if self.epochs <= 0 or self.learning_rate <= 0 or self.batch_size < 1:
            raise EncoderError("epochs, learning_rate and batch_size must be positive")
        if self.objective not in OBJECTIVES:
            raise EncoderError(f"objective: one of {', '.join(OBJECTIVES)}, not {self.objective!r}")
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        device = resolve_device(self.device)
        base = locate(self.model)
        encoder = copy.deepcopy(sentence_transformer(base, "cpu")).to(device)
        encoder.max_seq_length = self.max_length
        width = (getattr(encoder, "get_embedding_dimension", None) or encoder.get_sentence_embedding_dimension)()
        steps = max(1, math.ceil(self.epochs * len(texts) / self.batch_size))
        if self.objective == "softmax":
            batch_loss, trained = self._softmax_loss(encoder, labels, texts, width, rng, device)
        else:
            batch_loss, trained = self._contrastive_loss(encoder, labels, texts, steps, rng, device)
        optimizer = torch.optim.AdamW([*encoder.parameters(), *trained], lr=self.learning_rate)
        warmup = max(1, steps // 10)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup))))
        deadline = time.monotonic() + 60 * self.max_minutes if self.max_minutes else math.inf
        encoder.train()
        done = 0
        with progress_bar("fine-tuning", steps, enabled=self.progress, unit="batches") as bar:
            for step in range(steps):
                loss = batch_loss(step)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
                bar.advance()
                done += 1
                if time.monotonic() > deadline:
                    break
        encoder.eval()
        self.model_ = encoder.to("cpu")
        self.steps_ = done
        self.stopped_early_ = done < steps
        self.n_features_in_ = 1
        return self

    def _softmax_loss(self, encoder, labels, texts, width, rng, device):
        """A classification head per dimension on the sentence vectors: the loss of each batch of
        sentences (cross-entropy, classes weighted to balance), and the heads' parameters."""
        import torch
        heads = torch.nn.ModuleList(torch.nn.Linear(width, int(labels[:, t].max()) + 1)
                                    for t in range(labels.shape[1])).to(device)
        losses = [torch.nn.CrossEntropyLoss(weight=self._weights(labels[:, t], device), ignore_index=-1)
                  for t in range(labels.shape[1])]
        order = np.concatenate([rng.permutation(len(texts)) for _ in range(math.ceil(self.epochs) or 1)])
        target = torch.as_tensor(labels, dtype=torch.long)

        def batch_loss(step):
            rows = order[step * self.batch_size:(step + 1) * self.batch_size]
            vectors = encoder(_to(encoder.preprocess([texts[i] for i in rows]), device))["sentence_embedding"]
            batch = target[rows].to(device)
            return sum(loss_t(head(vectors), batch[:, t]) for t, (head, loss_t) in enumerate(zip(heads, losses))
                       if (batch[:, t] >= 0).any())
        return batch_loss, list(heads.parameters())

    def _contrastive_loss(self, encoder, labels, texts, steps, rng, device):
        """SetFit's pairs: the loss of each batch of pairs (the squared gap between the cosine of
        their vectors and 1 for one class, 0 for two), and no parameters beside the encoder's."""
        import torch
        anchors, partners, same = _pairs(labels, steps * self.batch_size, self.class_weight == "balanced", rng)

        def batch_loss(step):
            rows = slice(step * self.batch_size, (step + 1) * self.batch_size)
            left, right = (encoder(_to(encoder.preprocess([texts[i] for i in side[rows]]), device))
                           ["sentence_embedding"] for side in (anchors, partners))
            target = torch.as_tensor(same[rows], dtype=torch.float32, device=device)
            return torch.nn.functional.mse_loss(torch.nn.functional.cosine_similarity(left, right), target)
        return batch_loss, []

    def _weights(self, labels: np.ndarray, device):
        import torch
        if self.class_weight != "balanced":
            return None
        known = labels[labels >= 0]
        counts = np.bincount(known, minlength=int(labels.max()) + 1).astype(np.float64)
        weights = np.where(counts > 0, len(known) / (len(counts) * np.maximum(counts, 1)), 0.0)
        return torch.as_tensor(weights, dtype=torch.float32, device=device)

    def transform(self, X) -> np.ndarray:
        check_is_fitted(self, "steps_")
        texts = [str(t) for t in X]
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        model = getattr(self, "model_", None)
        if model is None:  # the saved weights, as scoring runs them
            encode = batch_encoder(self._saved_files(), self.backend, self.device, cache_location(self.cache_dir))
            return np.asarray(encode(texts), dtype=np.float32)
        if self.backend != TRAINING_BACKEND:  # weights still in memory (a training fold), run as scoring would run them
            return self._through_onnx(model, texts)
        return np.asarray(model.encode(texts, batch_size=64, convert_to_numpy=True, show_progress_bar=False),
                          dtype=np.float32)

    def _through_onnx(self, model, texts: list[str]) -> np.ndarray:
        """Encode with the in-memory weights exported to the backend's ONNX in a temporary directory."""
        import tempfile

        from stance.encoders.onnx import OnnxEncoder, onnx_model
        with tempfile.TemporaryDirectory(prefix="stance-finetuned-") as tmp:
            path = Path(tmp) / "encoder"
            model.save(str(path))
            files = EncoderFiles(str(path), path, identity(path))
            encoder = OnnxEncoder(files, onnx_model(files, Path(tmp), self.backend),
                                  resolve_device(self.device, self.backend))
            return np.asarray(encoder.encode(texts), dtype=np.float32)

    def prepare(self) -> None:
        """Make what the backend needs (the ONNX file of the saved weights) now, once; for weights
        still in memory, check that ONNX can run the model (the export happens when encoding)."""
        if self.backend == TRAINING_BACKEND:
            return
        from stance.encoders.onnx import onnx_model, supported
        if getattr(self, "model_", None) is None:
            onnx_model(self._saved_files(), cache_location(self.cache_dir), self.backend)
        else:
            supported(locate(self.model).path)

    def _saved_files(self) -> EncoderFiles:
        path = getattr(self, "path_", None)
        if path is None or not (path / "modules.json").is_file():
            raise EncoderError(f"the fine-tuned encoder's files are missing ({path or 'no run directory'}); "
                               "open the run with load_run()")
        return EncoderFiles(str(path), path, identity(path))

    def __getstate__(self):
        state = super().__getstate__()
        model = state.pop("model_", None)
        state.pop("path_", None)
        if model is not None:
            saving = _saving_to.get()
            if saving is None:
                raise EncoderError("a fine-tuned encoder is saved only inside a run directory (experiments.run)")
            saving["count"] += 1
            name = f"encoders/finetuned-{saving['count']}"
            model.save(str(saving["root"] / name))
            state["directory_"] = name
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        root = _loading_from.get()
        if "directory_" in state and root is not None:
            self.path_ = root / state["directory_"]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        return tags


def check_enough_to_finetune(config: dict, rows: int, folds: int, where: str) -> None:
    """Refuse, before any slow work, a fine-tuning config whose training folds would be too small."""
    if any(block["type"] == "finetuned" for block in config["features"].values()):
        per_fold = rows * (folds - 1) // folds
        if per_fold < MIN_SENTENCES:
            raise EncoderError(f"{where}: too few labelled sentences to fine-tune an encoder: about {per_fold} in "
                               f"each training fold ({rows} labelled, {folds} folds), at least {MIN_SENTENCES} "
                               "needed; label more, or use a frozen encoder (type = \"embeddings\")")


def _pairs(labels: np.ndarray, count: int, balanced: bool, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``count`` pairs of rows for contrastive training, half of one class and half of two, on a
    dimension drawn for each pair among those both rows are labelled on. ``balanced`` draws the
    first row of each pair evenly across the classes of its dimension, so rare classes take part.
    A class of one sentence takes part in pairs of two classes only; a dimension of one class in none."""
    dims = {}
    for t in range(labels.shape[1]):
        column = labels[:, t]
        members = {c: np.flatnonzero(column == c) for c in np.unique(column[column >= 0])}
        if len(members) > 1:
            dims[t] = (column, members, np.flatnonzero(column >= 0))
    if not dims:
        raise EncoderError("contrastive fine-tuning needs two classes or more among the labelled sentences")
    anchors, partners, same = [], [], []
    for t in rng.choice(list(dims), count):
        column, members, labelled = dims[t]
        anchor = rng.choice(members[rng.choice(list(members))] if balanced else labelled)
        own = members[column[anchor]]
        positive = len(own) > 1 and rng.random() < 0.5
        while True:
            partner = rng.choice(own if positive else labelled)
            if (partner != anchor) if positive else (column[partner] != column[anchor]):
                break
        anchors.append(anchor)
        partners.append(partner)
        same.append(positive)
    return np.array(anchors), np.array(partners), np.array(same, dtype=bool)


def _to(features: dict, device) -> dict:
    return {k: v.to(device) if hasattr(v, "to") else v for k, v in features.items()}
