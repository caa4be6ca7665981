"""``stance estimate``: the share of each class per group, with an interval, from scores.

What researchers publish is a share per outlet and month, not sentence labels. A
model's shares are biased whenever a group's class mix differs from its training
data's, so:

* without an audit the shares are corrected with what the run knows about its own
  errors (its cross-validated predictions; see :mod:`stance.quantify` for the
  methods) and the interval comes from a bootstrap over the group's articles;
* with an audit (a labelled random sample of the scored sentences, from
  ``stance audit push`` and ``labels pull``, or any labelled dataset whose ids are in
  the scores) the model's predictions on every sentence are combined with the audit
  labels (PPI++ under the audit's sampling design), which gives intervals that hold
  whatever the model's errors.

One row per group x dimension x class: the ``by`` fields, ``period``, ``dimension``,
``class``, ``estimate``, ``low``, ``high``, ``n_sentences``, ``n_articles``,
``n_audit``, ``method``, ``flag``. Shares are fractions in [0, 1].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from stance import quantify
from stance.audit import read_design
from stance.errors import StanceError
from stance.progress import progress_bar
from stance.scores import check_fields, group_keys, open_scores

OUTPUT_FORMATS = (".csv", ".parquet", ".json")
#: Fewer audit labels in a group than this and its interval says little: the row is flagged.
MIN_AUDIT = 10
#: Below this cross-validated macro-F1 a correction amplifies the model's noise more than it removes bias
#: (benchmarks/estimate_simulation.py: on BASIL, macro-F1 0.36, every correction did worse than classify
#: and count under mild shifts); such rows are flagged ``weak_model``.
WEAK_MODEL_F1 = 0.5
COLUMNS = ["dimension", "class", "estimate", "low", "high", "n_sentences", "n_articles", "n_audit", "method",
           "flag"]
METHOD_NAMES = {
    "em": "EM prior adjustment on calibrated probabilities",
    "pacc": "probabilistic adjusted count",
    "acc": "adjusted count",
    "pcc": "mean probability (uncorrected)",
    "cc": "classify and count (uncorrected)",
}


def estimate(scores: str | Path, out: str | Path | None = None, *, by: list[str] | None = None,
             period: str | None = None, audit: str | Path | None = None, level: float = 0.95,
             min_articles: int = quantify.MIN_ARTICLES, method: str = quantify.DEFAULT_METHOD,
             replicates: int = quantify.REPLICATES, seed: int = 0, model: str | Path | None = None,
             progress: bool = False) -> pd.DataFrame:
    """Estimate class shares per group of the scores directory ``scores``; write them to ``out``
    (.csv, .parquet or .json) when given, and return them as a DataFrame.

    ``by`` names sentence fields to group by (none: one group of everything); ``period``
    (day, week, month) adds time buckets of the date. ``model`` is the run whose
    cross-validated predictions correct the shares (default: the run that scored them).
    """
    if not 0 < level < 1:
        raise StanceError(f"the confidence level must lie strictly between 0 and 1, not {level}")
    if out is not None and Path(out).suffix.lower() not in OUTPUT_FORMATS:
        raise StanceError(f"{out}: the estimates file must end in {', '.join(OUTPUT_FORMATS)}")
    if method not in quantify.METHODS:
        raise StanceError(f"the method must be one of {', '.join(quantify.METHODS)}, not {method!r}")
    by = list(by or [])
    opened = open_scores(scores)
    check_fields(opened, by)  # also refuses scores without sentences
    labels = opened.labels
    references = run_references(model or opened.run_path, labels)
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
    n_groups = int(grouping.max()) + 1
    n_sentences = np.bincount(grouping, minlength=n_groups)
    article_group = pd.Series(grouping).groupby(articles).first()
    n_articles = np.bincount(article_group.to_numpy(), minlength=n_groups)
    audit_rows = join_audit(audit, opened, frame, grouping) if audit is not None else None
    rows = []
    with progress_bar("estimate", len(labels), enabled=progress, unit="dimensions") as bar:
        for dim, names in labels.items():
            proba = frame[[f"{dim}_p_{name}" for name in names]].to_numpy(dtype=np.float64)
            totals = np.stack([np.bincount(grouping, weights=proba[:, c], minlength=n_groups)
                               for c in range(len(names))], axis=1)
            model_only = quantify.estimate_groups(proba, grouping, articles, references[dim], method, level=level,
                                                  replicates=replicates, seed=seed)
            model_method = f"{METHOD_NAMES[method]}; bootstrap over articles ({replicates} replicates)"
            weak = ["weak_model"] if references[dim].macro_f1() < WEAK_MODEL_F1 else []
            for g in range(n_groups):
                thin = ["few_articles"] if n_articles[g] < min_articles else []
                for c, name in enumerate(names):
                    row = {**group_table.loc[g, key_columns].to_dict(), "dimension": dim, "class": name,
                           "estimate": model_only.estimate[g, c], "low": model_only.low[g, c],
                           "high": model_only.high[g, c], "n_sentences": int(n_sentences[g]),
                           "n_articles": int(n_articles[g]), "n_audit": 0, "method": model_method,
                           "flag": ",".join(thin + weak)}
                    if audit_rows is not None:
                        row.update(audit_rows.cell(dim, g, c, totals[g, c], proba[:, c], grouping, level, row,
                                                   thin))
                    rows.append(row)
            bar.advance()
    result = pd.DataFrame(rows, columns=[*key_columns, *COLUMNS])
    if out is not None:
        write_estimates(result, out)
    return result


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


def read_estimates(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise StanceError(f"{path}: no such estimates file")
    suffix = path.suffix.lower()
    frame = (pd.read_csv(path, keep_default_na=False, na_values=[""]) if suffix == ".csv"
             else pd.read_parquet(path) if suffix == ".parquet"
             else pd.read_json(path, orient="records", dtype=False) if suffix == ".json" else None)
    if frame is None or not set(COLUMNS) <= set(frame.columns):
        raise StanceError(f"{path}: not an estimates file (written by `stance estimate`)")
    frame["flag"] = frame["flag"].fillna("")
    return frame


def run_references(run_ref, labels: dict[str, list[str]]) -> dict[str, quantify.Reference]:
    """Per dimension, the run's cross-validated probabilities and true labels: what it knows of its errors."""
    from stance.experiments.runs import load_run
    run = load_run(run_ref, with_model=False)
    if run.labels != labels:
        raise StanceError(f"{run.path}: the run's labels differ from those of the scores; pass the run that "
                          "made them")
    table = pq.read_table(run.path / "cv_predictions.parquet").to_pandas()
    references = {}
    for dim, names in labels.items():
        known = table[f"{dim}_true"].notna()
        y = table.loc[known, f"{dim}_true"].map({n: i for i, n in enumerate(names)}).to_numpy(dtype=np.int64)
        proba = table.loc[known, [f"{dim}_p_{n}" for n in names]].to_numpy(dtype=np.float64)
        references[dim] = quantify.Reference(proba, y)
    return references


