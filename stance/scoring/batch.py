"""``stance score``: a trained run over articles, streaming, in parallel, resumable.

Inputs are cut into chunks (as ``corpus build`` reads them); each chunk becomes one
numbered *part*: a worker parses and splits it, predicts every dimension and writes
the part's sentences, article sums and rejects under ``OUT/parts/``, renaming each
file into place and writing ``done-N.json`` last. A part with its done file is
complete, so an interrupted run leaves only complete parts, and ``resume=True``
skips them. When every part is done they are put together in order, without being
re-encoded: ``sentences.parquet`` is a directory of the part files (a parquet
dataset that pandas, pyarrow, DuckDB and Spark read as one table); JSON lines and
CSV parts are concatenated into one file. Workers are local processes, or Dask workers with ``engine="dask"``; the
parts, and so the output, are the same either way.

Corpus directories (from ``corpus build``) and parquet files with ``sentence_id``
and ``text`` columns are pre-split sentences: they skip splitting.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from stance import __version__, encoders
from stance.encoders import BACKENDS, SCORING_BACKEND
from stance.encoders.cache import uncached
from stance.errors import StanceError
from stance.ingest.corpus import MAX_ARTICLE_CHARS, MAX_SENTENCE_CHARS, METADATA, file_size, process_chunk, reject_line
from stance.ingest.pages import preload_extractor
from stance.ingest.readers import (CHUNK_RECORDS, INPUT_FORMATS, MAX_RECORD_BYTES, TRANSFORMER_CHUNK, Chunk,
                                   FieldMap, Rejected, find_inputs, oversized, parquet_batches, read_chunks,
                                   record_sizes)
from stance.model.runs import MODEL_FILE, load_run
from stance.parallel import default_workers, ordered_map
from stance.progress import progress_bar

FORMATS = ("parquet", "jsonl", "csv")
ENGINES = ("local", "dask")
STATE_FILE = "score-state.json"
#: The net article score: mean P(first) minus mean P(second) on this dimension, in [-1, 1].
NET_SCORE = ("tone", "adversarial", "conciliatory")
#: Article fields carried onto every sentence and article; cluster_id comes with a corpus
#: built with near-duplicates marked (empty for other inputs).
CARRIED = (*METADATA, "cluster_id")


@dataclass
class ScoreCounts:
    """Input records (articles, or sentence rows of a pre-split table) read, scored and rejected;
    the articles and sentences they made."""

    read: int = 0
    scored: int = 0
    rejected: int = 0
    sentences: int = 0
    rechecked: int = 0  # near-ties predicted again in float32 (see stance.model.recheck)
    articles: int = 0
    presplit: bool = False  # the records are sentence rows, not articles

    def add(self, other: dict) -> None:
        for name in ("read", "scored", "rejected", "sentences"):
            setattr(self, name, getattr(self, name) + other[name])
        self.rechecked += other.get("rechecked", 0)  # parts written before the count was kept have none
        self.articles += other.get("articles", 0)  # an article split over parts counts once per part
        self.presplit |= bool(other.get("presplit"))

    @property
    def records(self) -> str:
        return "sentence rows" if self.presplit else "articles"


@dataclass
class ScoreResult:
    out: Path
    run_id: str
    counts: ScoreCounts
    seconds: float
    files: dict[str, str]
    resumed_parts: int = 0

    def __str__(self) -> str:
        c = self.counts
        rate = c.sentences / self.seconds if self.seconds else 0
        resumed = f" ({self.resumed_parts} parts kept from before)" if self.resumed_parts else ""
        return (f"scored {c.articles:,} articles ({c.sentences:,} sentences) with run {self.run_id} into "
                f"{self.out} in {self.seconds:.1f} s, {rate:,.0f} sentences/s; {c.rejected:,} rejected, "
                f"of {c.read:,} {c.records} read{resumed}"
                + (f"; {c.rechecked:,} near-ties re-predicted in float32" if c.rechecked else ""))


@dataclass(frozen=True)
class Job:
    """What every part needs; small, so it travels to workers cheaply."""

    run_path: str
    parts: str
    fields: FieldMap = field(default_factory=FieldMap)
    max_chars: int = MAX_ARTICLE_CHARS
    max_sentence_chars: int = MAX_SENTENCE_CHARS
    format: str = "parquet"
    backend: str = SCORING_BACKEND
    threads: int | None = None
    cache_vectors: bool = True
    recheck: bool = True


@dataclass
class SentenceChunk:
    """A slice of a pre-split sentence table (rows ``first_row`` on). In such a table the unit is the
    sentence: ``repeats`` are the rows (of this slice) whose sentence id an earlier row had."""

    path: str
    table: pa.Table
    first_row: int
    nbytes: int = 0
    repeats: tuple[int, ...] = ()
    refused: str | None = None  # why rows first_row on were not read (the table then has none)
    refused_rows: int = 0


def score(inputs: Iterable[str | os.PathLike], model: str | os.PathLike, out: str | os.PathLike, *,
          workers: int | None = None, engine: str = "local", scheduler: str | None = None,
          format: str = "parquet", resume: bool = False, overwrite: bool = False,
          fields: FieldMap | dict | None = None, max_chars: int = MAX_ARTICLE_CHARS,
          max_sentence_chars: int = MAX_SENTENCE_CHARS, chunk_size: int | None = None,
          input_format: str = "auto", backend: str = SCORING_BACKEND, recheck: bool = True,
          cache_vectors: bool = True, progress: bool = False) -> ScoreResult:
    """Score ``inputs`` with the run ``model`` into ``out``; see the module docstring.

    ``input_format`` says what files of articles hold where their names do not (see
    ``stance.ingest.readers.INPUT_FORMATS``); ``format`` is the output's.

    ``backend`` runs transformer encoders through int8 ONNX Runtime (``onnx``, fast),
    torch (``torch``, the reference they were trained with) or float32 ONNX Runtime
    (``onnx-fp32``: torch's arithmetic without torch); other models ignore it.
    On onnx, ``recheck`` predicts near-ties again in float32 (torch's arithmetic), so that
    at least 99% of labels are torch's (see ``stance.model.recheck``); ``recheck=False`` takes
    int8's labels as they come, a little faster.
    ``cache_vectors=False`` keeps their sentence vectors out of the cache (about 1.5 kB
    a sentence for MiniLM): for a corpus scored once, too big to keep them.

    ``chunk_size`` is the number of articles per part (sentence tables use ten times
    as many rows): the unit of parallel work, of memory, and of what a resume keeps.
    By default 1,000, or 50 for a model with a transformer encoder, whose parts take
    a hundred times longer: with big parts a small job would keep only one worker busy.
    """
    if format not in FORMATS:
        raise StanceError(f"{{format}}: must be one of {', '.join(FORMATS)}", format=format)
    if engine not in ENGINES:
        raise StanceError(f"{{engine}}: must be one of {', '.join(ENGINES)}", engine=engine)
    if input_format not in INPUT_FORMATS:
        raise StanceError(f"{{input_format}}: must be one of {', '.join(INPUT_FORMATS)}", input_format=input_format)
    if backend not in BACKENDS:
        raise StanceError(f"{{backend}}: must be one of {', '.join(BACKENDS)}", backend=backend)
    fields = FieldMap.of(fields)
    inputs = [Path(p) for p in inputs]
    run = load_run(model, prefer_portable=True)  # files and schema checked before any work
    if chunk_size is None:
        chunk_size = TRANSFORMER_CHUNK if run.model.encoders() else CHUNK_RECORDS
    sources = [source for item in inputs for source in _sources(item)]
    files = find_inputs(sources)
    if not files:
        raise StanceError(f"no readable inputs in {', '.join(map(str, inputs))} "
                          f"(looked for .txt, .jsonl, .csv, .parquet, saved datasets and corpus directories)")
    out = Path(out)
    preload_extractor(files)
    state = {"model": run.run_id, "model_sha256": run.manifest["files"][MODEL_FILE],
             "inputs": [_fingerprint(p) for p in files], "format": format,
             "fields": asdict(fields), "max_chars": max_chars,
             "max_sentence_chars": max_sentence_chars, "chunk_size": chunk_size, "input_format": input_format,
             "backend": backend, "recheck": recheck}
    done = _prepare_out(out, state, resume, overwrite)
    workers = workers or default_workers()
    job = Job(str(run.path.resolve()), str(out / "parts"), fields, max_chars, max_sentence_chars,
              format, backend, max(1, (os.cpu_count() or 1) // workers), cache_vectors, recheck)
    _run_as(run.model, job, prepare=True)  # an ONNX export happens here, not in every worker
    _loaded[_model_key(job)] = run.model  # forked workers inherit it; Dask workers load their own
    started = time.perf_counter()
    counts = ScoreCounts()
    for index in sorted(done):
        counts.add(done[index])
    total_bytes = sum(file_size(f) for f in files)
    with progress_bar("score", total_bytes, enabled=progress, unit="bytes",
                      status="{articles:,} articles {sentences:,} sentences, {rate:,.0f} sentences/s",
                      articles=counts.articles, sentences=counts.sentences, rate=0.0) as bar:
        pending = _ticking(_numbered_chunks(sources, chunk_size, input_format), bar, done)
        results = (_local_map if engine == "local" else partial(_dask_map, scheduler=scheduler))(
            job, pending, workers)
        new_sentences = 0
        for result in results:
            counts.add(result)
            new_sentences += result["sentences"]
            elapsed = time.perf_counter() - started
            bar.update(articles=counts.articles, sentences=counts.sentences,
                       rate=new_sentences / elapsed if elapsed else 0.0)
    _reject_repeated_ids(out / "parts", format)
    counts = ScoreCounts()
    for path in (out / "parts").glob("done-*.json"):
        counts.add(json.loads(path.read_text(encoding="utf-8")))
    merging = time.perf_counter()
    written, counts.articles = _merge(out, run, format)
    seconds = time.perf_counter() - started
    manifest = {"kind": "stance.scores", "stance_version": __version__,
                "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "model": {"run_id": run.run_id, "path": str(run.path), "sha256": state["model_sha256"],
                          "labels": run.labels},
                "inputs": [str(p) for p in inputs], "engine": engine, "workers": workers, "format": format,
                "counts": asdict(counts), "seconds": round(seconds, 3),
                "seconds_merging": round(time.perf_counter() - merging, 3), "net_score": list(NET_SCORE),
                "state": state}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    (out / STATE_FILE).unlink(missing_ok=True)
    shutil.rmtree(out / "parts", ignore_errors=True)
    return ScoreResult(out, run.run_id, counts, seconds, written, len(done))


def _fingerprint(path: Path) -> dict:
    stat = path.stat()
    return {"path": str(path.resolve()), "bytes": file_size(path), "mtime": int(stat.st_mtime)}


def _prepare_out(out: Path, state: dict, resume: bool, overwrite: bool) -> dict[int, dict]:
    """Check the output directory before any work; return the parts already done."""
    state_file = out / STATE_FILE
    if overwrite and out.exists():
        for name in [STATE_FILE, "manifest.json", "parts", "rejects.jsonl", "audit.json", ".sentences.parquet.tmp",
                     *(f"{t}.{f}" for t in ("sentences", "articles") for f in FORMATS)]:
            target = out / name
            shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
    if state_file.is_file():
        previous = json.loads(state_file.read_text(encoding="utf-8"))
        if previous != state:
            changed = sorted(k for k in state.keys() | previous.keys() if previous.get(k) != state.get(k))
            raise StanceError(f"{out} holds an unfinished run of another job (differs in: {', '.join(changed)}); "
                              "use another {out}, or {overwrite} to discard it", out=..., overwrite=True)
        if not resume:
            raise StanceError(f"{out} holds an interrupted run of this job; add {{resume}} to finish it "
                              "(finished parts are kept) or {overwrite} to start again", resume=True, overwrite=True)
    elif (out / "manifest.json").is_file():
        previous = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        whose = "these" if previous.get("state") == state else "another run's"
        raise StanceError(f"{out} already holds {whose} scores "
                          f"(model {previous.get('model', {}).get('run_id')}); use another {{out}}, or "
                          "{overwrite} to replace them", out=..., overwrite=True)
    elif out.is_dir() and any(out.iterdir()):
        raise StanceError(f"{out} is not empty and holds no stance scores; choose an empty or new {{out}}", out=...)
    (out / "parts").mkdir(parents=True, exist_ok=True)
    state_file.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    done = {}
    for path in (out / "parts").glob("done-*.json"):
        done[int(path.stem.split("-")[1])] = json.loads(path.read_text(encoding="utf-8"))
    for leftover in (out / "parts").glob(".tmp-*"):
        leftover.unlink()
    return done


def _numbered_chunks(sources: list[Path], chunk_size: int,
                     input_format: str) -> Iterator[tuple[int, Chunk | SentenceChunk]]:
    """Every chunk of every input, numbered in a fixed order (the part numbers)."""
    index = 0
    seen_sentences: set[int] = set()  # hashes of the sentence ids of every pre-split table so far
    for source in sources:
        chunks = (_sentence_chunks(source, 10 * chunk_size, seen_sentences) if _presplit(source)
                  else read_chunks([source], chunk_size, input_format=input_format))
        for chunk in chunks:
            yield index, chunk
            index += 1


def _sources(item: Path) -> list[Path]:
    """A corpus directory stands for its sentences.parquet; anything else is read as articles."""
    if item.is_dir() and (item / "sentences.parquet").is_file() and (item / "manifest.json").is_file():
        return [item / "sentences.parquet"]
    return [item]


def _presplit(path: Path) -> bool:
    if not (path.is_file() and path.name.lower().endswith(".parquet")):
        return False
    try:
        names = pq.read_schema(path).names
    except (OSError, pa.ArrowInvalid):
        return False
    return "sentence_id" in names and "text" in names


def _sentence_chunks(path: Path, rows_per_chunk: int, seen: set[int]) -> Iterator[SentenceChunk]:
    """Slices of a sentence table, in any row order: an article's sentences need not be together
    (its sums merge by article id), but a sentence id given twice is a repeat (marked, in order, in
    this process, so that any number of workers agree; ``seen`` holds the ids' hashes, not the ids)."""
    parquet = pq.ParquetFile(path)
    wanted = [c for c in ("article_id", "sentence_id", "index", "start", "end", "text", *CARRIED)
              if c in parquet.schema_arrow.names]
    size, rows = file_size(path), max(1, parquet.metadata.num_rows)
    for first, batch, refused in parquet_batches(path, rows_per_chunk, wanted):
        if refused:
            yield SentenceChunk(str(path), parquet.schema_arrow.empty_table().select(wanted), first,
                                size * batch // rows, refused=refused, refused_rows=batch)
            continue
        repeats = []
        for row, sentence_id in enumerate(batch.column("sentence_id").to_pylist()):
            if sentence_id is None:
                continue
            digest = hash(sentence_id)
            if digest in seen:
                repeats.append(row)
            seen.add(digest)
        yield SentenceChunk(str(path), pa.Table.from_batches([batch]), first, size * batch.num_rows // rows,
                            tuple(repeats))


def _ticking(chunks, bar, done: dict) -> Iterator:
    for index, chunk in chunks:
        bar.advance(chunk.nbytes)
        if index not in done:
            yield index, chunk


def _local_map(job: Job, parts, workers: int) -> Iterator[dict]:
    # parts are written by the workers, so a deeper queue costs only raw chunks in memory and keeps
    # both workers busy while the oldest part finishes
    return ordered_map(partial(score_part, job), parts, workers, window=4 * workers)


def _dask_map(job: Job, parts, workers: int, scheduler: str | None = None) -> Iterator[dict]:
    """The same parts on a Dask cluster: the one at ``scheduler``, or a local one of ``workers`` processes."""
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise StanceError("{engine} needs Dask: pip install 'stance[dask]'", engine="dask") from None
    import logging
    cluster = None if scheduler else LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                  dashboard_address=None, silence_logs=logging.ERROR)
    try:
        with Client(scheduler or cluster) as client:
            window = 2 * max(1, sum(client.nthreads().values()))
            running = as_completed()
            for part in parts:
                running.add(client.submit(score_part, job, part, pure=False))
                if running.count() >= window:
                    yield next(running).result()
            for future in running:
                yield future.result()
    finally:
        if cluster is not None:
            cluster.close()


_loaded: dict[str, object] = {}


def _model(job: Job):
    """The run's model, once per worker process (checked against its manifest when loaded here;
    :func:`score` hands forked workers its own, backend already set), its encoders given the
    job's share of the cores."""
    key = _model_key(job)
    if key not in _loaded:
        _loaded[key] = _run_as(load_run(job.run_path, check_schema=False, prefer_portable=True).model, job)
    encoders.threads = job.threads
    return _loaded[key]


def _model_key(job: Job) -> tuple:
    return job.run_path, job.backend, job.recheck


def _run_as(model, job: Job, prepare: bool = False):
    """``model`` with its encoders on the job's backend, near-ties re-predicted or not (so that
    ``prepare`` exports the float32 encoder only when near-ties need it)."""
    if not job.recheck and model.encoders():
        model.recheck = None
    model.use_backend(job.backend, prepare)
    return model


def score_part(job: Job, part: tuple[int, Chunk | SentenceChunk]) -> dict:
    """Score one chunk and write it as part ``index``; returns its counts (runs in a worker)."""
    index, chunk = part
    if isinstance(chunk, SentenceChunk):
        read, rejects, sentences = _clean_sentences(chunk)
        texts = sentences.column("text").to_pylist()
        origins = None
    else:
        result = process_chunk(chunk, job.fields, job.max_chars, job.max_sentence_chars, corpus=False)
        read, rejects, sentences, texts = result.read, result.rejects, result.sentences, result.texts
        sentences, texts, origins = _first_of_each_id(result, rejects)
        sentences = sentences.append_column("cluster_id", pa.nulls(sentences.num_rows, pa.string()))
    model = _model(job)
    with nullcontext() if job.cache_vectors else uncached():
        sentences, best, rechecked = _with_predictions(sentences, texts, model)
    articles = _article_sums(sentences, model.labels, best, origins, chunk)
    parts = Path(job.parts)
    _write_atomic(parts / f"sentences-{index:06d}.{job.format}",
                  lambda p: write_table(sentences, p, job.format, header=index == 0))
    _write_atomic(parts / f"articles-{index:06d}.parquet", lambda p: pq.write_table(articles, p))
    _write_atomic(parts / f"rejects-{index:06d}.jsonl",
                  lambda p: Path(p).write_text("".join(reject_line(r) for r in rejects), encoding="utf-8"))
    scored = read - len(rejects) if not isinstance(chunk, SentenceChunk) else sentences.num_rows
    counts = {"read": read, "scored": scored, "rejected": len(rejects), "sentences": sentences.num_rows,
              "articles": articles.num_rows,
              "rechecked": rechecked, "source": chunk.path,
              "presplit": isinstance(chunk, SentenceChunk)}
    _write_atomic(parts / f"done-{index:06d}.json", lambda p: Path(p).write_text(json.dumps(counts)))
    return counts


def _first_of_each_id(result, rejects: list[Rejected]) -> tuple[pa.Table, list[str], dict[str, str]]:
    """Within one chunk, the first article with an id is scored and later ones are rejected;
    returns the kept sentences, their texts, and each kept article's origin."""
    ids = result.articles.column("article_id").to_pylist()
    origins = result.articles.column("origin").to_pylist()
    kept: dict[str, str] = {}
    for row, (article_id, origin) in enumerate(zip(ids, origins)):
        if article_id in kept:
            rejects.append(Rejected(origin, f"article id {article_id!r} was already used by an earlier article "
                                            f"({kept[article_id]}); ids must be unique, the first is scored",
                                    field="id", raw=result.articles.slice(row, 1).to_pylist()[0]))
        else:
            kept[article_id] = origin
    if len(kept) == len(ids):
        return result.sentences, result.texts, kept
    # sentences of one article are contiguous, in article order, and each article's start at index 0:
    # keep the sentences of each id's first article
    sentence_ids = result.sentences.column("article_id").to_pylist()
    starts = result.sentences.column("index").to_pylist()
    keep, seen, first = [], set(), True
    for article_id, position in zip(sentence_ids, starts):
        if position == 0:
            first = article_id not in seen
            seen.add(article_id)
        keep.append(first)
    mask = pa.array(keep)
    return result.sentences.filter(mask), [t for t, k in zip(result.texts, keep) if k], kept


def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    write(tmp)
    os.replace(tmp, path)


def _clean_sentences(chunk: SentenceChunk) -> tuple[int, list[Rejected], pa.Table]:
    """Rows with text are kept (ids filled in where missing); the others are rejected by row: no text,
    a repeated sentence id, over ``MAX_RECORD_BYTES`` of text (its cells are not kept in the reject),
    or in a row group refused unread."""
    table = chunk.table
    text = table.column("text")
    has_text = pc.fill_null(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(text)), 0), False)
    ok = has_text.to_numpy(zero_copy_only=False).copy()
    sizes = record_sizes(table)
    repeated = np.zeros(len(ok), dtype=bool)
    repeated[list(chunk.repeats)] = True
    ok &= ~repeated & (sizes <= MAX_RECORD_BYTES)
    rejects = [Rejected(f"{chunk.path}: row {chunk.first_row + i + 1}", chunk.refused)
               for i in range(chunk.refused_rows)]
    for i in np.flatnonzero(~ok):
        where = f"{chunk.path}: row {chunk.first_row + i + 1}"
        if sizes[i] > MAX_RECORD_BYTES:
            rejects.append(Rejected(where, oversized(sizes[i]), field="text"))
        else:
            rejects.append(Rejected(where, "sentence id already scored from an earlier row; the first is scored"
                                    if repeated[i] else "sentence has no text",
                                    field="sentence_id" if repeated[i] else "text",
                                    raw=table.slice(i, 1).to_pylist()[0]))
    table = table.filter(pa.array(ok))
    if "article_id" not in table.column_names:
        table = table.append_column("article_id", table.column("sentence_id"))
    for name in CARRIED:
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(table.num_rows, pa.string()))
    return chunk.table.num_rows + chunk.refused_rows, rejects, table


