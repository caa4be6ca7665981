"""``stance estimate``: the share of each class per group, with an interval, from scores.

What researchers publish is a share per outlet and month, not sentence labels. A
model's shares are biased whenever a group's class mix differs from its training
data's, so:

* without an audit the shares are corrected with what the run knows about its own
  errors (its cross-validated predictions; see :mod:`stance.quantify` for the
  methods): the method that erred least under shift on the run's own data, with an
  interval that adds that measured error to a bootstrap over the group's articles.
  Such rows are ``model-only``: they hold only as far as the scored corpus differs from
  the labelled data no more than the run's checks did;
* with an audit (a labelled random sample of the scored sentences, from
  ``stance audit push`` and ``labels pull``, or any labelled dataset whose ids are in
  the scores) the model's predictions on every sentence are combined with the audit
  labels (PPI++ under the audit's sampling design), which gives intervals that hold
  whatever the model's errors. Where many groups are audited at random (``POOL_MIN_GROUPS``),
  each class's shares are pooled across them by default (``pool="auto"``): a group's own
  audit borrows strength from the others through the line that relates the model's shares
  to the audited ones (:func:`stance.quantify.pooled_shares`). Those intervals are narrower
  and cover at their level on average over the groups, not for each group alone
  (``POOLED_NOTE``); ``pool="never"`` keeps each group's own.

One row per group x dimension x class: the ``by`` fields, ``period``, ``dimension``,
``class``, ``estimate``, ``low``, ``high``, ``n_sentences``, ``n_articles``,
``n_audit``, ``method``, ``flag``. Shares are fractions in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from scipy import stats

from stance import quantify
from stance.errors import StanceError
from stance.findings.scores import check_fields, group_keys, open_scores, read_design
from stance.progress import progress_bar

OUTPUT_FORMATS = (".csv", ".parquet", ".json")
#: Fewer audit labels in a group than this and its interval says little: the row is flagged.
MIN_AUDIT = 10
COLUMNS = ["dimension", "class", "estimate", "low", "high", "n_sentences", "n_articles", "n_audit", "method",
           "flag"]
#: The columns of the differences and trends tables, after the fields of the groups they lie within.
DIFFERENCE_COLUMNS = ["dimension", "class", "group", "baseline", "difference", "low", "high", "p_value", "p_holm",
                      "holds", "n_audit", "method"]
TREND_COLUMNS = ["dimension", "class", "slope", "low", "high", "p_value", "per", "n_periods", "first", "last",
                 "method"]
TABLES = {"shares": COLUMNS, "differences": DIFFERENCE_COLUMNS, "trends": TREND_COLUMNS}
#: How rows without an audit begin their ``method``, and the assumption they rest on.
MODEL_ONLY = "model-only"
#: How pooled audit rows begin their ``method``, and what their intervals promise.
POOLED = "pooled audit"
POOLED_NOTE = ("pooled audit estimates borrow strength across the audited groups: their intervals cover at "
               "their level on average over the groups, not for each group alone, so a group unlike the "
               "others can be missed (pool='never', or --pool never, gives each group's own audit)")
#: When shares are pooled across audited groups: ``auto`` where at least ``POOL_MIN_GROUPS`` are.
POOLING = ("auto", "never")
MODEL_ONLY_ASSUMPTION = ("model-only estimates assume the scored corpus differs from the labelled data no more "
                         "than the run's own checks did (its sources from one another, or its artificial class "
                         "mixes); an audit of the scored corpus is what makes an interval hold regardless")


def estimate(scores: str | Path, out: str | Path | None = None, *, by: list[str] | None = None,
             period: str | None = None, audit: str | Path | None = None, level: float = 0.95,
             min_articles: int = quantify.MIN_ARTICLES, method: str = quantify.DEFAULT_METHOD,
             replicates: int = quantify.REPLICATES, seed: int = 0, model: str | Path | None = None,
             compare: str | None = None, baseline: str | None = None, pool: str = "auto",
             progress: bool = False) -> pd.DataFrame:
    """Estimate class shares per group of the scores directory ``scores``; write them to ``out``
    (.csv, .parquet or .json) when given, and return them as a DataFrame.

    ``by`` names sentence fields to group by (none: one group of everything); ``period``
    (day, week, month, quarter, year) adds time buckets of the date, and a trend per group
    (written beside ``out`` as ``STEM.trends.EXT``). ``compare`` (a ``by`` field, added to
    ``by`` if missing) also writes the differences between its groups beside ``out``
    (``STEM.differences.EXT``; see :func:`compare`). ``model`` is the run whose
    cross-validated predictions correct the shares (default: the run that scored them). ``pool``
    (``auto`` or ``never``) says whether audited shares are pooled across groups (see the module).
    """
    return estimate_tables(scores, out, by=by, period=period, audit=audit, level=level,
                           min_articles=min_articles, method=method, replicates=replicates, seed=seed,
                           model=model, compare=compare, baseline=baseline, pool=pool, progress=progress)["shares"]


def estimate_tables(scores: str | Path, out: str | Path | None = None, *, compare: str | None = None,
                    baseline: str | None = None, period: str | None = None, **options) -> dict[str, pd.DataFrame]:
    """:func:`estimate`'s tables by name: ``shares``, and ``differences`` with ``compare`` and
    ``trends`` with ``period``, each written beside ``out`` when given (see :func:`companion`)."""
    if baseline is not None and compare is None:
        raise StanceError("{baseline} needs {compare}: the field whose groups it is one of",
                          baseline=baseline, compare=...)
    found = estimation(scores, period=period, compare=compare, out=out, **options)
    tables = {"shares": found.shares()}
    if compare is not None:
        tables["differences"] = found.differences(compare, baseline)
    if period is not None:
        tables["trends"] = found.trends()
    if out is not None:
        for kind, table in tables.items():
            write_estimates(table, out if kind == "shares" else companion(out, kind))
    return tables


def compare(scores: str | Path, field: str, *, baseline: str | None = None, by: list[str] | None = None,
            period: str | None = None, audit: str | Path | None = None, level: float = 0.95,
            method: str = quantify.DEFAULT_METHOD, replicates: int = quantify.REPLICATES, seed: int = 0,
            model: str | Path | None = None) -> pd.DataFrame:
    """The difference of each class's share between the groups of ``field`` (every pair, or each
    against ``baseline``), within each group of the other ``by`` fields and ``period``: one row per
    pair x dimension x class with ``difference`` (group minus baseline), ``low``, ``high``,
    ``p_value``, ``p_holm`` (Holm-adjusted over each dimension's comparisons) and ``holds`` (the
    adjusted p-value is below 1 - level). With ``audit``, pairs whose groups both have audit labels
    are compared under the audit's design; the others model-only."""
    return estimation(scores, by=by, period=period, audit=audit, level=level, method=method,
                       replicates=replicates, seed=seed, model=model, compare=field).differences(field, baseline)


