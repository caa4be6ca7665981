"""``stance labels push|pull|agreement|import``: the labelling loop with Label Studio."""

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from stance.cli._app import ApiKeyOption, DataDirOption, RunsOption, UrlOption, labels_app, run_path
from stance.errors import StanceError
from stance.experiments.active import BATCH, REPEATS, ROUNDS, SEED_SIZE
from stance.labels import SELECTIONS, STRATEGIES, UNCERTAINTY_METHODS
from stance.progress import stderr
from stance.studio import DEFAULT_DATA_DIR

Url, ApiKey, DataDir = UrlOption, ApiKeyOption, DataDirOption


@labels_app.command("push")
def push(
    corpus: Annotated[Path, typer.Argument(help="A corpus directory from `stance corpus build`.")],
    project: Annotated[str, typer.Option("--project", "-p", help="Project title; created on first use.")],
    select: Annotated[str, typer.Option(help=f"Which sentences: {', '.join(SELECTIONS)}.")] = "all",
    n: Annotated[Optional[int], typer.Option("--n", help="How many sentences to send.")] = None,
    filters: Annotated[Optional[list[str]], typer.Option(
        "--filter", help="Keep only sentences mentioning this term (repeat for any of several).")] = None,
    context: Annotated[int, typer.Option(help="Sentences of context shown before and after.")] = 2,
    seed: Annotated[int, typer.Option(help="Seed of the strategies' random choices (random, diverse and "
                                           "uncertain-diverse's spread, balanced's order of classes).")] = 0,
    update_config: Annotated[bool, typer.Option(help="Replace the project's labelling config if it "
                                                     "no longer matches the schema.")] = False,
    model: Annotated[Optional[str], typer.Option(
        "--model", "-m", help="A run: its predictions go with every task; needed by --select uncertain, "
                              "uncertain-diverse and balanced.")] = None,
    focus: Annotated[Optional[str], typer.Option(help="Pick by the run's predictions on this dimension only.")] = None,
    uncertainty: Annotated[str, typer.Option(help=f"{' or '.join(UNCERTAINTY_METHODS)}.")] = "entropy",
    runs: RunsOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    url: Url = None, api_key: ApiKey = None, data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Send sentences to Label Studio as tasks, with their context and article metadata.

    Sentences already in the project are never sent again, so an interrupted push can
    simply be re-run. `--select diverse --n 200` spreads the batch over articles and
    content and skips near-duplicates; `--filter China --filter Beijing` keeps only
    sentences that mention a term. `--select uncertain --model latest --n 100` sends
    the sentences the run is least sure of, with its predictions as pre-annotations;
    `uncertain-diverse` spreads the batch out among the least sure; `balanced` sends as
    many likely members of each class as of any other, to find rare classes early.
    `stance labels simulate` shows which pays on data like yours.
    """
    from stance.labels.push import push as push_sentences
    from stance.model.runs import load_run
    from stance.studio.client import connect
    run = load_run(run_path(model, runs)) if model else None
    studio = connect(url, api_key, data_dir=data_dir)
    result = push_sentences(studio, corpus, project, select=select, n=n, filters=filters or [],
                            context=context, seed=seed, update_config=update_config, model=run, focus=focus,
                            uncertainty=uncertainty, progress=not quiet)
    stderr.print(f"{result}\nopen {studio.url}/projects/{result.project_id} to label", highlight=False)


@labels_app.command("pull")
def pull(
    project: Annotated[str, typer.Option("--project", "-p", help="Project title.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory of the labelled dataset.")],
    full: Annotated[bool, typer.Option(help="Read the whole project even if OUT has an earlier pull.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    url: Url = None, api_key: ApiKey = None, data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Pull every annotator's labels into a Hugging Face dataset, with agreement.

    Each dimension is resolved per sentence (ground truth wins, else majority; ties are
    kept and marked). A second pull into the same OUT reads only what changed.
    Open the result with `datasets.load_from_disk(OUT)`.
    """
    from stance.labels.agreement import agreement_tables
    from stance.labels.pull import pull as pull_labels
    from stance.studio.client import connect
    studio = connect(url, api_key, data_dir=data_dir)
    result = pull_labels(studio, project, out, full=full, progress=not quiet)
    stderr.print(str(result), highlight=False)
    for table in agreement_tables(result.agreement):
        stderr.print(table)


@labels_app.command("predict")
def predict_command(
    project: Annotated[str, typer.Option("--project", "-p", help="Project title.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Run directory, run id, or `latest`.")],
    runs: RunsOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    url: Url = None, api_key: ApiKey = None, data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Add a run's predictions to the tasks already in a project (annotators then correct them).

    Tasks that have this run's predictions are skipped; the project shows this run's.
    """
    from stance.labels.predict import predict
    from stance.model.runs import load_run
    from stance.studio.client import connect
    run = load_run(run_path(model, runs))
    studio = connect(url, api_key, data_dir=data_dir)
    stderr.print(str(predict(studio, project, run, progress=not quiet)), highlight=False)


@labels_app.command("simulate")
def simulate_command(
    data: Annotated[Path, typer.Option("--data", "-d", help="A labelled dataset (its labels play the annotators).")],
    config: Annotated[Path, typer.Option("--config", "-c", help="Experiment config to train each round.")],
    strategy: Annotated[Optional[list[str]], typer.Option(
        help=f"{', '.join(STRATEGIES)}: as `labels push --select` picks; repeat to compare (default: all).")] = None,
    seed_size: Annotated[int, typer.Option(help="Random labels to start from.")] = SEED_SIZE,
    batch: Annotated[int, typer.Option(help="Labels added per round.")] = BATCH,
    rounds: Annotated[int, typer.Option(help="Rounds of labelling.")] = ROUNDS,
    repeats: Annotated[int, typer.Option(help="Repeats with other test articles and seeds (averaged).")] = REPEATS,
    seed: Annotated[int, typer.Option(
        help="Repeat k draws its test articles and seed labels from SEED + k: --seed 5 --repeats 3 runs "
             "repeats 5 to 7 of a longer replay, to add to one run with --repeats 5.")] = 0,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Where simulation.json/png/html go.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Replay active learning on labelled data: macro-F1 against labels used, per strategy.

    Shows whether `--select uncertain` is worth it on your kind of data before
    annotators spend time on it. Example:
    `stance labels simulate --data labels/demo --config experiments/default.toml`
    """
    from rich.table import Table

    from stance.experiments.active import curve_rows, simulate
    sim = simulate(data, config, strategies=strategy, seed_size=seed_size, batch=batch, rounds=rounds,
                   repeats=repeats, seed=seed, out=out, progress=not quiet)
    table = Table("labels used", *sim.macro_f1, title="macro-F1 on held-out articles (mean over dimensions; "
                  "95% interval over repeats)")
    for row in curve_rows(sim):
        table.add_row(*map(str, row))
    stderr.print(table)
    for gain, saved in sim.against_random:
        if gain is not None:
            stderr.print(str(gain), highlight=False)
        stderr.print(str(saved), highlight=False)
    typer.echo(f"simulation: {sim.out / 'simulation.png'} (and simulation.json, simulation.html)")


@labels_app.command("agreement")
def agreement_command(
    dataset: Annotated[Path, typer.Argument(help="A directory written by `labels pull` or `labels import`.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Krippendorff's alpha and pairwise agreement per dimension, and coverage."""
    from stance.labels.agreement import agreement_tables, dataset_agreement
    report = dataset_agreement(dataset)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    for table in agreement_tables(report):
        stderr.print(table)


def _pairs(values: list[str], option: str, *, empty: bool = False) -> dict[str, str]:
    """KEY=VALUE pairs; with ``empty``, KEY= (an empty value) is allowed."""
    pairs = {}
    for value in values:
        key, sep, target = value.partition("=")
        if not sep or not key or not (target or empty):
            raise StanceError(f"{option} takes KEY=VALUE, got {value!r}")
        pairs[key.strip()] = target.strip()
    return pairs


@labels_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="A Label Studio JSON export, or JSONL/CSV/parquet.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory of the labelled dataset.")],
    text_field: Annotated[str, typer.Option(help="Field holding the sentence text.")] = "text",
    label: Annotated[Optional[list[str]], typer.Option(
        help="DIM=FIELD: read dimension DIM from FIELD (repeat per dimension).")] = None,
    id_field: Annotated[Optional[str], typer.Option(help="Field holding the sentence id.")] = None,
    article_field: Annotated[Optional[str], typer.Option(help="Field holding the article id.")] = None,
    annotator_field: Annotated[Optional[str], typer.Option(help="Field naming the annotator.")] = None,
    map_values: Annotated[Optional[list[str]], typer.Option(
        "--map", help="DIM:VALUE=CHOICE: rename a value of the file to a schema choice; DIM:VALUE= "
                      "drops the value (those rows stay unlabelled on DIM).")] = None,
    corpus: Annotated[Optional[Path], typer.Option(
        help="Corpus directory: rows need only a sentence id; text and article come from it.")] = None,
    keep: Annotated[Optional[list[str]], typer.Option(
        help="Keep this field of the table as a column (repeat for several): an event to group "
             "cross-validation by (cv.group_by), an outlet.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Bring labels made elsewhere into the dataset format of `labels pull`.

    Example: `stance labels import coded.csv --out labels/coded --text-field sentence
    --label framing=frame --map framing:US=us --map framing:China=prc --map framing:unclear=`

    Rows without a sentence (empty text, an unreadable line) go to OUT/rejects.jsonl
    with the reason; the rest is imported.

    Labels kept without their text (keyed by sentence id) join a corpus:
    `stance labels import labels/seed/gold.jsonl --corpus seed-corpus/ --out labels/seed-data`
    """
    from stance.labels.agreement import agreement_tables
    from stance.labels.importer import import_labels
    value_map: dict[str, dict[str, str]] = {}
    for dim_value, choice in _pairs(map_values or [], "--map", empty=True).items():
        dim, sep, value = dim_value.partition(":")
        if not sep:
            raise StanceError(f"--map takes DIM:VALUE=CHOICE, got {dim_value}={choice}")
        value_map.setdefault(dim, {})[value] = choice
    result = import_labels(file, out, text_field=text_field, labels=_pairs(label or [], "--label"),
                           id_field=id_field, article_field=article_field, annotator_field=annotator_field,
                           value_map=value_map, corpus=corpus, keep=keep, progress=not quiet)
    stderr.print(str(result), highlight=False)
    for table in agreement_tables(result.agreement):
        stderr.print(table)
