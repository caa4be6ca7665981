"""The ``stance`` command line: thin commands over the importable functions of the package."""

import sys

from rich.markup import escape

from stance.cli import (  # noqa: F401  (registers the commands)
    audit, corpus, demo, encoders, estimate, experiments, fetch, labels, report, score, serve, studio)
from stance.cli._app import app
from stance.errors import StanceError
from stance.progress import stderr

#: Python keywords whose flag is not ``--`` plus the keyword: repeated flags are singular.
FLAGS = {"filters": "--filter", "strategies": "--strategy", "labels": "--label", "overrides": "--set"}


def main() -> None:
    """Run the CLI; a :class:`StanceError`, or a file that cannot be read or written (a read-only
    output directory, a full disk), becomes one clear line and exit status 1."""
    try:
        app()
    except StanceError as exc:
        stderr.print(f"[bold red]error:[/] {escape(exc.for_cli(FLAGS))}", highlight=False)
        sys.exit(1)
    except OSError as exc:
        if exc.filename is None:  # not about a file the user named: a bug to see whole
            raise
        where = f"{exc.filename}" + (f" -> {exc.filename2}" if exc.filename2 else "")
        stderr.print(f"[bold red]error:[/] {escape(where)}: {escape(exc.strerror or str(exc))}", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        stderr.print("[yellow]interrupted[/]")
        sys.exit(130)
