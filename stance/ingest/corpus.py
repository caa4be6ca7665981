"""Build a corpus: read articles, drop duplicates, split into sentences with stable ids.

Output (``--out DIR``): ``articles.parquet``, ``sentences.parquet``,
``rejects.jsonl`` and ``manifest.json``; see DESIGN.md for the columns.
The build streams in bounded batches, so memory does not grow with the corpus
(only a set of 8-byte text hashes, for de-duplication, does).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from zlib import crc32

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from stance import __version__
from stance.errors import StanceError
from stance.ingest.dates import normalise_date
from stance.ingest.nearduplicates import MODES, NUM_PERM, THRESHOLD, NearDuplicates, signatures, text_keys
from stance.ingest.pages import preload_extractor
from stance.ingest.readers import INPUT_FORMATS, Chunk, FieldMap, Record, Rejected, find_inputs, read_chunks
from stance.ingest.records import bounded, has_surrogates, printable
from stance.ingest.splitter import SPLITTER_VERSION, split_with_text, without_captions
from stance.parallel import default_workers, ordered_map
from stance.progress import progress_bar, stderr

MAX_ARTICLE_CHARS = 1_000_000
MAX_SENTENCE_CHARS = 1_000
METADATA = ("title", "source", "date", "url", "author")
_SHOWN_REJECTS = 10
DEFAULT_FIELDS = FieldMap()

ARTICLE_SCHEMA = pa.schema(
    [("article_id", pa.string()), ("text", pa.string())]
    + [(m, pa.string()) for m in METADATA]
    + [("origin", pa.string())]
)
SENTENCE_SCHEMA = pa.schema(
    [("article_id", pa.string()), ("sentence_id", pa.string()), ("index", pa.int32()),
     ("start", pa.int64()), ("end", pa.int64()), ("text", pa.string())]
    + [(m, pa.string()) for m in METADATA]
)
# A corpus adds each sentence's text_key and the near-duplicate cluster of every article and sentence.
CORPUS_ARTICLE_SCHEMA = ARTICLE_SCHEMA.append(pa.field("cluster_id", pa.string()))
CORPUS_SENTENCE_SCHEMA = SENTENCE_SCHEMA.append(pa.field("text_key", pa.string())).append(
    pa.field("cluster_id", pa.string()))


@dataclass
class Article:
    article_id: str
    text: str
    title: str | None = None
    source: str | None = None
    date: str | None = None
    url: str | None = None
    author: str | None = None
    origin: str = ""


@dataclass
class Counts:
    read: int = 0
    kept: int = 0
    duplicates: int = 0
    rejected: int = 0
    sentences: int = 0
    near_duplicates: int = 0  # articles that copy an earlier one (kept and marked, or dropped)
    near_duplicate_clusters: int = 0  # stories found in more than one article
    dates_unread: int = 0  # kept articles whose date could not be read (kept as the text it was)
    captions: int = 0  # sentences of photo captions, dropped (they describe a picture, not the story)


@dataclass
class CorpusResult:
    out: Path
    counts: Counts
    seconds: float
    near_duplicates: str = "mark"

    def __str__(self) -> str:
        c = self.counts
        return (f"{c.kept:,} articles ({c.sentences:,} sentences) written to {self.out}; "
                f"{c.duplicates:,} duplicates dropped, {c.rejected:,} rejected, of {c.read:,} read; "
                + ("near-duplicates not looked for" if self.near_duplicates == "keep" else
                   f"{c.near_duplicates:,} near-duplicates of {c.near_duplicate_clusters:,} stories "
                   f"{'dropped' if self.near_duplicates == 'drop' else 'marked'}")
                + (f"; {c.dates_unread:,} dates could not be read" if c.dates_unread else "")
                + (f"; {c.captions:,} photo-caption sentences dropped" if c.captions else ""))


def to_article(record: Record, fields: FieldMap, max_chars: int = MAX_ARTICLE_CHARS) -> Article | Rejected:
    """Check one record and turn it into an :class:`Article`, or say why it cannot be one."""
    data = record.fields
    if record.default_id is not None:  # a file or a page: stance named its fields itself
        fields = DEFAULT_FIELDS
    text_field = fields.text
    text = data.get(text_field)
    if text is None:
        present = ", ".join(sorted(map(str, data))) or "none"
        return Rejected(record.origin, f"no {text_field!r} field (fields present: {present}; "
                                       "name the field that holds the text)", field=text_field, raw=data)
    if not isinstance(text, str):
        return Rejected(record.origin, f"{text_field!r} is a {type(text).__name__}, not text",
                        field=text_field, raw=data)
    if not text or text.isspace():
        return Rejected(record.origin, "empty article text", field=text_field, raw=data)
    if len(text) > max_chars:
        return Rejected(record.origin, f"article is {len(text):,} characters, over the limit of "
                                       f"{max_chars:,} (raise the limit to keep it)", field=text_field, raw=data)
    if has_surrogates(record.origin):
        return Rejected(record.origin, "the file name is not valid UTF-8", raw=data)
    for name in dict.fromkeys(vars(fields).values()):
        value = data.get(name) if name != fields.id or record.default_id is None else record.default_id
        if isinstance(value, str) and has_surrogates(value):
            return Rejected(record.origin, f"{name!r} holds text that is not valid Unicode (a lone surrogate)",
                            field=name, raw=data)
    raw_id = data.get(fields.id) if record.default_id is None else record.default_id
    article_id = _clean(raw_id) or content_id(text)
    date, _ = normalise_date(_clean(data.get(fields.date)))
    return Article(article_id, text, _clean(data.get(fields.title)), _clean(data.get(fields.source)), date,
                   _clean(data.get(fields.url)), _clean(data.get(fields.author)), record.origin)


def _clean(value) -> str | None:
    if value is None:
        return None
    if type(value) is str:
        return value.strip() or None
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    value = str(value).strip()
    return value or None


def content_id(text: str) -> str:
    """An id for an article that came without one: a hash of its whitespace-normalised text."""
    return "h" + hashlib.blake2b(" ".join(text.split()).encode(), digest_size=8).hexdigest()


def sentence_ids(article_ids: pa.Array, sentences: list[str], counts: list[int]) -> pa.Array:
    """``ARTICLE_ID:CHECKSUM`` for each sentence (``counts[i]`` sentences for article ``i``).

    Ids depend only on the article and the sentence's own text, so edits elsewhere in
    the article leave them alone. A checksum repeated within an article (the same
    sentence twice, or a rare crc32 collision) gets ``~2``, ``~3``: ids stay unique.
    """
    digests = np.fromiter(map(crc32, map(str.encode, sentences)), np.uint64, len(sentences))
    owners = np.repeat(np.arange(len(counts), dtype=np.uint64), np.asarray(counts, dtype=np.int64))
    ids = pc.binary_join_element_wise(article_ids.take(owners), pc.cast(pa.array(digests), pa.string()), ":")
    rank = _occurrence(owners << np.uint64(32) | digests)
    repeated = np.flatnonzero(rank)
    if not len(repeated):
        return ids
    suffixes = np.full(len(sentences), "", dtype=object)
    suffixes[repeated] = [f"~{k + 1}" for k in rank[repeated]]
    return pc.binary_join_element_wise(ids, pa.array(suffixes, pa.string()), "")


def _occurrence(keys: np.ndarray) -> np.ndarray:
    """For each key, how many equal keys come before it (0 for a first occurrence)."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    positions = np.arange(len(keys))
    first = np.r_[True, ordered[1:] != ordered[:-1]] if len(keys) else np.zeros(0, bool)
    rank = np.empty(len(keys), dtype=np.int64)
    rank[order] = positions - np.maximum.accumulate(np.where(first, positions, 0))
    return rank