def trends(scores: str | Path, period: str, *, by: list[str] | None = None, audit: str | Path | None = None,
           level: float = 0.95, method: str = quantify.DEFAULT_METHOD, replicates: int = quantify.REPLICATES,
           seed: int = 0, model: str | Path | None = None) -> pd.DataFrame:
    """Per group of ``by`` and class, the trend of its share: the slope of a least-squares line through
    the shares per ``period`` (weighted by sentences), in share points per period, with an interval."""
    return estimation(scores, by=by, period=period, audit=audit, level=level, method=method,
                       replicates=replicates, seed=seed, model=model).trends()


def companion(out: str | Path, kind: str) -> Path:
    """Where a table that goes with an estimates file lies: ``shares.csv`` -> ``shares.differences.csv``."""
    out = Path(out)
    return out.with_name(f"{out.stem}.{kind}{out.suffix}")


def estimation(scores: str | Path, *, by: list[str] | None = None, period: str | None = None,
               audit: str | Path | None = None, level: float = 0.95, method: str = quantify.DEFAULT_METHOD,
               replicates: int = quantify.REPLICATES, seed: int = 0, model: str | Path | None = None,
               compare: str | None = None, min_articles: int = quantify.MIN_ARTICLES, out=None,
               pool: str = "auto", progress: bool = False, known: tuple | None = None) -> "Estimation":
    """Every group's estimates, from which :meth:`Estimation.shares`, :meth:`~Estimation.differences`
    and :meth:`~Estimation.trends` are read without estimating twice (the arguments as for
    :func:`estimate`). ``known`` is what :func:`run_references` gave for the run when already read
    (a report estimates several tables from one run)."""
    if not 0 < level < 1:
        raise StanceError(f"the confidence level must lie strictly between 0 and 1, not {level}")
    if out is not None and Path(out).suffix.lower() not in OUTPUT_FORMATS:
        raise StanceError(f"{out}: the estimates file must end in {', '.join(OUTPUT_FORMATS)}")
    if method not in quantify.METHODS:
        raise StanceError(f"the method must be one of {', '.join(quantify.METHODS)}, not {method!r}")
    if pool not in POOLING:
        raise StanceError(f"{{pool}}: audits are pooled across groups 'auto' (where {quantify.POOL_MIN_GROUPS} or "
                          "more are audited) or 'never'", pool=pool)
    if replicates < 2:
        raise StanceError(f"{{replicates}} must be at least 2 (1,000 is the default), not {replicates}",
                          replicates=replicates)
    by = list(by or [])
    if compare is not None and compare not in by:
        by.append(compare)
    opened = open_scores(scores)
    check_fields(opened, by)  # also refuses scores without sentences
    labels = opened.labels
    references, evidence = known or run_references(model or opened.run_path, labels, seed=seed)
    wanted = ["sentence_id", "article_id", *by, *(["date"] if period and "date" not in by else []),
              *(f"{dim}_p_{name}" for dim, names in labels.items() for name in names)]
    frame = opened.sentences(list(dict.fromkeys(wanted)))
    keys = group_keys(frame, by, period)
    key_columns = list(keys.columns)
    grouping = keys.groupby(key_columns, sort=True, dropna=False).ngroup().to_numpy() if key_columns \
        else np.zeros(len(frame), dtype=np.int64)
    group_table = (keys.assign(_g=grouping).drop_duplicates("_g").sort_values("_g").reset_index(drop=True)
                   if key_columns else pd.DataFrame(index=[0]))
    articles = pd.factorize(frame["article_id"])[0]
    audit_rows = join_audit(audit, opened, frame, grouping) if audit is not None else None
    found = Estimation(labels, key_columns, group_table, grouping, articles, level, min_articles, replicates,
                       audit_rows, period, pool)
    with progress_bar("estimate", len(labels), enabled=progress, unit="dimensions") as bar:
        for dim, names in labels.items():
            proba = frame[[f"{dim}_p_{name}" for name in names]].to_numpy(dtype=np.float64)
            model_only = quantify.estimate_groups(proba, grouping, articles, references[dim], method, level=level,
                                                  replicates=replicates, seed=seed, evidence=evidence[dim],
                                                  min_articles=min_articles)
            found.dimensions[dim] = Dimension(proba, grouping, model_only, evidence[dim],
                                              references[dim].macro_f1() < quantify.WEAK_MODEL_F1)
            bar.advance()
    return found


