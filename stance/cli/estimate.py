"""``stance estimate``: class shares per group with intervals, corrected for the model's errors."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from stance.cli._app import RunsOption, app, run_path
from stance.progress import stderr
from stance.quantify import DEFAULT_METHOD, METHODS, MIN_ARTICLES, POOL_MIN_GROUPS, REPLICATES


@app.command("estimate")
def estimate_command(
    scores: Annotated[Path, typer.Argument(help="A directory written by `stance score`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The estimates file: .csv, .parquet or .json.")],
    by: Annotated[Optional[list[str]], typer.Option(
        help="Group by this sentence field (source, or any article field); repeat for several. "
             "None: one estimate for the whole corpus.")] = None,
    period: Annotated[Optional[str], typer.Option(
        help="Also group by time: day, week, month, quarter or year of the date; the trend of each "
             "share per period is written beside --out as STEM.trends.EXT.")] = None,
    compare: Annotated[Optional[str], typer.Option(
        help="Also give the difference of each share between every pair of this field's groups (added "
             "to --by), with an interval and Holm-adjusted p-values, beside --out as "
             "STEM.differences.EXT.")] = None,
    baseline: Annotated[Optional[str], typer.Option(
        help="With --compare: compare each group with this one only (e.g. --baseline nyt).")] = None,
    audit: Annotated[Optional[Path], typer.Option(
        help="Labelled random sample of these scores (from `stance audit push` + `labels pull`): "
             "intervals that hold whatever the model's errors.")] = None,
    pool: Annotated[str, typer.Option(
        help="With --audit: pool each class's audited shares across groups where at least "
             f"{POOL_MIN_GROUPS} are audited at random (auto), for narrower intervals that cover on average "
             "over the groups; never: each group's own audit, an interval that holds for each group.")] = "auto",
    level: Annotated[float, typer.Option(help="Confidence level of the intervals.")] = 0.95,
    min_articles: Annotated[int, typer.Option(help="Flag groups with fewer articles than this.")] = MIN_ARTICLES,
    method: Annotated[str, typer.Option(
        help=f"Correction without an audit: {', '.join(METHODS)}. auto takes the one that erred least "
             "under shift on the run's own data (cc and pcc are uncorrected).")] = DEFAULT_METHOD,
    replicates: Annotated[int, typer.Option(help="Bootstrap replicates (articles resampled).")] = REPLICATES,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    model: Annotated[Optional[str], typer.Option(
        "--model", "-m", help="The run whose cross-validated errors correct the shares (default: the run "
                              "that made the scores).")] = None,
    runs: RunsOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Estimate each class's share of sentences per group, with an interval.

    A model's raw shares are biased wherever a group's class mix differs from the
    training data's. Without `--audit` the rows are model-only: the shares are corrected
    by the method that erred least under shift on the run's own data (leaving out each
    labelled source, or artificial class mixes), and the interval adds that measured
    error to a bootstrap over articles. They assume the corpus differs from the labelled
    data no more than those checks did. With `--audit` the model's predictions on every
    sentence are combined with the audit's labels (PPI++ under the audit's design):
    intervals that hold whatever the model's errors. With many audited groups (outlets,
    months) each class's shares are pooled across them (--pool auto): a group's few
    labels borrow strength from the others, and the intervals cover on average over the
    groups. Groups with fewer than
    --min-articles articles (their interval counts an article as about one observation)
    or few audit labels are flagged, never hidden.

    Example: `stance estimate scores/ --compare source --period month --audit audit-labels/ --out shares.csv`
    writes shares.csv, shares.differences.csv (outlet against outlet) and shares.trends.csv
    (the slope per month of each outlet's shares).
    """
    from stance.findings.estimate import (MODEL_ONLY, MODEL_ONLY_ASSUMPTION, POOLED, POOLED_NOTE, companion,
                                          estimate_tables)
    tables = estimate_tables(scores, out, by=by, period=period, audit=audit, level=level, min_articles=min_articles,
                             method=method, replicates=replicates, seed=seed,
                             model=run_path(model, runs) if model else None, compare=compare, baseline=baseline,
                             pool=pool, progress=not quiet)
    result = tables["shares"]
    flagged = int((result["flag"] != "").sum())
    keys = [c for c in result.columns if c in (*(by or []), "period")]
    groups = len(result.drop_duplicates(keys)) if keys else 1
    model_only = int(result["method"].str.startswith(MODEL_ONLY).sum())
    pooled = int(result["method"].str.startswith(POOLED).sum())
    stderr.print(f"{len(result):,} estimates ({groups:,} groups), {flagged:,} flagged, {model_only:,} model-only"
                 f"{f', {pooled:,} pooled' if pooled else ''}; method: {result['method'].iloc[0]}; written to {out}",
                 highlight=False)
    if model_only:
        stderr.print(f"note: {MODEL_ONLY_ASSUMPTION}", highlight=False)
    if pooled:
        stderr.print(f"note: {POOLED_NOTE}", highlight=False)
    if compare is not None:
        differences = tables["differences"]
        stderr.print(f"{len(differences):,} differences between groups of {compare}, "
                     f"{int(differences['holds'].sum()):,} hold at {level:.0%} after Holm's adjustment; written to "
                     f"{companion(out, 'differences')}", highlight=False)
    if period is not None:
        stderr.print(f"trends per {period}: {companion(out, 'trends')}", highlight=False)
