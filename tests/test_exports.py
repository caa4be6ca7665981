"""Database exports as corpus input. The fixtures are small synthetic files written here in the
layouts of the real exports, with our own text:

- Nexis Uni (DOCX and its TXT form): per article a headline, the publication, a date line
  with the weekday, Copyright/Section/Length/Byline lines, "Body", the paragraphs,
  "Load-Date:" and a "Classification" block, then "End of Document".
- Factiva HTML ("Full Article/Report plus Indexing"): per article a table whose rows pair a
  field code (HD, BY, WC, PD, SN, LP, TD, AN) with its value.
"""

import json

import docx
import pyarrow.parquet as pq
import pytest

from stance.ingest.corpus import build_corpus

NEXIS = [
    ("Envoys agree to keep talking", "The Daily Ledger", "September 10, 2021 Friday", "Jane Roe",
     ["The two envoys met for three hours and agreed to meet again next month.",
      "Neither side described the meeting as a breakthrough, officials said."]),
    ("Trade officials trade barbs", "Evening Post", "September 24, 2021 Friday", "John Doe",
     ["Officials on both sides accused each other of unfair practices on Thursday.",
      "A spokesperson said the measures would be reviewed by the end of the year."]),
]


def nexis_lines(articles=NEXIS) -> list[str]:
    lines = []
    for title, outlet, date, byline, body in articles:
        lines += [title, outlet, date, "Copyright 2021 Synthetic Media Ltd. All Rights Reserved", "Section: WORLD; Pg. 4",
                  "Length: 312 words", f"Byline: {byline}", "Body", *body, f"Load-Date: {date}",
                  "Classification", "Language: ENGLISH", "Subject: DIPLOMACY (90%)", "End of Document", ""]
    return lines


def write_docx(path, paragraphs):
    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    document.save(str(path))
    return path


def read(out):
    return (pq.read_table(out / "articles.parquet").to_pylist(), pq.read_table(out / "sentences.parquet").to_pylist(),
            [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()])


@pytest.mark.parametrize("kind", ["docx", "txt"])
def test_a_nexis_uni_export_is_split_into_its_articles(kind, tmp_path):
    path = tmp_path / f"nexis-export.{kind}"
    if kind == "docx":
        write_docx(path, nexis_lines())
    else:
        path.write_text("\n".join(nexis_lines()), encoding="utf-8")
    result = build_corpus([path], tmp_path / "out", workers=1)
    articles, sentences, rejects = read(tmp_path / "out")
    assert (result.counts.read, result.counts.kept, rejects) == (2, 2, [])
    first = articles[0]
    assert (first["article_id"], first["title"], first["source"], first["date"], first["author"]) == \
        ("nexis-export-1", "Envoys agree to keep talking", "The Daily Ledger", "2021-09-10", "Jane Roe")
    assert first["text"] == "\n\n".join(NEXIS[0][4])  # no header, Load-Date or Classification lines
    assert articles[1]["date"] == "2021-09-24" and articles[1]["source"] == "Evening Post"
    for s in sentences:
        text = next(a["text"] for a in articles if a["article_id"] == s["article_id"])
        assert text[s["start"]:s["end"]] == s["text"]


def test_format_overrides_detection(tmp_path):
    path = tmp_path / "nexis.txt"
    path.write_text("\n".join(nexis_lines()), encoding="utf-8")
    build_corpus([path], tmp_path / "as-text", input_format="text", workers=1)
    assert len(read(tmp_path / "as-text")[0]) == 1  # one article: the whole file
    plain = tmp_path / "plain.txt"
    plain.write_text("A plain article with no export around it. It has two sentences.", encoding="utf-8")
    build_corpus([plain], tmp_path / "as-nexis", input_format="nexis", workers=1)
    articles, _, rejects = read(tmp_path / "as-nexis")
    assert articles == [] and "not a Nexis Uni export" in rejects[0]["reason"]


def test_word_files_that_are_not_exports_are_rejected_with_the_reason(tmp_path):
    write_docx(tmp_path / "letter.docx", ["Dear colleague,", "Please find the schedule attached.", "Best wishes"])
    (tmp_path / "broken.docx").write_bytes(b"this is not a zip file")
    cut = nexis_lines()[:-9]  # the second article has no "End of Document"
    write_docx(tmp_path / "cut.docx", cut)
    result = build_corpus([tmp_path], tmp_path / "out", workers=1)
    articles, _, rejects = read(tmp_path / "out")
    reasons = {r["origin"].rsplit("/", 1)[-1]: r["reason"] for r in rejects}
    assert reasons["letter.docx"] == "not a Nexis Uni export: no 'End of Document' line ends an article"
    assert reasons["broken.docx"].startswith("not a readable Word file")
    assert reasons["cut.docx#2"].startswith("text after the last 'End of Document'")
    assert [a["article_id"] for a in articles] == ["cut-1"]
    assert result.counts.read == result.counts.kept + result.counts.rejected == 4


def factiva_html(articles) -> str:
    blocks = []
    for fields in articles:
        rows = "".join(f'<tr><td class="index" valign="top"><b>{code}</b>&nbsp;</td><td>'
                       + "".join(f"<p>{p}</p>" for p in (value if isinstance(value, list) else [value]))
                       + "</td></tr>" for code, value in fields.items())
        blocks.append(f'<div class="article"><table border="0">{rows}</table></div>')
    return "<html><head><title>Factiva</title></head><body>" + "<br>".join(blocks) + "</body></html>"


FACTIVA = [
    {"HD": "Envoys agree to keep talking", "BY": "Jane Roe", "WC": "312 words", "PD": "10 September 2021",
     "SN": "The Daily Ledger", "LP": ["The two envoys met for three hours and agreed to meet again next month."],
     "TD": ["Neither side described the meeting as a breakthrough, officials said."],
     "AN": "Document LEDG000020210910eh9a0001x"},
    {"HD": "Trade officials trade barbs", "PD": "24 September 2021", "SN": "Evening Post",
     "LP": ["Officials on both sides accused each other of unfair practices on Thursday."],
     "TD": ["A spokesperson said the measures would be reviewed by the end of the year."],
     "AN": "Document EVPO000020210924eh9o0002y"},
    {"HD": "No accession number here", "TD": ["A row of text without its number."]},
]


def test_a_factiva_export_is_split_into_its_articles(tmp_path):
    (tmp_path / "factiva.html").write_text(factiva_html(FACTIVA), encoding="utf-8")
    result = build_corpus([tmp_path / "factiva.html"], tmp_path / "out", workers=1)
    articles, _, rejects = read(tmp_path / "out")
    assert (result.counts.read, result.counts.kept) == (3, 2)
    first = articles[0]
    assert (first["article_id"], first["title"], first["source"], first["date"], first["author"]) == \
        ("LEDG000020210910eh9a0001x", "Envoys agree to keep talking", "The Daily Ledger", "2021-09-10", "Jane Roe")
    assert first["text"] == FACTIVA[0]["LP"][0] + "\n\n" + FACTIVA[0]["TD"][0]
    assert rejects[0]["reason"] == "Factiva article without an accession number (AN)"
    assert rejects[0]["origin"].endswith("factiva.html#3")
