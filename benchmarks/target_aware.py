"""Does marking the target pay? Tone toward a named target on BASIL, with the target marked in the
text or not, on news the model was not trained on.

    python benchmarks/target_aware.py [--configs default,embeddings] [--splits 6]

BASIL (../shared/basil) names, for each biased sentence, the targets of its bias and the polarity
toward them. Each sentence is paired with every target of its event (any name BASIL gives a target
anywhere in that event) whose last name it mentions: the pair's label is the sentence's polarity
when the target is one of the sentence's own, else none (sentences with `mixed` polarity dropped).
A target-blind model sees the sentence alone, so it must give every target of one sentence the same
answer; a target-aware one sees the sentence with this pair's mention marked
(`TARGETSTART name TARGETEND`). Both are the same config, trained on the pairs of half of the
events and tested on the other half (6 halvings); printed: macro-F1 on all test pairs and on the
pairs of sentences that mention two targets or more (the only ones marking can tell apart), and
the aware-minus-blind difference with a 95% t-interval over the halvings.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy import stats

from stance.experiments.metrics import macro_f1
from stance.experiments.pipeline import search_grid
from stance.experiments.runner import _fit

sys.path.insert(0, str(Path(__file__).parent))
from tone_tasks import BASIL, TONE, config  # noqa: E402


def _mention(target: str) -> re.Pattern:
    return re.compile(r"\b" + re.escape(target.replace("_", " ").split()[-1]) + r"\b")


def target_pairs():
    """Per (sentence, target) pair: the plain text, the text with the target's mention marked, the
    tone label toward that target, the event, and how many event targets the sentence mentions."""
    rows = [r for r in map(json.loads, BASIL.open()) if r.get("bias_polarity") in TONE and r.get("text")]
    targets = defaultdict(set)
    for r in rows:
        targets[r["event"]].update(r.get("targets") or [])
    plain, marked, y, events, crowded = [], [], [], [], []
    for r in rows:
        named = [(t, _mention(t)) for t in sorted(targets[r["event"]])]
        named = [(t, pattern) for t, pattern in named if pattern.search(r["text"])]
        for target, pattern in named:
            plain.append(r["text"])
            marked.append(pattern.sub(lambda m: f"TARGETSTART {m.group(0)} TARGETEND", r["text"], count=1))
            y.append(TONE[r["bias_polarity"]] if target in (r.get("targets") or []) else TONE["none"])
            events.append(str(r["event"]))
            crowded.append(len(named) >= 2)
    return (np.array(plain), np.array(marked), np.array(y), np.array(events), np.array(crowded))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default="default")
    parser.add_argument("--splits", type=int, default=6)
    args = parser.parse_args()
    plain, marked, y, events, crowded = target_pairs()
    print(f"{len(y):,} (sentence, target) pairs, {crowded.sum():,} of sentences naming two targets or more; "
          f"labels: {np.bincount(y, minlength=3).tolist()} (positive, negative, none)")
    unique = np.unique(events)
    t = stats.t.ppf(0.975, args.splits - 1)
    for name in args.configs.split(","):
        chosen = config(name)
        scores = np.zeros((args.splits, 2, 2))  # split x (blind, aware) x (all, crowded)
        for split in range(args.splits):
            test = np.isin(events, np.random.default_rng(split).choice(unique, len(unique) // 2, replace=False))
            for k, texts in enumerate((plain, marked)):
                model, _ = _fit(chosen, search_grid(chosen), texts[~test], y[~test], events[~test])
                predicted = model.predict(texts[test])
                scores[split, k, 0] = macro_f1(y[test], predicted)
                scores[split, k, 1] = macro_f1(y[test & crowded], predicted[crowded[test]])
            print(f"  {name} split {split}: blind {scores[split, 0, 0]:.3f} / aware {scores[split, 1, 0]:.3f}; "
                  f"crowded sentences: blind {scores[split, 0, 1]:.3f} / aware {scores[split, 1, 1]:.3f}", flush=True)
        for part, label in ((0, "all pairs"), (1, "pairs of sentences naming two targets or more")):
            gap = scores[:, 1, part] - scores[:, 0, part]
            half = t * gap.std(ddof=1) / np.sqrt(args.splits)
            print(f"{name}, {label}: blind {scores[:, 0, part].mean():.3f}, aware {scores[:, 1, part].mean():.3f}, "
                  f"{gap.mean():+.3f} (95% interval {gap.mean() - half:+.3f} to {gap.mean() + half:+.3f})")


if __name__ == "__main__":
    main()
