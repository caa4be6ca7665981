"""``stance report``: scores into one HTML page."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from stance.cli._app import app
from stance.progress import stderr


@app.command("report")
def report_command(
    scores: Annotated[Path, typer.Argument(help="A directory written by `stance score`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The HTML file to write.")] = Path("report.html"),
    by: Annotated[Optional[list[str]], typer.Option(
        help="Group by `source` (default), `date`, or any article field; repeat for several.")] = None,
    period: Annotated[str, typer.Option(help="Time buckets: auto, day, week or month.")] = "auto",
    examples: Annotated[int, typer.Option(help="Most confident sentences shown per class.")] = 3,
) -> None:
    """One self-contained HTML file (plots inline, no network needed): class shares per group and
    over time, the distribution of article net scores, and example sentences per class.

    Example: `stance report scores/ --out report.html --by source --period week`
    """
    from stance.report import report
    result = report(scores, out, by=by, period=period, examples=examples)
    stderr.print(str(result), highlight=False)
