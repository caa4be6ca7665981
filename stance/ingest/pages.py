"""Web pages into article records: the main text and metadata of saved news pages (HTML)
and of web archives (WARC, Common Crawl's news crawl included), extracted by trafilatura.

A page without an article in it (no main text, or too little to be an article: a login
form, an index of links) is rejected with the reason. Archives are read as a stream, one
response record at a time; a truncated record is rejected and ends that file. Extraction
happens in :func:`page_record`, which runs in the workers.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from stance.errors import StanceError
from stance.ingest.records import Record, Rejected

HTML_SUFFIXES = (".html", ".htm")
WARC_SUFFIXES = (".warc", ".warc.gz")
#: A page's HTML as read from an archive: news pages are under 1 MB (Common Crawl cuts at 1 MB).
MAX_PAGE_BYTES = 16 << 20
#: Extracted text shorter than this is not taken for an article.
MIN_ARTICLE_CHARS = 200
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_:.\-]+)""", re.IGNORECASE)
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_:.\-]+)", re.IGNORECASE)


@dataclass
class RawPage:
    """A page as stored: its bytes and what the archive says about it."""

    origin: str
    data: bytes
    url: str | None = None
    default_id: str | None = None
    charset: str | None = None  # from the HTTP Content-Type header, where there is one


def page_record(page: RawPage):
    """The article in ``page`` as a :class:`Record`, or a :class:`Rejected` saying why there is none."""
    try:
        html = decode_page(page.data, page.charset)
    except StanceError as exc:
        return Rejected(page.origin, str(exc), raw=page.url)
    document = _extract(html, page.url)
    text = (document.text or "").strip() if document is not None else ""
    title = (document.title or "").strip() if document is not None else ""
    if title and text.startswith(title + "\n"):  # the headline repeated as the first line
        text = text[len(title):].lstrip("\n")
    if not text:
        return Rejected(page.origin, "no main text in the page", field="text", raw=page.url)
    if len(text) < MIN_ARTICLE_CHARS:
        return Rejected(page.origin, f"extracted text is {len(text)} characters, too short to be an article "
                                     f"(at least {MIN_ARTICLE_CHARS}): a login form, an index of links or a stub",
                        field="text", raw={"url": page.url, "text": text})
    fields = {"text": text, "title": title or None, "date": document.date,
              "source": document.sitename or document.hostname, "url": document.url or page.url,
              "author": document.author}
    return Record(page.origin, fields, default_id=page.default_id or page.url)


def _extract(html: str, url: str | None):
    import trafilatura

    return trafilatura.bare_extraction(html, url=url, with_metadata=True, include_comments=False,
                                       include_tables=False)


def preload_extractor(files: list[Path]) -> None:
    """Import trafilatura (about 0.9 s) once, before the workers fork, when pages are among ``files``."""
    if any(f.name.lower().endswith(HTML_SUFFIXES + WARC_SUFFIXES) for f in files):
        import trafilatura  # noqa: F401


def decode_page(data: bytes, declared: str | None = None) -> str:
    """The page as text: in the charset the server or the page declares, else UTF-8, else
    the best guess of charset_normalizer; a charset nobody knows is an error."""
    charset = declared or _declared_in_page(data)
    if charset:
        try:
            codec = codecs.lookup(charset)
        except LookupError:
            raise StanceError(f"page declares an unknown encoding {charset!r}") from None
        return data.decode(codec.name, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise StanceError("page is in an unknown encoding: not UTF-8, none declared, none recognised")
    return str(best)


def _declared_in_page(data: bytes) -> str | None:
    found = _META_CHARSET.search(data[:4096])
    return found[1].decode("ascii") if found else None


def warc_pages(path: Path, fh: BinaryIO) -> Iterator[RawPage | Rejected]:
    """Every HTML response of a WARC file as a :class:`RawPage`, streaming; other responses
    are rejected with their content type or status, and a truncated record ends the file."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    records = ArchiveIterator(fh, check_digests=False)
    while True:
        try:
            record = next(records)
        except StopIteration:
            return
        except (ArchiveLoadFailed, EOFError, OSError, ValueError) as exc:
            yield Rejected(f"{path}@{records.offset}", f"truncated or damaged WARC record: {exc}")
            return
        if record.rec_type != "response":
            continue  # requests, metadata and warcinfo hold no pages
        origin = f"{path}@{records.offset}"
        url = record.rec_headers.get_header("WARC-Target-URI")
        truncated = record.rec_headers.get_header("WARC-Truncated")
        try:
            data = record.content_stream().read(MAX_PAGE_BYTES + 1)  # decoded (gzip, chunked) and capped
        except (EOFError, OSError, ValueError) as exc:
            yield Rejected(origin, f"truncated WARC record: {exc}", raw=url)
            return
        if len(data) > MAX_PAGE_BYTES:
            yield Rejected(origin, f"page over {MAX_PAGE_BYTES >> 20} MB as decoded: not an article", raw=url)
            continue
        headers = record.http_headers
        declared = (headers.get_header("Content-Length") or "").strip() if headers else ""
        encoded = headers and (headers.get_header("Content-Encoding") or headers.get_header("Transfer-Encoding"))
        if declared.isdigit() and not encoded and len(data) < int(declared):
            yield Rejected(origin, f"WARC record holds {len(data):,} bytes of a page of {int(declared):,} (its HTTP "
                                   "Content-Length): cut short", raw=url)
            continue
        if truncated:  # the crawler cut it (Common Crawl: at 1 MB); the next record is whole
            yield Rejected(origin, f"WARC record truncated by the crawler (WARC-Truncated: {truncated})", raw=url)
            continue
        if getattr(record.raw_stream, "limit", 0):  # the file ends inside the record
            yield Rejected(origin, "truncated WARC record: the file ends before the record does", raw=url)
            return
        status = record.http_headers.get_statuscode() if record.http_headers else "200"
        content_type = (record.http_headers.get_header("Content-Type") if record.http_headers else None) or ""
        if status != "200":
            yield Rejected(origin, f"HTTP status {status}, not a page", raw=url)
        elif "html" not in content_type.lower():
            yield Rejected(origin, f"not an HTML page (content type {content_type or 'none'})", raw=url)
        else:
            charset = _HEADER_CHARSET.search(content_type)
            yield RawPage(origin, data, url=url, default_id=url, charset=charset[1] if charset else None)
