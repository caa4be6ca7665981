"""The labelled dataset: raw annotations in, one resolved row per sentence out.

Resolution, per sentence and dimension, over annotations that were not cancelled:
a ground-truth annotation wins; otherwise one annotator is ``single``, all alike is
``unanimous``, a strict plurality is ``majority``, and a tie for the top is kept as
``tie`` with label -1. Sentences nobody labelled are kept as ``unlabelled``.
Training skips ties and unlabelled rows; nothing is dropped here.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from stance.errors import StanceError
from stance.schema import Schema

STATUSES = ("single", "unanimous", "majority", "tie", "ground_truth", "unlabelled")
ANNOTATIONS_FILE = "annotations.parquet"


@dataclass
class Annotation:
    """One annotator's labels for one sentence (``labels`` maps dimension -> choice name)."""

    sentence_id: str
    annotator: str
    labels: dict[str, str]
    ground_truth: bool = False
    cancelled: bool = False
    task_id: int | None = None
    annotation_id: int | None = None
    updated_at: str | None = None


@dataclass
class Sentence:
    sentence_id: str
    article_id: str
    text: str
    annotations: list[Annotation] = field(default_factory=list)
    cluster_id: str = ""  # the article's near-duplicate cluster, where the corpus found one
    fields: dict[str, str] = field(default_factory=dict)  # other fields kept with it (an event, an outlet)


def choice_name(dim, value: str, where: str) -> str:
    """Map a stored value (the choice name, or its label as older configs saved it) to the name."""
    if value in dim.names:
        return value
    for choice in dim.choices:
        if value == choice.label:
            return choice.name
    raise StanceError(f"{where}: {value!r} is not a choice of {dim.name!r}; allowed: {', '.join(dim.names)}")


def resolve(values: list[str], ground_truth: list[str]) -> tuple[str | None, str]:
    """The label and status for one dimension of one sentence."""
    if ground_truth:
        return ground_truth[-1], "ground_truth"
    if not values:
        return None, "unlabelled"
    if len(values) == 1:
        return values[0], "single"
    counts = Counter(values).most_common()
    if len(counts) == 1:
        return counts[0][0], "unanimous"
    if counts[0][1] > counts[1][1]:
        return counts[0][0], "majority"
    return None, "tie"


#: Columns every labelled dataset has, beside the dimensions' and any kept fields.
BASE_COLUMNS = ("sentence_id", "article_id", "cluster_id", "text")


def features(schema: Schema, kept: tuple[str, ...] = ()) -> datasets.Features:
    columns = {name: datasets.Value("string") for name in (*BASE_COLUMNS, *kept)}
    for dim in schema.dimensions:
        columns[dim.name] = datasets.ClassLabel(names=dim.names)
        columns[f"{dim.name}_n"] = datasets.Value("int32")
        columns[f"{dim.name}_status"] = datasets.Value("string")
    return datasets.Features(columns)


def kept_fields(sentences: list[Sentence]) -> tuple[str, ...]:
    return tuple(sorted({name for s in sentences for name in s.fields}))


def build_rows(sentences: list[Sentence], schema: Schema) -> dict[str, list]:
    """Dataset columns: one row per sentence, each dimension resolved."""
    kept = kept_fields(sentences)
    rows: dict[str, list] = {name: [] for name in features(schema, kept)}
    for sentence in sentences:
        rows["sentence_id"].append(sentence.sentence_id)
        rows["article_id"].append(sentence.article_id)
        rows["cluster_id"].append(sentence.cluster_id or sentence.article_id)
        rows["text"].append(sentence.text)
        for name in kept:
            rows[name].append(sentence.fields.get(name))
        live = [a for a in sentence.annotations if not a.cancelled]
        for dim in schema.dimensions:
            values = [a.labels[dim.name] for a in live if dim.name in a.labels]
            truth = [a.labels[dim.name] for a in live if a.ground_truth and dim.name in a.labels]
            label, status = resolve(values, truth)
            rows[dim.name].append(dim.index(label) if label is not None else -1)
            rows[f"{dim.name}_n"].append(len(values))
            rows[f"{dim.name}_status"].append(status)
    return rows


