"""Reading a directory written by ``stance score``: its manifest, chosen sentence columns,
and the groups (``by`` fields, and time periods) that estimates and audits are made over."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds

from stance.errors import StanceError

PERIODS = ("day", "week", "month", "quarter", "year")
FREQUENCY = {"day": "D", "week": "W", "month": "M", "quarter": "Q", "year": "Y"}
MISSING = "(missing)"
UNDATED = "undated"
#: Article fields that sentences do not carry but can be grouped by: ``wire`` (the story
#: runs in more than one article; known for scores of a corpus with near-duplicates marked).
ARTICLE_ONLY = ("wire",)
#: The audit's design, saved beside the scores it was drawn from by ``stance audit push``.
DESIGN_FILE = "audit.json"


@dataclass
class Scores:
    path: Path
    manifest: dict

    @property
    def format(self) -> str:
        return self.manifest.get("format", "parquet")

    @property
    def labels(self) -> dict[str, list[str]]:
        return self.manifest["model"]["labels"]

    @property
    def run_path(self) -> str:
        return self.manifest["model"]["path"]

    def columns(self) -> list[str]:
        """The sentence fields, and the article fields only articles carry (``wire``); none
        when nothing was scored."""
        have = self._sentence_columns()
        return have + [c for c in ARTICLE_ONLY if have and c in self._article_columns()]

    def sentences(self, columns: list[str] | None) -> pd.DataFrame:
        """The sentence table (only ``columns``, when given), in the order it was scored;
        an article-only field is joined on from the articles."""
        own = self._sentence_columns()
        joined = [c for c in (columns or []) if c not in own and c in ARTICLE_ONLY]
        wanted = None if columns is None else [c for c in columns if c not in joined]
        if joined and "article_id" not in wanted:
            wanted.append("article_id")
        frame = self._read("sentences", wanted)
        if joined:
            articles = self._read("articles", ["article_id", *joined]).drop_duplicates("article_id")
            frame = frame.merge(articles, on="article_id", how="left", sort=False)
            frame = frame[columns]
        return frame

    def articles(self, columns: list[str] | None = None) -> pd.DataFrame:
        """The article table: one row per scored article, with its shares and net score."""
        return self._read("articles", columns)

    def sentence_batches(self, columns: list[str], rows: int = 100_000) -> Iterator[pd.DataFrame]:
        """The sentence table's ``columns`` in batches of about ``rows``, in the order scored: for
        passes over every sentence that must not hold them all at once."""
        path = self.path / f"sentences.{self.format}"
        if self.format == "parquet":
            dataset = ds.dataset(path, format="parquet")
            for batch in dataset.to_batches(columns=columns, batch_size=rows):
                yield batch.to_pandas()
        elif path.stat().st_size == 0:
            return
        elif self.format == "csv":
            yield from pd.read_csv(path, usecols=columns, chunksize=rows)
        else:
            for chunk in pd.read_json(path, lines=True, dtype=False, chunksize=rows):
                yield chunk[columns]

    def _sentence_columns(self) -> list[str]:
        if self.format == "parquet":
            dataset = ds.dataset(self.path / "sentences.parquet", format="parquet")
            return dataset.schema.names if dataset.files else []
        return list(self._read("sentences", None).columns)

    def _article_columns(self) -> list[str]:
        path = self.path / f"articles.{self.format}"
        if not path.is_file() or path.stat().st_size == 0:
            return []
        if self.format == "parquet":
            return ds.dataset(path, format="parquet").schema.names
        return list(self._read("articles", None).columns)

    def _read(self, table: str, columns: list[str] | None) -> pd.DataFrame:
        path = self.path / f"{table}.{self.format}"
        if self.format == "parquet":
            dataset = ds.dataset(path, format="parquet")
            if not dataset.files:
                return pd.DataFrame(columns=columns or [])
            return dataset.to_table(columns=columns).to_pandas()
        if path.stat().st_size == 0:
            return pd.DataFrame(columns=columns or [])
        frame = pd.read_csv(path) if self.format == "csv" else pd.read_json(path, lines=True, dtype=False)
        return frame if columns is None else frame[columns]


def open_scores(path: str | Path) -> Scores:
    path = Path(path)
    manifest = path / "manifest.json"
    if not manifest.is_file():
        raise StanceError(f"{path}: no manifest.json; is it a directory written by `stance score`?")
    return Scores(path, json.loads(manifest.read_text(encoding="utf-8")))


def check_fields(scores: Scores, fields: list[str]) -> None:
    """Refuse grouping fields the sentences do not carry, naming the ones they do."""
    have = scores.columns()
    if not have:
        raise StanceError(f"{scores.path}: the scores hold no sentences")
    for field in fields:
        if not field:
            raise StanceError("a grouping field name is empty")
        if field not in have:
            usable = [c for c in have if "_p_" not in c and c not in scores.labels and c not in ("start", "end",
                                                                                                 "index", "text")]
            raise StanceError(f"{scores.path}: the scored sentences have no field {field!r}; "
                              f"they have {', '.join(usable)}")


def group_keys(frame: pd.DataFrame, by: list[str], period: str | None = None) -> pd.DataFrame:
    """One column per ``by`` field (missing values as ``(missing)``), and ``period`` (the start
    date of the day, week or month; ``undated`` where the date does not parse)."""
    keys = pd.DataFrame(index=frame.index)
    for field in by:
        values = frame[field].astype("string").str.strip()
        if values.isna().all() or (values.fillna("") == "").all():
            raise StanceError(f"the field {field!r} is empty in every sentence: there is nothing to group by")
        keys[field] = values.replace("", pd.NA).fillna(MISSING).astype(str)
    if period:
        if period not in PERIODS:
            raise StanceError(f"period must be one of {', '.join(PERIODS)}, not {period!r}")
        if "date" not in frame:
            raise StanceError("grouping by period needs dates, and the scored sentences have no date field")
        dates = pd.to_datetime(frame["date"], errors="coerce", utc=True, format="mixed")
        if dates.isna().all():
            raise StanceError("grouping by period needs dates, and no sentence has a date that parses")
        starts = dates.dt.tz_localize(None).dt.to_period(FREQUENCY[period]).dt.start_time.dt.strftime("%Y-%m-%d")
        keys["period"] = starts.fillna(UNDATED)
    return keys


def read_design(scores: str | Path) -> dict | None:
    """The audit design saved beside ``scores``, or None when no audit was drawn there."""
    path = Path(scores) / DESIGN_FILE
    if not path.is_file():
        return None
    try:
        design = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise StanceError(f"{path}: not a readable audit design ({exc})") from None
    if design.get("kind") != "stance.audit":
        raise StanceError(f"{path}: not an audit design written by `stance audit push`")
    design.setdefault("sampling", "random")  # audits drawn before active ones existed
    return design
