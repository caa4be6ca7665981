"""``stance audit push``: a random sample of scored sentences to label, for valid intervals."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from stance.cli._app import ApiKeyOption, DataDirOption, UrlOption, audit_app
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
    seed: Annotated[int, typer.Option(help="Seed of the draw (the same seed draws the same sample).")] = 0,
    context: Annotated[int, typer.Option(help="Sentences of context shown before and after.")] = 2,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    url: UrlOption = None, api_key: ApiKeyOption = None, data_dir: DataDirOption = DEFAULT_DATA_DIR,
) -> None:
    """Draw a stratified simple random sample of scored sentences and push it to its own project,
    without the model's predictions (so annotators do not anchor on them).

    The design (seed, strata, sizes, inclusion probabilities) is saved as SCORES/audit.json;
    `stance estimate --audit` uses it. Re-running adds nothing. Label the tasks, then
    `stance labels pull --project NAME --out audit-labels/`.

    Example: `stance audit push scores/ --project "audit 2021" --n 400 --by source`
    """
    from stance.audit import plan, push_plan
    from stance.studio.client import connect
    drawn = plan(scores, n, by=by, allocation="proportional" if proportional else "equal", seed=seed)
    studio = connect(url, api_key, data_dir=data_dir)  # after the draw: bad input is refused before any server
    result = push_plan(studio, drawn, project, context=context, progress=not quiet)
    stderr.print(f"{result}\nopen {studio.url}/projects/{result.project_id} to label", highlight=False)