def _with_predictions(sentences: pa.Table, texts: list[str], model
                      ) -> tuple[pa.Table, dict[str, np.ndarray], int]:
    """The sentences with each dimension's label and class probabilities (predicted from ``texts``,
    their text column as Python strings); also the label indices, and how many near-ties were
    predicted again in float32."""
    proba, rechecked = model.predict_proba_rechecked(texts)
    best = {}
    for dim, names in model.labels.items():
        p = proba[dim].astype(np.float32)
        best[dim] = p.argmax(axis=1) if len(p) else np.zeros(0, dtype=np.int64)
        sentences = sentences.append_column(dim, pa.array(names, pa.string()).take(pa.array(best[dim])))
        for c, name in enumerate(names):
            sentences = sentences.append_column(f"{dim}_p_{name}", pa.array(p[:, c]))
    return sentences, best, rechecked


def _article_sums(sentences: pa.Table, labels: dict[str, list[str]], best: dict[str, np.ndarray],
                  origins: dict[str, str] | None = None, chunk=None) -> pa.Table:
    """Per run of one article's sentences: where it came from, the count, class counts and probability sums.

    Sums, not means, so that an article split over two parts merges exactly.
    """
    if sentences.num_rows == 0:
        return _empty_sums(labels)
    ids = sentences.column("article_id").combine_chunks()
    changed = pc.not_equal(ids.slice(1), ids.slice(0, len(ids) - 1)).to_numpy(zero_copy_only=False)
    starts = np.r_[0, np.flatnonzero(changed) + 1]
    first = sentences.take(pa.array(starts))
    run_ids = first.column("article_id").to_pylist()
    origin = ([origins.get(a, "") for a in run_ids] if origins is not None
              else [f"{chunk.path}: row {chunk.first_row + int(s) + 1}" for s in starts] if chunk is not None
              else [""] * len(starts))
    columns = {"article_id": first.column("article_id"), **{name: first.column(name) for name in CARRIED},
               "origin": pa.array(origin, pa.string()),
               "sentences": pa.array(np.diff(np.r_[starts, len(ids)]), pa.int64())}
    for dim, names in labels.items():
        counts = np.add.reduceat(np.eye(len(names), dtype=np.int64)[best[dim]], starts, axis=0)
        for c, name in enumerate(names):
            columns[f"{dim}_n_{name}"] = pa.array(counts[:, c])
        for name in names:
            p = sentences.column(f"{dim}_p_{name}").to_numpy().astype(np.float64)
            columns[f"{dim}_sum_p_{name}"] = pa.array(np.add.reduceat(p, starts))
    return pa.table(columns)


