"""``stance demo``: the whole loop on the synthetic demo corpus, with nothing to set up.

So far the loop covers corpus building; each later stage adds its step here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stance.corpus import CorpusResult, build_corpus
from stance.resources import demo_dir

DEFAULT_WORKDIR = Path("artifacts/demo")


@dataclass
class DemoResult:
    workdir: Path
    corpus: CorpusResult

    def summary(self) -> str:
        return "\n".join([
            f"demo corpus: {self.corpus}",
            "",
            "next steps:",
            f"  look at the sentences:  python -c \"import pandas; "
            f"print(pandas.read_parquet('{self.corpus.out}/sentences.parquet'))\"",
            "  build your own corpus:  stance corpus build YOUR_ARTICLES/ --out corpus/",
        ])


def run_demo(workdir: str | Path = DEFAULT_WORKDIR, *, progress: bool = False) -> DemoResult:
    """Run every stage of the loop on the demo corpus, writing under ``workdir``."""
    workdir = Path(workdir)
    corpus = build_corpus([demo_dir() / "articles.jsonl"], workdir / "corpus", workers=1, progress=progress)
    return DemoResult(workdir, corpus)
