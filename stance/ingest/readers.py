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
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stance.errors import StanceError
from stance.ingest.exports import (docx_paragraphs, factiva_articles, looks_like_factiva, looks_like_nexis,
                                   nexis_articles)
from stance.ingest.pages import HTML_SUFFIXES, WARC_SUFFIXES, RawPage, page_record, warc_pages
from stance.ingest.records import REJECT_PREFIX, Record, Rejected, has_surrogates, id_from_path

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
#: A file read whole (a .txt article, a saved page, a Nexis or Factiva export, a Word file).
MAX_FILE_BYTES = 64 << 20

#: What one record may take as read or decompressed: 8 bytes for each of the 1,000,000 characters an
#: article may have (JSON escapes take up to 6 a character), plus room for the other fields.
MAX_RECORD_BYTES = 8 * 1_000_000 + (1 << 16)
#: A parquet row group is decompressed whole; one over this many bytes uncompressed is refused unread.
MAX_ROW_GROUP_BYTES = 1 << 30
#: A CSV field over this many characters is an unbalanced quote swallowing the rows after it.
csv.field_size_limit(MAX_RECORD_BYTES)


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
                lines: list[bytes | Rejected] = []
                first, size = 1, 0
                for lineno, raw in enumerate(_bounded_lines(fh, path), 1):
                    lines.append(raw)
                    raw = b"" if isinstance(raw, Rejected) else raw
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


def _bounded_lines(fh, path: Path) -> Iterator[bytes | Rejected]:
    """The lines of a (decompressed) stream, each read to at most ``MAX_RECORD_BYTES``: a longer one
    is skipped to its end without being held, and comes as a :class:`Rejected` with its prefix."""
    lineno = 0
    while True:
        raw = fh.readline(MAX_RECORD_BYTES + 1)
        if not raw:
            return
        lineno += 1
        if len(raw) <= MAX_RECORD_BYTES or raw.endswith(b"\n"):
            yield raw
            continue
        total, prefix = len(raw), raw[:REJECT_PREFIX]
        while not raw.endswith(b"\n"):
            rest = fh.readline(1 << 20)
            if not rest:
                break
            total += len(rest)
            raw = rest
        yield Rejected(f"{path}:{lineno}", f"line of {total:,} bytes, over the {MAX_RECORD_BYTES:,} a record may "
                                           "take (8 bytes per character of --max-chars)", raw=prefix)


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
    """The articles of one file: itself (a .txt, a saved page), or those of an export in it. A file
    that breaks its reader is one reject, never the end of its chunk or of the build."""
    read = 0
    try:
        for record in _one_file(path, root, kind, input_format, metadata):
            read += 1
            yield record
    except Exception as exc:  # noqa: BLE001 (a damaged file of any kind: lxml, zip, python-docx...)
        where = str(path) if not read else f"{path}#{read + 1}"
        yield Rejected(where, f"cannot read file: {type(exc).__name__}: {str(exc)[:300]}")


def _one_file(path: Path, root: Path | None, kind: str, input_format: str,
              metadata: dict[str, dict[str, str]] | None = None) -> Iterator[Record | Rejected]:
    """A .txt article takes its fields from its row of the directory's metadata table, if any."""
    if kind == "docx":
        paragraphs = docx_paragraphs(path)
        yield from [paragraphs] if isinstance(paragraphs, Rejected) else nexis_articles(path, paragraphs)
        return
    try:
        data = _read_capped(path, MAX_FILE_BYTES)
    except OSError as exc:
        yield Rejected(str(path), f"cannot read file: {exc.strerror or exc}")
        return
    if data is None:
        yield Rejected(str(path), f"file over {MAX_FILE_BYTES >> 20} MB: not one article or export")
        return
    if kind == "html":
        if not data.strip():
            yield Rejected(str(path), "empty file: no page or export in it")
            return
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


def _read_capped(path: Path, limit: int) -> bytes | None:
    """A file's bytes, read once, or None when it holds more than ``limit`` (not read beyond that)."""
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    return data if len(data) <= limit else None


