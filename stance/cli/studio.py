"""``stance studio start|stop|status``: the embedded Label Studio."""

from pathlib import Path
from typing import Annotated

import typer

from stance.cli._app import studio_app
from stance.progress import stderr
from stance.studio import server

DataDir = Annotated[Path, typer.Option("--data-dir", help="Where Label Studio keeps its database and credentials.")]


@studio_app.command("start")
def start(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = server.DEFAULT_PORT,
    data_dir: DataDir = server.DEFAULT_DATA_DIR,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Start Label Studio on 127.0.0.1 (or say where it already runs).

    The first start creates an admin user with a random password and API token,
    kept in DATA_DIR/credentials.env (mode 0600); stance commands find them there.
    """
    info = server.start(data_dir, port, progress=not quiet)
    state = "already running" if info.already_running else "running"
    stderr.print(f"Label Studio {state} at [bold]{info.url}[/] (pid {info.pid})", highlight=False)
    stderr.print(f"log in as {server.read_credentials(info.credentials_file).username}; "
                 f"password and API token are in {info.credentials_file}", highlight=False)


@studio_app.command("stop")
def stop(data_dir: DataDir = server.DEFAULT_DATA_DIR) -> None:
    """Stop the Label Studio that `stance studio start` started for DATA_DIR (no other)."""
    stopped = server.stop(data_dir)
    stderr.print("stopped" if stopped else f"no Label Studio started from {data_dir} is running")


@studio_app.command("status")
def status(data_dir: DataDir = server.DEFAULT_DATA_DIR) -> None:
    """Say whether the embedded Label Studio runs, and where."""
    info = server.status(data_dir)
    if info is None:
        stderr.print(f"not running (start it with `stance studio start --data-dir {data_dir}`)")
        raise typer.Exit(3)
    stderr.print(f"running at {info.url} (pid {info.pid}); credentials in {info.credentials_file}")
