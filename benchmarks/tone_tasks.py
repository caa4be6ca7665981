"""The real tone tasks the benchmarks train configs on (``TONE_TASKS``): BASIL's sentences, bias
polarity positive / negative / none as conciliatory / adversarial / neutral (`mixed` dropped), held
out by event; and the NYT opinion sentences of nyt_tone.py, held out by article."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from nyt_tone import tone_sentences as nyt_sentences

from stance.experiments.config import load_config

ROOT = Path(__file__).resolve().parents[1]
BASIL = ROOT.parent / "shared" / "basil" / "sentences.jsonl"
TONE = {"positive": 0, "negative": 1, "none": 2}   # conciliatory, adversarial, neutral


def tone_sentences() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Texts, tone labels and events of BASIL's sentences."""
    rows = [r for r in map(json.loads, BASIL.open()) if r.get("bias_polarity") in TONE and r.get("text")]
    return (np.array([r["text"] for r in rows]), np.array([TONE[r["bias_polarity"]] for r in rows]),
            np.array([str(r["event"]) for r in rows]))


#: The tone tasks a benchmark can take (--data): each gives texts, labels and the groups held out
#: together (BASIL's events; the NYT set's articles, nyt_tone.py, a public set no config was tuned on).
TONE_TASKS = {"basil": tone_sentences, "nyt": nyt_sentences}
HELD_OUT_BY = {"basil": "events", "nyt": "articles"}


def add_data_option(parser) -> None:
    """The --data option of the benchmarks that take a tone task."""
    parser.add_argument("--data", choices=TONE_TASKS, default="basil",
                        help=", ".join(f"{name} (held out by {HELD_OUT_BY[name]})" for name in TONE_TASKS))


def config(name: str) -> dict:
    """A config by name (experiments/NAME.toml) or path (ending in .toml)."""
    return load_config(Path(name) if name.endswith(".toml") else ROOT / "experiments" / f"{name}.toml")


def print_paired(scores: np.ndarray, names: list[str], against: int, skip: tuple[int, ...] = ()) -> None:
    """Each config's mean over the splits (``scores``: splits x configs) and, but for ``against`` and
    ``skip``, its paired difference from config ``against`` with a 95% Student-t interval."""
    from scipy import stats
    splits = len(scores)
    t = stats.t.ppf(0.975, splits - 1) if splits > 1 else np.nan
    for k, name in enumerate(names):
        line = f"  {name:<10} {scores[:, k].mean():.3f}"
        if k != against and k not in skip:
            gap = scores[:, k] - scores[:, against]
            half = t * gap.std(ddof=1) / np.sqrt(splits) if splits > 1 else np.nan
            line += (f"   {gap.mean():+.3f} against {names[against]} "
                     f"(95% interval {gap.mean() - half:+.3f} to {gap.mean() + half:+.3f})")
        print(line)
