"""Web pages and web archives as corpus input, and dates in the shapes corpora carry them.

Every page here is synthetic, written for these tests: a news page with a headline,
byline, date and site name around navigation and a footer; a login form; an index of
links; a page in Latin-1 that says so; one that names an encoding nobody knows.
"""

import gzip
import json
from io import BytesIO

import pyarrow.parquet as pq
import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from stance.ingest.corpus import build_corpus
from stance.ingest.dates import normalise_date
from stance.ingest.pages import MIN_ARTICLE_CHARS, RawPage, decode_page, page_record
from stance.ingest.records import Record, Rejected
from synthetic_pages import BODY, INDEX, LOGIN, news_page

def test_a_news_page_gives_its_main_text_and_metadata():
    record = page_record(RawPage("p.html", news_page().encode(), url="https://ledger.example/world/call"))
    assert isinstance(record, Record)
    fields = record.fields
    assert fields["text"].startswith("The two presidents spoke") and "Home" not in fields["text"]
    assert "Copyright" not in fields["text"] and not fields["text"].startswith("Leaders talk")
    assert (fields["title"], fields["date"], fields["source"], fields["author"]) == \
        ("Leaders talk by phone", "2021-09-10", "Daily Ledger", "Jane Roe")
    assert fields["url"] == "https://ledger.example/world/call"
    assert record.default_id == "https://ledger.example/world/call"


@pytest.mark.parametrize("html, reason", [(LOGIN, "too short to be an article"), (INDEX, "")])
def test_pages_without_an_article_are_rejected_with_the_reason(html, reason):
    rejected = page_record(RawPage("p.html", html.encode()))
    assert isinstance(rejected, Rejected)
    assert ("no main text" in rejected.reason or "too short" in rejected.reason) and reason in rejected.reason
    assert str(MIN_ARTICLE_CHARS) in rejected.reason or "no main text" in rejected.reason


def test_encodings_declared_guessed_and_unknown():
    latin = news_page(headline="Café diplomacy", charset="iso-8859-1").encode("latin-1")
    assert "Café diplomacy" in decode_page(latin)
    assert decode_page("naïve".encode("cp1252"), "windows-1252") == "naïve"  # the server's header wins
    unknown = news_page(charset="x-martian-7").encode()
    rejected = page_record(RawPage("m.html", unknown))
    assert isinstance(rejected, Rejected) and rejected.reason == "page declares an unknown encoding 'x-martian-7'"


def write_warc(path, records, gz=True):
    """``records``: (url, status, content type, body bytes, extra WARC headers)."""
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=gz)
        for url, status, content_type, body, extra in records:
            http = StatusAndHeaders(status, [("Content-Type", content_type)], protocol="HTTP/1.1")
            record = writer.create_warc_record(url, "response", payload=BytesIO(body), http_headers=http,
                                               warc_headers_dict=extra)
            writer.write_record(record)
            request = writer.create_warc_record(url, "request", payload=BytesIO(b"GET / HTTP/1.1\r\n\r\n"))
            writer.write_record(request)


