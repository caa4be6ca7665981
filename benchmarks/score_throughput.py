"""Benchmark `stance score` end to end against bare predict_proba of the same model, in one run.

    python benchmarks/score_throughput.py [--megabytes 200] [--workers 2] [--dir /tmp/stance-bench-score]

1. Writes news-like JSONL articles (at least 200 MB by default) and trains the
   default config on 10,000 labelled news-like sentences.
2. Bare: predict_proba for every dimension on already-split sentences (a sample
   of the corpus), in this one process; the best of three runs before and two after
   step 3, so that a busy moment on a shared machine cannot flatter the ratio.
3. End to end: `stance score` over the whole corpus with --workers N, in a child
   process whose process tree's memory is sampled every second.

Prints sentences/s for both, the ratio end-to-end / (workers x bare) (target >= 0.8)
and the peak memory of the whole process tree, as the sum of each process's PSS
(shared pages split between the processes that share them; target < 1 GB).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from newslike import default_run, write_jsonl  # noqa: E402

from stance.experiments import load_run  # noqa: E402
from stance.ingest.corpus import build_corpus  # noqa: E402


def _pss(process: psutil.Process) -> int:
    """Proportional set size: forked workers share the parent's pages, which RSS counts once per process."""
    try:
        return process.memory_full_info().pss
    except (AttributeError, psutil.AccessDenied):
        return process.memory_info().rss


def peak_tree_rss(process: subprocess.Popen, stop: threading.Event, peak: list[int]) -> None:
    parent = psutil.Process(process.pid)
    while not stop.is_set():
        try:
            total = sum(_pss(p) for p in [parent, *parent.children(recursive=True)])
            peak[0] = max(peak[0], total)
        except psutil.Error:
            pass
        time.sleep(1.0)  # memory is flat; reading smaps often would steal CPU from the run measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=float, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sample", type=int, default=60_000, help="sentences for the bare figure")
    parser.add_argument("--dir", type=Path, default=None, help="keep the corpus here between runs")
    args = parser.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="stance-bench-score-"))
    articles = work / "articles"
    if not any(articles.glob("*.jsonl")):
        write_jsonl(articles, args.megabytes, files=4)
    size = sum(p.stat().st_size for p in articles.glob("*.jsonl"))
    model = default_run(work)
    loaded = load_run(model.path)

    sample_corpus = work / "sample-corpus"
    build_corpus([sorted(articles.glob("*.jsonl"))[0]], sample_corpus, workers=1)
    texts = pq.read_table(sample_corpus / "sentences.parquet", columns=["text"]).column("text").to_pylist()
    texts = texts[:args.sample]

    def bare_rate() -> float:
        started = time.perf_counter()
        loaded.predict_proba(texts)
        return len(texts) / (time.perf_counter() - started)

    # the machine is shared: take the best of several bare runs, before and after (a conservative ratio)
    bare_rates = [bare_rate() for _ in range(3)]

    out = work / "scores"
    command = [sys.executable, "-m", "stance", "score", str(articles), "--model", str(model.path),
               "--out", str(out), "--workers", str(args.workers), "--overwrite", "--quiet"]
    started = time.perf_counter()
    process = subprocess.Popen(command)
    stop, peak = threading.Event(), [0]
    sampler = threading.Thread(target=peak_tree_rss, args=(process, stop, peak), daemon=True)
    sampler.start()
    if process.wait() != 0:
        sys.exit(f"stance score failed with exit status {process.returncode}")
    elapsed = time.perf_counter() - started
    stop.set()
    sampler.join()
    bare_rates += [bare_rate() for _ in range(2)]
    bare = max(bare_rates)
    manifest = json.loads((out / "manifest.json").read_text())
    counts = manifest["counts"]
    end_to_end = counts["sentences"] / elapsed
    print(f"corpus: {size / 1e6:.0f} MB, {counts['read']:,} articles, {counts['sentences']:,} sentences; "
          f"model {model.run_id} ({', '.join(loaded.dimensions)})")
    print(f"bare predict_proba, 1 process, {len(texts):,} pre-split sentences: {bare:,.0f} sentences/s "
          f"(best of {', '.join(f'{r:,.0f}' for r in bare_rates)})")
    print(f"stance score end to end, {args.workers} workers: {end_to_end:,.0f} sentences/s ({elapsed:.1f} s)")
    print(f"ratio end-to-end / ({args.workers} x bare): {end_to_end / (args.workers * bare):.2f} (target >= 0.8)")
    print(f"peak memory of the process tree (sum of PSS): {peak[0] / 2**20:,.0f} MB (target < 1024 MB)")
    print(f"of the end-to-end time, putting the parts together took {manifest['seconds_merging']:.2f} s")


if __name__ == "__main__":
    main()