def _open_binary(path: Path):
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


def _parse_jsonl_lines(path: str, lines: list[bytes], first_line: int) -> Iterator[Record | Rejected]:
    for lineno, raw in enumerate(lines, first_line):
        where = f"{path}:{lineno}"
        if isinstance(raw, Rejected):  # over the size of a record: refused as it was read
            yield raw
            continue
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
        except RecursionError:
            yield Rejected(where, "not readable JSON: nested too deeply", raw=line)
            continue
        except ValueError as exc:  # an integer of more than 4,300 digits, say
            yield Rejected(where, f"not readable JSON: {exc}", raw=line)
            continue
        if not isinstance(obj, dict):
            yield Rejected(where, f"expected a JSON object, got {type(obj).__name__}", raw=obj)
            continue
        yield Record(where, obj)


class _Lines:
    """The physical lines of a text stream for ``csv.reader``, remembering those of the row being read,
    so that after a damaged row reading can start again at the line after its first."""

    def __init__(self, fh) -> None:
        self.fh, self.pending, self.taken, self.next_line = fh, deque(), [], 1

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = self.pending.popleft() if self.pending else next(self.fh)
        self.taken.append(line)
        self.next_line += 1
        return line

    def row_started(self) -> int:
        self.taken = []
        return self.next_line

    def again_after_first(self) -> None:
        """Give back every line of the row read last but its first."""
        self.pending.extendleft(reversed(self.taken[1:]))
        self.next_line -= len(self.taken) - 1
        self.taken = []


#: A damaged row that spans lines is read again from its second line; after this many in one file,
#: the damaged rows are rejected whole (each restart costs the lines it gives back).
MAX_CSV_RESTARTS = 1000


def _read_csv(path: Path) -> Iterator[Record | Rejected]:
    """The rows of a CSV (or TSV) file. An unbalanced quote makes the csv module read every line after
    it into one field; such a row (a field over the record's size, or a row of several lines with the
    wrong number of cells) is rejected with its first line, and the rows after it are read again."""
    delimiter = "\t" if ".tsv" in path.name.lower() else ","
    with _open_binary(path) as raw_fh:
        lines = _Lines(io.TextIOWrapper(raw_fh, encoding="utf-8-sig", errors="surrogateescape", newline=""))
        header, restarts = None, 0
        while True:
            reader = csv.reader(lines, delimiter=delimiter)
            try:
                while True:
                    first = lines.row_started()
                    try:
                        cells = next(reader)
                    except StopIteration:
                        return
                    if header is None:
                        header = cells
                        continue
                    where = f"{path}:{first}"
                    if len(cells) != len(header) and len(lines.taken) > 1 and restarts < MAX_CSV_RESTARTS:
                        restarts += 1
                        yield Rejected(where, f"row of lines {first} to {lines.next_line - 1} has {len(cells)} "
                                              f"cells but the header has {len(header)}: an unbalanced quote? The "
                                              f"lines after {first} are read again", raw=cells[:len(header) + 1])
                        lines.again_after_first()
                        break
                    yield _csv_row(where, header, cells)
            except csv.Error as exc:
                if restarts >= MAX_CSV_RESTARTS:
                    yield Rejected(f"{path}:{first}", f"{exc}; {MAX_CSV_RESTARTS} damaged rows already: the "
                                                      "rest of the file is not read")
                    return
                restarts += 1
                yield Rejected(f"{path}:{first}", f"{exc} (a field of over {MAX_RECORD_BYTES:,} characters from line "
                                                  f"{first}: an unbalanced quote?); the lines after it are read again")
                lines.again_after_first()


def _csv_row(where: str, header: list[str], cells: list[str]) -> Record | Rejected:
    row = dict(zip(header, cells))
    bad = next((k for k, v in row.items() if has_surrogates(v)), None)
    if bad is not None:
        return Rejected(where, "not valid UTF-8", field=bad,
                        raw={k: v.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                             for k, v in row.items()})
    if len(cells) > len(header):
        return Rejected(where, f"row has {len(cells)} cells but the header has {len(header)}", raw=cells)
    return Record(where, {**dict.fromkeys(header), **row})


