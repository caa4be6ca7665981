"""`corpus build`: outputs, stable ids, duplicates, and every kind of bad input."""

import gzip
import json

import datasets
import pyarrow.parquet as pq
import pytest

from stance.errors import StanceError
from stance.ingest.corpus import build_corpus
from stance.ingest.readers import FieldMap


def read(out):
    sentences = pq.read_table(out / "sentences.parquet").to_pylist()
    articles = {a["article_id"]: a for a in pq.read_table(out / "articles.parquet").to_pylist()}
    manifest = json.loads((out / "manifest.json").read_text())
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    return sentences, articles, manifest, rejects


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_seed_articles_offsets_and_sentences(seed_dir, tmp_path):
    build_corpus([seed_dir], tmp_path, workers=1)
    sentences, articles, manifest, rejects = read(tmp_path)
    assert manifest["counts"]["kept"] == 5 and not rejects
    assert len(sentences) == manifest["counts"]["sentences"] > 100
    for s in sentences:
        assert articles[s["article_id"]]["text"][s["start"]:s["end"]] == s["text"]
        assert any(ch.isalnum() for ch in s["text"]), s
        assert not s["text"].endswith(" U.") and not s["text"].startswith("S. "), s
    # "U.S." occurs in the seed articles and must never be cut
    assert any("U.S." in s["text"] for s in sentences)
    assert len({s["sentence_id"] for s in sentences}) == len(sentences)


def test_ids_are_stable_and_local(tmp_path):
    text = "The envoys met. They agreed on a date. Talks resume in May."
    first = write_jsonl(tmp_path / "a.jsonl", [{"id": "x1", "text": text}])
    build_corpus([first], tmp_path / "one", workers=1)
    build_corpus([first], tmp_path / "two", workers=1)
    edited = write_jsonl(tmp_path / "b.jsonl", [{"id": "x1", "text": "A new opening line. " + text}])
    build_corpus([edited], tmp_path / "three", workers=1)
    ids = [[s["sentence_id"] for s in read(tmp_path / d)[0]] for d in ("one", "two", "three")]
    assert ids[0] == ids[1]
    assert ids[2][1:] == ids[0]  # inserting a sentence leaves the others' ids alone
    assert all(i.startswith("x1:") for i in ids[0])


def test_repeated_sentence_in_one_article_gets_distinct_ids(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [{"id": "r", "text": "No comment. Then silence. No comment."}])
    build_corpus([path], tmp_path / "out", workers=1)
    ids = [s["sentence_id"] for s in read(tmp_path / "out")[0]]
    assert ids[2] == ids[0] + "~2"


def test_duplicates_dropped_and_counted(tmp_path):
    story = "Wire copy about the talks. It ran everywhere."
    path = write_jsonl(tmp_path / "a.jsonl", [
        {"id": "a", "text": story, "source": "One"},
        {"id": "b", "text": story, "source": "Two"},
        {"id": "c", "text": "A different story."},
    ])
    result = build_corpus([path], tmp_path / "out", workers=1)
    assert (result.counts.read, result.counts.kept, result.counts.duplicates) == (3, 2, 1)
    _, articles, manifest, _ = read(tmp_path / "out")
    assert set(articles) == {"a", "c"}
    c = manifest["counts"]
    assert c["read"] == c["kept"] + c["duplicates"] + c["rejected"]


