"""Which config pays for the first labels: `embeddings` (frozen MiniLM), `finetuned` (two epochs) and
`fewshot` (eight epochs), trained on a few hundred random sentences and scored on held-out news.

    python benchmarks/fewshot.py [--sizes 100,300] [--draws 2] [--configs embeddings,finetuned,fewshot]
                                 [--data basil|nyt]

BASIL's sentences (tone = bias polarity; ../shared/basil) are split by event in half at random, or
the NYT set's (nyt_tone.py) by article;
each draw takes `size` random sentences of the training half. Prints macro-F1 on the held-out half
per config, size and draw, the mean per config and size, and seconds per fit (two cores here).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from stance.experiments.metrics import macro_f1
from stance.experiments.pipeline import build_pipeline

sys.path.insert(0, str(Path(__file__).parent))
from tone_tasks import HELD_OUT_BY, TONE_TASKS, add_data_option, config  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,300")
    parser.add_argument("--draws", type=int, default=2)
    parser.add_argument("--configs", default="embeddings,finetuned,fewshot")
    add_data_option(parser)
    args = parser.parse_args()
    texts, y, events = TONE_TASKS[args.data]()
    rng = np.random.default_rng(0)
    unique = np.unique(events)
    test = np.isin(events, rng.choice(unique, len(unique) // 2, replace=False))
    pool = np.flatnonzero(~test)
    results: dict[tuple[str, int], list[float]] = {}
    for size in map(int, args.sizes.split(",")):
        for draw in range(args.draws):
            train = np.random.default_rng(100 + draw).choice(pool, size, replace=False)
            for name in args.configs.split(","):
                started = time.perf_counter()
                model = build_pipeline(config(name)).fit(texts[train], y[train])
                f1 = macro_f1(y[test], model.predict(texts[test]))
                results.setdefault((name, size), []).append(f1)
                print(f"{size:>5} labels, draw {draw}: {name:<11} macro-F1 {f1:.3f} "
                      f"({time.perf_counter() - started:.0f} s to fit)", flush=True)
    print(f"\nmean macro-F1 on held-out {HELD_OUT_BY[args.data]}:")
    for (name, size), values in results.items():
        print(f"  {name:<11} {size:>5} labels  {np.mean(values):.3f}  ({', '.join(f'{v:.3f}' for v in values)})")


if __name__ == "__main__":
    main()
