"""News database exports, many articles to a file: Nexis Uni (DOCX, or its plain-text form)
and Factiva (HTML in the "Full Article/Report plus Indexing" layout).

Nexis Uni writes each article as: headline, publication, date line, then header lines
(``Copyright``, ``Section:``, ``Length:``, ``Byline:``), a ``Body`` line, the paragraphs,
and ``Load-Date:`` or ``Classification`` before ``End of Document``. Factiva gives each
article a block of rows keyed by field codes: ``HD`` headline, ``BY`` byline, ``PD``
date, ``SN`` source name, ``LP`` lead paragraphs, ``TD`` text, ``AN`` accession number
(which becomes the article id). A file in neither layout is rejected with the reason.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

from stance.ingest.records import Record, Rejected

END = "End of Document"
_HEADER = re.compile(r"^(Copyright|Section|Length|Byline|Dateline|Highlight|Language|Publication-Type)\b[: ]",
                     re.IGNORECASE)
_BODY_ENDS = ("Load-Date:", "Classification", "Graphic", "Notes")
_DATE_LINE = re.compile(r"\b(1[89]|20)\d{2}\b")
_FACTIVA_MARKER = re.compile(rb"<td[^>]*>\s*(?:<b>)?\s*(?:HD|AN)\s*(?:</b>)?\s*(?:&nbsp;)?\s*</td>", re.IGNORECASE)


def looks_like_nexis(text: str) -> bool:
    return any(line.strip() == END for line in text.splitlines())


def looks_like_factiva(html: bytes) -> bool:
    return bool(_FACTIVA_MARKER.search(html))


#: A Word file and what it may decompress to: a Nexis export of 100 articles is a few MB of XML.
MAX_DOCX_BYTES = 64 << 20
MAX_DOCX_UNPACKED = 256 << 20


def docx_paragraphs(path: Path) -> list[str] | Rejected:
    """The paragraphs of a Word file, or why it cannot be read. The file is read once, and its
    members are decompressed in blocks with a running total before python-docx opens those same
    bytes, so a zip bomb is refused before it takes the memory."""
    import io

    import docx
    from docx.opc.exceptions import PackageNotFoundError

    with open(path, "rb") as fh:
        data = fh.read(MAX_DOCX_BYTES + 1)
    if len(data) > MAX_DOCX_BYTES:
        return Rejected(str(path), f"Word file over {MAX_DOCX_BYTES >> 20} MB")
    try:
        unpacked = _unpacked_size(zipfile.ZipFile(io.BytesIO(data)), MAX_DOCX_UNPACKED)
        if unpacked is None:
            return Rejected(str(path), f"Word file decompresses to over {MAX_DOCX_UNPACKED >> 20} MB")
        return [p.text for p in docx.Document(io.BytesIO(data)).paragraphs]
    except (zipfile.BadZipFile, PackageNotFoundError, KeyError, ValueError, EOFError) as exc:
        return Rejected(str(path), f"not a readable Word file: {exc}")


def _unpacked_size(archive: zipfile.ZipFile, limit: int) -> int | None:
    """How much the archive's members decompress to, counted as they are (a member's declared size
    may lie), or None past ``limit``."""
    total = 0
    for member in archive.infolist():
        with archive.open(member) as fh:
            while block := fh.read(1 << 20):
                total += len(block)
                if total > limit:
                    return None
    return total


def nexis_articles(path: Path, lines: list[str]) -> Iterator[Record | Rejected]:
    """Every article of a Nexis Uni export, given its paragraphs (DOCX) or lines (TXT)."""
    if not any(line.strip() == END for line in lines):
        yield Rejected(str(path), f"not a Nexis Uni export: no {END!r} line ends an article")
        return
    article: list[str] = []
    number = 0
    for line in lines:
        if line.strip() != END:
            article.append(line.strip())
            continue
        number += 1
        yield _nexis_article(path, number, [a for a in article if a])
        article = []
    if any(article):  # text after the last article: an export cut short, or a cover page
        yield Rejected(f"{path}#{number + 1}", f"text after the last {END!r}: an article without its end")


def _nexis_article(path: Path, number: int, lines: list[str]) -> Record | Rejected:
    origin = f"{path}#{number}"
    if "Body" not in lines:
        return Rejected(origin, "no 'Body' line: not an article of a Nexis Uni export", raw=lines[:5])
    body_at = lines.index("Body")
    header, body = lines[:body_at], lines[body_at + 1:]
    for k, line in enumerate(body):
        if line.startswith(_BODY_ENDS):
            body = body[:k]
            break
    fields: dict[str, str] = {"title": header[0] if header else ""}
    rest = [line for line in header[1:] if not _HEADER.match(line)]
    if rest:
        fields["source"] = rest[0]
    dated = next((line for line in rest[1:] if _DATE_LINE.search(line)), None)
    if dated:
        fields["date"] = re.sub(r"\s+(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b.*$", "", dated)
    byline = next((line for line in header if line.lower().startswith("byline:")), None)
    if byline:
        fields["author"] = byline.split(":", 1)[1].strip()
    fields["text"] = "\n\n".join(body)
    return Record(origin, fields, default_id=f"{path.stem}-{number}")


def factiva_articles(path: Path, html: bytes) -> Iterator[Record | Rejected]:
    """Every article of a Factiva HTML export."""
    import lxml.html

    tree = lxml.html.fromstring(html)
    blocks = [table for table in tree.iter("table") if _codes(table)]
    if not blocks:
        yield Rejected(str(path), "not a Factiva export: no table of field codes (HD, TD, AN)")
        return
    for number, table in enumerate(blocks, 1):
        codes = _codes(table)
        origin = f"{path}#{number}"
        text = "\n\n".join(p for code in ("LP", "TD") for p in codes.get(code, []))
        if not codes.get("AN"):
            yield Rejected(origin, "Factiva article without an accession number (AN)", raw=codes.get("HD"))
            continue
        fields = {"title": " ".join(codes.get("HD", [])), "text": text,
                  "source": " ".join(codes.get("SN", [])), "date": " ".join(codes.get("PD", [])),
                  "author": " ".join(codes.get("BY", []))}
        yield Record(origin, {k: v for k, v in fields.items() if v or k == "text"},
                     default_id=codes["AN"][0].removeprefix("Document ").strip())


def _codes(table) -> dict[str, list[str]]:
    """Field code -> paragraphs, from the rows of one article's table."""
    found: dict[str, list[str]] = {}
    for row in table.iter("tr"):
        cells = row.findall("td")
        if len(cells) != 2:
            continue
        code = cells[0].text_content().strip()
        if not re.fullmatch(r"[A-Z]{2}", code):
            continue
        paragraphs = [p.text_content().strip() for p in cells[1].iter("p")] or [cells[1].text_content().strip()]
        found[code] = [p for p in paragraphs if p]
    return found if "HD" in found or "TD" in found else {}
