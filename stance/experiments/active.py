"""Active learning: a replay of labelling strategies on a labelled dataset, to see whether
pushing the sentences a model is least sure of pays on this kind of data."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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

    def labels_to_reach(self, strategy: str, target: float) -> int | None:
        """The fewest labels with which ``strategy`` reaches ``target`` macro-F1."""
        for n, value in zip(self.labels_used, self.macro_f1[strategy]):
            if value >= target - 1e-9:
                return n
        return None


def simulate(data: str | Path, config: str | Path | dict, *, strategies: list[str] | None = None,
             seed_size: int = SEED_SIZE, batch: int = BATCH, rounds: int = ROUNDS, repeats: int = REPEATS, test_share: float = 0.25,
             seed: int = 0, out: str | Path | None = None, progress: bool = False) -> Simulation:
    """Replay labelling on an already labelled dataset: its labels stand in for annotators.

    Each repeat holds out ``test_share`` of the articles as a fixed test set, starts
    every strategy from the same random ``seed_size`` labels, and adds ``batch``
    labels per round as the strategy picks them; after every round a model of
    ``config`` is trained on the labels so far and scored on the test set.
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
            splitter = GroupShuffleSplit(n_splits=1, test_size=test_share, random_state=seed + r)
            pool_rows, test_rows = next(splitter.split(usable, groups=labelled.groups[usable]))
            pool, test = usable[pool_rows], usable[test_rows]
            rng = np.random.default_rng(seed + r)
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
                    picked = STRATEGY[strategy](texts, groups, batch, seed=seed + 1000 * r + k, proba=proba)
                    chosen.extend(int(rest[i]) for i in picked)
    simulation = Simulation(
        Path(out) if out else Path("artifacts/simulations") / f"{config['name']}", sizes,
        {s: results[s].mean(axis=(0, 2)).round(4).tolist() for s in strategies},
        {s: {dim: results[s][:, :, d].mean(axis=0).round(4).tolist() for d, dim in enumerate(dims)}
         for s in strategies})
    _write(simulation, config, {"seed_size": seed_size, "batch": batch, "rounds": rounds, "repeats": repeats,
                                "test_share": test_share, "seed": seed, "data": str(data)})
    return simulation


def _write(simulation: Simulation, config: dict, settings: dict) -> None:
    from stance.plots import PALETTE, figure, img
    from stance.webpage import page, table

    out = simulation.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "simulation.json").write_text(json.dumps(
        {"config": config["name"], **settings, "labels_used": simulation.labels_used,
         "macro_f1": simulation.macro_f1, "per_dimension": simulation.per_dimension}, indent=2) + "\n")
    fig, ax = figure(6.5, 3.6)
    for k, (strategy, values) in enumerate(simulation.macro_f1.items()):
        ax.plot(simulation.labels_used, values, marker="o", label=strategy, color=PALETTE[k])
    ax.set_xlabel("labels used")
    ax.set_ylabel("macro-F1 on held-out articles\n(mean over dimensions and repeats)")
    ax.set_title(f"active learning replay: {config['name']}", fontsize=10)
    ax.legend(frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    fig.savefig(out / "simulation.png", dpi=110, bbox_inches="tight")
    rows = [[n, *(simulation.macro_f1[s][i] for s in simulation.macro_f1)]
            for i, n in enumerate(simulation.labels_used)]
    (out / "simulation.html").write_text(page("active learning replay", "\n".join([
        "<h1>Active learning replay</h1>", img(fig, "macro-F1 against labels used, per strategy"),
        table(["labels used", *simulation.macro_f1], rows)])), encoding="utf-8")
