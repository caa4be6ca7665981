"""Quality and scoring speed of every shipped config on BASIL (real news, ../shared/basil/), side by side.

    python benchmarks/basil_models.py [--basil ../shared/basil] [--folds 5] [--configs default static ...]

The task: a sentence's polarity of bias, negative / none / positive (the 15 `mixed`
sentences dropped), 7,969 sentences of 300 articles. Folds are grouped by event, so
the three outlets' articles on one story are never split between training and test.
Each config's pipeline (features + model, as `experiments run` builds it) is fitted
on every training fold; the table gives macro-F1 over the pooled out-of-fold
predictions and per-class F1. Beside it, two references that are not shipped: a bare
frozen MiniLM + logistic regression, and the static tier alone.

Held-out folds are predicted as `experiments run` predicts them: transformer encoders
through int8 ONNX, as `stance score` runs them (trained on torch vectors). For those
configs the line also gives macro-F1 with torch vectors held out, and how often the
two label alike.

Scoring speed is `experiments run`'s own measure (not taken for the fine-tuned config, which
scores at the frozen encoder's speed: same architecture) (``scoring_speed``): the fitted model
over 2,048 of the sentences, nothing cached, transformer encoders through int8 ONNX.
Encoder vectors for training are cached (``--cache``), so a second run is fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedGroupKFold

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["negative", "none", "positive"]
REFERENCES = {
    "bare-minilm": {"name": "bare-minilm", "features": {"minilm": {"type": "embeddings"}},
                    "model": {"type": "logreg", "C": 1.0, "class_weight": "balanced"}},
    "bare-static": {"name": "bare-static", "features": {"static": {"type": "static"}},
                    "model": {"type": "logreg", "C": 1.0, "class_weight": "balanced"}},
}


def read_basil(directory: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    texts, labels, events = [], [], []
    with open(directory / "sentences.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if row["bias_polarity"] in CLASSES:
                texts.append(row["text"])
                labels.append(CLASSES.index(row["bias_polarity"]))
                events.append(str(row["event"]))
    return texts, np.array(labels), np.array(events)


def evaluate(config: dict, texts: list[str], y: np.ndarray, events: np.ndarray, folds: int) -> dict:
    from stance.experiments.pipeline import build_pipeline
    from stance.experiments.runner import _as_scored, _fit_searched, _rechecked, scoring_speed
    from stance.model.stance_model import StanceModel, aligned_proba
    X = np.array(texts, dtype=object)
    int8 = np.zeros((len(y), len(CLASSES)))
    reference = np.zeros((len(y), len(CLASSES)))
    fold_of = np.zeros(len(y), dtype=np.int64)
    started = time.perf_counter()
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=config.get("seed", 13))
    for k, (train, test) in enumerate(splitter.split(X, y, events)):
        fitted = build_pipeline(config).fit(X[train], y[train])
        with _as_scored([fitted]):  # as `experiments run` predicts held-out folds: encoders as scoring runs them
            int8[test] = aligned_proba(fitted, X[test], len(CLASSES))
        reference[test] = aligned_proba(fitted, X[test], len(CLASSES))  # encoders on torch, as trained
        fold_of[test] = k
    seconds = time.perf_counter() - started
    proba, check = _rechecked(int8, reference, fold_of)  # near-ties again with torch, as scoring does
    pred, torch_pred = proba.argmax(axis=1), reference.argmax(axis=1)
    result = {"macro_f1": float(f1_score(y, pred, average="macro")),
              "per_class_f1": dict(zip(CLASSES, map(float, f1_score(y, pred, average=None, labels=[0, 1, 2])))),
              "torch_macro_f1": float(f1_score(y, torch_pred, average="macro")),
              "int8_macro_f1": float(f1_score(y, int8.argmax(axis=1), average="macro")),
              "int8": check, "cv_seconds": round(seconds, 1), "sentences_per_s": None, "backend": None}
    if any(block["type"] == "finetuned" for block in config["features"].values()):
        return result  # scores as fast as the frozen encoder of the same architecture; a final fit would take long
    pipeline = build_pipeline(config)
    features = pipeline.named_steps["features"].fit(X)
    head, _ = _fit_searched(config, {}, pipeline.named_steps["model"], features.transform(X), y, events)
    recheck = {"bias": check["threshold"]} if check["threshold"] else None
    speed = scoring_speed(StanceModel({"bias": head}, {"bias": CLASSES}, features=features, recheck=recheck), texts)
    return {**result, "sentences_per_s": speed["sentences_per_s"], "backend": speed["backend"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--basil", type=Path, default=ROOT.parent / "shared" / "basil")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--configs", nargs="*", help="config names under experiments/ (default: all) "
                        "and references (bare-minilm, bare-static)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/stance-bench-cache"))
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    os.environ.setdefault("STANCE_CACHE_DIR", str(args.cache))
    from stance.experiments.config import load_config, resolve_config
    texts, y, events = read_basil(args.basil)
    print(f"BASIL: {len(texts):,} sentences, {len(set(events))} events, classes "
          f"{dict(zip(CLASSES, np.bincount(y).tolist()))}; {args.folds} folds grouped by event; "
          f"{os.cpu_count()} cores", flush=True)
    shipped = {p.stem: p for p in sorted((ROOT / "experiments").glob("*.toml"))}
    names = args.configs or [*shipped, *REFERENCES]
    results = {}
    for name in names:
        config = load_config(shipped[name]) if name in shipped else resolve_config(REFERENCES[name], name)
        results[name] = evaluate(config, texts, y, events, args.folds)
        r = results[name]
        print(f"{name:<14} macro-F1 {r['macro_f1']:.3f}  (neg {r['per_class_f1']['negative']:.2f} / none "
              f"{r['per_class_f1']['none']:.2f} / pos {r['per_class_f1']['positive']:.2f})  "
              f"scores {r['sentences_per_s'] or 0:>9,.0f} sentences/s"
              f"{' (' + r['backend'] + ')' if r['backend'] else ''}"
              f"  CV {r['cv_seconds']:.0f} s"
              + (f"; torch held out: macro-F1 {r['torch_macro_f1']:.3f}; int8 alone: macro-F1 "
                 f"{r['int8_macro_f1']:.3f}, labels agree {r['int8']['agreement']:.2%}; near-ties "
                 f"({r['int8']['rechecked']:.1%}) again with torch: {r['int8']['agreement_rechecked']:.2%}"
                 if r["int8"]["agreement"] < 1 else ""), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