@dataclass
class ChunkResult:
    """What a worker makes of one chunk: tables of its articles and sentences, and its rejects."""

    read: int
    rejects: list[Rejected]
    articles: pa.Table | None
    sentences: pa.Table | None
    article_keys: list[bytes]
    signatures: np.ndarray | None = None  # MinHash of each article, for near-duplicates
    texts: list[str] | None = None  # the sentences' text as Python strings, for a scorer in this process
    spooled: str | None = None
    captions: int = 0  # caption sentences dropped by the splitter

    def spool(self, directory: str) -> ChunkResult:
        """Move the tables into an Arrow file in ``directory`` (in a worker): the parent reads
        it back with one copy, where the pool's pipe would pickle and copy the tables four times."""
        fd, name = tempfile.mkstemp(suffix=".arrow", dir=directory)
        with os.fdopen(fd, "wb") as fh, pa.ipc.new_stream(fh, self.sentences.schema) as writer:
            writer.write_table(self.sentences)
        with open(name, "ab") as fh, pa.ipc.new_stream(fh, self.articles.schema) as writer:
            writer.write_table(self.articles)
        self.articles = self.sentences = self.texts = None
        self.spooled = name
        return self

    def unspool(self) -> ChunkResult:
        """Read the tables back from the spool file, and delete it (in the parent)."""
        if self.spooled:
            with pa.memory_map(self.spooled) as source:
                self.sentences = pa.ipc.open_stream(source).read_all()
                self.articles = pa.ipc.open_stream(source).read_all()
            os.unlink(self.spooled)
            self.spooled = None
        return self


