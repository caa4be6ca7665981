"""Shared fixtures: the seed articles (from ../shared, never copied here) and the demo corpus."""

import os
import tempfile
from pathlib import Path

import pytest

from stance.resources import demo_dir

SEED_DIR = Path(__file__).resolve().parents[2] / "shared" / "seed-articles"
# runs made by the tests are signed with a key of the test session's own, never the user's
os.environ["STANCE_CONFIG_DIR"] = tempfile.mkdtemp(prefix="stance-config-")


@pytest.fixture(scope="session")
def seed_dir() -> Path:
    if not SEED_DIR.is_dir():
        pytest.skip(f"the seed articles are not at {SEED_DIR}")
    return SEED_DIR


@pytest.fixture(scope="session")
def demo_articles() -> Path:
    return demo_dir() / "articles.jsonl"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def studio_server(tmp_path_factory):
    """A real Label Studio on 127.0.0.1 and a free port, for the whole test session."""
    from stance.studio import server

    data_dir = tmp_path_factory.mktemp("studio")
    info = server.start(data_dir, free_port(), timeout=600)
    yield info
    server.stop(data_dir)


@pytest.fixture()
def studio(studio_server):
    from stance.studio.client import connect

    return connect(data_dir=studio_server.data_dir)


@pytest.fixture()
def demo_corpus(demo_articles, tmp_path_factory):
    from stance.ingest.corpus import build_corpus

    out = tmp_path_factory.mktemp("demo-corpus")
    build_corpus([demo_articles], out, workers=1)
    return out


def _labelled(articles: Path, gold: Path, tmp_path_factory) -> Path:
    """Gold labels kept by sentence id, joined to the text of a corpus built from ``articles``."""
    from stance.ingest.corpus import build_corpus
    from stance.labels.importer import import_labels

    corpus = tmp_path_factory.mktemp("corpus-for-labels")
    build_corpus([articles], corpus, workers=1)
    out = tmp_path_factory.mktemp("labels")
    import_labels(gold, out, corpus=corpus)
    return out


@pytest.fixture(scope="session")
def demo_labels(demo_articles, tmp_path_factory) -> Path:
    """The demo gold labels as a labelled dataset (one annotator per sentence)."""
    return _labelled(demo_articles, demo_dir() / "gold.jsonl", tmp_path_factory)


@pytest.fixture(scope="session")
def seed_labels(seed_dir, tmp_path_factory) -> Path:
    """Our labels of the seed articles' sentences (kept without text in labels/seed/), joined to their text."""
    return _labelled(seed_dir, Path(__file__).resolve().parents[1] / "labels" / "seed" / "gold.jsonl",
                     tmp_path_factory)


@pytest.fixture(scope="session")
def default_run(demo_labels, tmp_path_factory) -> Path:
    """A run of experiments/default.toml on the demo labels, shared by tests that only read it."""
    from stance.experiments import run

    root = tmp_path_factory.mktemp("runs")
    return run(Path(__file__).resolve().parents[1] / "experiments" / "default.toml", demo_labels, out=root).path


@pytest.fixture(scope="session")
def demo_scores(default_run, demo_articles, tmp_path_factory) -> Path:
    """The demo articles scored by the default run (read-only: copy before changing)."""
    from stance.scoring.batch import score

    out = tmp_path_factory.mktemp("scores") / "demo"
    score([demo_articles], default_run, out, workers=1)
    return out


def gold_audit(scores: Path, sentence_ids: list[str], out: Path) -> Path:
    """A labelled dataset of the demo's gold labels for ``sentence_ids`` of ``scores``, as a pulled
    audit would be (one annotator)."""
    import json

    import pandas as pd

    from stance.labels.dataset import Annotation, Sentence, write_dataset
    from stance.schema import load_schema

    gold = {r["sentence_id"]: r for r in map(json.loads, (demo_dir() / "gold.jsonl").read_text().splitlines())}
    frame = pd.read_parquet(scores / "sentences.parquet", columns=["sentence_id", "article_id", "text"])
    frame = frame.set_index("sentence_id").loc[sentence_ids]
    schema = load_schema()
    sentences = [Sentence(sid, row.article_id, row.text,
                          [Annotation(sid, "auditor", {d.name: gold[sid][d.name] for d in schema.dimensions})])
                 for sid, row in frame.iterrows()]
    write_dataset(sentences, schema, out)
    return out
