"""``stance report``: scores into one HTML page."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from stance.cli._app import app
from stance.progress import stderr
from stance.quantify import POOL_MIN_GROUPS


@app.command("report")
def report_command(
    scores: Annotated[Path, typer.Argument(help="A directory written by `stance score`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The HTML file to write.")] = Path("report.html"),
    by: Annotated[Optional[list[str]], typer.Option(
        help="Group by `source` (default; the whole corpus when no article names one), `date`, or any "
             "article field; repeat for several.")] = None,
    period: Annotated[str, typer.Option(help="Time buckets: auto (the finest whose buckets hold 10 articles or more, typically), day, week, "
                          "month, quarter or year.")] = "auto",
    examples: Annotated[int, typer.Option(help="Most confident sentences shown per class.")] = 3,
    estimates: Annotated[Optional[Path], typer.Option(
        help="Show this file from `stance estimate` instead of estimating here.")] = None,
    audit: Annotated[Optional[Path], typer.Option(
        help="Audit labels (see `stance audit push`): valid intervals, and the model's precision and "
             "recall on these articles.")] = None,
    pool: Annotated[str, typer.Option(
        help=f"With --audit: auto pools each class's audited shares across groups where {POOL_MIN_GROUPS} or "
             "more are audited (intervals that cover on average over the groups); never: each group's own.")] = "auto",
    level: Annotated[float, typer.Option(help="Confidence level of the intervals.")] = 0.95,
) -> None:
    """One self-contained HTML file (plots inline, no network needed): each class's share per group and
    over time as estimates with intervals (corrected for the model's errors; see `stance estimate`),
    how far to trust the model (calibration; precision and recall with an audit), the distribution
    of article net scores, and example sentences per class.

    Example: `stance report scores/ --out report.html --by source --period month --audit audit-labels/`
    """
    from stance.findings.report import report
    result = report(scores, out, by=by, period=period, examples=examples, estimates=estimates, audit=audit,
                    level=level, pool=pool)
    stderr.print(str(result), highlight=False)
