"""``stance serve``: a Label Studio ML backend over a run."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from stance.cli._app import ApiKeyOption, DataDirOption, RunsOption, UrlOption, app, run_path
from stance.studio import DEFAULT_DATA_DIR, ML_BACKEND_PORT


@app.command("serve")
def serve_command(
    model: Annotated[str, typer.Option("--model", "-m", help="Run directory, run id, or `latest`.")],
    runs: RunsOption = None,
    port: Annotated[int, typer.Option(help="Port to listen on.")] = ML_BACKEND_PORT,
    host: Annotated[str, typer.Option(help="Address to listen on; keep 127.0.0.1 unless Label Studio "
                                           "runs elsewhere.")] = "127.0.0.1",
    project: Annotated[Optional[str], typer.Option(
        "--project", "-p", help="Connect this project to the backend (and send it annotation events).")] = None,
    retrain_every: Annotated[Optional[int], typer.Option(
        help="Retrain (pull, then run the run's own config) every N new annotations; needs --project.")] = None,
    url: UrlOption = None, api_key: ApiKeyOption = None, data_dir: DataDirOption = DEFAULT_DATA_DIR,
) -> None:
    """Serve a run's predictions to Label Studio as an ML backend, so annotators see pre-annotations.

    Example: `stance serve --model latest --project "Biden-Xi call" --retrain-every 50`.
    Without --project, connect it yourself in the project's settings (Model -> Connect model,
    URL http://127.0.0.1:9090).
    """
    from stance.errors import StanceError
    from stance.scoring.serve import serve
    studio = None
    if project or retrain_every:
        if not project:
            raise StanceError("--retrain-every needs --project (whose labels to retrain on)")
        from stance.studio.client import connect
        studio = connect(url, api_key, data_dir=data_dir)
    serve(run_path(model, runs), host=host, port=port, studio=studio, project=project, retrain_every=retrain_every,
          workdir=Path(".stance/serve"))
