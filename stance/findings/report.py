"""``stance report``: scores into one self-contained HTML page of plots and tables.

The findings first: each dimension's class shares per group (``--by source``, any
article field, or ``date``) and over time, as estimates with intervals (from
``stance estimate``, computed here unless an estimates file is given), with the
method and the audit size named and thin cells marked. Then how far to trust the
model (calibration, and per-class precision and recall on the target corpus when an
audit is given), the distribution of article net scores, and the most confident
sentences per class. Plots are inline PNG, so the file opens anywhere without a network.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from stance import quantify
from stance.errors import StanceError
from stance.findings.estimate import (COLUMNS, MODEL_ONLY, MODEL_ONLY_ASSUMPTION, POOLED, POOLED_NOTE, companion,
                                      estimation, join_audit, read_estimates, run_references)
from stance.findings.scores import FREQUENCY as _FREQUENCY, PERIODS, group_keys, open_scores
from stance.plots import PALETTE, figure, img
from stance.scoring.batch import NET_SCORE
from stance.webpage import esc, page, table

#: The automatic time bucket is the finest in which the typical (median) bucket holds this many articles:
#: with fewer, a share per bucket jumps between 0 and 1 with every article.
MIN_PER_BUCKET = 10
#: Up to this many groups are compared pair by pair; with more, each is compared with the largest.
ALL_PAIRS = 6
#: An article leans one way when its net score is further than this from zero.
NET_MARGIN = 0.05
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
        grouped = f"by {', '.join(self.groups)}" if self.groups else "of the whole corpus"
        return f"report of {self.articles:,} articles ({self.sentences:,} sentences) {grouped}{over_time}: {self.out}"


def report(scores: str | Path, out: str | Path, *, by: list[str] | None = None, period: str = "auto",
           examples: int = EXAMPLES, estimates: str | Path | pd.DataFrame | None = None,
           audit: str | Path | None = None, level: float = 0.95, pool: str = "auto") -> ReportResult:
    """Write the HTML report of the scores directory ``scores`` to ``out``.

    ``estimates`` (a file or DataFrame from :func:`stance.findings.estimate`) is shown as it is;
    otherwise shares are estimated here per ``by`` field and per ``period``, with the
    ``audit`` labels when given (which also measure the model on the target corpus), pooled
    across groups as ``pool`` says (see :func:`stance.findings.estimate.estimate`).
    """
    scores = Path(scores)
    opened = open_scores(scores)
    manifest = opened.manifest
    labels: dict[str, list[str]] = opened.labels
    articles = opened.articles()
    unsourced = not by and ("source" not in articles or not articles["source"].fillna("").astype(str).str.strip().any())
    by = list(by or ([] if unsourced else ["source"]))  # no article names its outlet: the whole corpus
    for field in by:
        if field != "date" and field not in articles.columns:
            raise StanceError(f"{{by}}: the articles have no such field; they have "
                              f"{', '.join(c for c in articles.columns if '_p_' not in c and '_share_' not in c)}",
                              by=field)
    dates = pd.to_datetime(articles["date"], errors="coerce", utc=True) if "date" in articles else None
    dated = dates is not None and dates.notna().any()
    period = _period(dates, period) if dated else None
    if "date" in by and not dated:
        raise StanceError("{by}: the articles have no parseable dates", by="date")
    if "date" in by and period is None:
        raise StanceError("{by}: too few dated articles per year for shares over time; name a {period}",
                          by="date", period="year")
    parts = [f"<h1>Stance report: {esc(scores.name)}</h1>",
             f"<p>{len(articles):,} articles, {int(articles['sentences'].sum()):,} sentences, scored by run "
             f"<b>{esc(manifest['model']['run_id'])}</b>"
             + (f"; dates {dates.min():%Y-%m-%d} to {dates.max():%Y-%m-%d}" if dated else "") + ".</p>"]
    if unsourced:
        parts.append('<p class="muted">No article names its source (outlet), so the shares are of the whole '
                     "corpus; <code>--by FIELD</code> groups by another article field.</p>")
    if dated and period is None:
        per_year = dates.dropna().dt.year.value_counts()
        parts.append(f'<p class="muted">No panel over time: the dated articles are too few per year (a median of '
                     f"{per_year.median():.0f} in {len(per_year)} years) for a share per period to mean much. "
                     "<code>--period year</code> draws it anyway.</p>")
    # the run's cross-validated predictions and checks, read once for every table and the calibration
    known = run_references(opened.run_path, labels) if estimates is None or audit is None else None
    if estimates is not None:
        frame = estimates if isinstance(estimates, pd.DataFrame) else read_estimates(estimates)
        parts.append(_method_note(frame, level, estimates if not isinstance(estimates, pd.DataFrame) else None))
        parts.append(_estimates_section(frame, articles))
        beside = None if isinstance(estimates, pd.DataFrame) else companion(estimates, "differences")
        if beside is not None and beside.is_file():  # written by `stance estimate --compare`
            parts.append(_differences_section(read_estimates(beside, kind="differences"), level))
    else:
        sections = []
        for field in by:
            if field == "date":
                continue
            found = estimation(scores, by=[field], compare=field, audit=audit, level=level, pool=pool,
                               known=known)
            shares = found.shares()
            largest = None if found.n_groups <= ALL_PAIRS else str(
                shares.loc[shares["n_sentences"].idxmax(), field])
            sections.append((shares, found.differences(field, baseline=largest) if found.n_groups > 1 else None))
        if period:
            over_time = estimation(scores, period=period, audit=audit, level=level, pool=pool, known=known)
            sections.append((over_time.shares(), None))
        if not sections:
            sections.append((estimation(scores, audit=audit, level=level, pool=pool, known=known).shares(), None))
        if sections:
            parts.append(_method_note(sections[0][0], level, None))
        for shares, differences in sections:
            parts.append(_estimates_section(shares, articles))
            if differences is not None:
                parts.append(_differences_section(differences, level))
    parts.append(_trust(opened, audit, level, known))
    parts.append(_net_scores(articles, by[0] if by and by[0] != "date" else None))
    parts.append(_examples(opened, labels, articles, examples))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page(f"stance report: {scores.name}", "\n".join(parts)), encoding="utf-8")
    return ReportResult(out, len(articles), int(articles["sentences"].sum()), by, period)


def _period(dates: pd.Series, period: str) -> str | None:
    """``period`` as asked, or for ``auto`` the finest bucket whose median bucket (among those with an
    article) holds ``MIN_PER_BUCKET`` articles; None when not even years do."""
    if period in PERIODS:
        return period
    if period != "auto":
        raise StanceError(f"{{period}}: must be auto, {', '.join(PERIODS)}", period=period)
    dated = dates.dropna()
    dated = dated.dt.tz_localize(None) if dated.dt.tz is not None else dated
    for candidate in PERIODS:
        if dated.dt.to_period(_FREQUENCY[candidate]).value_counts().median() >= MIN_PER_BUCKET:
            return candidate
    return None


def _sentence_shares(frame: pd.DataFrame, key, dim: str, names: list[str]) -> pd.DataFrame:
    """Per group, the share of its sentences in each class (article shares weighted by length):
    classify and count, drawn beside the estimates so that the correction can be seen."""
    counts = frame[[f"{dim}_share_{n}" for n in names]].mul(frame["sentences"], axis=0)
    counts.columns = names
    summed = counts.groupby(key, dropna=False).sum()
    return summed.div(summed.sum(axis=1).replace(0, 1), axis=0)


def _method_note(frame: pd.DataFrame, level: float, source) -> str:
    methods = sorted(frame["method"].unique())
    audited = int(frame.groupby(["dimension", "class"])["n_audit"].sum().max())
    flags = sorted({f for cell in frame["flag"] for f in cell.split(",") if f})
    lines = [f"<p><b>Estimates</b> ({level:.0%} intervals"
             + (f", from {esc(str(source))}" if source else "") + "). Method: "
             + "; ".join(esc(m) for m in methods[:3]) + ("; ..." if len(methods) > 3 else "") + ".</p>"]
    model_only = int(frame["method"].astype(str).str.startswith(MODEL_ONLY).sum())
    if audited:
        lines.append(f"<p>Audit: {audited:,} randomly drawn sentences labelled by people.</p>")
    if model_only:
        lines.append(f"<p><b>{model_only:,} of {len(frame):,} estimates are {MODEL_ONLY}</b> (no audit labels "
                     f"behind them): their intervals add the error the run measured under shift to the sampling "
                     f"error. {esc(MODEL_ONLY_ASSUMPTION[0].upper() + MODEL_ONLY_ASSUMPTION[1:])}. Draw an audit "
                     "(<code>stance audit push</code>) for intervals that hold whatever the model's errors.</p>")
    pooled = int(frame["method"].astype(str).str.startswith(POOLED).sum())
    if pooled:
        lines.append(f"<p><b>{pooled:,} of {len(frame):,} estimates are {POOLED}s.</b> "
                     f"{esc(POOLED_NOTE[0].upper() + POOLED_NOTE[1:])}.</p>")
    if flags:
        explained = {"few_articles": "fewer articles than the minimum per group", "few_audit": "few audit labels",
                     "no_audit": "no audit labels in the group", "weak_model":
                     "the model's cross-validated macro-F1 is too low for a correction to be trusted"}
        lines.append('<p class="muted">Hollow markers are flagged cells: '
                     + "; ".join(f"<code>{f}</code> ({explained.get(f, f)})" for f in flags) + ".</p>")
    return "\n".join(lines)


def _keys(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in COLUMNS]


def _estimates_section(frame: pd.DataFrame, articles: pd.DataFrame) -> str:
    keys = _keys(frame)
    groups = [k for k in keys if k != "period"]
    if "period" in keys:
        return _over_time(frame, groups)
    if not groups:
        return _overall(frame)
    return _by_group(frame, groups, articles)


def _label(frame: pd.DataFrame, groups: list[str]) -> pd.Series:
    return frame[groups].astype(str).agg(" · ".join, axis=1) if groups else pd.Series("all", index=frame.index)


def _by_group(frame: pd.DataFrame, groups: list[str], articles: pd.DataFrame) -> str:
    name = " · ".join(groups)
    frame = frame.assign(_group=_label(frame, groups))
    sizes = frame.drop_duplicates("_group").set_index("_group")
    top = sizes["n_sentences"].sort_values(ascending=False).index[:TOP_GROUPS]
    parts = [f"<h2>By {esc(name)}</h2>"]
    if len(sizes) > len(top):
        parts.append(f'<p class="muted">The {TOP_GROUPS} largest of {len(sizes)} groups; the estimates file has '
                     "them all.</p>")
    # classify and count beside the estimates, grouped by the same rule as the estimates
    key = group_keys(articles, groups)[groups[0]] if len(groups) == 1 and groups[0] in articles else None
    for dim, cells in frame[frame["_group"].isin(top)].groupby("dimension", sort=False):
        names = list(dict.fromkeys(cells["class"]))
        counted = _sentence_shares(articles, key, dim, names) if key is not None else None
        parts.append(img(_dot_plot(cells, list(top), names, counted, f"{dim} by {name}"),
                         f"{dim} shares by {name} with intervals"))
    rows = [[g, int(sizes.loc[g, "n_articles"]), int(sizes.loc[g, "n_sentences"]), sizes.loc[g, "flag"] or ""]
            for g in top]
    parts.append(table([name, "articles", "sentences", "flag"], rows, numeric_from=1))
    parts.append(_estimate_table(frame[frame["_group"].isin(top)], name))
    return "\n".join(parts)


def _interval_rows(rows: list[str], names: list[str], key: str, cells: pd.DataFrame, value: str, hollow,
                   hollow_label: str, scale: float = 1.0, height: float = 0.55):
    """A figure with one row per entry of ``rows`` (``cells[key]``) and one interval per class, the
    point drawn hollow where ``hollow`` (a function of a class's rows) says; returns the figure, its
    axes, where each class's intervals lie and the legend's handles."""
    from matplotlib.lines import Line2D
    fig = Figure(figsize=(7.5, height * len(rows) + 1.4))
    ax = fig.subplots()
    y = np.arange(len(rows))
    offsets = np.linspace(-0.25, 0.25, len(names))
    handles, placed = [], {}
    for k, name in enumerate(names):
        row = cells[cells["class"] == name].set_index(key).reindex(rows)
        colour = PALETTE[k % len(PALETTE)]
        at = placed[name] = y + offsets[k]
        points = scale * row[value]
        errors = scale * np.vstack([row[value] - row["low"], row["high"] - row[value]])
        ax.errorbar(points, at, xerr=errors, fmt="none", ecolor=colour, elinewidth=1.4, capsize=2)
        empty = hollow(row)
        ax.scatter(points[~empty], at[~empty], color=colour, s=28, zorder=3)
        ax.scatter(points[empty], at[empty], facecolors="white", edgecolors=colour, s=28, zorder=3)
        handles.append(Line2D([], [], color=colour, marker="o", linestyle="", label=name))
    handles.append(Line2D([], [], color="#555", marker="o", markerfacecolor="white", linestyle="",
                          label=hollow_label))
    ax.set_yticks(y, rows)
    ax.invert_yaxis()
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax, placed, handles


def _dot_plot(cells: pd.DataFrame, groups: list[str], names: list[str], counted, title: str) -> Figure:
    from matplotlib.lines import Line2D
    fig, ax, placed, handles = _interval_rows(
        groups, names, "_group", cells, "estimate", lambda row: (row["flag"].fillna("").astype(str) != "").to_numpy(),
        "flagged")
    if counted is not None:
        for name, at in placed.items():
            if name in counted:
                ax.scatter(counted[name].reindex(groups), at, marker="|", color="#888", s=60, zorder=2)
        handles.append(Line2D([], [], color="#888", marker="|", markersize=10, linestyle="",
                              label="classify and count"))
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of sentences (estimate and interval)")
    ax.set_title(title, fontsize=10)
    ax.legend(handles=handles, ncols=len(handles), fontsize=8, frameon=False, loc="upper center",
              bbox_to_anchor=(0.5, -0.18))
    return fig


def _estimate_table(frame: pd.DataFrame, name: str) -> str:
    rows = [[r["_group"], r["dimension"], r["class"], f"{r['estimate']:.1%}", f"{r['low']:.1%} to {r['high']:.1%}",
             int(r["n_audit"]), r["flag"] or ""] for _, r in frame.iterrows()]
    return ("<details><summary>The estimates as numbers</summary>"
            + table([name, "dimension", "class", "estimate", "interval", "audit", "flag"], rows, numeric_from=3)
            + "</details>")


def _differences_section(frame: pd.DataFrame, level: float) -> str:
    """Each pair of groups' difference in every class's share, drawn with its interval, and in words
    the differences that hold after Holm's adjustment over the dimension's comparisons."""
    if frame.empty:
        return ""
    against = frame["baseline"].nunique() == 1 and frame["group"].nunique() > 1
    parts = ["<h3>Differences between groups" + (f" (each against {esc(str(frame['baseline'].iloc[0]))})"
                                                   if against else "") + "</h3>"]
    frame = frame.assign(_pair=frame["group"].astype(str) + " − " + frame["baseline"].astype(str))
    for dim, cells in frame.groupby("dimension", sort=False):
        names = list(dict.fromkeys(cells["class"]))
        pairs = list(dict.fromkeys(cells["_pair"]))
        parts.append(img(_difference_plot(cells, pairs, names, f"{dim}: differences in share"),
                         f"{dim} differences between groups with intervals"))
        holding = cells[cells["holds"].astype(bool)].sort_values("difference", key=abs, ascending=False)
        if holding.empty:
            parts.append(f"<p>No difference in {esc(dim)} holds at {level:.0%} after Holm's adjustment for its "
                         f"{len(cells):,} comparisons.</p>")
        else:
            said = [f"<b>{esc(str(r['group']))}</b>: {esc(str(r['class']))} {100 * abs(r['difference']):.0f} points "
                    f"({100 * r['low']:+.0f} to {100 * r['high']:+.0f}) {'above' if r['difference'] > 0 else 'below'} "
                    f"{esc(str(r['baseline']))} (Holm p = {r['p_holm']:.3g})" for _, r in holding.head(8).iterrows()]
            more = f"; and {len(holding) - 8} more in the table" if len(holding) > 8 else ""
            parts.append(f"<p>{len(holding):,} of {len(cells):,} differences in {esc(dim)} hold at {level:.0%} after "
                         f"Holm's adjustment: " + "; ".join(said) + more + ".</p>")
    rows = [[r["_pair"], r["dimension"], r["class"], f"{100 * r['difference']:+.1f}",
             f"{100 * r['low']:+.1f} to {100 * r['high']:+.1f}", f"{r['p_holm']:.3g}", "yes" if r["holds"] else "",
             str(r["method"]).split(":")[0]] for _, r in frame.iterrows()]
    parts.append("<details><summary>The differences as numbers (points)</summary>"
                 + table(["pair", "dimension", "class", "difference", "interval", "Holm p", "holds",
                          "method"], rows, numeric_from=3) + "</details>")
    return "\n".join(parts)


def _difference_plot(cells: pd.DataFrame, pairs: list[str], names: list[str], title: str) -> Figure:
    """A forest plot: one row per pair, one interval per class; filled where the difference holds."""
    fig, ax, _, handles = _interval_rows(
        pairs, names, "_pair", cells, "difference", lambda row: ~row["holds"].fillna(False).astype(bool).to_numpy(),
        "does not hold", scale=100, height=0.5)
    ax.axvline(0, color="#444", linewidth=0.8)
    ax.set_xlabel("difference in share of sentences (points)")
    ax.set_title(title, fontsize=10)
    ax.legend(handles=handles, fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def _overall(frame: pd.DataFrame) -> str:
    frame = frame.assign(_group="all")
    parts = ["<h2>The whole corpus</h2>"]
    for dim, cells in frame.groupby("dimension", sort=False):
        names = list(dict.fromkeys(cells["class"]))
        parts.append(img(_dot_plot(cells, ["all"], names, None, dim), f"{dim} shares with intervals"))
    parts.append(_estimate_table(frame, "group"))
    return "\n".join(parts)


def _over_time(frame: pd.DataFrame, groups: list[str]) -> str:
    frame = frame[frame["period"] != "undated"].assign(_group=_label(frame, groups),
                                                       _when=lambda f: pd.to_datetime(f["period"], errors="coerce"))
    undated = int(frame["_when"].isna().sum())
    frame = frame[frame["_when"].notna()]
    series = frame.groupby("_group")["n_sentences"].sum().sort_values(ascending=False).index[:6]
    parts = ["<h2>Over time" + (f" by {esc(' · '.join(groups))}" if groups else "") + "</h2>"]
    if undated:
        parts.append(f'<p class="muted">{undated:,} estimates of undated sentences are left out here.</p>')
    for dim, cells in frame.groupby("dimension", sort=False):
        names = list(dict.fromkeys(cells["class"]))
        panels = names if groups else [None]  # by group: a panel per class, a line per group
        fig = Figure(figsize=(7.5, 2.4 * len(panels) if groups else 3.2))
        axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
        for ax, panel in zip(axes, panels):
            lines = [(group, panel) for group in series] if groups else [(None, name) for name in names]
            for j, (group, name) in enumerate(lines):
                row = cells[cells["class"] == name]
                row = (row if group is None else row[row["_group"] == group]).sort_values("_when")
                colour = PALETTE[j % len(PALETTE)]
                ax.plot(row["_when"], row["estimate"], color=colour, marker="o", markersize=3, label=group or name)
                ax.fill_between(row["_when"], row["low"], row["high"], color=colour, alpha=0.18, linewidth=0)
                flagged = row["flag"].fillna("").astype(str) != ""
                ax.scatter(row["_when"][flagged], row["estimate"][flagged], facecolors="white", edgecolors=colour,
                           s=22, zorder=3)
            ax.set_ylim(0, 1)
            ax.set_ylabel("share")
            ax.set_title(f"{dim}: {panel}" if panel else f"{dim} over time (bands: intervals)", fontsize=9)
            ax.spines[["top", "right"]].set_visible(False)
        axes[0].legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside, not over, the lines
        fig.autofmt_xdate()
        parts.append(img(fig, f"{dim} shares over time with intervals"))
    return "\n".join(parts)


def _trust(opened, audit, level: float, known) -> str:
    """Calibration (from the audit, or the run's cross-validated predictions) and, with an audit,
    per-class precision and recall on the target corpus (``known``: what :func:`run_references` gave)."""
    labels = opened.labels
    parts = ["<h2>How far to trust the model</h2>"]
    panels = {}
    if audit is not None:
        frame = opened.sentences(["sentence_id", *(f"{d}_p_{n}" for d, names in labels.items() for n in names)])
        sample = join_audit(audit, opened, frame, np.zeros(len(frame), dtype=np.int64))
        source = f"the audit ({esc(str(audit))}), weighted by its design"
        prf = []
        for dim, names in labels.items():
            rows, y, weights = sample.resolved(dim)
            proba = frame[[f"{dim}_p_{n}" for n in names]].to_numpy(np.float64)[rows]
            predicted = proba.argmax(axis=1)
            panels[dim] = quantify.reliability(proba.max(axis=1), predicted == y, weights)
            for c, name in enumerate(names):
                p = quantify.weighted_proportion(y[predicted == c] == c, weights[predicted == c], level)
                r = quantify.weighted_proportion(predicted[y == c] == c, weights[y == c], level)
                prf.append([dim, name, _interval(p), _interval(r), int((predicted == c).sum()), int((y == c).sum())])
    else:
        source = (f"the run's cross-validated predictions ({esc(opened.manifest['model']['run_id'])}), "
                  "i.e. on its training data")
        for dim, reference in known[0].items():
            panels[dim] = quantify.reliability(reference.proba.max(axis=1),
                                               reference.proba.argmax(axis=1) == reference.y)
        prf = None
    fig = Figure(figsize=(3.0 * len(panels), 3.1))
    for ax, (dim, (ece, rows)) in zip(np.atleast_1d(fig.subplots(1, len(panels))), panels.items()):
        ax.plot([0, 1], [0, 1], color="#999", linewidth=0.8, linestyle="--")
        ax.plot([r["confidence"] for r in rows], [r["accuracy"] for r in rows], marker="o", color=PALETTE[0])
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence (top class)")
        ax.set_title(f"{dim}: ECE {ece:.3f}", fontsize=9)
        ax.spines[["top", "right"]].set_visible(False)
    fig.axes[0].set_ylabel("accuracy")
    parts.append(f"<p>Calibration, from {source}: a calibrated model's points lie on the diagonal; the expected "
                 "calibration error (ECE) is the mean gap, weighted by how many sentences each point holds.</p>")
    parts.append(img(fig, "reliability of the model's confidence"))
    if prf is None:
        parts.append('<p class="muted">Precision and recall on the target corpus need an audit: '
                     "<code>stance audit push</code>, label, <code>stance labels pull</code>, then "
                     "<code>--audit</code>.</p>")
    else:
        parts.append(f"<p>Per class on the target corpus, from the audit ({level:.0%} Wilson intervals at the "
                     "design's effective sample size):</p>")
        parts.append(table(["dimension", "class", "precision", "recall", "audited predicted", "audited true"],
                           prf, numeric_from=2))
    return "\n".join(parts)


def _interval(value: tuple[float, float, float]) -> str:
    p, low, high = value
    return "n/a" if np.isnan(p) else f"{p:.2f} ({low:.2f} to {high:.2f})"


def _net_scores(articles: pd.DataFrame, field: str | None) -> str:
    column = next((c for c in articles.columns if c.startswith("net_")), None)
    if column is None:
        return ""
    values = articles[column].dropna()
    fig, ax = figure(6.5, 3.0)
    ax.hist(values, bins=np.linspace(-1, 1, 41), color=PALETTE[1])
    ax.axvline(0, color="#444", linewidth=0.8)
    ax.set_xlabel(f"{column} (mean P(adversarial) - mean P(conciliatory)) per article")
    ax.set_ylabel("articles")
    ax.set_title("article net scores", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    parts = ["<h2>Article net scores</h2>", img(fig, "distribution of article net scores"),
             f"<p>mean {values.mean():+.3f}, median {values.median():+.3f}. {_net_reading(articles, values)}</p>"]
    if field:
        grouped = articles.groupby(articles[field].fillna("(none)").astype(str))[column]
        stats = grouped.agg(["count", "mean", "median"]).sort_values("count", ascending=False).head(TOP_GROUPS)
        parts.append(table([field, "articles", "mean net", "median net"],
                           [[g, int(r["count"]), float(r["mean"]), float(r["median"])] for g, r in stats.iterrows()]))
    return "\n".join(parts)


def _net_reading(articles: pd.DataFrame, values: pd.Series) -> str:
    """What the net score says, and what it leaves out: it weighs adversarial against conciliatory
    only, so an article of mostly neutral sentences can lean either way by a hair."""
    dim, plus, minus = NET_SCORE
    clear = NET_MARGIN
    reading = (f"{(values > clear).mean():.0%} of articles lean {plus} (net above +{clear:.2f}), "
               f"{(values < -clear).mean():.0%} lean {minus} (below -{clear:.2f}), and "
               f"{values.between(-clear, clear).mean():.0%} are balanced.")
    others = [c for c in articles.columns if c.startswith(f"{dim}_share_") and c not in
              (f"{dim}_share_{plus}", f"{dim}_share_{minus}")]
    if others and articles["sentences"].sum():
        rest = float((articles[others].sum(axis=1) * articles["sentences"]).sum() / articles["sentences"].sum())
        names = ", ".join(c.removeprefix(f"{dim}_share_") for c in others)
        reading += (f" The score leaves out the {rest:.0%} of sentences labelled {names}: it compares only "
                    f"{plus} with {minus}.")
    return reading


def _examples(opened, labels: dict, articles: pd.DataFrame, k: int) -> str:
    """The ``k`` most confident sentences per class, streamed (never the whole table in memory). A
    sentence repeated across articles (a quote carried by every outlet) is shown once, with the
    article that gave it the highest probability."""
    best: dict[tuple[str, str], dict] = {(d, n): {} for d, names in labels.items() for n in names}
    columns = ["sentence_id", "article_id", "text",
               *(c for dim, names in labels.items() for c in (dim, *(f"{dim}_p_{n}" for n in names)))]
    for batch in opened.sentence_batches(columns):
        for dim, names in labels.items():
            predicted = batch[dim].to_numpy()
            for name in names:
                p = batch[f"{dim}_p_{name}"].to_numpy(dtype=float)
                rows = np.flatnonzero(predicted == name)
                if not len(rows):
                    continue
                kept = best[(dim, name)]
                seen = set()
                for r in rows[np.argsort(-p[rows])]:
                    text = str(batch["text"].iat[r])
                    key = " ".join(text.lower().split())
                    if key in seen:
                        continue
                    seen.add(key)
                    if len(seen) > k:
                        break
                    item = (float(p[r]), str(batch["sentence_id"].iat[r]), str(batch["article_id"].iat[r]), text)
                    if key not in kept or item > kept[key]:
                        kept[key] = item
                if len(kept) > k:  # the k best distinct sentences so far; the others cannot come back higher
                    best[(dim, name)] = dict(heapq.nlargest(k, kept.items(), key=lambda entry: entry[1]))
    titles = articles.set_index("article_id")["title"] if "title" in articles else pd.Series(dtype=str)
    parts = ["<h2>Most confident sentences per class</h2>"]
    for dim, names in labels.items():
        rows = []
        for name in names:
            for p, _, article_id, text in sorted(best[(dim, name)].values(), reverse=True):
                title = titles.get(article_id)
                where = f"{article_id}" + (f" ({title})" if isinstance(title, str) and title else "")
                rows.append([name, text, where, p])
        parts.append(f"<h3>{esc(dim)}</h3>"
                     + table(["class", "sentence", "article", "probability"], rows, numeric_from=3))
    return "\n".join(parts)