def _empty_sums(labels: dict[str, list[str]]) -> pa.Table:
    fields = [("article_id", pa.string()), *((m, pa.string()) for m in CARRIED), ("origin", pa.string()),
              ("sentences", pa.int64())]
    for dim, names in labels.items():
        fields += [(f"{dim}_n_{n}", pa.int64()) for n in names]
        fields += [(f"{dim}_sum_p_{n}", pa.float64()) for n in names]
    return pa.schema(fields).empty_table()


def _reject_repeated_ids(parts: Path, format: str) -> None:
    """Across parts, the first article with an id is kept and later ones are taken out of their part
    and rejected with the reason. Parts of pre-split sentence tables are left alone: there the unit is
    the sentence (repeated sentence ids were rejected as the table was read), and an article's
    sentences may lie anywhere in the table. Runs when every part is done, before the merge."""
    _finish_drops(parts)  # a resume after a kill mid-drop
    seen: set[str] = set()
    for done_path in sorted(parts.glob("done-*.json")):
        index = int(done_path.stem.split("-")[1])
        done = json.loads(done_path.read_text(encoding="utf-8"))
        if done.get("presplit"):
            continue
        sums = pq.read_table(parts / f"articles-{index:06d}.parquet")
        ids = sums.column("article_id").to_pylist()
        repeated = []
        for run, article_id in enumerate(ids):
            if article_id in seen:
                repeated.append(run)
            seen.add(article_id)
        if repeated:
            _drop_runs(parts, index, sums, repeated, format, done)


