"""Configs on news they were not trained on: BASIL's events (or, with `--data nyt`, the NYT set's
articles: nyt_tone.py) halved at random, trained on one half (every labelled sentence of it, the
config's `[search]` included) and tested on the other.

    python benchmarks/held_out.py [--configs default,static] [--splits 6] [--data basil|nyt]

BASIL (../shared/basil; tone = bias polarity, `mixed` dropped). Cross-validation folds of
`experiments run` mix events the model saw in other folds' articles with others; here
half the stories are new to the model, as a new outlet's news is. Prints macro-F1 per
config and split, each config's mean, and its paired difference from the first config
with a 95% Student-t interval over the splits (the splits share test sentences across
configs, so the difference is much surer than either mean). `--configs` takes names of
experiments/*.toml or paths.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from stance.experiments.metrics import macro_f1
from stance.experiments.pipeline import search_grid
from stance.experiments.runner import _fit

sys.path.insert(0, str(Path(__file__).parent))
from tone_tasks import HELD_OUT_BY, TONE_TASKS, add_data_option, config, print_paired  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default="default,static")
    parser.add_argument("--splits", type=int, default=6)
    add_data_option(parser)
    args = parser.parse_args()
    texts, y, events = TONE_TASKS[args.data]()
    unique = np.unique(events)
    names = args.configs.split(",")
    configs = {name: config(name) for name in names}
    scores = np.zeros((args.splits, len(names)))
    for split in range(args.splits):
        test = np.isin(events, np.random.default_rng(split).choice(unique, len(unique) // 2, replace=False))
        for k, (name, chosen_config) in enumerate(configs.items()):
            started = time.perf_counter()
            model, chosen = _fit(chosen_config, search_grid(chosen_config), texts[~test], y[~test], events[~test])
            scores[split, k] = macro_f1(y[test], model.predict(texts[test]))
            print(f"split {split}: {name:<10} macro-F1 {scores[split, k]:.3f} ({time.perf_counter() - started:.0f} s"
                  + (f"; searched: {chosen}" if chosen else "") + ")", flush=True)
    print(f"\nmacro-F1 on held-out news, {args.splits} halvings of {args.data}'s "
          f"{HELD_OUT_BY[args.data]}:")
    print_paired(scores, names, against=0)

if __name__ == "__main__":
    main()