def write_dataset(sentences: list[Sentence], schema: Schema, out: str | Path) -> datasets.Dataset:
    """Save the resolved dataset to ``out`` (``datasets.load_from_disk(out)`` opens it) and
    the raw annotations beside it, replacing an earlier dataset there."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    feats = features(schema, kept_fields(sentences))
    # built from Arrow columns: from_dict would encode every example in Python
    table = pa.table({name: pa.array(values, type=feats[name].pa_type)
                      for name, values in build_rows(sentences, schema).items()})
    dataset = datasets.Dataset(table, info=datasets.DatasetInfo(features=feats))
    staging = out / ".staging"
    shutil.rmtree(staging, ignore_errors=True)
    with _datasets_quiet():
        dataset.save_to_disk(str(staging))
    for old in out.glob("data-*.arrow"):
        old.unlink()
    for item in staging.iterdir():
        item.replace(out / item.name)
    staging.rmdir()
    pq.write_table(annotations_table(sentences, schema), out / ANNOTATIONS_FILE)
    return dataset


@contextmanager
def _datasets_quiet():
    """Silence the datasets library's own progress bars for one call, then restore them."""
    was_disabled = datasets.utils.are_progress_bars_disabled()
    datasets.utils.disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            datasets.utils.enable_progress_bars()


def annotations_table(sentences: list[Sentence], schema: Schema) -> pa.Table:
    """Every raw annotation (cancelled ones too), for agreement and for the next incremental pull."""
    rows = []
    for s in sentences:
        for a in s.annotations:
            rows.append({"sentence_id": s.sentence_id, "article_id": s.article_id, "task_id": a.task_id,
                         "annotation_id": a.annotation_id, "annotator": a.annotator,
                         "ground_truth": a.ground_truth, "cancelled": a.cancelled, "updated_at": a.updated_at,
                         **{d.name: a.labels.get(d.name) for d in schema.dimensions}})
    columns = [("sentence_id", pa.string()), ("article_id", pa.string()), ("task_id", pa.int64()),
               ("annotation_id", pa.int64()), ("annotator", pa.string()), ("ground_truth", pa.bool_()),
               ("cancelled", pa.bool_()), ("updated_at", pa.string())]
    columns += [(d.name, pa.string()) for d in schema.dimensions]
    return pa.Table.from_pylist(rows, schema=pa.schema(columns))


def read_annotations(out: str | Path, schema: Schema) -> list[Annotation]:
    path = Path(out) / ANNOTATIONS_FILE
    if not path.is_file():
        raise StanceError(f"{out} holds no {ANNOTATIONS_FILE}; is it a dataset written by `stance labels pull`?")
    result = []
    for row in pq.read_table(path).to_pylist():
        labels = {d.name: row[d.name] for d in schema.dimensions if row.get(d.name) is not None}
        result.append(Annotation(row["sentence_id"], row["annotator"], labels, row["ground_truth"],
                                 row["cancelled"], row["task_id"], row["annotation_id"], row["updated_at"]))
    return result


def load_labelled(path: str | Path, schema: Schema | None = None) -> datasets.Dataset:
    """Open a labelled dataset; with ``schema``, refuse one whose dimensions or choices differ."""
    path = Path(path)
    try:
        dataset = datasets.load_from_disk(str(path))
    except FileNotFoundError:
        raise StanceError(f"{path}: no labelled dataset here (make one with `stance labels pull` or "
                          "`stance labels import`)") from None
    except IndexError:  # datasets cannot open a dataset saved with no rows (no shards)
        raise StanceError(f"{path}: the labelled dataset has no rows") from None
    if schema is not None:
        for dim in schema.dimensions:
            feature = dataset.features.get(dim.name)
            if feature is not None and list(feature.names) != dim.names:
                raise StanceError(f"{path}: dimension {dim.name!r} has choices {feature.names}, "
                                  f"the schema has {dim.names}")
    return dataset


def write_summary(out: str | Path, summary: dict) -> None:
    (Path(out) / "pull.json").write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")


