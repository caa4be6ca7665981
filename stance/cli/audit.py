"""``stance audit push`` and ``plan``: a random sample of scored sentences to label, for valid intervals,
and how large it must be."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from stance.cli._app import ApiKeyOption, DataDirOption, RunsOption, UrlOption, audit_app, run_path
from stance.progress import stderr
from stance.studio import DEFAULT_DATA_DIR


@audit_app.command("push")
def push(
    scores: Annotated[Path, typer.Argument(help="A directory written by `stance score`.")],
    project: Annotated[str, typer.Option("--project", "-p", help="Its own Label Studio project; created on "
                                                                 "first use.")],
    n: Annotated[int, typer.Option("--n", help="Sentences in all, split over the groups.")],
    by: Annotated[Optional[list[str]], typer.Option(
        help="Stratify by this sentence field (default: source); repeat for several.")] = None,
    proportional: Annotated[bool, typer.Option(
        help="Sample groups in proportion to their size instead of equally.")] = False,
    active: Annotated[bool, typer.Option(
        help="Draw each group's share by the model's uncertainty (each sentence with a known chance, weighted "
             "back by it: active inference) instead of uniformly. Pays only where the model is sure of most "
             "sentences; with the default model on BASIL and our news-like set it gave wider intervals.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the draw (the same seed draws the same sample).")] = 0,
    context: Annotated[int, typer.Option(help="Sentences of context shown before and after.")] = 2,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    url: UrlOption = None, api_key: ApiKeyOption = None, data_dir: DataDirOption = DEFAULT_DATA_DIR,
) -> None:
    """Draw a stratified random sample of scored sentences and push it to its own project,
    without the model's predictions (so annotators do not anchor on them). `stance audit plan`
    says how large it should be.

    The design (seed, strata, sizes, inclusion probabilities) is saved as SCORES/audit.json;
    `stance estimate --audit` uses it. Re-running adds nothing. Label the tasks, then
    `stance labels pull --project NAME --out audit-labels/`.

    Example: `stance audit push scores/ --project "audit 2021" --n 400 --by source`
    """
    from stance.findings.audit import draw_audit, push_drawn
    from stance.studio.client import connect
    drawn = draw_audit(scores, n, by=by, allocation="proportional" if proportional else "equal", seed=seed,
                       active=active)
    studio = connect(url, api_key, data_dir=data_dir)  # after the draw: bad input is refused before any server
    result = push_drawn(studio, drawn, project, context=context, progress=not quiet)
    stderr.print(f"{result}\nopen {studio.url}/projects/{result.project_id} to label", highlight=False)


@audit_app.command("plan")
def plan_command(
    scores: Annotated[Path, typer.Argument(help="A directory written by `stance score`.")],
    width: Annotated[float, typer.Option(help="Widest interval wanted on any class share, as a fraction "
                                              "(0.2: 20 points, e.g. 30% to 50%).")] = 0.2,
    by: Annotated[Optional[list[str]], typer.Option(
        help="Per group of this sentence field (default: source); repeat for several.")] = None,
    level: Annotated[float, typer.Option(help="Confidence level of the intervals.")] = 0.95,
    model: Annotated[Optional[str], typer.Option(
        help="The run whose cross-validated errors to plan from (default: the run that scored them).")] = None,
    runs: RunsOption = None,
) -> None:
    """How many audit labels each group needs for intervals of a given width, with the model's
    predictions (PPI++) and with the labels alone, from the model's cross-validated errors.

    Example: `stance audit plan scores/ --width 0.15 --by source`, then `stance audit push`
    with the --n it suggests.
    """
    from stance.findings.audit import plan
    print(plan(scores, width, by=by, level=level, model=run_path(model, runs) if model else None))
