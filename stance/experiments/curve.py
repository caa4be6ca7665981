"""``experiments curve``: macro-F1 against the number of training labels.

For each grouped fold, the model is trained on growing random subsets of the
training side and scored on the whole test side; the curve is the mean over folds.
A curve still rising at the right edge says that labelling more will pay. Several
configs' curves on the same folds and label subsets (:func:`compare_curves`) show
where a slower, stronger config stops paying against a quicker one.
"""

from __future__ import annotations

import datetime as dt
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from stance.errors import StanceError
from stance.experiments.config import load_config
from stance.experiments.metrics import macro_f1
from stance.experiments.pipeline import build_pipeline
from stance.experiments.runner import select_dimensions
from stance.labels.dataset import read_labelled
from stance.model.stance_model import aligned_proba
from stance.plots import PALETTE, figure, img
from stance.webpage import esc, page, table
from stance.progress import progress_bar
from stance.schema import Schema, load_schema


@dataclass
class Curve:
    out: Path
    sizes: list[int]
    macro_f1: dict[str, list[float]]  # per dimension, mean over folds, one per size
    spread: dict[str, list[float]]  # standard deviation over folds

    def rows(self) -> list[list]:
        return [[n, *(self.macro_f1[d][i] for d in self.macro_f1)] for i, n in enumerate(self.sizes)]


def default_sizes(n_train: int, steps: int = 6) -> list[int]:
    """Roughly doubling sizes from 20 labels up to all of them."""
    if n_train <= 20:
        return [n_train]
    sizes = np.unique(np.geomspace(20, n_train, steps).round().astype(int))
    return [int(s) for s in sizes]


def learning_curve(config: str | Path | dict, data: str | Path, *, out: str | Path | None = None,
                   sizes: list[int] | None = None, overrides: dict | None = None,
                   schema: Schema | None = None, progress: bool = False) -> Curve:
    schema = schema or load_schema()
    config = load_config(config, overrides)
    labelled = read_labelled(data, schema, config["cv"].get("group_by"))
    dims, _ = select_dimensions(config, labelled, schema)  # skipped dimensions cannot be learnt from here
    rng = np.random.default_rng(config["seed"])
    prepared = {}
    for dim in dims:
        keep = np.flatnonzero(labelled.labels[dim] >= 0)
        X, y, groups = labelled.texts[keep], labelled.labels[dim][keep], labelled.groups[keep]
        folds = min(config["cv"]["folds"], len(np.unique(groups)))
        splits = list(StratifiedGroupKFold(folds, shuffle=True, random_state=config["seed"]).split(X, y, groups))
        prepared[dim] = X, y, splits
    smallest_train = min(len(tr) for _, _, splits in prepared.values() for tr, _ in splits)
    sizes = sorted({min(s, smallest_train) for s in sizes}) if sizes else default_sizes(smallest_train)
    results: dict[str, np.ndarray] = {}
    for dim, (X, y, splits) in prepared.items():
        n_classes = len(schema.dimension(dim).names)
        grid = np.full((len(splits), len(sizes)), np.nan)
        with warnings.catch_warnings(), progress_bar(f"{dim}: curve", len(splits) * len(sizes),
                                                     enabled=progress, unit="fits") as bar:
            warnings.filterwarnings("ignore", category=UserWarning)
            for k, (tr, te) in enumerate(splits):
                order = rng.permutation(tr)
                for j, n in enumerate(sizes):
                    subset = order[:n]
                    if len(np.unique(y[subset])) >= 2:
                        fitted = build_pipeline(config).fit(X[subset], y[subset])
                        grid[k, j] = macro_f1(y[te], aligned_proba(fitted, X[te], n_classes).argmax(axis=1))
                    bar.advance()
        results[dim] = grid
    curve = Curve(Path(out) if out else Path("artifacts/curves") /
                  f"{dt.datetime.now():%Y%m%d-%H%M%S}-{config['name']}", sizes,
                  {d: np.nanmean(g, axis=0).round(4).tolist() for d, g in results.items()},
                  {d: np.nanstd(g, axis=0).round(4).tolist() for d, g in results.items()})
    _write(curve, config)
    return curve


