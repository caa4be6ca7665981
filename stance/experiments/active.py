"""Active learning: a replay of labelling strategies on a labelled dataset, to see whether
pushing the sentences a model is least sure of pays on this kind of data."""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from scipy import stats

from stance.errors import StanceError
from stance.labels import STRATEGIES

#: Replay defaults: small steps show the difference between strategies on a few hundred labels.
SEED_SIZE, BATCH, ROUNDS, REPEATS = 10, 5, 16, 10


@dataclass
class Simulation:
    out: Path
    labels_used: list[int]
    macro_f1: dict[str, list[float]]  # per strategy: mean over dimensions and repeats, per round
    per_dimension: dict[str, dict[str, list[float]]]
    per_repeat: dict[str, list[list[float]]]  # per strategy and repeat: mean over dimensions, per round

    def labels_to_reach(self, strategy: str, target: float) -> int | None:
        """The fewest labels with which ``strategy`` reaches ``target`` macro-F1 (its mean over repeats)."""
        return _first_reaching(self.labels_used, self.macro_f1[strategy], target)

    def interval(self, strategy: str, level: float = 0.95) -> list[tuple[float, float]]:
        """Per round, a Student-t interval for ``strategy``'s mean macro-F1 over the repeats
        (their spread: other test articles and seed labels); (nan, nan) with one repeat."""
        values = np.asarray(self.per_repeat[strategy])
        if len(values) < 2:
            return [(math.nan, math.nan)] * values.shape[1]
        half = stats.t.ppf((1 + level) / 2, len(values) - 1) * values.std(axis=0, ddof=1) / math.sqrt(len(values))
        mean = values.mean(axis=0)
        return list(zip((mean - half).tolist(), (mean + half).tolist()))

    def labels_saved(self, strategy: str, baseline: str = "random", level: float = 0.95,
                     replicates: int = 2000, seed: int = 0) -> LabelsToTarget:
        """How many labels ``strategy`` needs to reach ``baseline``'s final mean macro-F1, with a
        bootstrap interval over the repeats (each resample of repeats sets its own target, so the
        interval holds the target's noise too)."""
        target = self.macro_f1[baseline][-1]
        needed = self.labels_to_reach(strategy, target)
        runs = np.asarray(self.per_repeat[strategy])
        against = np.asarray(self.per_repeat[baseline])
        rng = np.random.default_rng(seed)
        draws = []
        for _ in range(replicates):
            pick = rng.integers(0, len(runs), len(runs))
            reached = _first_reaching(self.labels_used, runs[pick].mean(axis=0), against[pick].mean(axis=0)[-1])
            draws.append(math.inf if reached is None else reached)
        low, high = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], method="inverted_cdf")
        return LabelsToTarget(strategy, baseline, target, needed, self.labels_used[-1], float(low), float(high))

    def gain(self, strategy: str, baseline: str = "random", level: float = 0.95) -> "Gain":
        """``strategy``'s macro-F1 minus ``baseline``'s, averaged over the rounds after the seed labels,
        with a Student-t interval over the repeats. Each repeat gives both strategies the same test
        articles and seed labels, so the difference is paired: the spread between test splits, which
        dominates each curve's own interval, cancels."""
        differences = (np.asarray(self.per_repeat[strategy]) - np.asarray(self.per_repeat[baseline]))[:, 1:]
        per_repeat = differences.mean(axis=1)
        mean = float(per_repeat.mean())
        if len(per_repeat) < 2:
            return Gain(strategy, baseline, mean, math.nan, math.nan, self.labels_used[1], self.labels_used[-1])
        half = stats.t.ppf((1 + level) / 2, len(per_repeat) - 1) * per_repeat.std(ddof=1) / math.sqrt(len(per_repeat))
        return Gain(strategy, baseline, mean, mean - half, mean + half, self.labels_used[1], self.labels_used[-1])

    @cached_property
    def against_random(self) -> list[tuple[Gain | None, LabelsToTarget]]:
        """Each strategy but random: its :meth:`gain` over random (None with no round after the seed
        labels) and the labels it needs to reach random's final macro-F1 (:meth:`labels_saved`);
        none without random. Computed once for the summary lines, the JSON and the HTML."""
        if "random" not in self.macro_f1:
            return []
        return [(self.gain(s) if len(self.labels_used) > 1 else None, self.labels_saved(s))
                for s in self.macro_f1 if s != "random"]


@dataclass
class Gain:
    """``strategy``'s mean macro-F1 gain over ``baseline`` from ``first`` to ``last`` labels, paired by repeat."""
    strategy: str
    baseline: str
    mean: float
    low: float
    high: float
    first: int
    last: int

    def __str__(self) -> str:
        bounds = ("" if math.isnan(self.low)
                  else f" (95% interval over paired repeats {self.low:+.3f} to {self.high:+.3f})")
        return (f"{self.strategy}: {self.mean:+.3f} macro-F1 against {self.baseline} on average from {self.first} "
                f"to {self.last} labels{bounds}")