@dataclass
class Dimension:
    """One dimension's model-only estimates per group, and what they came from."""

    proba: np.ndarray
    grouping: np.ndarray
    model_only: quantify.GroupEstimates
    evidence: quantify.Evidence
    weak: bool

    @cached_property
    def totals(self) -> np.ndarray:
        """(groups, K) the sum of each class's probability over each group's sentences (what PPI++
        starts from), one pass over the sentences for all groups."""
        groups = len(self.model_only.estimate)
        return np.stack([np.bincount(self.grouping, weights=self.proba[:, c], minlength=groups)
                         for c in range(self.proba.shape[1])], axis=1)


class Estimation:
    """Every group's estimates, from which the shares, differences and trends tables are read."""

    def __init__(self, labels, key_columns, group_table, grouping, articles, level, min_articles, replicates,
                 audit_rows, period, pool="auto") -> None:
        self.labels, self.key_columns, self.group_table = labels, key_columns, group_table
        self.grouping, self.level, self.min_articles, self.replicates = grouping, level, min_articles, replicates
        self.audit_rows, self.period, self.pool = audit_rows, period, pool
        self.n_groups = int(grouping.max()) + 1
        self.n_sentences = np.bincount(grouping, minlength=self.n_groups)
        article_group = pd.Series(grouping).groupby(articles).first()
        self.n_articles = np.bincount(article_group.to_numpy(), minlength=self.n_groups)
        self.dimensions: dict[str, Dimension] = {}
        self._cells: dict[tuple[str, int, int], tuple[dict, quantify.AuditEstimate | None]] = {}

    def cell(self, dim: str, g: int, c: int) -> tuple[dict, quantify.AuditEstimate | None]:
        """The shares row of class ``c`` of ``dim`` in group ``g``, and its audit estimate (None: model-only)."""
        key = (dim, g, c)
        if key not in self._cells:
            d = self.dimensions[dim]
            thin = ["few_articles"] if self.n_articles[g] < self.min_articles else []
            row = {**self.group_table.loc[g, self.key_columns].to_dict(), "dimension": dim,
                   "class": self.labels[dim][c], "estimate": d.model_only.estimate[g, c],
                   "low": d.model_only.low[g, c], "high": d.model_only.high[g, c],
                   "n_sentences": int(self.n_sentences[g]), "n_articles": int(self.n_articles[g]), "n_audit": 0,
                   "method": model_only_method(d.model_only.methods[g], d.evidence, self.replicates, d.weak),
                   "flag": ",".join(thin + (["weak_model"] if d.weak else []))}
            audited = None
            if self.audit_rows is not None:
                update, audited = self.audit_rows.cell(dim, g, c, d.totals[g, c], d.proba[:, c], self.grouping,
                                                       self.level, row, thin)
                row.update(update)
            self._cells[key] = (row, audited)
        return self._cells[key]

    def shares(self) -> pd.DataFrame:
        pooled = {key: row for dim, names in self.labels.items() for c in range(len(names))
                  for key, row in self._pooled(dim, c).items()}
        rows = [pooled.get((dim, g, c)) or self.cell(dim, g, c)[0] for dim, names in self.labels.items()
                for g in range(self.n_groups) for c in range(len(names))]
        return pd.DataFrame(rows, columns=[*self.key_columns, *COLUMNS])

    def _pooled(self, dim: str, c: int) -> dict[tuple[str, int, int], dict]:
        """The rows of class ``c`` of ``dim`` with their random audits pooled across groups (see
        :func:`quantify.pooled_shares`), by cell; none unless ``pool`` allows and enough groups are audited."""
        audited = [g for g in range(self.n_groups) if self.cell(dim, g, c)[1] is not None]
        if (self.pool == "never" or self.audit_rows is None or self.audit_rows.chances is not None
                or len(audited) < quantify.POOL_MIN_GROUPS):
            return {}
        d = self.dimensions[dim]
        rows, y, _ = self.audit_rows.resolved(dim)
        groups = self.grouping[rows]
        inside = np.isin(groups, audited)
        coefficient, keep = quantify.shared_coefficient(y[inside] == c, d.proba[rows[inside], c],
                                                        np.searchsorted(audited, groups[inside]))
        direct = [self.audit_rows.cell(dim, g, c, d.totals[g, c], d.proba[:, c], self.grouping, self.level,
                                       self.cell(dim, g, c)[0], [], coefficient)[1] for g in audited]
        population = self.n_sentences[audited]
        events = np.bincount(np.searchsorted(audited, groups[inside]), weights=y[inside] == c, minlength=len(audited))
        pooled = quantify.pooled_shares(np.array([a.estimate for a in direct]), d.totals[audited, c] / population,
                                        np.array([a.n_audit for a in direct]), population, keep, self.level, events)
        return {(dim, g, c): {**self.cell(dim, g, c)[0], "estimate": float(pooled.estimate[i]),
                              "low": float(pooled.low[i]), "high": float(pooled.high[i]),
                              "method": f"{POOLED} across {len(audited)} groups (each group's PPI++, coefficient "
                                        f"{coefficient:.2f} for all, moved {1 - pooled.shrinkage[i]:.0%} toward "
                                        "the line through the model's shares; robust empirical-Bayes interval, "
                                        f"{self.level:.0%} on average over the groups); {self.audit_rows.design}"}
                for i, g in enumerate(audited)}

    def differences(self, field: str, baseline: str | None = None) -> pd.DataFrame:
        others = [k for k in self.key_columns if k != field]
        table = self.group_table
        values = table[field].astype(str)
        if baseline is not None and baseline not in set(values):
            raise StanceError(f"{{baseline}}: no group {baseline!r} of {field!r}; its groups are "
                              f"{', '.join(sorted(set(values)))}", baseline=baseline)
        pairs = []
        for _, block in table.groupby(others, sort=True, dropna=False) if others else [(None, table)]:
            groups = list(block.index)
            if baseline is not None:
                base = [g for g in groups if values[g] == baseline]
                pairs += [(g, base[0]) for g in groups if base and g != base[0]]
            else:
                pairs += [(a, b) for i, a in enumerate(groups) for b in groups[i + 1:]]
        rows = []
        for dim, names in self.labels.items():
            first = len(rows)
            for a, b in pairs:
                model_only = quantify.difference(self.dimensions[dim].model_only, a, b, self.dimensions[dim].evidence,
                                                 self.level)
                for c, name in enumerate(names):
                    (row_a, audit_a), (row_b, audit_b) = self.cell(dim, a, c), self.cell(dim, b, c)
                    both = audit_a is not None and audit_b is not None
                    if both:
                        d, low, high, p = self.audit_rows.difference(dim, a, b, c, audit_a, audit_b, self.grouping,
                                                                     self.dimensions[dim].proba[:, c],
                                                                     row_a["n_sentences"], row_b["n_sentences"],
                                                                     self.level)
                    else:
                        d, low, high, p = (model_only.estimate[c], model_only.low[c], model_only.high[c],
                                           model_only.p_value[c])
                    rows.append({**{k: table.loc[a, k] for k in others}, "dimension": dim, "class": name,
                                 "group": values[a], "baseline": values[b], "difference": float(d),
                                 "low": float(low), "high": float(high), "p_value": float(p),
                                 "n_audit": int(row_a["n_audit"] + row_b["n_audit"]) if both else 0,
                                 "method": ("audit (each group's own PPI++ under the audit's design)" if both
                                            else f"{MODEL_ONLY}: bootstrap over articles plus the error measured "
                                                 "on differences between the run's checks")})
            adjusted = quantify.holm(np.array([r["p_value"] for r in rows[first:]])) if len(rows) > first else []
            for r, p in zip(rows[first:], adjusted):
                r["p_holm"] = float(p)
                r["holds"] = bool(p < 1 - self.level)
        return pd.DataFrame(rows, columns=[*others, *DIFFERENCE_COLUMNS])

    def trends(self) -> pd.DataFrame:
        if self.period is None:
            raise StanceError("a trend needs {period}", period="month")
        others = [k for k in self.key_columns if k != "period"]
        table = self.group_table
        when = pd.to_datetime(table["period"], errors="coerce")
        steps = _period_index(when, self.period)
        rows = []
        for dim, names in self.labels.items():
            d = self.dimensions[dim]
            for key, block in table[when.notna()].groupby(others, sort=True, dropna=False) if others \
                    else [(None, table[when.notna()])]:
                cells = list(block.index)
                if len(cells) < 3:
                    continue
                t = steps[cells]
                weights = self.n_sentences[cells].astype(float)
                design = (t - np.average(t, weights=weights)) * weights
                design = design / (design * t).sum()  # slope = design @ shares
                span = t.max() - t.min()
                for c, name in enumerate(names):
                    audited = [self.cell(dim, g, c)[1] for g in cells]
                    if all(a is not None for a in audited):
                        shares = np.array([a.estimate for a in audited])
                        se = np.sqrt((design ** 2 * np.array([a.se for a in audited]) ** 2).sum())
                        slope = float(design @ shares)
                        df = max(len(cells) - 2, 1)
                        half = stats.t.ppf(0.5 + self.level / 2, df) * se
                        low, high = slope - half, slope + half
                        p = float(quantify.two_sided(np.array([slope]), np.array([se]), df)[0])
                        method = "audit (PPI++ per period, under the audit's design)"
                    else:
                        draws = np.stack([d.model_only.draws[g][:, c] for g in cells], axis=1) @ design
                        slope = float(design @ d.model_only.estimate[cells, c])
                        margin = (d.evidence.difference_margin(d.model_only.methods[cells[0]], d.model_only.cells[cells[0]],
                                                               d.model_only.methods[cells[-1]],
                                                               d.model_only.cells[cells[-1]], self.level)[c] / span
                                  if span else 0.0)
                        alpha = (1 - self.level) / 2
                        q_low, q_high = np.quantile(draws, [alpha, 1 - alpha])
                        low = slope - np.hypot(max(slope - q_low, 0), margin)
                        high = slope + np.hypot(max(q_high - slope, 0), margin)
                        z = quantify.normal_quantile(self.level)
                        p = float(quantify.two_sided(np.array([slope]),
                                                      np.array([np.hypot(draws.std(ddof=1), margin / z)]))[0])
                        method = f"{MODEL_ONLY}: bootstrap over articles plus the measured error"
                    rows.append({**{k: table.loc[cells[0], k] for k in others}, "dimension": dim, "class": name,
                                 "slope": slope, "low": float(low), "high": float(high), "p_value": p,
                                 "per": self.period, "n_periods": len(cells),
                                 "first": str(table.loc[cells[0], "period"]), "last": str(table.loc[cells[-1], "period"]),
                                 "method": method})
        return pd.DataFrame(rows, columns=[*others, *TREND_COLUMNS])


