"""``stance demo``: the embedded default, end to end."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from stance.cli._app import app
from stance.demo import DEFAULT_WORKDIR, PROJECT
from stance.studio import DEFAULT_DATA_DIR


@app.command("demo")
def demo(
    workdir: Annotated[Path, typer.Option(help="Where the demo writes everything.")] = DEFAULT_WORKDIR,
    data_dir: Annotated[Path, typer.Option(help="Data directory of the embedded Label Studio.")] = DEFAULT_DATA_DIR,
    port: Annotated[Optional[int], typer.Option(help="Port for Label Studio (default 8080, or a free one).")] = None,
    project: Annotated[str, typer.Option(help="Label Studio project of the demo.")] = PROJECT,
    new_run: Annotated[bool, typer.Option(help="Train a new model run even if an identical one exists.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Run the whole loop on the synthetic demo corpus and say where everything is.

    Corpus -> embedded Label Studio -> three simulated annotators -> pull -> train ->
    score -> report. Safe to run again: it reuses what exists (no duplicate tasks,
    annotations or runs). Label Studio keeps running afterwards; `stance studio stop`
    stops it.
    """
    from stance.demo import run_demo
    result = run_demo(workdir, data_dir=data_dir, port=port, project=project, new_run=new_run, progress=not quiet)
    typer.echo(result.summary())
