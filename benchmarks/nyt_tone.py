"""A second real tone task, public and held out from everything stance was tuned on: 5,190 sentences
of 500 New York Times opinion articles, each rated by 20 people from -4 (very negative) to +4
(Hutto & Gilbert, ICWSM 2014; shipped in the source distribution of the `vaderSentiment` package).

    python benchmarks/nyt_tone.py --out ~/nyt     # a labelled dataset for `labels simulate`, outside the repo

The mean rating becomes the schema's tone: at most -0.5 adversarial, at least +0.5 conciliatory,
neutral between (34% / 23% / 43%; the band was set before any model ran, not tuned). The text is
read from pip's download into a cache directory (STANCE_BENCH_CACHE, default ~/.cache/stance-bench),
never copied into the repository.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

VERSION = "3.3.2"
INNER = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
RATINGS = "hutto_ICWSM_2014/nytEditorialSnippets_GroundTruth.txt"
MAX_BYTES = 16 << 20   # the archive is 2.5 MB and the ratings file 0.6 MB
NEUTRAL_BAND = 0.5
TONE = {"conciliatory": 0, "adversarial": 1, "neutral": 2}   # the order of tone_tasks.TONE
REPOSITORY = Path(__file__).resolve().parents[1]


def sdist() -> Path:
    """The vaderSentiment source archive, downloaded by pip once."""
    cache = Path(os.environ.get("STANCE_BENCH_CACHE", Path.home() / ".cache" / "stance-bench"))
    path = cache / f"vaderSentiment-{VERSION}.tar.gz"
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", f"vaderSentiment=={VERSION}", "--no-deps",
                        "--no-binary", ":all:", "--quiet", "-d", str(cache)], check=True, timeout=300)
    return path


def _member(archive: tarfile.TarFile, name: str) -> bytes:
    info = archive.getmember(name)
    if not info.isfile() or info.size > MAX_BYTES:
        raise ValueError(f"{name}: not a file of at most {MAX_BYTES:,} bytes")
    return archive.extractfile(info).read(MAX_BYTES + 1)


def rows() -> list[dict]:
    """Sentence id, article id, text, mean rating and tone of every rated sentence."""
    with tarfile.open(sdist()) as outer, tarfile.open(fileobj=io.BytesIO(_member(outer, INNER))) as inner:
        lines = _member(inner, RATINGS).decode("latin-1").splitlines()
    out = []
    for number, line in enumerate(lines, 1):
        try:
            sentence_id, rating, text = line.split("\t")
            rating = float(rating)
        except ValueError:
            raise ValueError(f"{RATINGS}, line {number}: not ID, mean rating and text, tab-separated") from None
        tone = ("adversarial" if rating <= -NEUTRAL_BAND else "conciliatory" if rating >= NEUTRAL_BAND
                else "neutral")
        out.append({"sentence_id": f"nyt-{sentence_id}", "article_id": f"nyt-{sentence_id.split('_')[0]}",
                    "text": text.strip(), "rating": rating, "tone": tone})
    return out


def tone_sentences() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Texts, tone labels (numbered as in tone_tasks) and articles, as tone_tasks.tone_sentences gives."""
    table = rows()
    return (np.array([r["text"] for r in table]), np.array([TONE[r["tone"]] for r in table]),
            np.array([r["article_id"] for r in table]))


def write_labels(out: Path) -> str:
    """The sentences as a labelled dataset (tone only) through `stance labels import`."""
    from stance.labels.importer import import_labels
    with tempfile.TemporaryDirectory() as tmp:
        table = Path(tmp) / "nyt.jsonl"
        table.write_text("".join(json.dumps(r) + "\n" for r in rows()), encoding="utf-8")
        return str(import_labels(table, out, id_field="sentence_id", article_field="article_id"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="Directory of the labelled dataset.")
    out = parser.parse_args().out.expanduser().resolve()
    if out.is_relative_to(REPOSITORY):
        raise SystemExit(f"{out}: inside the repository; write the NYT text elsewhere, so it is never committed")
    print(write_labels(out))


if __name__ == "__main__":
    main()