def test_warc_archives_stream_pages_and_account_for_every_response(tmp_path):
    first = news_page().encode()
    second = news_page("Envoys meet in Zurich", "Sept. 24, 2021", BODY.replace("ninety", "sixty")).encode()
    write_warc(tmp_path / "crawl.warc.gz", [
        ("https://ledger.example/a", "200 OK", "text/html; charset=utf-8", first, {}),
        ("https://ledger.example/logo.png", "200 OK", "image/png", b"\x89PNG....", {}),
        ("https://ledger.example/gone", "404 Not Found", "text/html", b"<html>gone</html>", {}),
        ("https://ledger.example/login", "200 OK", "text/html", LOGIN.encode(), {}),
        ("https://ledger.example/cut", "200 OK", "text/html", first[:400], {"WARC-Truncated": "length"}),
        ("https://post.example/b", "200 OK", "text/html", second, {}),
    ])
    result = build_corpus([tmp_path / "crawl.warc.gz"], tmp_path / "out", workers=1)
    assert result.counts.read == 6 and result.counts.kept == 2 and result.counts.rejected == 4  # requests skipped
    articles = {a["article_id"]: a for a in pq.read_table(tmp_path / "out" / "articles.parquet").to_pylist()}
    assert set(articles) == {"https://ledger.example/a", "https://post.example/b"}
    assert articles["https://post.example/b"]["date"] == "2021-09-24"  # "Sept. 24, 2021", normalised
    assert articles["https://ledger.example/a"]["author"] == "Jane Roe"
    sentences = pq.read_table(tmp_path / "out" / "sentences.parquet").to_pylist()
    for s in sentences:
        assert articles[s["article_id"]]["text"][s["start"]:s["end"]] == s["text"]
    reasons = [json.loads(line)["reason"] for line in (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()]
    assert any("content type image/png" in r for r in reasons) and any("HTTP status 404" in r for r in reasons)
    assert any("too short" in r for r in reasons) and any("WARC-Truncated: length" in r for r in reasons)


@pytest.mark.parametrize("gz", [True, False])
def test_a_warc_that_ends_inside_a_record_is_rejected_and_the_rest_kept(tmp_path, gz):
    pages = [(f"https://ledger.example/{i}", "200 OK", "text/html",
              news_page(f"Story number {i}", body=BODY.replace("ninety", f"{i + 20}")).encode(), {}) for i in range(3)]
    name = "cut.warc.gz" if gz else "cut.warc"
    write_warc(tmp_path / "whole", pages, gz=gz)
    data = (tmp_path / "whole").read_bytes()
    (tmp_path / name).write_bytes(data[:int(len(data) * 0.8)])
    result = build_corpus([tmp_path / name], tmp_path / "out", workers=1)
    rejects = [json.loads(line) for line in (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()]
    assert result.counts.kept == 2 and result.counts.rejected == 1
    assert "truncated WARC record" in rejects[0]["reason"] and rejects[0]["origin"].startswith(str(tmp_path / name))


def test_a_folder_of_saved_pages(tmp_path):
    pages = tmp_path / "pages" / "world"
    pages.mkdir(parents=True)
    (pages / "call.html").write_text(news_page())
    (pages / "login.htm").write_text(LOGIN)
    with gzip.open(tmp_path / "pages" / "ignored.txt.gz", "wt") as fh:  # not an input type
        fh.write("x")
    result = build_corpus([tmp_path / "pages"], tmp_path / "out", workers=2)
    assert (result.counts.read, result.counts.kept, result.counts.rejected) == (2, 1, 1)
    article = pq.read_table(tmp_path / "out" / "articles.parquet").to_pylist()[0]
    assert article["article_id"] == "world/call" and article["source"] == "Daily Ledger"


@pytest.mark.parametrize("raw, expected", [
    ("Sept. 24, 2021", "2021-09-24"), ("24/09/2021", "2021-09-24"), ("2021-09-24T23:30:00-04:00", "2021-09-24"),
    ("1632441600", "2021-09-24"), ("1632441600000", "2021-09-24"), ("24 septembre 2021", "2021-09-24"),
    ("Friday, September 24, 2021 10:03 AM EST", "2021-09-24"), ("Sep 2021", "2021-09-01"), (None, None)])
def test_dates_are_normalised_to_iso(raw, expected):
    assert normalise_date(raw) == (expected, True)


@pytest.mark.parametrize("raw", ["yesterday", "last edited by the desk", "2021-13-45"])
def test_unreadable_dates_are_kept_as_text_and_counted(raw, tmp_path):
    assert normalise_date(raw) == (raw, False)
    (tmp_path / "a.jsonl").write_text(json.dumps({"id": "a", "text": "Some text here.", "date": raw}) + "\n"
                                      + json.dumps({"id": "b", "text": "Other text.", "date": "24/09/2021"}) + "\n")
    build_corpus([tmp_path / "a.jsonl"], tmp_path / "out", workers=1)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["counts"]["dates_unread"] == 1
    dates = pq.read_table(tmp_path / "out" / "articles.parquet").column("date").to_pylist()
    assert dates == [raw, "2021-09-24"]


def test_score_reads_pages_and_archives_too(default_run, tmp_path):
    from stance.scoring.batch import score
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "call.html").write_text(news_page())
    (tmp_path / "pages" / "login.html").write_text(LOGIN)
    write_warc(tmp_path / "pages" / "crawl.warc.gz", [
        ("https://post.example/b", "200 OK", "text/html", news_page("Envoys meet", body=BODY.replace("ninety", "sixty")).encode(), {})])
    result = score([tmp_path / "pages"], default_run, tmp_path / "scores", workers=1)
    assert (result.counts.read, result.counts.scored, result.counts.rejected) == (3, 2, 1)
    articles = pq.read_table(tmp_path / "scores" / "articles.parquet").to_pylist()
    assert {a["article_id"] for a in articles} == {"call", "https://post.example/b"}
    assert all(a["source"] == "Daily Ledger" and a["date"] == "2021-09-10" for a in articles)
