"""Near-duplicate detection in `corpus build`: time, memory, and what it finds, in one run.

    python benchmarks/near_duplicates.py [--articles 100000] [--copies 0.1] [--dir DIR]

Writes news-like articles (benchmarks/newslike.py) in which a share ``--copies`` are
wire copies of an earlier article: a new headline, and one paragraph of the original
cut. Then, each in a fresh process, best of ``--repeats``:

- `corpus build` with near-duplicates marked (the default) and with `keep` (no
  detection): the difference is what detection costs. Target: detection over 100k
  articles in under 2 minutes on 2 cores.
- peak memory of the marked build on half the articles and on all (target: it grows
  no faster than the number of articles);
- recall (planted copies put in their original's cluster; a copy identical to another
  copy is dropped as an exact duplicate and not counted) and false matches (articles
  put in a cluster though they copy nothing);
- side by side on the same 2,000 articles: stance's signatures and index against
  datasketch's MinHash and MinHashLSH, per article, which is why stance computes
  signatures itself.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from newslike import article  # noqa: E402

_CHILD = """
import json, resource, sys, time
from stance.ingest.corpus import build_corpus
started = time.perf_counter()
result = build_corpus(sys.argv[2:-1], sys.argv[-1], near_duplicates=sys.argv[1])
print(json.dumps({"seconds": time.perf_counter() - started, "near_duplicates": result.counts.near_duplicates,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def write_articles(directory: Path, n: int, copies: float, seed: int = 0) -> dict[str, str]:
    """``n`` articles in four JSONL files; returns copy id -> the id of the article it copies."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    originals, planted = [], {}
    handles = [open(directory / f"part-{k}.jsonl", "w", encoding="utf-8") for k in range(4)]
    for i in range(n):
        if originals and rng.random() < copies:
            source = rng.choice(originals)
            paragraphs = source["text"].split("\n\n")
            cut = rng.randrange(len(paragraphs))
            item = {**source, "id": f"copy-{i:08d}", "title": "Local view: " + source["title"],
                    "source": f"Local {rng.randint(1, 50)}",
                    "text": "\n\n".join(p for k, p in enumerate(paragraphs) if k != cut)}
            planted[item["id"]] = source["id"]
        else:
            item = article(rng, i)
            if len(item["text"].split("\n\n")) >= 5:
                originals.append(item)
        handles[i * 4 // n].write(json.dumps(item) + "\n")
    for handle in handles:
        handle.close()
    return planted


def build(files: list[Path], out: Path, mode: str) -> dict:
    done = subprocess.run([sys.executable, "-c", _CHILD, mode, *map(str, files), str(out)],
                          check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def accuracy(out: Path, planted: dict[str, str]) -> tuple[float, int]:
    import pyarrow.parquet as pq

    cluster = dict(zip(*pq.read_table(out / "articles.parquet", columns=["article_id", "cluster_id"])
                       .to_pydict().values()))
    kept = {copy: original for copy, original in planted.items() if copy in cluster}  # others: exact duplicates
    found = sum(cluster[copy] == cluster[original] for copy, original in kept.items())
    wrongly = sum(1 for a, c in cluster.items() if c != a and a not in planted)
    return found / max(1, len(kept)), wrongly


def per_article(texts: list[str]) -> tuple[float, float]:
    """Milliseconds an article: stance's signatures and index, datasketch's MinHash and LSH."""
    import re

    from datasketch import MinHash, MinHashLSH

    from stance.ingest.nearduplicates import NUM_PERM, NearDuplicates, signatures

    started = time.perf_counter()
    NearDuplicates().add([str(i) for i in range(len(texts))], signatures(texts))
    ours = time.perf_counter() - started
    started = time.perf_counter()
    index = MinHashLSH(threshold=0.5, num_perm=NUM_PERM)
    for i, text in enumerate(texts):
        words = re.findall(r"\w+", text.lower())
        minhash = MinHash(num_perm=NUM_PERM, hashfunc=zlib.crc32)
        minhash.update_batch([" ".join(words[k:k + 5]).encode() for k in range(max(1, len(words) - 4))])
        index.query(minhash)
        index.insert(str(i), minhash)
    theirs = time.perf_counter() - started
    return ours / len(texts) * 1000, theirs / len(texts) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--copies", type=float, default=0.1)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="stance-bench-neardup-"))
    planted = write_articles(work / "input", args.articles, args.copies)
    files = sorted((work / "input").glob("*.jsonl"))
    marked, unmarked = [], []
    for _ in range(args.repeats):
        marked.append(build(files, work / "marked", "mark"))
        unmarked.append(build(files, work / "keep", "keep"))
    best = min(marked, key=lambda run: run["seconds"])
    plain = min(unmarked, key=lambda run: run["seconds"])
    half = build(files[:2], work / "half", "mark")
    recall, wrongly = accuracy(work / "marked", planted)
    texts = [json.loads(line)["text"] for line in open(files[0], encoding="utf-8").readlines()[:2000]]
    ours, theirs = min(per_article(texts) for _ in range(args.repeats))
    print(f"articles                     {args.articles:>9,}  ({len(planted):,} planted wire copies)")
    print(f"corpus build, marked         {best['seconds']:9.1f} s   (best of {args.repeats})")
    print(f"corpus build, keep           {plain['seconds']:9.1f} s")
    print(f"near-duplicate detection     {best['seconds'] - plain['seconds']:9.1f} s   (target: under 120 s "
          f"for 100k articles on 2 cores)")
    print(f"found                        {best['near_duplicates']:9,}   recall of planted copies {recall:.3f}, "
          f"articles wrongly put with another: {wrongly:,}")
    print(f"peak memory, half / all      {half['peak_mb']:6.0f} MB / {best['peak_mb']:.0f} MB")
    print(f"per article, 2,000 articles  stance {ours:.3f} ms, datasketch MinHash + MinHashLSH {theirs:.3f} ms "
          f"(ratio {theirs / ours:.1f})")


if __name__ == "__main__":
    main()
