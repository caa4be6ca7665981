"""The synthetic demo corpus and its gold labels stay consistent with the splitter and schema."""

import json

import pyarrow.parquet as pq

from stance.ingest.corpus import build_corpus
from stance.schema import load_schema


def test_every_gold_label_names_a_demo_sentence_and_a_schema_choice(demo_articles, tmp_path):
    build_corpus([demo_articles], tmp_path, workers=1)
    sentence_ids = set(pq.read_table(tmp_path / "sentences.parquet", columns=["sentence_id"])["sentence_id"].to_pylist())
    gold = [json.loads(line) for line in (demo_articles.parent / "gold.jsonl").read_text().splitlines()]
    assert {g["sentence_id"] for g in gold} == sentence_ids  # every sentence labelled, no orphans
    schema = load_schema()
    for g in gold:
        for dim in schema.dimensions:
            assert g[dim.name] in dim.names, g


def test_demo_articles_are_marked_synthetic(demo_articles):
    articles = [json.loads(line) for line in demo_articles.read_text().splitlines()]
    assert len(articles) == 30
    assert all("(synthetic)" in a["source"] for a in articles)
