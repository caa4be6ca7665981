"""Which fine-tuning recipe: a classification head or SetFit-style contrastive pairs, and how long.

    python benchmarks/finetune_recipes.py [--train 2400] [--only head-1 setfit-2 ...]

BASIL (real news, ../shared/basil), bias polarity negative / none / positive with the
`mixed` sentences dropped; one split grouped by event (a fifth of the events held
out), ``--train`` sentences drawn from the rest. Each recipe fine-tunes the packaged
MiniLM on the training sentences, then a balanced logistic regression (C=1) is fitted
on the fine-tuned vectors, as a `finetuned` block with a `logreg` model does, and
scored on the held-out events. Printed per recipe: macro-F1 and seconds of
fine-tuning. Recipes:

- frozen: no fine-tuning (the reference);
- head-E[-lrX][-lenL]: stance's recipe (`FinetunedEncoder`): a softmax head, E epochs,
  learning rate X (5e-5), max length L (64 tokens);
- setfit-E: SetFit's first stage (Tunstall et al. 2022): pairs of sentences, same
  class or not, the cosine of their vectors trained toward 1 or 0 (its
  CosineSimilarityLoss); as many pairs as E x the training sentences, so setfit-1
  costs what head-2 costs (two sentences a pair).

One split of a small task: differences of a point or two are within its noise.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import time
from pathlib import Path

import numpy as np

BASIL = Path(__file__).resolve().parents[2] / "shared" / "basil"
#: Recipe name: FinetunedEncoder parameters ("head-..."), or pairs per training sentence ("setfit-...").
RECIPES = {"frozen": None, "head-1": {"epochs": 1.0}, "head-2": {"epochs": 2.0},
           "head-1-lr2e-5": {"epochs": 1.0, "learning_rate": 2e-5}, "head-1-len128": {"epochs": 1.0, "max_length": 128},
           "setfit-1": 1.0}


def split(train_size: int, seed: int = 7):
    texts, labels, events = [], [], []
    for line in open(BASIL / "sentences.jsonl", encoding="utf-8"):
        row = json.loads(line)
        if row["bias_polarity"] != "mixed":
            texts.append(row["text"])
            labels.append(row["bias_polarity"])
            events.append(str(row["event"]))
    rng = np.random.default_rng(seed)
    unique = sorted(set(events))
    held = set(rng.choice(unique, size=len(unique) // 5, replace=False))
    test = [i for i, e in enumerate(events) if e in held]
    train = [i for i, e in enumerate(events) if e not in held]
    train = sorted(rng.choice(train, size=min(train_size, len(train)), replace=False))
    names = sorted(set(labels))
    y = np.array([names.index(label) for label in labels])
    return ([texts[i] for i in train], y[train]), ([texts[i] for i in test], y[test])


def setfit_encoder(texts, y, pairs_per_sentence: float, seed: int = 13, batch_size: int = 16, lr: float = 2e-5):
    """SetFit's contrastive stage on ``texts``: the fine-tuned sentence-transformers model."""
    import torch

    from stance.encoders import DEFAULT_MODEL, locate, sentence_transformer
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    encoder = copy.deepcopy(sentence_transformer(locate(DEFAULT_MODEL), "cpu"))
    encoder.max_seq_length = 64
    by_class = {c: np.flatnonzero(y == c) for c in np.unique(y)}
    count = int(pairs_per_sentence * len(texts))
    anchors = rng.integers(0, len(texts), count)
    same = rng.random(count) < 0.5  # SetFit draws positive and negative pairs alike
    partners = np.array([rng.choice(by_class[y[a]]) if s else rng.choice(np.flatnonzero(y != y[a]))
                         for a, s in zip(anchors, same)])
    steps = math.ceil(count / batch_size)
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=lr)
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup))))
    encoder.train()
    for step in range(steps):
        rows = slice(step * batch_size, (step + 1) * batch_size)
        left = encoder(encoder.preprocess([texts[i] for i in anchors[rows]]))["sentence_embedding"]
        right = encoder(encoder.preprocess([texts[i] for i in partners[rows]]))["sentence_embedding"]
        target = torch.as_tensor(same[rows], dtype=torch.float32)
        loss = torch.nn.functional.mse_loss(torch.nn.functional.cosine_similarity(left, right), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    encoder.eval()
    return encoder


def run(recipe: str, train, test) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    from stance.encoders import DEFAULT_MODEL, locate, sentence_transformer
    from stance.model.finetune import FinetunedEncoder
    (texts, y), (test_texts, test_y) = train, test
    started = time.perf_counter()
    if recipe == "frozen":
        encoder = sentence_transformer(locate(DEFAULT_MODEL), "cpu")
    elif recipe.startswith("setfit"):
        encoder = setfit_encoder(texts, y, RECIPES[recipe])
    else:
        encoder = FinetunedEncoder(device="cpu", **RECIPES[recipe]).fit(texts, y).model_
    seconds = time.perf_counter() - started

    def encode(sentences):
        return encoder.encode(sentences, batch_size=64, convert_to_numpy=True, show_progress_bar=False)

    head = LogisticRegression(C=1.0, max_iter=3000, class_weight="balanced").fit(encode(texts), y)
    return f1_score(test_y, head.predict(encode(test_texts)), average="macro"), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=2400, help="training sentences (default 2400)")
    parser.add_argument("--only", nargs="*", choices=list(RECIPES), help="recipes to run (default: all)")
    args = parser.parse_args()
    train, test = split(args.train)
    print(f"[recipes] BASIL, {len(train[0]):,} training sentences, {len(test[0]):,} held-out (a fifth of the "
          "events)", flush=True)
    for recipe in args.only or RECIPES:
        f1, seconds = run(recipe, train, test)
        print(f"[recipes] {recipe}: macro-F1 {f1:.3f}, fine-tuning {seconds:,.0f} s", flush=True)


if __name__ == "__main__":
    main()