@dataclass
class LabelsToTarget:
    """Labels ``strategy`` needed to reach ``baseline``'s macro-F1 (``target``) at ``baseline_labels``;
    ``needed`` None (and an infinite ``high``): not within the rounds replayed."""
    strategy: str
    baseline: str
    target: float
    needed: int | None
    baseline_labels: int
    low: float
    high: float

    def __str__(self) -> str:
        bounds = ("not reached in any" if math.isinf(self.low)
                  else f"{self.low:.0f} to " + ("not reached" if math.isinf(self.high) else f"{self.high:.0f}"))
        if self.needed is None:
            return (f"{self.strategy}: does not reach {self.baseline}'s final macro-F1 ({self.target:.3f}) within "
                    f"{self.baseline_labels} labels (over resampled repeats: {bounds})")
        return (f"{self.strategy}: reaches {self.baseline}'s final macro-F1 ({self.target:.3f}) with {self.needed} "
                f"labels against {self.baseline_labels}, {1 - self.needed / self.baseline_labels:.0%} fewer "
                f"(95% interval over resampled repeats: {bounds})")


def _first_reaching(sizes: list[int], values, target: float) -> int | None:
    for n, value in zip(sizes, values):
        if value >= target - 1e-9:
            return n
    return None


def simulate(data: str | Path, config: str | Path | dict, *, strategies: list[str] | None = None,
             seed_size: int = SEED_SIZE, batch: int = BATCH, rounds: int = ROUNDS, repeats: int = REPEATS,
             test_share: float = 0.25, seed: int = 0, out: str | Path | None = None,
             progress: bool = False) -> Simulation:
    """Replay labelling on an already labelled dataset: its labels stand in for annotators.

    Each repeat holds out ``test_share`` of the articles as a fixed test set, starts
    every strategy from the same random ``seed_size`` labels, and adds ``batch``
    labels per round as the strategy picks them; after every round a model of
    ``config`` is trained on the labels so far and scored on the test set. Repeat k
    draws everything from ``seed + k``, so a replay with ``seed=S`` gives repeats S, S+1, ...
    of one with ``seed=0``: more repeats can be added to a replay later.
    """
    from sklearn.model_selection import GroupShuffleSplit

    from stance.experiments.config import load_config
    from stance.experiments.metrics import macro_f1
    from stance.experiments.pipeline import build_pipeline
    from stance.experiments.runner import select_dimensions
    from stance.labels.dataset import read_labelled
    from stance.labels.select import NEEDS_MODEL, STRATEGY
    from stance.model.stance_model import aligned_proba
    from stance.progress import progress_bar
    from stance.schema import load_schema

    strategies = strategies or list(STRATEGIES)
    for strategy in strategies:
        if strategy not in STRATEGIES:
            raise StanceError(f"{{strategies}}: each must be one of {', '.join(STRATEGIES)}", strategies=strategy)
    schema = load_schema()
    config = load_config(config)
    labelled = read_labelled(data, schema)
    dims, _ = select_dimensions(config, labelled, schema)  # skipped dimensions cannot be learnt from here
    usable = np.flatnonzero(np.all([labelled.labels[d] >= 0 for d in dims], axis=0))
    if seed_size + batch * rounds > len(usable) * (1 - test_share):
        raise StanceError(f"{data}: {len(usable)} fully labelled sentences; seed {seed_size} + {rounds} rounds "
                          f"of {batch} need more than the {1 - test_share:.0%} left after the test set")
    sizes = [seed_size + batch * r for r in range(rounds + 1)]
    results = {s: np.zeros((repeats, len(sizes), len(dims))) for s in strategies}

    def fit_score(train, test):
        """Macro-F1 per dimension on ``test``, and the fitted models (None: one class only so far)."""
        scores, models = [], {}
        for dim in dims:
            y = labelled.labels[dim]
            models[dim] = None
            if len(np.unique(y[train])) >= 2:
                models[dim] = build_pipeline(config).fit(labelled.texts[train], y[train])
            n_classes = len(schema.dimension(dim).names)
            predicted = (aligned_proba(models[dim], labelled.texts[test], n_classes).argmax(axis=1)
                         if models[dim] is not None else np.zeros(len(test), dtype=int))
            scores.append(macro_f1(y[test], predicted))
        return scores, models

    with warnings.catch_warnings(), progress_bar("simulate", repeats * len(strategies) * len(sizes),
                                                 enabled=progress, unit="rounds") as bar:
        warnings.filterwarnings("ignore", category=UserWarning)
        for r in range(repeats):
            repeat_seed = seed + r  # all of a repeat's draws: seed S, repeat k is repeat S + k of seed 0
            splitter = GroupShuffleSplit(n_splits=1, test_size=test_share, random_state=repeat_seed)
            pool_rows, test_rows = next(splitter.split(usable, groups=labelled.groups[usable]))
            pool, test = usable[pool_rows], usable[test_rows]
            rng = np.random.default_rng(repeat_seed)
            start = rng.choice(pool, size=seed_size, replace=False)
            for strategy in strategies:
                chosen = list(start)
                for k in range(len(sizes)):
                    scores, models = fit_score(np.array(chosen), test)
                    results[strategy][r, k] = scores
                    bar.advance()
                    if k == len(sizes) - 1:
                        break
                    rest = np.setdiff1d(pool, chosen)
                    texts = [labelled.texts[i] for i in rest]
                    groups = [labelled.article_ids[i] for i in rest]
                    proba = ({dim: aligned_proba(m, labelled.texts[rest], len(schema.dimension(dim).names))
                              for dim, m in models.items() if m is not None} if strategy in NEEDS_MODEL else None)
                    picked = STRATEGY[strategy](texts, groups, batch, seed=1000 * repeat_seed + k, proba=proba)
                    chosen.extend(int(rest[i]) for i in picked)
    simulation = Simulation(
        Path(out) if out else Path("artifacts/simulations") / f"{config['name']}", sizes,
        {s: results[s].mean(axis=(0, 2)).round(4).tolist() for s in strategies},
        {s: {dim: results[s][:, :, d].mean(axis=0).round(4).tolist() for d, dim in enumerate(dims)}
         for s in strategies},
        {s: results[s].mean(axis=2).round(4).tolist() for s in strategies})
    _write(simulation, config, {"seed_size": seed_size, "batch": batch, "rounds": rounds, "repeats": repeats,
                                "test_share": test_share, "seed": seed, "data": str(data)})
    return simulation