@dataclass
class LabelledData:
    """A labelled dataset as arrays, with the per-dimension labels (-1: unresolved)."""

    path: Path
    sentence_ids: np.ndarray
    article_ids: np.ndarray
    texts: np.ndarray
    labels: dict[str, np.ndarray]
    statuses: dict[str, np.ndarray]
    cluster_ids: np.ndarray  # near-duplicate clusters of the articles (the article ids where none is known)
    fields: dict[str, np.ndarray] = field(default_factory=dict)  # kept fields (``labels import --keep``)
    group_by: str | None = None  # a kept field whose values cross-validation keeps together

    @cached_property
    def groups(self) -> np.ndarray:
        """What cross-validation keeps on one side: a near-duplicate cluster of articles (or the
        value of the field ``group_by``), joined with every other one that has a sentence of the
        same text (case and spacing aside), so that no wire sentence is both trained on and tested."""
        return self.grouped_by(self.group_by)

    def grouped_by(self, name: str | None) -> np.ndarray:
        """:attr:`groups` starting from the values of the kept field ``name`` (an event, say: three
        outlets' articles on one event share facts and quotes) instead of the clusters."""
        if name is None:
            keys = self.cluster_ids
        elif name in self.fields:
            keys = np.asarray(["" if v is None else str(v) for v in self.fields[name]], dtype=object)
        else:
            raise StanceError(f"{self.path}: no field {name!r} to group folds by; the dataset keeps "
                              f"{', '.join(self.fields) or 'no other fields'} (keep one with `labels import --keep`)")
        parent: dict[str, str] = {}

        def root(key: str) -> str:
            parent.setdefault(key, key)
            while parent[key] != key:
                parent[key] = parent[parent[key]]
                key = parent[key]
            return key

        first_cluster: dict[str, str] = {}
        for cluster, text in zip(keys, self.texts):
            key = " ".join(str(text).lower().split())
            other = first_cluster.setdefault(key, cluster)
            a, b = root("c" + cluster), root("c" + other)
            if a != b:
                parent[max(a, b)] = min(a, b)
        return np.asarray([root("c" + c)[1:] for c in keys], dtype=object)

    @property
    def hash(self) -> str:
        """Content hash: same sentences and labels, same hash, wherever the files live."""
        digest = hashlib.sha256()
        for i in range(len(self.sentence_ids)):
            digest.update(f"{self.sentence_ids[i]}\x1f{self.texts[i]}\x1e".encode("utf-8", "surrogatepass"))
        for dim in sorted(self.labels):
            digest.update(dim.encode() + self.labels[dim].astype(np.int64).tobytes())
        return digest.hexdigest()[:16]


def read_labelled(path: str | Path, schema: Schema, group_by: str | None = None) -> LabelledData:
    """The dataset at ``path`` as arrays; ``group_by`` names a kept field that folds keep together."""
    dataset = load_labelled(path, schema)
    table = dataset.data.table
    dims = [d.name for d in schema.dimensions if d.name in dataset.column_names]
    if not dims:
        raise StanceError(f"{path}: carries none of the schema's dimensions ({', '.join(schema.names)})")
    article_ids = np.asarray(table.column("article_id").to_pylist(), dtype=object)
    return LabelledData(
        Path(path),
        np.asarray(table.column("sentence_id").to_pylist(), dtype=object),
        article_ids,
        np.asarray(table.column("text").to_pylist(), dtype=object),
        {d: table.column(d).to_numpy(zero_copy_only=False).astype(np.int64) for d in dims},
        {d: np.asarray(table.column(f"{d}_status").to_pylist(), dtype=object) for d in dims},
        np.asarray(table.column("cluster_id").to_pylist(), dtype=object)  # datasets from before clusters: articles
        if "cluster_id" in table.column_names else article_ids,
        {name: np.asarray(table.column(name).to_pylist(), dtype=object) for name in table.column_names
         if name not in BASE_COLUMNS and name not in dimension_columns(schema)},
        group_by,
    )


def dimension_columns(schema: Schema) -> set[str]:
    return {c for d in schema.dimensions for c in (d.name, f"{d.name}_n", f"{d.name}_status")}
