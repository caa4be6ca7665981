"""Read articles from text files, JSONL, CSV, parquet or saved Hugging Face datasets.

Readers stream: they yield one :class:`Record` (or :class:`Rejected`) at a time
and never hold a whole file of articles in memory. Every record carries its
origin (``file:line`` or ``file#row``) so an error can say where it came from.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from stance.errors import StanceError
from stance.exports import (docx_paragraphs, factiva_articles, looks_like_factiva, looks_like_nexis,
                            nexis_articles)
from stance.pages import HTML_SUFFIXES, WARC_SUFFIXES, RawPage, page_record, warc_pages
from stance.records import Record, Rejected, id_from_path

TEXT_SUFFIXES = (".txt",)
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")
CSV_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz")
PARQUET_SUFFIXES = (".parquet",)
DOCX_SUFFIXES = (".docx",)
SUPPORTED = (TEXT_SUFFIXES + JSONL_SUFFIXES + CSV_SUFFIXES + PARQUET_SUFFIXES + HTML_SUFFIXES + WARC_SUFFIXES
             + DOCX_SUFFIXES)
#: What a file of articles holds, where its name does not say: ``auto`` looks inside
#: (a .txt with "End of Document" lines is a Nexis Uni export, an .html with Factiva's
#: field codes a Factiva export); the others say it for every such file.
INPUT_FORMATS = ("auto", "text", "html", "nexis", "factiva")
_KIND = {TEXT_SUFFIXES: "text", HTML_SUFFIXES: "html", DOCX_SUFFIXES: "docx"}
_BATCH_ROWS = 1000
#: Records per chunk: the unit of work sent to a worker (and, in ``score``, of resuming).
CHUNK_RECORDS = 1000
#: Articles per part when scoring with a transformer encoder (about 300 sentences/s a core): small
#: enough that every worker gets parts of a small job.
TRANSFORMER_CHUNK = 50
#: Pages and exports per chunk: extraction costs milliseconds a page, so smaller chunks
#: keep every worker busy to the end.
PAGE_CHUNK = 64

#: A directory of .txt articles may hold their metadata in one of these, one row per file:
#: ``file`` (its path below the directory) and any of the article fields below.
SIDECAR_NAMES = ("metadata.csv", "metadata.jsonl")
SIDECAR_FIELDS = ("id", "title", "source", "date", "url", "author")
MAX_SIDECAR_BYTES = 64 << 20

csv.field_size_limit(sys.maxsize)


@dataclass(frozen=True)
class FieldMap:
    """Which input field holds each article field (``--text-field body`` and so on)."""

    id: str = "id"
    text: str = "text"
    title: str = "title"
    source: str = "source"
    date: str = "date"
    url: str = "url"
    author: str = "author"

    @classmethod
    def of(cls, fields: "FieldMap | dict | None") -> "FieldMap":
        """A field map from a dict of the fields that differ (``{"text": "body"}``), or the default."""
        if fields is None or isinstance(fields, FieldMap):
            return fields or cls()
        unknown = sorted(set(fields) - set(cls.__dataclass_fields__))
        if unknown:
            raise StanceError(f"fields: no article field {', '.join(map(repr, unknown))}; "
                              f"they are {', '.join(cls.__dataclass_fields__)}")
        return cls(**fields)


def find_inputs(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Expand directories into the supported files below them, in a stable order."""
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if not path.exists():
            raise StanceError(f"{path}: no such file or directory")
        if path.is_dir() and not is_hf_dataset(path):
            files = sorted(
                p for p in path.rglob("*")
                if p.is_file() and p.name.lower().endswith(SUPPORTED) and not _hidden(p, path)
                and not (p.parent == path and p.name in SIDECAR_NAMES)
            )
            datasets_below = sorted(p.parent for p in path.rglob("dataset_info.json"))
            found.extend(files)
            found.extend(d for d in datasets_below if is_hf_dataset(d))
        else:
            found.append(path)
    return found


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def read_sidecar(root: Path) -> dict[str, dict[str, str]]:
    """The metadata of the .txt articles below ``root``, keyed by file path relative to it, from
    ``root/metadata.csv`` or ``root/metadata.jsonl`` (none: an empty dict).

    Plain text files carry no outlet or date; this table gives them, so that
    ``estimate --by source`` works on a folder of .txt articles.
    """
    found = [root / name for name in SIDECAR_NAMES if (root / name).is_file()]
    if not found:
        return {}
    if len(found) > 1:
        raise StanceError(f"{root}: both {found[0].name} and {found[1].name}; keep one metadata file")
    path = found[0]
    if path.stat().st_size > MAX_SIDECAR_BYTES:
        raise StanceError(f"{path}: over {MAX_SIDECAR_BYTES >> 20} MB; is it a metadata table?")
    table: dict[str, dict[str, str]] = {}
    for record in read_records(path):
        if isinstance(record, Rejected):
            raise StanceError(f"{record.origin}: {record.reason}")
        row = {str(k): v for k, v in record.fields.items()}
        name = str(row.pop("file", "") or "").strip()
        if not name:
            raise StanceError(f"{record.origin}: no 'file' (the article's path below {root})")
        unknown = sorted(set(row) - set(SIDECAR_FIELDS))
        if unknown:
            raise StanceError(f"{record.origin}: unknown field {unknown[0]!r}; a metadata table has 'file' "
                              f"and any of {', '.join(SIDECAR_FIELDS)}")
        key = Path(name).as_posix()
        if key in table:
            raise StanceError(f"{record.origin}: {key!r} is listed twice")
        table[key] = {k: str(v) for k, v in row.items() if v not in (None, "")}
    return table


