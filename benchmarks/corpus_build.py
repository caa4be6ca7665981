"""Benchmark `corpus build` against a bare read-and-regex-split of the same files, in one run.

    python benchmarks/corpus_build.py [--megabytes 110] [--dir /tmp/stance-bench-corpus]

Prints sentences per second for both, their ratio (target: >= 0.5), and the peak
memory of `corpus build` on half the corpus and on all of it (target: flat). The build
runs as users get it (near-duplicates marked) and without the near-duplicate pass
(`--near-duplicates keep`), which is what the 0.5 target was set for. Each
contender runs ``--repeats`` times, alternated, and keeps its best time: the machine
is shared, and noise should not decide the ratio either way. The default size is
110 MB because `corpus build` has a fixed start-up of about 0.2 s (pyarrow imports
pandas on first use; the worker processes start), which is a sixth of a 55 MB run and
says nothing about throughput on a real corpus; ``--megabytes 55`` shows it.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from newslike import write_jsonl  # noqa: E402

_BARE = re.compile(r"(?<=[.!?])\s+")


def bare_split(files: list[Path]) -> tuple[int, float]:
    """Read every line, parse the JSON, split the text on a plain regex: the floor to compare with."""
    started = time.perf_counter()
    n = 0
    for path in files:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                n += len(_BARE.split(json.loads(line)["text"]))
    return n, time.perf_counter() - started


_CHILD = """
import json, resource, sys, time
from stance.ingest.corpus import build_corpus
started = time.perf_counter()
result = build_corpus(sys.argv[2:-1], sys.argv[-1], near_duplicates=sys.argv[1])
seconds = time.perf_counter() - started
print(json.dumps({"sentences": result.counts.sentences, "seconds": seconds,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def stance_build(files: list[Path], out: Path, near_duplicates: str = "mark") -> dict:
    """`corpus build` in a fresh process, so its peak memory is its own."""
    done = subprocess.run([sys.executable, "-c", _CHILD, near_duplicates, *map(str, files), str(out)],
                          check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=float, default=110)
    parser.add_argument("--dir", type=Path, default=None, help="where to write the corpus (default: a temp dir)")
    parser.add_argument("--regenerate", action="store_true", help="rewrite the input even if --dir has one")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each contender; the best counts")
    args = parser.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="stance-bench-corpus-"))
    files = sorted((work / "input").glob("*.jsonl"))
    if not files or args.regenerate:
        files = write_jsonl(work / "input", args.megabytes, files=4)
    size_mb = sum(f.stat().st_size for f in files) / 1e6
    bare_split(files)  # warm the page cache for both contenders
    bare_runs, stance_runs, unmarked_runs = [], [], []
    for _ in range(args.repeats):
        bare_runs.append(bare_split(files))
        stance_runs.append(stance_build(files, work / "out-full"))
        unmarked_runs.append(stance_build(files, work / "out-keep", "keep"))
    n_bare, t_bare = min(bare_runs, key=lambda run: run[1])
    full = min(stance_runs, key=lambda run: run["seconds"])
    full["peak_mb"] = max(run["peak_mb"] for run in stance_runs)
    unmarked = min(unmarked_runs, key=lambda run: run["seconds"])
    half = stance_build(files[:2], work / "out-half")
    bare_rate = n_bare / t_bare
    stance_rate = full["sentences"] / full["seconds"]
    print(f"input                        {size_mb:8.1f} MB in {len(files)} JSONL files, "
          f"best of {args.repeats} runs each")
    print(f"bare read + regex split      {n_bare:10,} sentences {t_bare:7.2f} s {bare_rate:10,.0f} sentences/s")
    print(f"stance corpus build          {full['sentences']:10,} sentences {full['seconds']:7.2f} s "
          f"{stance_rate:10,.0f} sentences/s")
    print(f"  without near-duplicates    {unmarked['sentences']:10,} sentences {unmarked['seconds']:7.2f} s "
          f"{unmarked['sentences'] / unmarked['seconds']:10,.0f} sentences/s  (--near-duplicates keep)")
    print(f"ratio of speeds on the same input, bare time / stance time (target >= 0.50): "
          f"{t_bare / full['seconds']:.2f}; without near-duplicates {t_bare / unmarked['seconds']:.2f}")
    print(f"ratio of sentences/s, each counting its own sentences:                 "
          f"{stance_rate / bare_rate:.2f}")
    print(f"peak memory, half corpus     {half['peak_mb']:8.0f} MB")
    print(f"peak memory, whole corpus    {full['peak_mb']:8.0f} MB")


if __name__ == "__main__":
    main()