def _drop_runs(parts: Path, index: int, sums: pa.Table, runs: list[int], format: str, done: dict) -> None:
    """Take the articles at ``runs`` out of part ``index``. Its four files (sentences, article sums,
    rejects, counts) are written beside the part first, then a list of the moves, then moved: a
    kill at any point leaves the part as it was or a list that :func:`_finish_drops` completes."""
    sizes = sums.column("sentences").to_numpy()
    ends = np.cumsum(sizes)
    keep_rows = np.ones(int(ends[-1]), dtype=bool)
    for run in runs:
        keep_rows[ends[run] - sizes[run]:ends[run]] = False
    staged = {name: f".drop-{index:06d}-{name}" for name in (f"sentences-{index:06d}.{format}",
                                                            f"articles-{index:06d}.parquet",
                                                            f"rejects-{index:06d}.jsonl", f"done-{index:06d}.json")}
    sentences, articles, rejects, counts = (parts / name for name in staged.values())
    path = parts / f"sentences-{index:06d}.{format}"
    if format == "parquet":
        pq.write_table(pq.read_table(path).filter(pa.array(keep_rows)), sentences)
    else:
        _filter_lines(path, sentences, keep_rows, header=format == "csv" and index == 0, csv_rows=format == "csv")
    kept = np.ones(sums.num_rows, dtype=bool)
    kept[runs] = False
    pq.write_table(sums.filter(pa.array(kept)), articles)
    records = sums.take(pa.array(runs)).select(["article_id", "origin", *CARRIED]).to_pylist()
    shutil.copyfile(parts / f"rejects-{index:06d}.jsonl", rejects)
    with open(rejects, "a", encoding="utf-8") as fh:
        for record in records:
            fh.write(reject_line(Rejected(record["origin"], f"article id {record['article_id']!r} was already "
                                                            "scored from an earlier input; ids must be unique, "
                                                            "the first is scored", field="id", raw=record)))
    done = {**done, "rejected": done["rejected"] + len(runs), "scored": done["scored"] - len(runs),
            "sentences": done["sentences"] - int(sizes[runs].sum())}
    counts.write_text(json.dumps(done), encoding="utf-8")
    moves = parts / f".drop-{index:06d}.moves"
    _write_atomic(moves, lambda p: Path(p).write_text(json.dumps(staged), encoding="utf-8"))
    _finish_drops(parts)


