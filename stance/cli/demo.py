"""``stance demo``: the embedded default, end to end."""

from pathlib import Path
from typing import Annotated

import typer

from stance.cli._app import app
from stance.demo import DEFAULT_WORKDIR


@app.command("demo")
def demo(
    workdir: Annotated[Path, typer.Option(help="Where the demo writes everything.")] = DEFAULT_WORKDIR,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Run the whole loop on the synthetic demo corpus and say where everything is.

    Safe to run again: it reuses what exists.
    """
    from stance.demo import run_demo
    result = run_demo(workdir, progress=not quiet)
    typer.echo(result.summary())