def process_chunk(chunk: Chunk, fields: FieldMap, max_chars: int, max_sentence_chars: int,
                  corpus: bool = True, repeats: bool = False) -> ChunkResult:
    """Parse, check and split one chunk (runs in a worker process).

    ``corpus`` adds what a corpus needs and scoring does not: a hash of each article's
    text (exact duplicates) and a ``text_key`` column; ``repeats`` fills that column and
    adds each article's MinHash signature (near-duplicates), which ``--near-duplicates
    keep`` goes without (a third of the time of a build).
    """
    read, rejects, articles = 0, [], []
    for record in chunk.records():
        read += 1
        try:
            item = record if isinstance(record, Rejected) else to_article(record, fields, max_chars)
        except Exception as exc:  # noqa: BLE001 (one record that breaks a check never sinks its chunk)
            item = Rejected(record.origin, f"cannot read record: {type(exc).__name__}: {exc}", raw=record.fields)
        (rejects if isinstance(item, Rejected) else articles).append(item)
    article_table, sentence_table, texts, captions = split_batch(articles, max_sentence_chars)
    keys, minhashes = [], None
    if corpus:
        keys = [hashlib.blake2b(a.text.strip().encode(), digest_size=12).digest() for a in articles]
        sentence_table = sentence_table.append_column(
            "text_key", text_keys(texts) if repeats else pa.nulls(len(texts), pa.string()))
    if repeats:
        minhashes = signatures([a.text for a in articles]) if articles else np.zeros((0, NUM_PERM), np.uint32)
    return ChunkResult(read, rejects, article_table, sentence_table, keys, minhashes, texts, captions=captions)


def spool_chunk(chunk: Chunk, spool: str, **options) -> ChunkResult:
    """:func:`process_chunk` for a worker of ``corpus build``: its tables come back through ``spool``."""
    return process_chunk(chunk, **options).spool(spool)


def reject_line(rejected: Rejected) -> str:
    """One line of ``rejects.jsonl``: where, why, which field, and a bounded copy of the record (a
    prefix of each text: a hostile record is never copied whole)."""
    entry = {"origin": printable(rejected.origin), "reason": printable(rejected.reason), "field": rejected.field,
             **bounded(rejected.extra), "record": bounded(rejected.raw)}
    return json.dumps(entry, ensure_ascii=False, default=str) + "\n"


class RejectLog:
    """Writes rejected records to ``rejects.jsonl`` and shows the first few on the terminal."""

    def __init__(self, path: Path, *, strict: bool = False, show: bool = True) -> None:
        self.path, self.strict, self.show = path, strict, show
        self.count = 0
        self._fh = None

    def add(self, rejected: Rejected) -> None:
        self.count += 1
        message = printable(f"{rejected.origin}: {rejected.reason}")
        if self.strict:
            raise StanceError(f"{message} (stopping because of {{strict}})", strict=True)
        if self._fh is None:
            self._fh = open(self.path, "w", encoding="utf-8")
        self._fh.write(reject_line(rejected))
        if self.show and self.count <= _SHOWN_REJECTS:
            stderr.print(f"[yellow]rejected[/] {message}", highlight=False, markup=True)
        elif self.show and self.count == _SHOWN_REJECTS + 1:
            stderr.print(f"[yellow]more rejects follow; all are in {self.path}[/]")

    def close(self) -> None:
        if self._fh is None:
            self.path.write_text("", encoding="utf-8")
        else:
            self._fh.close()