def is_hf_dataset(path: Path) -> bool:
    """A directory written by ``datasets``' ``save_to_disk`` (a Dataset or a DatasetDict)."""
    return path.is_dir() and (
        (path / "dataset_info.json").is_file() and (path / "state.json").is_file()
        or (path / "dataset_dict.json").is_file()
    )


@dataclass
class Chunk:
    """A slice of one input, cheap to read and to send to a worker, which parses it there.

    ``kind`` is ``"jsonl"`` (``payload``: raw lines, the first at line ``first_line``),
    ``"text"``, ``"html"`` or ``"docx"`` (``payload``: file paths, ids relative to ``root``,
    read as ``input_format`` says),
    ``"pages"`` (``payload``: pages from a web archive, extracted in the worker) or
    ``"records"`` (``payload``: records already parsed, for formats parsed in bulk such as parquet).
    """

    kind: str
    path: str
    payload: list
    first_line: int = 1
    root: str | None = None
    nbytes: int = 0
    input_format: str = "auto"
    metadata: dict[str, dict[str, str]] | None = None  # text files' sidecar rows, by path below root

    def records(self) -> Iterator[Record | Rejected]:
        if self.kind == "jsonl":
            return _parse_jsonl_lines(self.path, self.payload, self.first_line)
        root = Path(self.root) if self.root else None
        if self.kind in ("text", "html", "docx"):
            return (record for p in self.payload for record in _file_records(Path(p), root, self.kind,
                                                                             self.input_format, self.metadata))
        if self.kind == "pages":
            return (page_record(p) if isinstance(p, RawPage) else p for p in self.payload)
        return iter(self.payload)


