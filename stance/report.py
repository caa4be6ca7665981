"""``stance report``: scores into one self-contained HTML page of plots and tables.

Shares of each dimension's classes per group (``--by source``, ``date`` or any
article field), the same over time when articles carry dates, the distribution of
article net scores, and the most confident sentences per class with their article.
Plots are inline PNG, so the file opens anywhere without a network.
"""

from __future__ import annotations

import heapq
import html
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as ds

from stance.errors import StanceError
from stance.plots import PALETTE, img, page, plt, table

PERIODS = ("day", "week", "month")
_FREQUENCY = {"day": "D", "week": "W", "month": "M"}
MIN_PER_BUCKET = 5
TOP_GROUPS = 12
EXAMPLES = 3


@dataclass
class ReportResult:
    out: Path
    articles: int
    sentences: int
    groups: list[str]
    period: str | None

    def __str__(self) -> str:
        over_time = f", over time by {self.period}" if self.period else ""
        return (f"report of {self.articles:,} articles ({self.sentences:,} sentences) by "
                f"{', '.join(self.groups)}{over_time}: {self.out}")


def report(scores: str | Path, out: str | Path, *, by: list[str] | None = None, period: str = "auto",
           examples: int = EXAMPLES) -> ReportResult:
    """Write the HTML report of the scores directory ``scores`` to ``out``."""
    scores = Path(scores)
    manifest_path = scores / "manifest.json"
    if not manifest_path.is_file():
        raise StanceError(f"{scores}: no manifest.json; is it a directory written by `stance score`?")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    fmt = manifest.get("format", "parquet")
    labels: dict[str, list[str]] = manifest["model"]["labels"]
    articles = _read(scores / f"articles.{fmt}", fmt)
    by = by or ["source"]
    for field in by:
        if field != "date" and field not in articles.columns:
            raise StanceError(f"--by {field}: the articles have no such field; they have "
                              f"{', '.join(c for c in articles.columns if '_p_' not in c and '_share_' not in c)}")
    dates = pd.to_datetime(articles["date"], errors="coerce", utc=True) if "date" in articles else None
    period = _period(dates, period) if dates is not None and dates.notna().any() else None
    parts = [f"<h1>Stance report: {html.escape(scores.name)}</h1>",
             f"<p>{len(articles):,} articles, {int(articles['sentences'].sum()):,} sentences, scored by run "
             f"<b>{html.escape(manifest['model']['run_id'])}</b>"
             + (f"; dates {dates.min():%Y-%m-%d} to {dates.max():%Y-%m-%d}" if period else "") + ".</p>",
             '<p class="muted">Shares are of sentences, from the model\'s predicted label of each sentence; '
             "a model makes errors, so read small differences with care (see the run's report).</p>"]
    for field in by:
        if field == "date":
            if period is None:
                raise StanceError("--by date: the articles have no parseable dates")
            parts.append(_over_time(articles, dates, period, labels))
        else:
            parts.append(_by_group(articles, field, labels))
    if period and "date" not in by:
        parts.append(_over_time(articles, dates, period, labels))
    parts.append(_net_scores(articles, by[0] if by[0] != "date" else None))
    parts.append(_examples(scores, fmt, labels, articles, examples))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page(f"stance report: {scores.name}", "\n".join(parts)), encoding="utf-8")
    return ReportResult(out, len(articles), int(articles["sentences"].sum()), by, period)


def _read(path: Path, fmt: str) -> pd.DataFrame:
    if fmt == "parquet":
        return pd.read_parquet(path)
    if fmt == "csv":
        return pd.read_csv(path)
    return pd.read_json(path, lines=True)


def _period(dates: pd.Series, period: str) -> str:
    if period in PERIODS:
        return period
    if period != "auto":
        raise StanceError(f"--period must be auto, {', '.join(PERIODS)}; got {period!r}")
    dated = dates.dropna().dt.tz_localize(None)
    for candidate in PERIODS:  # the finest buckets that hold a few articles each on average
        if len(dated) / dated.dt.to_period(_FREQUENCY[candidate]).nunique() >= MIN_PER_BUCKET:
            return candidate
    return PERIODS[-1]

def _sentence_shares(frame: pd.DataFrame, key, dim: str, names: list[str]) -> pd.DataFrame:
    """Per group, the share of its sentences in each class (article shares weighted by length)."""
    counts = frame[[f"{dim}_share_{n}" for n in names]].mul(frame["sentences"], axis=0)
    counts.columns = names
    summed = counts.groupby(key, dropna=False).sum()
    return summed.div(summed.sum(axis=1).replace(0, 1), axis=0)


def _by_group(articles: pd.DataFrame, field: str, labels: dict) -> str:
    key = articles[field].fillna("(none)").astype(str)
    top = key.value_counts().index[:TOP_GROUPS]
    key = key.where(key.isin(top), "(other)")
    parts = [f"<h2>By {html.escape(field)}</h2>"]
    if key.nunique() > len(top):
        parts.append(f'<p class="muted">The {TOP_GROUPS} largest groups; the rest are "(other)".</p>')
    sizes = articles.groupby(key)["sentences"].agg(["count", "sum"])
    for dim, names in labels.items():
        shares = _sentence_shares(articles, key, dim, names)
        fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(shares) + 1.2))
        left = np.zeros(len(shares))
        for k, name in enumerate(names):
            ax.barh(shares.index, shares[name], left=left, color=PALETTE[k % len(PALETTE)], label=name)
            left += shares[name].to_numpy()
        ax.set_xlim(0, 1)
        ax.invert_yaxis()
        ax.set_xlabel("share of sentences")
        ax.set_title(f"{dim} by {field}", fontsize=10)
        ax.legend(ncols=len(names), fontsize=8, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.25))
        ax.spines[["top", "right"]].set_visible(False)
        parts.append(img(fig, f"{dim} shares by {field}"))
    rows = [[group, int(sizes.loc[group, "count"]), int(sizes.loc[group, "sum"])] for group in sizes.index]
    parts.append(table([field, "articles", "sentences"], rows))
    return "\n".join(parts)


