"""Benchmark `stance estimate` with bootstrap intervals on scores of about a million sentences.

    python benchmarks/estimate_speed.py [--megabytes 90] [--repeats 3] [--dir /tmp/stance-bench-estimate]

1. Writes news-like JSONL articles (about 90 MB: a million sentences, five outlets,
   dates over a year), trains the default config on 10,000 labelled news-like
   sentences and scores the articles with `stance score` (real scores, not made up).
2. Times the whole `stance estimate` command (Python start, reading the scores and the
   run, every dimension, 1,000 bootstrap replicates per group) for three groupings:
   the whole corpus, by source, and by source and month. Best of `--repeats` each.

Target: under a minute on 2 cores. Prints the peak memory of the command too.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from newslike import default_run, write_jsonl  # noqa: E402



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=float, default=90)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="keep the corpus and scores here between runs")
    args = parser.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="stance-bench-estimate-"))
    articles = work / "articles"
    if not any(articles.glob("*.jsonl")):
        write_jsonl(articles, args.megabytes, files=2)
    model = default_run(work)
    scores = work / "scores"
    if not (scores / "manifest.json").is_file():
        subprocess.run([sys.executable, "-m", "stance", "score", str(articles), "--model", str(model.path),
                        "--out", str(scores), "--overwrite", "--quiet"], check=True)
    counts = json.loads((scores / "manifest.json").read_text())["counts"]
    print(f"scores: {counts['scored']:,} articles, {counts['sentences']:,} sentences, 3 dimensions "
          f"(run {model.run_id})")
    for label, grouping in (("whole corpus", []), ("by source", ["--by", "source"]),
                            ("by source and month", ["--by", "source", "--period", "month"])):
        times = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "stance", "estimate", str(scores), "--out",
                            str(work / "estimates.parquet"), *grouping], check=True, capture_output=True)
            times.append(time.perf_counter() - started)
        rows = pd.read_parquet(work / "estimates.parquet")
        groups = len(rows) // 10
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"  {label:<20} {groups:>4} groups: best {min(times):5.1f} s of "
              f"{', '.join(f'{t:.1f}' for t in times)} (target < 60 s); peak memory so far {peak:,.0f} MB")


if __name__ == "__main__":
    main()