class AuditSample:
    """Audit labels joined to the scored sentences (``rows``), with the sampling design they were drawn
    under: each row's stratum, and each stratum's size."""

    def __init__(self, rows: np.ndarray, labels: dict[str, np.ndarray], strata: np.ndarray,
                 strata_population: np.ndarray, design: str) -> None:
        self.rows, self.labels, self.strata, self.population, self.design = (rows, labels, strata,
                                                                             strata_population, design)

    def _labelled(self, dim: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The audited rows with a label on ``dim``, their strata and their labels."""
        keep = self.labels[dim] >= 0
        return self.rows[keep], self.strata[keep], self.labels[dim][keep]

    def resolved(self, dim: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The rows with a label on ``dim``, their labels, and their design weights (stratum size over
        the stratum's labelled count: unlabelled sampled sentences are treated as missing at random)."""
        rows, strata, y = self._labelled(dim)
        labelled = np.bincount(strata, minlength=len(self.population))
        return rows, y, self.population[strata] / np.maximum(labelled[strata], 1)

    def cell(self, dim: str, g: int, c: int, f_total: float, p: np.ndarray, grouping: np.ndarray, level: float,
             row: dict, thin: list[str]) -> dict:
        """The audit-based estimate of class ``c`` in group ``g``, or the model-only row, flagged, when
        the group has too few audit labels."""
        rows, strata, y = self._labelled(dim)
        in_group = grouping[rows] == g
        n_audit = int(in_group.sum())
        if n_audit < 2:
            return {"n_audit": n_audit, "flag": ",".join([*thin, "no_audit" if not n_audit else "few_audit"]),
                    "method": row["method"] + "; too few audit labels in this group to use them"}
        result = quantify.audit_share(float(f_total), row["n_sentences"], (y == c).astype(float),
                                      p[rows], in_group, strata, self.population, level=level)
        combined = (f"PPI++ (model predictions on every sentence + audit labels, coefficient "
                    f"{result.coefficient:.2f})" if result.coefficient > 0 else "audit labels alone")
        return {"estimate": result.estimate, "low": result.low, "high": result.high, "n_audit": n_audit,
                "method": f"{combined}; {self.design}",
                "flag": ",".join([*thin, *(["few_audit"] if n_audit < MIN_AUDIT else [])])}


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
        theirs = list(dataset.features[dim].names)
        if theirs != labels[dim]:
            raise StanceError(f"{path}: the audit's {dim!r} choices {theirs} differ from the scores' "
                              f"{labels[dim]}: labels of another schema")
    ids = table.column("sentence_id").to_pylist()
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
    return AuditSample(rows, audit_labels, codes[rows], population,
                  f"stratified random audit by {', '.join(by) or 'nothing'} (audit.json)")
