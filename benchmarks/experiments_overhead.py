"""Benchmark `experiments run` against a bare scikit-learn cross-validation of the same pipelines.

    python benchmarks/experiments_overhead.py [--sentences 10000] [--config experiments/default.toml]

Both sides do the same model work: for each of the three dimensions, 5-fold
cross-validation grouped by article (predict_proba on each test fold) and one final
fit on all rows. The experiment adds reading the dataset, metrics, confusion
matrices, the HTML report, joblib, parquet and hashing. Target: that overhead under
30% of the bare time. Prints both times and the overhead.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict

sys.path.insert(0, str(Path(__file__).parent))
from newslike import write_labelled  # noqa: E402

from stance.experiments import run  # noqa: E402
from stance.experiments.config import load_config  # noqa: E402
from stance.experiments.pipeline import build_pipeline  # noqa: E402
from stance.labels.dataset import read_labelled  # noqa: E402
from stance.labels.importer import import_labels  # noqa: E402
from stance.schema import load_schema  # noqa: E402


def bare(config: dict, data_dir: Path) -> float:
    """Plain scikit-learn on arrays already in memory: the floor."""
    data = read_labelled(data_dir, load_schema())
    started = time.perf_counter()
    for labels in data.labels.values():
        keep = labels >= 0
        X, y, groups = data.texts[keep], labels[keep], data.article_ids[keep]
        folds = StratifiedGroupKFold(n_splits=config["cv"]["folds"], shuffle=True, random_state=config["seed"])
        cross_val_predict(build_pipeline(config), X, y, groups=groups, cv=folds, method="predict_proba")
        build_pipeline(config).fit(X, y)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=10_000)
    parser.add_argument("--config", type=Path, default=Path(__file__).parents[1] / "experiments" / "default.toml")
    parser.add_argument("--repeat", type=int, default=2, help="alternate the two sides this many times")
    args = parser.parse_args()
    config = load_config(args.config)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        table = write_labelled(tmp / "labelled.jsonl", args.sentences)
        import_labels(table, tmp / "data", id_field="sentence_id", article_field="article_id")
        bare_times, run_times = [], []
        for i in range(args.repeat):
            bare_times.append(bare(config, tmp / "data"))
            started = time.perf_counter()
            result = run(args.config, tmp / "data", out=tmp / "runs", run_id=f"bench-{i}")
            run_times.append(time.perf_counter() - started)
        b, r = min(bare_times), min(run_times)
        print(f"sentences: {args.sentences:,}, dimensions: 3, folds: {config['cv']['folds']}, config: {config['name']}")
        print(f"bare scikit-learn CV + final fit: {b:.2f} s (runs: {', '.join(f'{t:.2f}' for t in bare_times)})")
        print(f"stance experiments run:          {r:.2f} s (runs: {', '.join(f'{t:.2f}' for t in run_times)})")
        print(f"overhead: {100 * (r - b) / b:.1f}% of the bare time (target: under 30%)")
        print("cv macro-F1: " + ", ".join(f"{d} {m['cv']['macro_f1']:.3f}"
                                          for d, m in result.metrics["dimensions"].items()))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