def test_bad_records_are_rejected_with_reasons_and_the_run_goes_on(tmp_path):
    lines = [
        json.dumps({"id": "ok1", "text": "A fine article. Two sentences."}),
        "{not json",
        json.dumps({"id": "notext", "body": "text in the wrong field"}),
        json.dumps({"id": "empty", "text": "   \n  "}),
        json.dumps({"id": "huge", "text": "word " * 1_100_000}),  # about 5.5 MB
        json.dumps(["a", "list"]),
        json.dumps({"id": "ok2", "text": "Another fine article."}),
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(("\n".join(lines) + "\n").encode() + b'{"id": "bad-utf8", "text": "caf\xe9"}\n')
    result = build_corpus([path], tmp_path / "out", workers=1)
    sentences, articles, manifest, rejects = read(tmp_path / "out")
    assert set(articles) == {"ok1", "ok2"}
    by_line = {r["origin"].rsplit(":", 1)[1]: r for r in rejects}
    assert set(by_line) == {"2", "3", "4", "5", "6", "8"}
    assert "not valid JSON" in by_line["2"]["reason"]
    assert by_line["3"]["field"] == "text" and "no 'text' field" in by_line["3"]["reason"]
    assert by_line["3"]["record"]["body"] == "text in the wrong field"
    assert "empty article text" in by_line["4"]["reason"]
    assert "over the limit" in by_line["5"]["reason"] and by_line["5"]["field"] == "text"
    assert "expected a JSON object" in by_line["6"]["reason"]
    assert "not valid UTF-8" in by_line["8"]["reason"] and "\\xe9" in by_line["8"]["record"]
    assert all(r["origin"].startswith(str(path)) for r in rejects)
    c = manifest["counts"]
    assert (c["read"], c["kept"], c["rejected"]) == (8, 2, 6) == (result.counts.read, 2, result.counts.rejected)


def test_strict_stops_at_the_first_bad_record(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [{"id": "a", "text": "Fine."}, {"id": "b"}])
    with pytest.raises(StanceError, match=r"a.jsonl:2: no 'text' field"):
        build_corpus([path], tmp_path / "out", strict=True, workers=1)
    assert not (tmp_path / "out" / "sentences.parquet").exists()


def test_text_files_invalid_utf8_and_unreadable_inputs(tmp_path):
    src = tmp_path / "src"
    (src / "wire").mkdir(parents=True)
    (src / "wire" / "one.txt").write_text("First story. It is short.", encoding="utf-8")
    (src / "latin1.txt").write_bytes("Caf\xe9 society.".encode("latin-1"))
    (src / "empty.txt").write_text("", encoding="utf-8")
    (src / "broken.jsonl.gz").write_bytes(b"this is not gzip")
    (src / "broken.parquet").write_bytes(b"PAR1 but nothing else")
    build_corpus([src], tmp_path / "out", workers=1)
    sentences, articles, manifest, rejects = read(tmp_path / "out")
    assert set(articles) == {"wire/one"}  # ids of .txt files are their paths below the input
    reasons = {r["origin"].split("/")[-1]: r["reason"] for r in rejects}
    assert "not valid UTF-8 at byte 3" in reasons["latin1.txt"]
    assert "empty article text" in reasons["empty.txt"]
    assert reasons["broken.jsonl.gz"].startswith("cannot read file")
    assert reasons["broken.parquet"].startswith("cannot read file")
    assert manifest["counts"]["read"] == manifest["counts"]["kept"] + manifest["counts"]["rejected"] == 5


def test_field_mapping_csv_parquet_and_saved_dataset(tmp_path):
    rows = [{"doc": "d1", "body": "From the CSV. Two lines.", "outlet": "Ledger", "published": "2026-01-02"},
            {"doc": "d2", "body": "Second row.", "outlet": "Post", "published": "2026-01-03"}]
    fields = {"id": "doc", "text": "body", "source": "outlet", "date": "published"}  # as a dict, or a FieldMap
    assert FieldMap.of(fields) == FieldMap(id="doc", text="body", source="outlet", date="published")
    with pytest.raises(StanceError, match="fields: no article field 'body'"):
        build_corpus([tmp_path], tmp_path / "never", fields={"body": "text"})
    import pandas as pd

    pd.DataFrame(rows).to_csv(tmp_path / "a.csv", index=False)
    pd.DataFrame(rows).to_parquet(tmp_path / "a.parquet")
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "ds"))
    for name in ("a.csv", "a.parquet", "ds"):
        out = tmp_path / f"out-{name}"
        build_corpus([tmp_path / name], out, fields=fields, workers=1)
        sentences, articles, _, rejects = read(out)
        assert not rejects and set(articles) == {"d1", "d2"}, name
        assert articles["d1"]["source"] == "Ledger" and articles["d1"]["date"] == "2026-01-02"
        assert [s["text"] for s in sentences if s["article_id"] == "d1"] == ["From the CSV.", "Two lines."]


def test_articles_without_id_get_a_content_hash(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [{"text": "No id here."}])
    build_corpus([path], tmp_path / "one", workers=1)
    build_corpus([path], tmp_path / "two", workers=1)
    ids = [list(read(tmp_path / d)[1]) for d in ("one", "two")]
    assert ids[0] == ids[1] and ids[0][0].startswith("h") and len(ids[0][0]) == 17


def test_reused_id_with_other_text_is_rejected(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [{"id": "a", "text": "One."}, {"id": "a", "text": "Two."}])
    build_corpus([path], tmp_path / "out", workers=1)
    _, articles, _, rejects = read(tmp_path / "out")
    assert articles["a"]["text"] == "One."
    assert rejects[0]["field"] == "id" and rejects[0]["origin"].endswith(":2")


def test_gzipped_jsonl_is_read(tmp_path):
    path = tmp_path / "a.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(json.dumps({"id": "g", "text": "Compressed. Still fine."}) + "\n")
    build_corpus([path], tmp_path / "out", workers=1)
    assert len(read(tmp_path / "out")[0]) == 2


def test_one_and_two_workers_write_the_same_corpus(demo_articles, tmp_path):
    build_corpus([demo_articles], tmp_path / "w1", workers=1)
    build_corpus([demo_articles], tmp_path / "w2", workers=2)
    for name in ("sentences.parquet", "articles.parquet"):
        assert pq.read_table(tmp_path / "w1" / name).equals(pq.read_table(tmp_path / "w2" / name))