def _finish_drops(parts: Path) -> None:
    """Complete the drops whose files were all written (their list of moves exists), and forget those
    cut off before (their staged files go; the drop is worked out again from the part as it was)."""
    for moves in sorted(parts.glob(".drop-*.moves")):
        for final, staged in json.loads(moves.read_text(encoding="utf-8")).items():
            if (parts / staged).exists():
                os.replace(parts / staged, parts / final)
        moves.unlink()
    for stale in parts.glob(".drop-*"):
        stale.unlink()


def _filter_lines(source: Path, target, keep_rows: np.ndarray, header: bool, csv_rows: bool) -> None:
    """Rows of a JSON lines or CSV part, without the dropped ones (CSV through its own reader and writer,
    which keep quoted line breaks inside a row)."""
    import csv
    with open(source, encoding="utf-8", newline="") as fh, open(target, "w", encoding="utf-8", newline="") as out:
        if not csv_rows:
            out.writelines(line for line, keep in zip(fh, keep_rows) if keep)
            return
        reader, writer = csv.reader(fh), csv.writer(out)
        if header:
            writer.writerow(next(reader))
        writer.writerows(row for row, keep in zip(reader, keep_rows) if keep)


def article_scores(sums: pa.Table, labels: dict[str, list[str]]) -> pa.Table:
    """Per article: sentence count, class shares and mean probabilities, and the net score."""
    if sums.num_rows and len(set(sums.column("article_id").to_pylist())) < sums.num_rows:
        aggregations = [(m, "first") for m in (*CARRIED, "origin")]
        aggregations += [(c, "sum") for c in sums.column_names if c not in ("article_id", "origin", *CARRIED)]
        grouped = sums.group_by("article_id", use_threads=False).aggregate(aggregations)
        sums = grouped.rename_columns([c.rsplit("_first", 1)[0] if c.endswith("_first") else
                                       c.rsplit("_sum", 1)[0] if c.endswith("_sum") else c
                                       for c in grouped.column_names])
    n = sums.column("sentences").to_numpy().astype(np.float64)
    columns = {"article_id": sums.column("article_id"), **{m: sums.column(m) for m in CARRIED},
               "wire": _wire(sums.column("cluster_id")),
               "origin": sums.column("origin"), "sentences": sums.column("sentences")}
    for dim, names in labels.items():
        for name in names:
            columns[f"{dim}_share_{name}"] = pa.array(sums.column(f"{dim}_n_{name}").to_numpy() / n)
        for name in names:
            columns[f"{dim}_mean_p_{name}"] = pa.array(sums.column(f"{dim}_sum_p_{name}").to_numpy() / n)
    dim, high, low = NET_SCORE
    if dim in labels and high in labels[dim] and low in labels[dim]:
        columns[f"net_{high}"] = pa.array(columns[f"{dim}_mean_p_{high}"].to_numpy()
                                          - columns[f"{dim}_mean_p_{low}"].to_numpy())
    return pa.table(columns)


