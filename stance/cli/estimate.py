"""``stance estimate``: class shares per group with intervals, corrected for the model's errors."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from stance.cli._app import RunsOption, app, run_path
from stance.progress import stderr
from stance.quantify import DEFAULT_METHOD, METHODS, MIN_ARTICLES, REPLICATES


@app.command("estimate")
def estimate_command(
    scores: Annotated[Path, typer.Argument(help="A directory written by `stance score`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The estimates file: .csv, .parquet or .json.")],
    by: Annotated[Optional[list[str]], typer.Option(
        help="Group by this sentence field (source, or any article field); repeat for several. "
             "None: one estimate for the whole corpus.")] = None,
    period: Annotated[Optional[str], typer.Option(help="Also group by time: day, week, month, quarter or year of the date.")] = None,
    audit: Annotated[Optional[Path], typer.Option(
        help="Labelled random sample of these scores (from `stance audit push` + `labels pull`): "
             "intervals that hold whatever the model's errors.")] = None,
    level: Annotated[float, typer.Option(help="Confidence level of the intervals.")] = 0.95,
    min_articles: Annotated[int, typer.Option(help="Flag groups with fewer articles than this.")] = MIN_ARTICLES,
    method: Annotated[str, typer.Option(
        help=f"Correction without an audit: {', '.join(METHODS)} (cc and pcc are uncorrected, for "
             "comparison).")] = DEFAULT_METHOD,
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
    training data's. Without `--audit` the shares are corrected with the run's known
    errors (EM prior adjustment on calibrated probabilities) and the interval resamples
    articles. With `--audit` the model's predictions on every sentence are combined with
    the audit's labels (PPI++ under the audit's design): valid intervals, narrower than
    the labels alone. Groups with fewer than --min-articles articles or few audit labels
    are flagged, never hidden.

    Example: `stance estimate scores/ --by source --period month --audit audit-labels/ --out shares.csv`
    """
    from stance.estimate import estimate
    result = estimate(scores, out, by=by, period=period, audit=audit, level=level, min_articles=min_articles,
                      method=method, replicates=replicates, seed=seed, model=run_path(model, runs) if model else None, progress=not quiet)
    flagged = int((result["flag"] != "").sum())
    keys = [c for c in result.columns if c in (*(by or []), "period")]
    groups = len(result.drop_duplicates(keys)) if keys else 1
    stderr.print(f"{len(result):,} estimates ({groups:,} groups), {flagged:,} flagged; method: "
                 f"{result['method'].iloc[0]}; written to {out}", highlight=False)