def _period_index(when: pd.Series, period: str) -> np.ndarray:
    """Each period's start as a count of periods (months since year 0 for ``month``, and so on)."""
    days = (when - pd.Timestamp("1970-01-01")).dt.days.to_numpy(dtype=float)
    if period == "day":
        return days
    if period == "week":
        return days / 7
    months = (when.dt.year * 12 + when.dt.month - 1).to_numpy(dtype=float)
    return {"month": months, "quarter": months / 3, "year": months / 12}[period]


def write_estimates(frame: pd.DataFrame, out: str | Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = out.suffix.lower()
    if suffix == ".csv":
        frame.to_csv(out, index=False)
    elif suffix == ".parquet":
        frame.to_parquet(out, index=False)
    elif suffix == ".json":
        frame.to_json(out, orient="records", indent=1)
    else:
        raise StanceError(f"{out}: the estimates file must end in {', '.join(OUTPUT_FORMATS)}")
    return out


def read_estimates(path: str | Path, kind: str = "shares") -> pd.DataFrame:
    """A table written by :func:`estimate`: its shares, or the ``differences`` or ``trends`` beside them."""
    path = Path(path)
    if not path.is_file():
        raise StanceError(f"{path}: no such {kind} file")
    suffix = path.suffix.lower()
    frame = (pd.read_csv(path, keep_default_na=False, na_values=[""]) if suffix == ".csv"
             else pd.read_parquet(path) if suffix == ".parquet"
             else pd.read_json(path, orient="records", dtype=False) if suffix == ".json" else None)
    if frame is None or not set(TABLES[kind]) <= set(frame.columns):
        raise StanceError(f"{path}: not a {kind} file (written by `stance estimate`)")
    if "flag" in frame:
        frame["flag"] = frame["flag"].fillna("")
    return frame


def model_only_method(chosen: str, evidence: quantify.Evidence, replicates: int, weak: bool = False) -> str:
    """The ``method`` of a row without an audit: what estimated it, why, and how far to trust it."""
    description = quantify.QUANTIFIERS[chosen].description
    why = (f"no correction: the model's macro-F1 is below {quantify.WEAK_MODEL_F1}" if weak
           else f"checked by {evidence.protocol}")
    return (f"{MODEL_ONLY}: {description}, {why} (mean error {100 * evidence.mae(chosen):.1f} points, "
            f"classify and count {100 * evidence.mae('cc'):.1f}); interval: bootstrap over articles "
            f"({replicates} replicates) plus that measured error")


def run_references(run_ref, labels: dict[str, list[str]], seed: int = 0
                   ) -> tuple[dict[str, quantify.Reference], dict[str, quantify.Evidence]]:
    """Per dimension, the run's cross-validated probabilities and true labels (what it knows of its
    errors), and how far each share estimator was off under shift (kept in the run's metrics by
    ``experiments run``; measured here for runs made before)."""
    from stance.model.runs import load_run
    run = load_run(run_ref, with_model=False)
    if run.labels != labels:
        raise StanceError(f"{run.path}: the run's labels differ from those of the scores; pass the run that "
                          "made them")
    table = pq.read_table(run.path / "cv_predictions.parquet").to_pandas()
    references, evidence = {}, {}
    for dim, names in labels.items():
        references[dim] = quantify.Reference.from_predictions(table, dim, names)
        kept = run.metrics["dimensions"].get(dim, {}).get("quantification")
        evidence[dim] = (quantify.Evidence.from_dict(kept) if kept
                         else quantify.measure(references[dim], seed=seed))
    return references, evidence


class AuditSample:
    """Audit labels joined to the scored sentences (``rows``), with the sampling design they were drawn
    under: each row's stratum, each stratum's size, and for an active audit each row's inclusion
    probability (``chances``; None: a simple random sample per stratum)."""

    def __init__(self, rows: np.ndarray, labels: dict[str, np.ndarray], strata: np.ndarray,
                 strata_population: np.ndarray, design: str, chances: np.ndarray | None = None,
                 drawn: np.ndarray | None = None) -> None:
        self.rows, self.labels, self.strata, self.population, self.design = (rows, labels, strata,
                                                                             strata_population, design)
        self.chances, self.drawn = chances, drawn

    def _labelled(self, dim: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """The audited rows with a label on ``dim``, their strata, their labels and, for an active
        audit, their chances of having been drawn and labelled (a drawn sentence left unlabelled is
        treated as missing at random within its stratum)."""
        keep = self.labels[dim] >= 0
        chances = None
        if self.chances is not None:
            kept = np.bincount(self.strata[keep], minlength=len(self.population))
            strata = self.strata[keep]
            chances = self.chances[keep] * kept[strata] / np.maximum(self.drawn[strata], 1)
        return self.rows[keep], self.strata[keep], self.labels[dim][keep], chances

    def resolved(self, dim: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The rows with a label on ``dim``, their labels, and their design weights (one over each
        sentence's chance of being drawn and labelled)."""
        rows, strata, y, chances = self._labelled(dim)
        if chances is not None:
            return rows, y, 1 / chances
        labelled = np.bincount(strata, minlength=len(self.population))
        return rows, y, self.population[strata] / np.maximum(labelled[strata], 1)

    def cell(self, dim: str, g: int, c: int, f_total: float, p: np.ndarray, grouping: np.ndarray, level: float,
             row: dict, thin: list[str], coefficient: float | None = None
             ) -> tuple[dict, quantify.AuditEstimate | None]:
        """What the audit changes in the row of class ``c`` in group ``g`` (its estimate, or a flag when
        the group has too few audit labels), and the audit estimate (None then). ``coefficient`` fixes
        PPI++'s (a simple random audit only; default: the group's own best)."""
        rows, strata, y, chances = self._labelled(dim)
        in_group = grouping[rows] == g
        n_audit = int(in_group.sum())
        if n_audit < 2:
            return {"n_audit": n_audit, "flag": ",".join([*thin, "no_audit" if not n_audit else "few_audit"]),
                    "method": row["method"] + "; too few audit labels in this group to use them"}, None
        hits = (y == c).astype(float)
        result = (quantify.audit_share(float(f_total), row["n_sentences"], hits, p[rows], in_group, strata,
                                       self.population, level=level, coefficient=coefficient) if chances is None
                  else quantify.active_share(float(f_total), row["n_sentences"], hits, p[rows], chances, in_group,
                                             level=level))
        combined = (f"PPI++ (model predictions on every sentence + audit labels, coefficient "
                    f"{result.coefficient:.2f})" if result.coefficient > 0 else "audit labels alone")
        return {"estimate": result.estimate, "low": result.low, "high": result.high, "n_audit": n_audit,
                "method": f"{combined}; {self.design}",
                "flag": ",".join([*thin, *(["few_audit"] if n_audit < MIN_AUDIT else [])])}, result

    def difference(self, dim: str, a: int, b: int, c: int, audit_a, audit_b, grouping: np.ndarray, p: np.ndarray,
                   population_a: int, population_b: int, level: float) -> tuple[float, float, float, float]:
        """Group ``a``'s share of class ``c`` minus group ``b``'s, under the audit's design."""
        rows, strata, y, chances = self._labelled(dim)
        hits, in_a, in_b = (y == c).astype(float), grouping[rows] == a, grouping[rows] == b
        if chances is not None:
            return quantify.active_difference(audit_a, audit_b, population_a, population_b, hits, p[rows], chances,
                                              in_a, in_b, level=level)
        return quantify.audit_difference(audit_a, audit_b, population_a, population_b, hits, p[rows], in_a, in_b,
                                         strata, self.population, level=level)


def join_audit(path, scores, frame: pd.DataFrame, grouping: np.ndarray) -> AuditSample:
    """The labelled dataset at ``path`` joined to the sentences ``frame`` of ``scores``, under the design
    of ``audit.json`` if the scores have one, else as a simple random sample within each ``grouping``."""
    from stance.labels.dataset import load_labelled
    labels = scores.labels
    dataset = load_labelled(path)
    table = dataset.data.table
    dims = [d for d in labels if d in dataset.column_names]
    if not dims:
        raise StanceError(f"{path}: the audit labels carry none of the scores' dimensions "
                          f"({', '.join(labels)}); are they labels of another schema?")
    for dim in dims:
        theirs = getattr(dataset.features[dim], "names", None)  # plain integers are class codes, range-checked below
        if theirs is not None and list(theirs) != labels[dim]:
            raise StanceError(f"{path}: the audit's {dim!r} choices {theirs} differ from the scores' "
                              f"{labels[dim]}: labels of another schema")
    ids = table.column("sentence_id").to_pylist()
    if not ids:
        raise StanceError(f"{path}: the audit dataset has no rows; pull its labels first (`stance labels pull`)")
    repeated = pd.Index(ids)[pd.Index(ids).duplicated()]
    if len(repeated):
        raise StanceError(f"{path}: {len(repeated):,} audit sentences are given more than once (for example "
                          f"{repeated[0]!r}); each audited sentence counts once, so merge their labels first")
    for dim in dims:
        codes = table.column(dim).to_numpy(zero_copy_only=False)
        bad = np.flatnonzero((codes < -1) | (codes >= len(labels[dim])))
        if len(bad):
            raise StanceError(f"{path}: row {int(bad[0])} (sentence {ids[bad[0]]!r}) has {dim} = {int(codes[bad[0]])}, "
                              f"not one of its {len(labels[dim])} classes (0 to {len(labels[dim]) - 1}, or -1: "
                              "unlabelled)")
    rows = pd.Index(frame["sentence_id"]).get_indexer(ids)
    missing = [i for i, r in zip(ids, rows) if r < 0]
    if missing:
        raise StanceError(f"{path}: {len(missing):,} of {len(ids):,} audit sentences are not in the scores "
                          f"{scores.path} (for example {missing[0]!r}); audit labels must come from these scores")
    audit_labels = {dim: table.column(dim).to_numpy(zero_copy_only=False).astype(np.int64) if dim in dims
                    else np.full(len(ids), -1, dtype=np.int64) for dim in labels}
    design = read_design(scores.path)
    if design is None:
        # no design file: a simple random sample within each group of the estimate
        population = np.bincount(grouping)
        return AuditSample(rows, audit_labels, grouping[rows], population,
                           "audit treated as a simple random sample within each group (no audit.json)")
    drawn = set(design["sentence_ids"])
    extra = [i for i in ids if i not in drawn]
    if extra:
        raise StanceError(f"{path}: {len(extra):,} audit sentences were not drawn by the audit design "
                          f"{scores.path / 'audit.json'} (for example {extra[0]!r}); pass the labels of "
                          "that audit's project")
    by = design["by"]
    strata_keys = group_keys(scores.sentences(by), by) if by else pd.DataFrame(index=frame.index)
    stratum_of = {tuple(s["key"][f] for f in by): h for h, s in enumerate(design["strata"])}
    codes = (np.array([stratum_of.get(k, -1) for k in strata_keys.itertuples(index=False, name=None)])
             if by else np.zeros(len(frame), dtype=np.int64))
    population = np.array([s["population"] for s in design["strata"]])
    now = np.bincount(codes[codes >= 0], minlength=len(population))
    if (codes < 0).any() or not np.array_equal(now, population):
        raise StanceError(f"{scores.path}: the scores have changed since the audit was drawn (its strata no "
                          "longer match them); draw a new audit")
    if design["sampling"] == "active":
        chance_of = dict(zip(design["sentence_ids"], design["inclusion_probabilities"]))
        return AuditSample(rows, audit_labels, codes[rows], population,
                           f"active audit by {', '.join(by) or 'nothing'}, weighted by each sentence's chance "
                           "(audit.json)", np.array([chance_of[i] for i in ids], dtype=float),
                           np.array([s["sample"] for s in design["strata"]]))
    return AuditSample(rows, audit_labels, codes[rows], population,
                       f"stratified random audit by {', '.join(by) or 'nothing'} (audit.json)")