def _write(simulation: Simulation, config: dict, settings: dict) -> None:
    from stance.plots import PALETTE, figure, img
    from stance.webpage import esc, page, table

    out = simulation.out
    out.mkdir(parents=True, exist_ok=True)
    gains = [gain for gain, _ in simulation.against_random if gain is not None]
    saved = [labels for _, labels in simulation.against_random]
    (out / "simulation.json").write_text(json.dumps(
        {"config": config["name"], **settings, "labels_used": simulation.labels_used,
         "macro_f1": simulation.macro_f1, "per_dimension": simulation.per_dimension,
         "per_repeat": simulation.per_repeat,
         "labels_to_target": {t.strategy: {"target": t.target, "needed": t.needed, "against": t.baseline_labels,
                                           "low": t.low, "high": None if math.isinf(t.high) else t.high}
                              for t in saved},
         "gain_over_random": {g.strategy: {"mean": g.mean, "low": None if math.isnan(g.low) else g.low,
                                           "high": None if math.isnan(g.high) else g.high, "from": g.first,
                                           "to": g.last} for g in gains}}, indent=2) + "\n")
    fig, ax = figure(6.5, 3.6)
    for k, (strategy, values) in enumerate(simulation.macro_f1.items()):
        ax.plot(simulation.labels_used, values, marker="o", label=strategy, color=PALETTE[k])
        low, high = zip(*simulation.interval(strategy))
        ax.fill_between(simulation.labels_used, low, high, color=PALETTE[k], alpha=0.15, linewidth=0)
    ax.set_xlabel("labels used")
    ax.set_ylabel("macro-F1 on held-out articles\n(mean over dimensions and repeats)")
    ax.set_title(f"active learning replay: {config['name']}", fontsize=10)
    ax.legend(frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    fig.savefig(out / "simulation.png", dpi=110, bbox_inches="tight")
    (out / "simulation.html").write_text(page("active learning replay", "\n".join([
        "<h1>Active learning replay</h1>", img(fig, "macro-F1 against labels used, per strategy"),
        *(f"<p>{esc(str(t))}</p>" for t in [*gains, *saved]),
        "<p>Mean macro-F1 over the repeats ± the half-width of a 95% interval over them (shaded above).</p>",
        table(["labels used", *simulation.macro_f1], curve_rows(simulation))])), encoding="utf-8")


def curve_rows(simulation: Simulation) -> list[list]:
    """Per round: the labels used, then each strategy's mean macro-F1 and the half-width of its
    interval over repeats (symmetric: Student's t)."""
    intervals = {s: simulation.interval(s) for s in simulation.macro_f1}
    return [[n, *(f"{simulation.macro_f1[s][i]:.3f}" + ("" if math.isnan(intervals[s][i][0]) else
                                                          f" ± {(intervals[s][i][1] - intervals[s][i][0]) / 2:.3f}")
                  for s in simulation.macro_f1)]
            for i, n in enumerate(simulation.labels_used)]