def _over_time(articles: pd.DataFrame, dates: pd.Series, period: str, labels: dict) -> str:
    frequency = _FREQUENCY[period]
    dated = articles[dates.notna()]
    key = dates[dates.notna()].dt.tz_localize(None).dt.to_period(frequency).dt.start_time
    parts = [f"<h2>Over time (by {period})</h2>"]
    missing = int(dates.isna().sum())
    if missing:
        parts.append(f'<p class="muted">{missing:,} articles without a readable date are left out here.</p>')
    for dim, names in labels.items():
        shares = _sentence_shares(dated, key, dim, names).sort_index()
        fig, ax = plt.subplots(figsize=(7.5, 3.0))
        for k, name in enumerate(names):
            ax.plot(shares.index, shares[name], marker="o", markersize=3, color=PALETTE[k % len(PALETTE)],
                    label=name)
        ax.set_ylim(0, 1)
        ax.set_ylabel("share of sentences")
        ax.set_title(f"{dim} over time", fontsize=10)
        ax.legend(fontsize=8, frameon=False, ncols=len(names))
        ax.spines[["top", "right"]].set_visible(False)
        fig.autofmt_xdate()
        parts.append(img(fig, f"{dim} shares over time"))
    return "\n".join(parts)


def _net_scores(articles: pd.DataFrame, field: str | None) -> str:
    column = next((c for c in articles.columns if c.startswith("net_")), None)
    if column is None:
        return ""
    values = articles[column].dropna()
    fig, ax = plt.subplots(figsize=(6.5, 3.0))
    ax.hist(values, bins=np.linspace(-1, 1, 41), color=PALETTE[1])
    ax.axvline(0, color="#444", linewidth=0.8)
    ax.set_xlabel(f"{column} (mean P(adversarial) - mean P(conciliatory)) per article")
    ax.set_ylabel("articles")
    ax.set_title("article net scores", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    parts = ["<h2>Article net scores</h2>", img(fig, "distribution of article net scores"),
             f"<p>mean {values.mean():+.3f}, median {values.median():+.3f}; "
             f"{(values > 0).mean():.0%} of articles lean adversarial.</p>"]
    if field:
        grouped = articles.groupby(articles[field].fillna("(none)").astype(str))[column]
        stats = grouped.agg(["count", "mean", "median"]).sort_values("count", ascending=False).head(TOP_GROUPS)
        parts.append(table([field, "articles", "mean net", "median net"],
                           [[g, int(r["count"]), float(r["mean"]), float(r["median"])] for g, r in stats.iterrows()]))
    return "\n".join(parts)


def _examples(scores: Path, fmt: str, labels: dict, articles: pd.DataFrame, k: int) -> str:
    """The ``k`` most confident sentences per class, streamed (never the whole table in memory)."""
    best: dict[tuple[str, str], list] = {(d, n): [] for d, names in labels.items() for n in names}
    for batch in _sentence_batches(scores, fmt, labels):
        for dim, names in labels.items():
            predicted = batch[dim].to_numpy()
            for name in names:
                p = batch[f"{dim}_p_{name}"].to_numpy(dtype=float)
                rows = np.flatnonzero(predicted == name)
                if not len(rows):
                    continue
                top = rows[np.argsort(-p[rows])[:k]]
                heap = best[(dim, name)]
                for r in top:
                    item = (float(p[r]), str(batch["sentence_id"].iat[r]), str(batch["article_id"].iat[r]),
                            str(batch["text"].iat[r]))
                    if len(heap) < k:
                        heapq.heappush(heap, item)
                    else:
                        heapq.heappushpop(heap, item)
    titles = articles.set_index("article_id")["title"] if "title" in articles else pd.Series(dtype=str)
    parts = ["<h2>Most confident sentences per class</h2>"]
    for dim, names in labels.items():
        rows = []
        for name in names:
            for p, _, article_id, text in sorted(best[(dim, name)], reverse=True):
                title = titles.get(article_id)
                where = f"{article_id}" + (f" ({title})" if isinstance(title, str) and title else "")
                rows.append([name, text, where, p])
        parts.append(f"<h3>{html.escape(dim)}</h3>"
                     + table(["class", "sentence", "article", "probability"], rows, numeric_from=3))
    return "\n".join(parts)


def _sentence_batches(scores: Path, fmt: str, labels: dict):
    columns = ["sentence_id", "article_id", "text"]
    for dim, names in labels.items():
        columns += [dim, *(f"{dim}_p_{n}" for n in names)]
    if fmt == "parquet":
        for batch in ds.dataset(scores / "sentences.parquet", format="parquet").to_batches(columns=columns):
            yield batch.to_pandas()
    elif fmt == "csv":
        yield from pd.read_csv(scores / "sentences.csv", usecols=columns, chunksize=100_000)
    else:
        yield from pd.read_json(scores / "sentences.jsonl", lines=True, chunksize=100_000)
