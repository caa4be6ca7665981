"""The Typer apps that the command modules attach to (one module per command group)."""

import typer

app = typer.Typer(
    name="stance",
    help="Label, train and score stance in news sentences about US-China relations.\n\n"
    "The loop: corpus build -> labels push -> (annotate in Label Studio) -> labels pull -> "
    "experiments run -> score -> report. Start with `stance demo` to see all of it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
corpus_app = typer.Typer(help="Turn articles into a corpus of sentences.", no_args_is_help=True)
app.add_typer(corpus_app, name="corpus")