def parquet_batches(path: Path, batch_rows: int, columns: list[str] | None = None
                    ) -> Iterator[tuple[int, object, str | None]]:
    """A parquet file's rows in Arrow batches of at most ``batch_rows``: ``(first row, batch, None)``,
    or ``(first row, rows, reason)`` for rows of a row group refused unread. A row group is
    decompressed whole, and a few kilobytes of file may hold gigabytes of repeated text, so one
    that its own metadata says takes over ``MAX_ROW_GROUP_BYTES``, or over ``MAX_RECORD_BYTES``
    a row on average, is refused. (Columns keep no size per row: a record's own cap applies
    once its row group is read.)"""
    import pyarrow.parquet as pq

    source = pq.ParquetFile(path)
    row = 0
    for group in range(source.num_row_groups):
        meta = source.metadata.row_group(group)
        if meta.total_byte_size > min(MAX_ROW_GROUP_BYTES, MAX_RECORD_BYTES * max(meta.num_rows, 1)):
            reason = (f"in a row group of {meta.num_rows:,} rows and {meta.total_byte_size:,} bytes uncompressed, "
                      f"over the {MAX_ROW_GROUP_BYTES:,} read at once or {MAX_RECORD_BYTES:,} a row: write the "
                      "table in smaller row groups (pyarrow: row_group_size)")
            for start in range(0, meta.num_rows, batch_rows):
                yield row + start, min(batch_rows, meta.num_rows - start), reason
            row += meta.num_rows
            continue
        for batch in source.iter_batches(batch_size=batch_rows, row_groups=[group], columns=columns):
            yield row, batch, None
            row += batch.num_rows


def record_sizes(batch) -> np.ndarray:
    """Bytes of text (string and binary cells) in each row of an Arrow batch or table."""
    import pyarrow as pa
    import pyarrow.compute as pc

    sizes = np.zeros(batch.num_rows, dtype=np.int64)
    for column in batch.columns:
        kind = column.type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind) \
                or pa.types.is_large_binary(kind):
            sizes += pc.fill_null(pc.binary_length(column), 0).to_numpy(zero_copy_only=False)
    return sizes


def oversized(size: int) -> str:
    """Why a row of ``size`` bytes of text is rejected (parquet, datasets and sentence tables alike)."""
    return f"record of {size:,} bytes of text, over the {MAX_RECORD_BYTES:,} a record may take"


def _arrow_records(batch, prefix: str, first: int) -> Iterator[Record | Rejected]:
    """The rows of an Arrow batch as records; a row whose text takes over ``MAX_RECORD_BYTES`` is
    rejected before it becomes Python strings."""
    sizes = record_sizes(batch)
    over = set(np.flatnonzero(sizes > MAX_RECORD_BYTES).tolist())
    rows = batch.to_pylist() if not over else None
    for i in range(batch.num_rows):
        where = f"{prefix}#{first + i}"
        if i in over:
            yield Rejected(where, oversized(sizes[i]))
        else:
            yield Record(where, rows[i] if rows is not None else batch.slice(i, 1).to_pylist()[0])


def _read_parquet(path: Path) -> Iterator[Record | Rejected]:
    for first, batch, refused in parquet_batches(path, _BATCH_ROWS):
        if refused:
            yield from (Rejected(f"{path}#{first + k}", refused) for k in range(batch))
        else:
            yield from _arrow_records(batch, str(path), first)


def _read_hf_dataset(path: Path) -> Iterator[Record | Rejected]:
    import datasets

    loaded = datasets.load_from_disk(str(path))
    splits = loaded.items() if isinstance(loaded, datasets.DatasetDict) else [(None, loaded)]
    for split, ds in splits:  # memory-mapped Arrow: a row is read only when converted
        prefix = f"{path}[{split}]" if split else str(path)
        row = 0
        for batch in ds.with_format("arrow").iter(batch_size=_BATCH_ROWS):
            yield from _arrow_records(batch, prefix, row)
            row += batch.num_rows