def _wire(clusters: pa.ChunkedArray) -> pa.Array:
    """Whether each article's story runs in more than one article (wire copy); null where the
    input had no clusters (a corpus built with `--near-duplicates keep`, or raw articles)."""
    clusters = clusters.combine_chunks() if isinstance(clusters, pa.ChunkedArray) else clusters
    if len(clusters) == 0 or clusters.null_count == len(clusters):
        return pa.nulls(len(clusters), pa.bool_())
    counts = pc.value_counts(clusters)
    sizes = pc.take(counts.field("counts"), pc.index_in(clusters, counts.field("values")))
    return pc.greater(sizes, 1)


def _merge(out: Path, run, format: str) -> tuple[dict[str, str], int]:
    """Parts, in order, into the final files: sentence parts are moved (parquet) or
    concatenated (jsonl, csv), never re-encoded; article sums become article scores.
    Returns the files and the number of articles."""
    parts = out / "parts"
    indexes = sorted(int(p.stem.split("-")[1]) for p in parts.glob("done-*.json"))
    sentences = out / f"sentences.{format}"
    if format == "parquet" and not sentences.is_dir():  # a merge cut off after the rename left it whole
        # Parts move one by one into staging, then staging becomes the sentences directory. A merge
        # cut off midway leaves some parts here and some there; a resume moves the rest.
        staging = out / ".sentences.parquet.tmp"
        staging.mkdir(exist_ok=True)
        for i in indexes:
            part, moved = parts / f"sentences-{i:06d}.parquet", staging / f"part-{i:06d}.parquet"
            if part.is_file():
                os.replace(part, moved)
            elif not moved.is_file():
                raise StanceError(f"{part}: the sentences of a finished part are gone; start again with "
                                  "{overwrite}", overwrite=True)
        os.replace(staging, sentences)
    elif format != "parquet":
        _concatenate([parts / f"sentences-{i:06d}.{format}" for i in indexes], sentences)
    sums = pa.concat_tables([pq.read_table(parts / f"articles-{i:06d}.parquet") for i in indexes]) \
        if indexes else _empty_sums(run.labels)
    articles = article_scores(sums, run.labels)
    _write_atomic(out / f"articles.{format}", lambda p: write_table(articles, p, format))
    _concatenate([parts / f"rejects-{i:06d}.jsonl" for i in indexes], out / "rejects.jsonl")
    return {"sentences": str(sentences), "articles": str(out / f"articles.{format}"),
            "rejects": str(out / "rejects.jsonl")}, articles.num_rows


def _concatenate(files: list[Path], target: Path) -> None:
    tmp = target.with_name(f".{target.name}.tmp")
    with open(tmp, "wb") as fh:
        for path in files:
            with open(path, "rb") as part:
                shutil.copyfileobj(part, fh)
    os.replace(tmp, target)


def write_table(table: pa.Table, path, format: str, header: bool = True) -> None:
    """One table as parquet, csv (``header`` only for the first part) or JSON lines."""
    if format == "parquet":
        pq.write_table(table, path)
    elif format == "csv":
        pacsv.write_csv(table, path, pacsv.WriteOptions(include_header=header))
    else:
        with open(path, "w", encoding="utf-8") as fh:
            for row in table.to_pylist():
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