def read_chunks(inputs: Iterable[str | os.PathLike], chunk_records: int = CHUNK_RECORDS,
                chunk_bytes: int = 4 << 20, input_format: str = "auto") -> Iterator[Chunk]:
    """Cut every input into chunks of at most ``chunk_records`` records (or about ``chunk_bytes``)."""
    for item in inputs:
        root = str(item) if Path(item).is_dir() else None
        sidecar = read_sidecar(Path(item)) if root else {}
        batches = {kind: ([], 0) for kind in _KIND.values()}  # files read in the worker

        def chunk_of(kind: str, files: list[str], size: int) -> Chunk:
            rows = {key: sidecar[key] for f in files if (key := _relative(f, root)) in sidecar} if sidecar else None
            return Chunk(kind, files[-1], files, root=root, nbytes=size, input_format=input_format, metadata=rows)

        for path in find_inputs([item]):
            kind = next((k for suffixes, k in _KIND.items() if path.name.lower().endswith(suffixes)), None)
            if kind is None or path.is_dir():
                yield from _chunks_of(path, chunk_records, chunk_bytes)
                continue
            files, size = batches[kind]
            files.append(str(path))
            size += _file_size(path)
            if len(files) >= (chunk_records if kind == "text" else min(chunk_records, PAGE_CHUNK)) \
                    or size >= chunk_bytes:
                yield chunk_of(kind, files, size)
                files, size = [], 0
            batches[kind] = (files, size)
        for kind, (files, size) in batches.items():
            if files:
                yield chunk_of(kind, files, size)


def _relative(path: str, root: str) -> str:
    return Path(path).relative_to(root).as_posix()


def _chunks_of(path: Path, chunk_records: int, chunk_bytes: int) -> Iterator[Chunk]:
    try:
        if path.name.lower().endswith(WARC_SUFFIXES):
            with open(path, "rb") as fh:
                pages, size, done = [], 0, 0  # progress counts bytes of the file, compressed or not
                for page in warc_pages(path, fh):
                    pages.append(page)
                    size += len(page.data) if isinstance(page, RawPage) else 0
                    if len(pages) >= min(chunk_records, PAGE_CHUNK) or size >= chunk_bytes:
                        yield Chunk("pages", str(path), pages, nbytes=fh.tell() - done)
                        pages, size, done = [], 0, fh.tell()
                yield Chunk("pages", str(path), pages, nbytes=_file_size(path) - done)
            return
        if path.name.lower().endswith(JSONL_SUFFIXES):
            with _open_binary(path) as fh:
                lines: list[bytes] = []
                first, size = 1, 0
                for lineno, raw in enumerate(fh, 1):
                    lines.append(raw)
                    size += len(raw)
                    if len(lines) >= chunk_records or size >= chunk_bytes:
                        yield Chunk("jsonl", str(path), lines, first_line=first, nbytes=size)
                        lines, first, size = [], lineno + 1, 0
                if lines:
                    yield Chunk("jsonl", str(path), lines, first_line=first, nbytes=size)
            return
        records: list[Record | Rejected] = []
        for record in _parsed_records(path):
            records.append(record)
            if len(records) >= chunk_records:
                yield Chunk("records", str(path), records)
                records = []
        yield Chunk("records", str(path), records, nbytes=_file_size(path))
    except (OSError, EOFError, ValueError) as exc:  # unreadable, truncated or corrupt file
        yield Chunk("records", str(path), [Rejected(str(path), f"cannot read file: {exc}")])


def read_records(path: Path) -> Iterator[Record | Rejected]:
    """Every record of one input, in order (the chunks of :func:`read_chunks`, parsed)."""
    for chunk in read_chunks([path]):
        yield from chunk.records()