def test_workers_agree_across_chunks_with_duplicates_and_rejects(tmp_path):
    """Three chunks of 1,000 records: duplicates and a reused id that cross chunk boundaries are
    dropped the same way by one worker and by two, and the workers' spool files are all gone."""
    records = [{"id": f"a{i}", "text": f"Story {i % 1300} opens here. It ends there."} for i in range(2600)]
    records[2500] = {"id": "a7", "text": "Reused id, other text."}
    records[1500] = {"id": "no-text"}
    path = write_jsonl(tmp_path / "many.jsonl", records)
    for workers in (1, 2):
        build_corpus([path], tmp_path / f"w{workers}", workers=workers)
    one, two = read(tmp_path / "w1"), read(tmp_path / "w2")
    assert one[0] == two[0] and one[1] == two[1] and one[3] == two[3]
    assert one[2]["counts"] == two[2]["counts"] == {
        "read": 2600, "kept": 1300, "duplicates": 1298, "rejected": 2, "sentences": 2600, "near_duplicates": 0,
        "near_duplicate_clusters": 0, "dates_unread": 0, "captions": 0}
    assert sorted(p.name for p in (tmp_path / "w2").iterdir()) == [
        "articles.parquet", "manifest.json", "rejects.jsonl", "sentences.parquet"]


def test_missing_input_is_a_clear_error(tmp_path):
    with pytest.raises(StanceError, match="no such file or directory"):
        build_corpus([tmp_path / "nope"], tmp_path / "out")


def test_a_metadata_table_gives_txt_articles_their_source_and_date(seed_dir, tmp_path):
    """Plain .txt files carry no outlet or date: metadata.csv beside them does, keyed by file name."""
    import shutil

    import pandas as pd

    news = tmp_path / "news"
    shutil.copytree(seed_dir, news)
    files = sorted(p.name for p in news.glob("*.txt"))
    pd.DataFrame({"file": files, "source": ["cnn", "cnn", "axios", "state", "state"],
                  "date": ["2021-09-10"] * 4 + ["September 9, 2021"], "title": [f"t{i}" for i in range(5)]}
                 ).to_csv(news / "metadata.csv", index=False)
    build_corpus([news], tmp_path / "c", workers=2)
    sentences, articles, manifest, rejects = read(tmp_path / "c")
    assert manifest["counts"]["read"] == 5 and not rejects  # the table itself is not an article
    by_file = {a["origin"].rsplit("/", 1)[1]: a for a in articles.values()}
    assert [by_file[f]["source"] for f in files] == ["cnn", "cnn", "axios", "state", "state"]
    assert by_file[files[4]]["date"] == "2021-09-09" and by_file[files[0]]["title"] == "t0"
    assert {s["source"] for s in sentences} == {"cnn", "axios", "state"}


def test_a_bad_metadata_table_names_its_line_and_field(tmp_path):
    news = tmp_path / "news"
    news.mkdir()
    (news / "a.txt").write_text("Talks resumed on Thursday.")
    (news / "metadata.csv").write_text("file,outlet\na.txt,cnn\n")
    with pytest.raises(StanceError, match=r"metadata.csv:2: unknown field 'outlet'.*source"):
        build_corpus([news], tmp_path / "c", workers=1)
    (news / "metadata.csv").write_text("file,source\na.txt,cnn\n,fox\n")
    with pytest.raises(StanceError, match=r"metadata.csv:3: no 'file'"):
        build_corpus([news], tmp_path / "c", workers=1)


def test_photo_captions_are_dropped_and_counted(tmp_path):
    text = ("Biden and Xi spoke on Thursday.\n\n"
            "Wang Yi and Antony Blinken shaking hands in front of flags (© A. Photographer/AP Images)\n\n"
            "Blinken, right, meets Wang on July 9 in Bali. (© A. Photographer/AP Images)\n\n"
            "Both sides called the talks candid. (Reporting by a correspondent)\n\n"
            "Photo: Reuters\n\n"
            "The images of the summit were widely shared (officials said).")
    src = write_jsonl(tmp_path / "a.jsonl", [{"id": "a", "text": text}])
    build_corpus([src], tmp_path / "c", workers=1)
    sentences, _, manifest, _ = read(tmp_path / "c")
    assert [s["text"] for s in sentences] == [
        "Biden and Xi spoke on Thursday.", "Both sides called the talks candid.",
        "(Reporting by a correspondent)", "The images of the summit were widely shared (officials said)."]
    assert [s["index"] for s in sentences] == [0, 1, 2, 3]
    assert all(text[s["start"]:s["end"]] == s["text"] for s in sentences)
    assert manifest["counts"]["captions"] == 4
