"""``labels import``: labels made elsewhere into the same dataset format as ``labels pull``.

Two kinds of file: a Label Studio JSON export (a list of tasks with their
annotations), or a table of labelled sentences (JSONL, CSV, parquet) from any
other tool, one row per sentence and annotator.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from stance.ingest.corpus import RejectLog, content_id
from stance.errors import StanceError
from stance.progress import progress_bar
from stance.labels.agreement import agreement
from stance.labels.dataset import (BASE_COLUMNS, Annotation, Sentence, choice_name, dimension_columns,
                                   write_dataset, write_summary)
from stance.labels.pull import parse_annotations
from stance.ingest.records import Rejected
from stance.ingest.readers import read_records
from stance.schema import Schema, load_schema


@dataclass
class ImportResult:
    out: Path
    kind: str
    sentences: int
    annotations: int
    agreement: dict
    rejected: int = 0

    def __str__(self) -> str:
        rejected = (f"; {self.rejected:,} rows rejected, with the reason, in {self.out / REJECTS_FILE}"
                    if self.rejected else "")
        return (f"imported {self.annotations:,} annotations of {self.sentences:,} sentences "
                f"from a {self.kind} into {self.out}{rejected}")


#: Rows that carry no sentence (no text, an unreadable line, an id the corpus lacks), with the reason.
REJECTS_FILE = "rejects.jsonl"


def import_labels(path: str | Path, out: str | Path, *, text_field: str = "text",
                  labels: dict[str, str] | None = None, id_field: str | None = None,
                  article_field: str | None = None, annotator_field: str | None = None,
                  value_map: dict[str, dict[str, str]] | None = None, corpus: str | Path | None = None,
                  keep: list[str] | None = None, schema: Schema | None = None,
                  progress: bool = False) -> ImportResult:
    """Import ``path`` into the dataset at ``out``.

    ``labels`` maps each dimension to the field (or, in a Label Studio export, the
    control tag name) holding it; by default a dimension is read from the field of
    its own name. ``value_map`` renames values, per dimension, before they are checked
    against the schema's choices; a value mapped to ``""`` is dropped (left unlabelled).
    With ``corpus`` (a ``corpus build`` directory), rows may carry only a sentence id:
    text and article id come from the corpus. ``keep`` names fields of a table to keep as
    columns of the dataset (an event, to group cross-validation folds by: ``cv.group_by``).
    A row with no sentence (empty text, an unreadable line, an id the corpus lacks) goes to
    ``out/rejects.jsonl`` with the reason, and the rest is imported.
    """
    schema = schema or load_schema()
    path = Path(path)
    labels = labels or {}
    for dim in labels:
        schema.dimension(dim)  # an unknown dimension is an error that lists the known ones
    value_map = value_map or {}
    keep = list(keep or [])
    taken = sorted(set(keep) & (set(BASE_COLUMNS) | dimension_columns(schema)))
    if taken:
        raise StanceError(f"{{keep}}: {taken[0]!r} is a column the dataset has already", keep=taken[0])
    rejects: list[Rejected] = []
    with progress_bar(f"import {path.name}", None, enabled=progress, status="{records:,} records read",
                      records=0) as bar:
        if _is_label_studio_export(path):
            if keep:
                raise StanceError("{keep} reads fields of a table, not of a Label Studio export", keep=keep[0])
            kind = "Label Studio export"
            sentences = _from_export(path, text_field, labels, id_field, article_field, value_map, schema, bar)
        else:
            kind = "table"
            known = _corpus_sentences(corpus) if corpus else None
            sentences = _from_table(path, text_field, labels, id_field or ("sentence_id" if known else None),
                                    article_field, annotator_field, value_map, schema, known, bar, rejects, keep)
    annotations = [a for s in sentences for a in s.annotations]
    write_dataset(sentences, schema, out)
    log = RejectLog(Path(out) / REJECTS_FILE, show=progress)
    for rejected in rejects:
        log.add(rejected)
    log.close()
    report = agreement(annotations, schema, (s.sentence_id for s in sentences))
    write_summary(out, {"source": str(path), "kind": kind,
                        "imported_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                        "counts": {"sentences": len(sentences), "annotations": len(annotations),
                                   "rejected": len(rejects)},
                        "schema": schema.to_dict(), "agreement": report})
    return ImportResult(Path(out), kind, len(sentences), sum(not a.cancelled for a in annotations), report,
                        len(rejects))


def _is_label_studio_export(path: Path) -> bool:
    if not path.name.lower().endswith(".json"):
        return False
    with open(path, encoding="utf-8") as fh:
        head = fh.read(4096).lstrip()
    return head.startswith("[") and ('"annotations"' in head or head.startswith("[]"))


def _mapped(value: str, dim: str, value_map: dict[str, dict[str, str]]) -> str:
    """The value renamed by ``value_map``; ``""`` where it maps the value to nothing."""
    return value_map.get(dim, {}).get(str(value), str(value))


def _from_export(path: Path, text_field: str, labels: dict[str, str], id_field: str | None,
                 article_field: str | None, value_map: dict, schema: Schema, bar) -> list[Sentence]:
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StanceError(f"{path}: not a readable Label Studio JSON export ({exc})") from None
    tag_to_dim = {tag: dim for dim, tag in labels.items()}
    sentences = []
    for n, task in enumerate(tasks):
        data = task.get("data") or {}
        where = f"{path}: task {task.get('id', n)}"
        if text_field not in data:
            raise StanceError(f"{where}: no {text_field!r} in its data (fields: {', '.join(data)}); "
                              "name the field that holds the text with {text_field}", text_field=...)
        sentence_id = str(data.get(id_field or "sentence_id") or task.get("id") or content_id(data[text_field]))
        for ann in task.get("annotations") or []:
            for item in ann.get("result") or []:
                dim = tag_to_dim.get(item.get("from_name"), item.get("from_name"))
                item["from_name"] = dim
                choices = (item.get("value") or {}).get("choices")
                if choices:
                    item["value"]["choices"] = [m for c in choices if (m := _mapped(c, dim, value_map))]
        sentence = Sentence(sentence_id, str(data.get(article_field or "article_id") or ""), data[text_field],
                            cluster_id=str(data.get("cluster_id") or ""))
        sentence.annotations = parse_annotations(task.get("annotations") or [], sentence_id, task.get("id"),
                                                 schema, {}, where)
        sentences.append(sentence)
        if n % 1000 == 999:
            bar.update(records=n + 1)
    bar.update(records=len(tasks))
    return sentences


def _corpus_sentences(corpus: str | Path) -> dict[str, tuple[str, str, str]]:
    """sentence_id -> (article_id, text, cluster_id) from a corpus directory."""
    path = Path(corpus) / "sentences.parquet"
    if not path.is_file():
        raise StanceError(f"{corpus}: no sentences.parquet; is it a directory written by `stance corpus build`?")
    table = pq.read_table(path).to_pydict()
    clusters = table.get("cluster_id") or table["article_id"]  # corpora from before clusters
    return dict(zip(table["sentence_id"], zip(table["article_id"], table["text"], clusters)))


def _from_table(path: Path, text_field: str, labels: dict[str, str], id_field: str | None,
                article_field: str | None, annotator_field: str | None, value_map: dict,
                schema: Schema, known: dict[str, tuple[str, str]] | None, bar,
                rejects: list[Rejected], keep: list[str]) -> list[Sentence]:
    fields = {dim.name: labels.get(dim.name, dim.name) for dim in schema.dimensions}
    by_id: dict[str, Sentence] = {}
    seen_label_field = set()
    for n, record in enumerate(read_records(path), 1):
        if n % 1000 == 0:
            bar.update(records=n)
        if isinstance(record, Rejected):
            rejects.append(record)
            continue
        row, where = record.fields, record.origin
        if known is not None:
            sid = row.get(id_field)
            if sid not in known:
                rejects.append(Rejected(where, f"sentence id {sid!r} is not in the corpus", id_field, row))
                continue
            row = {"article_id": known[sid][0], text_field: known[sid][1], "cluster_id": known[sid][2], **row}
            article_field = article_field or "article_id"
        text = row.get(text_field)
        if text_field not in row:
            raise StanceError(f"{where}: no field {text_field!r} (fields: {', '.join(map(str, row))}); "
                              "name the field that holds the text with {text_field}", text_field=...)
        if not isinstance(text, str) or not text.strip():
            rejects.append(Rejected(where, "empty sentence text", text_field, row))
            continue
        sentence_id = str(row.get(id_field)) if id_field and row.get(id_field) is not None else content_id(text)
        sentence = by_id.setdefault(sentence_id, Sentence(
            sentence_id, str(row.get(article_field) or "") if article_field else "", text,
            cluster_id=str(row.get("cluster_id") or ""),
            fields={name: str(row[name]) for name in keep if row.get(name) not in (None, "")}))
        found = {}
        for dim, field in fields.items():
            value = row.get(field)
            if field in row:
                seen_label_field.add(dim)
            if value is None or value == "" or not (value := _mapped(value, dim, value_map)):
                continue
            found[dim] = choice_name(schema.dimension(dim), value, f"{where}, field {field!r}")
        annotator = str(row.get(annotator_field)) if annotator_field else f"{path.name}#{len(sentence.annotations) + 1}"
        sentence.annotations.append(Annotation(sentence_id, annotator, found))
    missing = [f"{dim}={fields[dim]}" for dim in labels if dim not in seen_label_field]
    if missing:
        raise StanceError(f"{path}: no record has the label field(s) {', '.join(missing)}")
    if not by_id and rejects:
        raise StanceError(f"{path}: every row was rejected; the first: {rejects[0].origin}: {rejects[0].reason}")
    if not seen_label_field:
        raise StanceError(f"{path}: no field holds any dimension ({', '.join(fields.values())}); "
                          "map each dimension to its field with {labels}", labels="DIM=FIELD")
    return list(by_id.values())