def _parsed_records(path: Path) -> Iterator[Record | Rejected]:
    name = path.name.lower()
    if is_hf_dataset(path):
        yield from _read_hf_dataset(path)
    elif name.endswith(CSV_SUFFIXES):
        yield from _read_csv(path)
    elif name.endswith(PARQUET_SUFFIXES):
        yield from _read_parquet(path)
    else:
        yield Rejected(str(path), f"unsupported file type; use one of {', '.join(SUPPORTED)} "
                                  "or a saved Hugging Face dataset")


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _file_records(path: Path, root: Path | None, kind: str, input_format: str,
                  metadata: dict[str, dict[str, str]] | None = None) -> Iterator[Record | Rejected]:
    """The articles of one file: itself (a .txt, a saved page), or those of an export in it.
    A .txt article takes its fields from its row of the directory's metadata table, if any."""
    if kind == "docx":
        paragraphs = docx_paragraphs(path)
        yield from [paragraphs] if isinstance(paragraphs, Rejected) else nexis_articles(path, paragraphs)
        return
    try:
        data = path.read_bytes()
    except OSError as exc:
        yield Rejected(str(path), f"cannot read file: {exc.strerror or exc}")
        return
    if kind == "html":
        if input_format == "factiva" or input_format == "auto" and looks_like_factiva(data):
            yield from factiva_articles(path, data)
        else:
            yield page_record(RawPage(str(path), data, default_id=id_from_path(path, root)))
        return
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        yield Rejected(str(path), f"not valid UTF-8 at byte {exc.start}", field="text",
                       raw=data.decode("utf-8", "backslashreplace"))
        return
    if input_format == "nexis" or input_format == "auto" and looks_like_nexis(text):
        yield from nexis_articles(path, text.splitlines())
    else:
        row = dict((metadata or {}).get(path.relative_to(root).as_posix() if root else "", {}))
        default_id = row.pop("id", None) or id_from_path(path, root)
        yield Record(str(path), {**row, "text": text}, default_id=default_id)


def _open_binary(path: Path):
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


def _parse_jsonl_lines(path: str, lines: list[bytes], first_line: int) -> Iterator[Record | Rejected]:
    for lineno, raw in enumerate(lines, first_line):
        where = f"{path}:{lineno}"
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield Rejected(where, f"not valid UTF-8 at byte {exc.start} of the line",
                           raw=raw.decode("utf-8", "backslashreplace").rstrip("\n"))
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Rejected(where, f"not valid JSON: {exc.msg} at column {exc.colno}", raw=line.rstrip("\n"))
            continue
        if not isinstance(obj, dict):
            yield Rejected(where, f"expected a JSON object, got {type(obj).__name__}", raw=obj)
            continue
        yield Record(where, obj)


def _read_csv(path: Path) -> Iterator[Record | Rejected]:
    delimiter = "\t" if ".tsv" in path.name.lower() else ","
    with _open_binary(path) as raw_fh:
        fh = io.TextIOWrapper(raw_fh, encoding="utf-8-sig", errors="surrogateescape", newline="")
        reader = csv.DictReader(fh, delimiter=delimiter)
        for row in reader:
            where = f"{path}:{reader.line_num}"
            bad = next((k for k, v in row.items() if isinstance(v, str) and _has_surrogates(v)), None)
            if bad is not None:
                yield Rejected(where, "not valid UTF-8", field=bad,
                               raw={k: v.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                                    if isinstance(v, str) else v for k, v in row.items()})
                continue
            if None in row:  # more cells than header fields
                yield Rejected(where, f"row has {len(row) - 1 + len(row[None])} cells but the header has "
                                      f"{len(reader.fieldnames or [])}", raw=row)
                continue
            yield Record(where, row)


def _has_surrogates(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _read_parquet(path: Path) -> Iterator[Record | Rejected]:
    import pyarrow.parquet as pq

    row = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=_BATCH_ROWS):
        for obj in batch.to_pylist():
            yield Record(f"{path}#{row}", obj)
            row += 1


def _read_hf_dataset(path: Path) -> Iterator[Record | Rejected]:
    import datasets

    loaded = datasets.load_from_disk(str(path))
    splits = loaded.items() if isinstance(loaded, datasets.DatasetDict) else [(None, loaded)]
    for split, ds in splits:
        prefix = f"{path}[{split}]" if split else str(path)
        row = 0
        for batch in ds.iter(batch_size=_BATCH_ROWS):
            columns = list(batch)
            for values in zip(*(batch[c] for c in columns)):
                yield Record(f"{prefix}#{row}", dict(zip(columns, values)))
                row += 1
