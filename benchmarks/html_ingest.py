"""Benchmark `corpus build` on saved news pages against bare trafilatura extraction of the
same pages, both on all cores, in one run.

    python benchmarks/html_ingest.py [--pages 3000] [--repeats 3] [--dir DIR]

The pages are news-like articles (benchmarks/newslike.py) wrapped in a page with a
header, navigation, a byline, a date, related links and a footer. The bare contender
reads each file and runs `trafilatura.bare_extraction` in a process pool of one worker
per core; `corpus build` does the same extraction and then everything a corpus needs
(dates, sentences, ids, exact and near-duplicates, the files). Prints pages per second
for both and their ratio (target: >= 0.8), best of ``--repeats`` each, alternated.
"""

from __future__ import annotations

import argparse
import html
import os
import random
import shutil
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from newslike import article  # noqa: E402

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title} | {outlet}</title>
<meta property="og:site_name" content="{outlet}"><meta name="author" content="{author}">
<meta property="article:published_time" content="{date}T09:00:00Z"></head><body>
<header><a href="/">{outlet}</a><nav><a href="/world">World</a> <a href="/business">Business</a>
<a href="/opinion">Opinion</a> <a href="/login">Sign in</a></nav></header>
<main><article><h1>{title}</h1><p class="byline">By {author}</p>{paragraphs}</article>
<aside><h2>Related</h2><ul>{related}</ul></aside></main>
<footer><p>Copyright 2026 {outlet}. All rights reserved.</p><a href="/privacy">Privacy</a></footer></body></html>"""


def write_pages(directory: Path, n: int, seed: int = 0) -> list[Path]:
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        item = article(rng, i)
        paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in item["text"].split("\n\n"))
        related = "".join(f'<li><a href="/story/{rng.randint(1, 10**6)}">Another story {k}</a></li>' for k in range(5))
        page = PAGE.format(title=html.escape(item["title"]), outlet=item["source"], date=item["date"],
                           author=f"Reporter {rng.randint(1, 99)}", paragraphs=paragraphs, related=related)
        path = directory / f"{i:06d}.html"
        path.write_text(page, encoding="utf-8")
        paths.append(path)
    return paths


def _extract(path: str) -> int:
    import trafilatura

    document = trafilatura.bare_extraction(Path(path).read_bytes(), with_metadata=True)
    return len(document.text) if document is not None and document.text else 0


def bare(paths: list[Path], workers: int) -> float:
    import trafilatura  # noqa: F401  (in the parent, before the pool forks: as corpus build does)

    started = time.perf_counter()
    with Pool(workers) as pool:
        extracted = pool.map(_extract, map(str, paths), chunksize=64)
    assert all(extracted)
    return time.perf_counter() - started


def stance_build(directory: Path, out: Path, workers: int) -> float:
    from stance.ingest.corpus import build_corpus

    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    result = build_corpus([directory], out, workers=workers)
    seconds = time.perf_counter() - started
    assert result.counts.kept + result.counts.duplicates == result.counts.read
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="stance-bench-html-"))
    paths = sorted((work / "pages").glob("*.html"))
    if len(paths) != args.pages:
        shutil.rmtree(work / "pages", ignore_errors=True)
        paths = write_pages(work / "pages", args.pages)
    workers = os.cpu_count() or 1
    bare(paths[:200], workers)  # warm the page cache and the imports
    bare_runs, stance_runs = [], []
    for _ in range(args.repeats):
        bare_runs.append(bare(paths, workers))
        stance_runs.append(stance_build(work / "pages", work / "corpus", workers))
    t_bare, t_stance = min(bare_runs), min(stance_runs)
    print(f"pages                        {len(paths):8,} on {workers} cores, best of {args.repeats} runs each")
    print(f"bare trafilatura extraction  {t_bare:8.2f} s {len(paths) / t_bare:8.0f} pages/s")
    print(f"stance corpus build          {t_stance:8.2f} s {len(paths) / t_stance:8.0f} pages/s")
    print(f"ratio, bare time / stance time (target >= 0.80): {t_bare / t_stance:.2f}")


if __name__ == "__main__":
    main()
