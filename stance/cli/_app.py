"""The Typer apps that the command modules attach to (one module per command group)."""

from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(
    name="stance",
    help="Label, train and score stance in news sentences about US-China relations.\n\n"
    "The loop: corpus build -> labels push -> (annotate in Label Studio) -> labels pull -> "
    "experiments run -> score -> estimate (audit push for valid intervals) -> report. "
    "Start with `stance demo` to see all of it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
corpus_app = typer.Typer(help="Turn articles into a corpus of sentences.", no_args_is_help=True)
app.add_typer(corpus_app, name="corpus")
studio_app = typer.Typer(help="Run the embedded Label Studio (127.0.0.1 only).", no_args_is_help=True)
app.add_typer(studio_app, name="studio")
labels_app = typer.Typer(help="Label in Label Studio: push sentences (random, diverse or uncertain), pull "
                         "annotations, agreement, import, pre-annotate with a run, replay active learning.",
                         no_args_is_help=True)
app.add_typer(labels_app, name="labels")
audit_app = typer.Typer(help="Audit the scores: a random sample of scored sentences for people to label, so that "
                        "`stance estimate --audit` gives intervals that hold whatever the model's errors.",
                        no_args_is_help=True)
app.add_typer(audit_app, name="audit")
encoders_app = typer.Typer(help="Sentence encoders: distil a static (model2vec) encoder for fast scoring.",
                           no_args_is_help=True)
app.add_typer(encoders_app, name="encoders")

CONNECTION = "Label Studio connection"


def url_option():
    return typer.Option("--url", envvar="LABEL_STUDIO_URL", show_envvar=True, rich_help_panel=CONNECTION,
                        help="Label Studio to use (default: the embedded server of --data-dir).")


def api_key_option():
    return typer.Option("--api-key", envvar="LABEL_STUDIO_API_KEY", show_envvar=True, show_default=False,
                        rich_help_panel=CONNECTION, help="Legacy token or personal access token.")


def data_dir_option():
    return typer.Option("--data-dir", rich_help_panel=CONNECTION,
                        help="Data directory of the embedded Label Studio.")


#: Where run ids and `latest` are looked up: runs saved with `experiments run --out DIR` live in DIR.
RunsOption = Annotated[Optional[Path], typer.Option(
    "--runs", help="Runs directory in which a run id or `latest` is looked up (default artifacts/runs, or "
                   "$STANCE_RUNS_DIR); the --out of `experiments run`.")]


def run_path(ref: str, runs: Optional[Path]) -> Path:
    """The run directory a RUN argument names, looked up under --runs."""
    from stance.model.runs import resolve_run
    return resolve_run(ref, runs)


UrlOption = Annotated[Optional[str], url_option()]
ApiKeyOption = Annotated[Optional[str], api_key_option()]
DataDirOption = Annotated[Path, data_dir_option()]


def field_option(name: str):
    """A --NAME-field flag; every command that reads articles takes the same seven."""
    return typer.Option(f"--{name}-field", help=f"Input field holding the article's {name}.",
                        rich_help_panel="Input field names")


# The options of every command that reads articles (`corpus build`, `score`), defined once.
IdField = Annotated[str, field_option("id")]
TextField = Annotated[str, field_option("text")]
TitleField = Annotated[str, field_option("title")]
SourceField = Annotated[str, field_option("source")]
DateField = Annotated[str, field_option("date")]
UrlField = Annotated[str, field_option("url")]
AuthorField = Annotated[str, field_option("author")]
MaxChars = Annotated[int, typer.Option(help="Reject articles longer than this many characters.")]
MaxSentenceChars = Annotated[int, typer.Option(help="Cut sentences longer than this at a space.")]