def build_corpus(inputs: Iterable[str | os.PathLike], out: str | os.PathLike, *,
                 fields: FieldMap | dict | None = None, strict: bool = False,
                 max_chars: int = MAX_ARTICLE_CHARS, max_sentence_chars: int = MAX_SENTENCE_CHARS,
                 near_duplicates: str = "mark", near_duplicate_threshold: float = THRESHOLD,
                 input_format: str = "auto", workers: int | None = None, progress: bool = False) -> CorpusResult:
    """Read ``inputs``, split every article into sentences, and write the corpus to ``out``.

    Bad records go to ``rejects.jsonl`` with the reason (``strict=True`` stops at the
    first); exact duplicate articles are dropped and counted. Near-duplicates (copies
    of one story, see :mod:`stance.ingest.nearduplicates`) share a ``cluster_id``; ``drop``
    keeps only the first of each story, ``keep`` does not look for them. Parsing and
    splitting run on ``workers`` processes (default: all cores); this one reads raw
    chunks and writes, so the output is the same for any number of workers. ``input_format``
    says what files of articles hold where their names do not (``INPUT_FORMATS``), as in ``score``.
    """
    if input_format not in INPUT_FORMATS:
        raise StanceError(f"{{input_format}}: must be one of {', '.join(INPUT_FORMATS)}", input_format=input_format)
    if near_duplicates not in MODES:
        raise StanceError(f"{{near_duplicates}}: must be one of {', '.join(MODES)}", near_duplicates=near_duplicates)
    if not 0 < near_duplicate_threshold <= 1:
        raise StanceError("{near_duplicate_threshold}: a Jaccard similarity above 0 and at most 1",
                          near_duplicate_threshold=near_duplicate_threshold)
    fields = FieldMap.of(fields)
    inputs = [Path(p) for p in inputs]
    files = find_inputs(inputs)
    if not files:
        raise StanceError(f"no readable inputs in {', '.join(map(str, inputs))} "
                          f"(looked for .txt, .jsonl, .csv, .parquet and saved datasets)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    preload_extractor(files)
    counts = Counts()
    rejects = RejectLog(out / "rejects.jsonl", strict=strict, show=progress)
    articles_tmp, sentences_tmp = out / "articles.parquet.partial", out / "sentences.parquet.partial"
    total_bytes = sum(file_size(f) for f in files)
    workers = workers or default_workers()
    options = {"fields": fields, "max_chars": max_chars, "max_sentence_chars": max_sentence_chars,
               "repeats": near_duplicates != "keep"}
    spool = tempfile.mkdtemp(prefix=".spool-", dir=out) if workers > 1 else None
    work = partial(spool_chunk, spool=spool, **options) if spool else partial(process_chunk, **options)
    seen, clusters = _SeenArticles(), _Clusters(near_duplicates, near_duplicate_threshold)
    try:
        with pq.ParquetWriter(articles_tmp, CORPUS_ARTICLE_SCHEMA) as article_writer, \
                pq.ParquetWriter(sentences_tmp, CORPUS_SENTENCE_SCHEMA) as sentence_writer, \
                progress_bar("corpus build", total_bytes, enabled=progress, unit="bytes",
                             status="{articles:,} articles {sentences:,} sentences",
                             articles=0, sentences=0) as bar, \
                closing(ordered_map(work, _ticking(read_chunks(inputs, input_format=input_format), bar),
                                    workers)) as results:
            for result in results:
                result.unspool()
                counts.read += result.read
                counts.captions += result.captions
                for rejected in result.rejects:
                    rejects.add(rejected)
                keep = seen.keep_new(result, counts, rejects)
                article_table, sentence_table = _only(result.articles, result.sentences, keep)
                minhashes = result.signatures[np.asarray(keep, bool)] if result.signatures is not None else None
                article_table, sentence_table = clusters.name(article_table, sentence_table, minhashes, counts)
                article_writer.write_table(article_table)
                sentence_writer.write_table(sentence_table)
                counts.kept += article_table.num_rows
                counts.dates_unread += _unread_dates(article_table)
                counts.sentences += sentence_table.num_rows
                bar.update(articles=counts.kept, sentences=counts.sentences)
    except BaseException:
        articles_tmp.unlink(missing_ok=True)
        sentences_tmp.unlink(missing_ok=True)
        raise
    finally:
        rejects.close()
        if spool:
            shutil.rmtree(spool, ignore_errors=True)
    counts.rejected = rejects.count
    clusters.rename(out, counts)
    os.replace(articles_tmp, out / "articles.parquet")
    os.replace(sentences_tmp, out / "sentences.parquet")
    seconds = time.perf_counter() - started
    manifest = {
        "kind": "stance.corpus",
        "stance_version": __version__,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "inputs": [str(p) for p in inputs],
        "files": len(files),
        "bytes": total_bytes,
        "fields": asdict(fields),
        "splitter": SPLITTER_VERSION,
        "options": {"max_chars": max_chars, "max_sentence_chars": max_sentence_chars, "strict": strict,
                    "input_format": input_format,
                    "near_duplicates": near_duplicates, "near_duplicate_threshold": near_duplicate_threshold},
        "counts": asdict(counts),
        "seconds": round(seconds, 3),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return CorpusResult(out, counts, seconds, near_duplicates)


def _unread_dates(articles: pa.Table) -> int:
    dates = articles.column("date")
    read = pc.strptime(dates, format="%Y-%m-%d", unit="s", error_is_null=True)
    return int(pc.sum(pc.and_(pc.is_valid(dates), pc.is_null(read))).as_py() or 0)


def _ticking(chunks: Iterable[Chunk], bar) -> Iterator[Chunk]:
    for chunk in chunks:
        bar.advance(chunk.nbytes)
        yield chunk


class _SeenArticles:
    """First occurrence wins: drops exact duplicates (counted) and reused ids (rejected).

    Runs in the main process, in input order, so the output is the same for any
    number of workers. Memory: one small hash per article kept.
    """

    def __init__(self) -> None:
        self.texts: set[bytes] = set()
        self.ids: set[str] = set()

    def keep_new(self, result: ChunkResult, counts: Counts, rejects: RejectLog) -> list[bool]:
        """Which of the chunk's articles to keep."""
        ids = result.articles.column("article_id").to_pylist()
        keep = []
        for article_id, key, row in zip(ids, result.article_keys, range(len(ids))):
            if key in self.texts:
                counts.duplicates += 1
                keep.append(False)
            elif article_id in self.ids:
                article = result.articles.slice(row, 1).to_pylist()[0]
                rejects.add(Rejected(article["origin"], f"article id {article_id!r} was already used by "
                                                        "another article with different text",
                                     field="id", raw=article))
                keep.append(False)
            else:
                self.texts.add(key)
                self.ids.add(article_id)
                keep.append(True)
        return keep


def _only(articles: pa.Table, sentences: pa.Table, keep: list[bool]) -> tuple[pa.Table, pa.Table]:
    """The kept articles and their sentences."""
    if all(keep):
        return articles, sentences
    dropped = pa.array([a for a, k in zip(articles.column("article_id").to_pylist(), keep) if not k], pa.string())
    return articles.filter(pa.array(keep)), sentences.filter(pc.invert(pc.is_in(sentences["article_id"], dropped)))


class _Clusters:
    """Names each kept article's near-duplicate cluster (``keep``: each its own), dropping the
    copies with ``drop``; counts the copies."""

    def __init__(self, mode: str, threshold: float) -> None:
        self.mode = mode
        self.index = NearDuplicates(threshold) if mode != "keep" else None

    def name(self, articles: pa.Table, sentences: pa.Table, signatures: np.ndarray | None,
             counts: Counts) -> tuple[pa.Table, pa.Table]:
        ids = articles.column("article_id").to_pylist()
        clusters = ids
        if self.index is not None:
            first = self.index.add(ids, signatures)
            clusters = [self.index.article_ids[f] for f in first]
            copies = [c != a for a, c in zip(ids, clusters)]
            counts.near_duplicates += sum(copies)
            if self.mode == "drop":
                articles, sentences = _only(articles, sentences, [not c for c in copies])
                clusters = [c for c, copy in zip(clusters, copies) if not copy]
        cluster = pa.array(clusters, pa.string())
        owners = pc.index_in(sentences["article_id"], articles["article_id"])
        return (articles.append_column("cluster_id", cluster),
                sentences.append_column("cluster_id", cluster.take(owners)))

    def rename(self, out: Path, counts: Counts) -> None:
        """After clusters joined, give every article and sentence its cluster's final name."""
        if self.index is None:
            return
        names = self.index.cluster_ids()
        counts.near_duplicate_clusters = len({c for a, c in names.items() if a != c})
        if self.mode == "mark":  # joined clusters make copies of articles first written as their own
            counts.near_duplicates = sum(a != c for a, c in names.items())
        if not self.index.merged:
            return
        keys = pa.array(list(names), pa.string())
        values = pa.array(list(names.values()), pa.string())
        for name in ("articles.parquet.partial", "sentences.parquet.partial"):
            path, renaming = out / name, out / f"{name}.renaming"
            source = pq.ParquetFile(path)
            column = source.schema_arrow.get_field_index("cluster_id")
            with pq.ParquetWriter(renaming, source.schema_arrow) as writer:
                for batch in source.iter_batches(batch_size=65_536):
                    table = pa.Table.from_batches([batch])
                    renamed = values.take(pc.index_in(table["article_id"], keys))
                    writer.write_table(table.set_column(column, "cluster_id", renamed))
            os.replace(renaming, path)


def file_size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    try:
        return path.stat().st_size
    except OSError:
        return 0


def split_batch(batch: list[Article], max_sentence_chars: int = MAX_SENTENCE_CHARS
                ) -> tuple[pa.Table, pa.Table, list[str], int]:
    """The article and sentence tables of a batch, the sentences' text, and how many caption
    sentences were dropped (runs in a worker process).

    Only the split itself is per article; the sentence columns are built with Arrow
    kernels, because per-sentence Python is what would make corpus building slow.
    """
    articles = pa.Table.from_pydict(
        {name: [getattr(a, name) for a in batch] for name in ARTICLE_SCHEMA.names}, schema=ARTICLE_SCHEMA)
    starts: list[int] = []
    ends: list[int] = []
    sentences: list[str] = []
    counts: list[int] = []
    captions = 0
    for article in batch:
        s, e, t, dropped = without_captions(article.text, *split_with_text(article.text, max_sentence_chars))
        captions += dropped
        starts += s
        ends += e
        sentences += t
        counts.append(len(t))
    sizes = np.array(counts, dtype=np.int64)
    owners = pa.array(np.repeat(np.arange(len(batch)), sizes))
    offsets = np.repeat(np.cumsum(sizes) - sizes, sizes)
    columns = {
        "article_id": articles["article_id"].take(owners),
        "sentence_id": sentence_ids(articles["article_id"].combine_chunks(), sentences, counts),
        "index": pa.array(np.arange(len(sentences)) - offsets, pa.int32()),
        "start": pa.array(starts, pa.int64()),
        "end": pa.array(ends, pa.int64()),
        "text": pa.array(sentences, pa.string()),
        **{m: articles[m].take(owners) for m in METADATA},
    }
    return articles, pa.table(columns, schema=SENTENCE_SCHEMA), sentences, captions


#: Sentences read at a time while sampling a corpus's texts.
SAMPLE_BATCH = 65_536


def sample_sentences(corpus: str | os.PathLike, n: int, seed: int = 0) -> list[str]:
    """Up to ``n`` distinct sentence texts of a corpus directory, drawn at random (``seed``), so
    that a sentence repeated in many articles (wire copy) counts once.

    The draw is the ``n`` texts of smallest seeded hash (a bottom-k sample), so the text
    column streams past in batches and memory holds ``n`` texts and one batch, whatever
    the corpus's size; its sentences were capped at MAX_SENTENCE_CHARS when it was built."""
    import pandas as pd
    path = Path(corpus) / "sentences.parquet"
    if not path.is_file():
        raise StanceError(f"{corpus}: not a corpus (no sentences.parquet); make one with `stance corpus build`")
    if n < 1:
        raise StanceError(f"sentences to sample: must be at least 1, got {n}")
    key = hashlib.sha256(f"sample-sentences-{seed}".encode()).hexdigest()[:16]
    hashes, texts = np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=object)
    with closing(pq.ParquetFile(path)) as sentences:
        for batch in sentences.iter_batches(batch_size=SAMPLE_BATCH, columns=["text"]):
            more = batch.column(0).drop_null().to_numpy(zero_copy_only=False)
            hashes = np.concatenate([hashes, pd.util.hash_array(more, hash_key=key, categorize=False)])
            texts = np.concatenate([texts, more])
            _, first = np.unique(hashes, return_index=True)  # ascending, each text once
            hashes, texts = hashes[first[:n]], texts[first[:n]]
    return texts.tolist()