def _write(curve: Curve, config: dict) -> None:
    curve.out.mkdir(parents=True, exist_ok=True)
    (curve.out / "curve.json").write_text(json.dumps(
        {"config": config["name"], "sizes": curve.sizes, "macro_f1": curve.macro_f1, "std": curve.spread},
        indent=2) + "\n", encoding="utf-8")
    fig, ax = figure(6, 3.6)
    for dim, values in curve.macro_f1.items():
        low = np.subtract(values, curve.spread[dim])
        high = np.add(values, curve.spread[dim])
        ax.plot(curve.sizes, values, marker="o", label=dim)
        ax.fill_between(curve.sizes, low, high, alpha=0.15)
    ax.set_xscale("log")
    ax.set_xlabel("training labels")
    ax.set_ylabel("macro-F1 (grouped CV)")
    ax.set_title(f"learning curve: {config['name']}", fontsize=10)
    ax.legend(frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    fig.savefig(curve.out / "curve.png", dpi=110, bbox_inches="tight")
    body = [f"<h1>Learning curve: {esc(config['name'])}</h1>", img(fig, "macro-F1 against training labels"),
            table(["training labels", *curve.macro_f1], curve.rows())]
    (curve.out / "curve.html").write_text(page(f"learning curve {config['name']}", "\n".join(body)),
                                          encoding="utf-8")


@dataclass
class CurveComparison:
    out: Path
    sizes: list[int]
    curves: dict[str, Curve]  # per config name

    def mean_macro_f1(self, name: str) -> list[float]:
        """A config's macro-F1 per size, the mean over its dimensions."""
        return np.mean(list(self.curves[name].macro_f1.values()), axis=0).round(4).tolist()

    def rows(self) -> list[list]:
        means = {name: self.mean_macro_f1(name) for name in self.curves}
        return [[n, *(means[name][i] for name in self.curves), max(means, key=lambda c: means[c][i])]
                for i, n in enumerate(self.sizes)]


def compare_curves(configs: list[str | Path | dict], data: str | Path, *, out: str | Path | None = None,
                   sizes: list[int] | None = None, overrides: dict | None = None, schema: Schema | None = None,
                   progress: bool = False) -> CurveComparison:
    """Learning curves of several ``configs`` on the same data, in one table and plot. Every config
    takes the first one's folds, grouping and seed (so each size's models see the same labels and
    are tested on the same articles); ``overrides`` apply to them all. Each config's own curve is
    written under ``out/NAME/``."""
    if len(configs) < 2:
        raise StanceError("comparing curves needs two configs or more")
    first = load_config(configs[0], overrides)
    shared = {**(overrides or {}), "cv.folds": first["cv"]["folds"], "seed": first["seed"]}
    if first["cv"].get("group_by"):
        shared["cv.group_by"] = first["cv"]["group_by"]
    loaded = [load_config(c, shared) for c in configs]
    names = [c["name"] for c in loaded]
    if len(set(names)) < len(names):
        raise StanceError(f"the configs to compare need different names, not {', '.join(names)}")
    out = Path(out) if out else Path("artifacts/curves") / f"{dt.datetime.now():%Y%m%d-%H%M%S}-{'-'.join(names)}"
    curves = {c["name"]: learning_curve(c, data, out=out / c["name"], sizes=sizes, schema=schema, progress=progress)
              for c in loaded}
    comparison = CurveComparison(out, next(iter(curves.values())).sizes, curves)
    _write_comparison(comparison)
    return comparison


def _write_comparison(comparison: CurveComparison) -> None:
    names = list(comparison.curves)
    (comparison.out / "curves.json").write_text(json.dumps(
        {"configs": names, "sizes": comparison.sizes,
         "macro_f1": {name: comparison.mean_macro_f1(name) for name in names},
         "per_dimension": {name: curve.macro_f1 for name, curve in comparison.curves.items()}},
        indent=2) + "\n", encoding="utf-8")
    fig, ax = figure(6, 3.6)
    for k, name in enumerate(names):
        ax.plot(comparison.sizes, comparison.mean_macro_f1(name), marker="o", label=name, color=PALETTE[k])
    ax.set_xscale("log")
    ax.set_xlabel("training labels")
    ax.set_ylabel("macro-F1 (grouped CV,\nmean over dimensions)")
    ax.set_title("learning curves on the same folds", fontsize=10)
    ax.legend(frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    fig.savefig(comparison.out / "curves.png", dpi=110, bbox_inches="tight")
    body = ["<h1>Learning curves compared</h1>", img(fig, "macro-F1 against training labels, per config"),
            "<p>Each config is trained on the same labels at each size and tested on the same held-out "
            "articles; where a slower config's line meets a quicker one's, it stops paying.</p>",
            table(["training labels", *names, "best"], comparison.rows())]
    (comparison.out / "curves.html").write_text(page("learning curves compared", "\n".join(body)),
                                                encoding="utf-8")
