"""``experiments list|show|compare``: runs side by side.

Each run shows its scoring speed (sentences/s of its saved model, measured when it was
trained) beside its F1, so a user weighs one against the other. A comparison puts each
run's macro-F1 beside the first run's, per dimension, with
the difference and a 95% bootstrap interval (articles resampled, paired on the same
sentences). The shared set is the held-out test set when the runs have one in
common; otherwise their cross-validated predictions, when they were trained on the
same data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow.parquet as pq

from stance.errors import StanceError
from stance.experiments.metrics import macro_f1, paired_bootstrap
from stance.model.runs import Run, list_run_dirs, load_run, read_manifest, runs_dir


def run_rows(root=None) -> list[dict]:
    """One summary per complete run under ``root``, oldest first (read, not verified: nothing is unpickled)."""
    rows = []
    for path in list_run_dirs(root or runs_dir()):
        r = Run(path, read_manifest(path))
        metrics = r.metrics
        rows.append({"run_id": r.run_id, "created": r.manifest["created"], "config": r.manifest["config_name"],
                     "rows": r.manifest["data"]["rows"], "path": str(path),
                     "sentences_per_s": scoring_speed(metrics),
                     "cv_macro_f1": {d: m["cv"]["macro_f1"] for d, m in metrics["dimensions"].items()},
                     "test_macro_f1": {d: m["test"]["macro_f1"] for d, m in metrics["dimensions"].items()
                                       if "test" in m}})
    return rows


def scoring_speed(metrics: dict) -> float | None:
    """Sentences/s the run's model scored on its own sentences (runs before this was measured: None)."""
    return (metrics.get("speed") or {}).get("sentences_per_s")


def speed_text(sentences_per_s: float | None) -> str:
    return f"{sentences_per_s:,.0f}" if sentences_per_s else "-"


@dataclass
class Comparison:
    dimension: str
    run_id: str
    cv_macro_f1: float
    shared_macro_f1: float | None
    diff: float | None
    low: float | None
    high: float | None
    shared: str
    n: int
    sentences_per_s: float | None = None


def compare(refs: list[str], rounds: int = 1000, seed: int = 0) -> list[Comparison]:
    """Every run against the first, per dimension."""
    if len(refs) < 2:
        raise StanceError("compare needs at least two runs")
    runs = [load_run(ref, with_model=False) for ref in refs]
    base = runs[0]
    out = []
    for dim in base.dimensions:
        for other in runs:
            if dim not in other.dimensions:
                continue
            shared, table = _shared_predictions(base, other, dim)
            cv = other.metrics["dimensions"][dim]["cv"]["macro_f1"]
            if table is None:
                out.append(Comparison(dim, other.run_id, cv, None, None, None, None, shared, 0,
                                      scoring_speed(other.metrics)))
                continue
            y, a, b, groups = table
            diff = low = high = None
            if other is not base:  # the base against itself has nothing to resample
                diff, low, high = paired_bootstrap(y, a, b, groups, rounds=rounds, seed=seed)
            out.append(Comparison(dim, other.run_id, cv, float(macro_f1(y, b)), diff, low, high, shared, len(y),
                                  scoring_speed(other.metrics)))
    return out


def _shared_predictions(a: Run, b: Run, dim: str):
    """(y, pred_a, pred_b, article ids) on the sentences both runs predicted, and which set that is."""
    for name, kind in (("test_predictions.parquet", "test"), ("cv_predictions.parquet", "cv")):
        if kind == "cv" and a.manifest["data"]["hash"] != b.manifest["data"]["hash"]:
            continue
        if kind == "test" and not (a.manifest.get("test_data") and b.manifest.get("test_data")):
            continue
        ta, tb = _predictions(a, name, dim), _predictions(b, name, dim)
        common = sorted(set(ta) & set(tb))
        if not common:
            continue
        y = np.array([ta[s][0] for s in common])
        if any(ta[s][0] != tb[s][0] for s in common):
            continue  # the same sentence labelled differently: not a shared set
        names = sorted(set(y) | {ta[s][1] for s in common} | {tb[s][1] for s in common})
        index = {n: i for i, n in enumerate(names)}
        return kind, (np.array([index[v] for v in y]), np.array([index[ta[s][1]] for s in common]),
                      np.array([index[tb[s][1]] for s in common]), np.array([ta[s][2] for s in common]))
    return "none (no common test set or training data)", None


def _predictions(run: Run, name: str, dim: str) -> dict[str, tuple[str, str, str]]:
    path = run.path / name
    if not path.is_file():
        return {}
    columns = [f"{dim}_true", f"{dim}_pred"]
    t = pq.read_table(path, columns=["sentence_id", "article_id", *columns]).to_pydict()
    return {s: (y, p, art) for s, art, y, p in zip(t["sentence_id"], t["article_id"], t[columns[0]], t[columns[1]])
            if y is not None}
