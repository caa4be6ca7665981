"""``stance serve``: a Label Studio ML backend that predicts with a run and retrains it.

The HTTP interface Label Studio calls (as ``label-studio-ml-backend`` servers answer it):

- ``GET /health``  -> ``{"status": "UP", "model_version": ...}``
- ``POST /setup``  -> ``{"model_version": ...}`` (Label Studio asks on connecting)
- ``POST /predict`` ``{"tasks": [...]}`` -> ``{"results": [prediction per task]}``
- ``POST /webhook`` annotation events (``ANNOTATION_CREATED``, ``ANNOTATION_UPDATED``,
  ``START_TRAINING``) and ``POST /train`` (older servers' training call)
- ``GET /status``  -> what the backend has seen (not part of Label Studio's protocol)

With ``retrain_every=N``, every N annotation events start a retraining in the
background: the project's labels are pulled, the run's own experiment config is run
on them, and the backend switches to the new run only once it is saved complete.
"""

from __future__ import annotations

import json
import threading
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from stance.active import prediction
from stance.experiments.runs import Run, load_run
from stance.progress import stderr
from stance.studio import ML_BACKEND_PORT

ANNOTATION_EVENTS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_CREATED")
TRAIN_EVENTS = ("START_TRAINING",)


@dataclass
class Backend:
    """The state behind the HTTP server: the current run and what has happened."""

    run: Run
    studio: object | None = None  # a stance.studio.client.Studio, needed to retrain
    project: str | None = None
    retrain_every: int | None = None
    workdir: Path = Path(".stance/serve")
    events: list[dict] = field(default_factory=list)
    since_training: int = 0
    training: bool = False
    trained: list[str] = field(default_factory=list)
    last_error: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def model_version(self) -> str:
        return self.run.run_id

    def predict(self, tasks: list[dict]) -> list[dict]:
        run = self.run  # one consistent run for the whole request, even if a retraining switches now
        texts = [str((task.get("data") or {}).get("text", "")) for task in tasks]
        proba = run.predict_proba(texts)
        return [prediction(run.labels, proba, i, run.run_id) for i in range(len(texts))]

    def event(self, payload: dict) -> None:
        action = payload.get("action") or "TRAIN"
        with self._lock:
            self.events.append({"action": action, "task": (payload.get("task") or {}).get("id"),
                                "annotation": (payload.get("annotation") or {}).get("id")})
            if action in ANNOTATION_EVENTS:
                self.since_training += 1
            due = self.retrain_every and (action in TRAIN_EVENTS or action == "TRAIN"
                                          or self.since_training >= self.retrain_every)
            if due and not self.training and self.studio is not None:
                self.training, self.since_training = True, 0
                threading.Thread(target=self._retrain, args=(payload,), daemon=True).start()

    def _retrain(self, payload: dict) -> None:
        from stance.experiments import run as run_experiment
        from stance.labels.pull import pull
        try:
            project = self.project or (payload.get("project") or {}).get("title")
            labels = self.workdir / "labels" / _safe(project)
            pull(self.studio, project, labels)
            result = run_experiment(self.run.path / "config.toml", labels, out=self.run.path.parent)
            new = load_run(result.path)  # verified like any run, and complete: it was renamed into place
            with self._lock:
                self.run = new
                self.trained.append(new.run_id)
                self.last_error = None
            stderr.print(f"retrained: now serving {new.run_id}", highlight=False)
        except Exception as exc:  # a failed retraining keeps the current run and says why
            self.last_error = f"{type(exc).__name__}: {exc}"
            stderr.print(f"[red]retraining failed[/], still serving {self.run.run_id}: {self.last_error}")
            traceback.print_exc()
        finally:
            self.training = False

    def status(self) -> dict:
        return {"model_version": self.model_version, "events": len(self.events),
                "annotation_events_since_training": self.since_training, "training": self.training,
                "retrained_runs": list(self.trained), "last_error": self.last_error}


def _safe(name: str | None) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in (name or "project"))


class _Handler(BaseHTTPRequestHandler):
    backend: Backend  # set on the subclass made per server

    def do_GET(self):  # noqa: N802 (http.server's naming)
        path = self.path.split("?")[0].rstrip("/")
        if path in ("", "/health"):
            self._send({"status": "UP", "model_class": "stance", "model_version": self.backend.model_version})
        elif path == "/status":
            self._send(self.backend.status())
        else:
            self._send({"error": f"no such endpoint: GET {path}"}, 404)

    def do_POST(self):  # noqa: N802
        path = self.path.split("?")[0].rstrip("/")
        try:
            length = int(self.headers.get("Content-Length") or 0)
            payload = json.loads(self.rfile.read(length) or b"{}")
        except (ValueError, json.JSONDecodeError) as exc:
            self._send({"error": f"request body is not JSON: {exc}"}, 400)
            return
        if path == "/setup":
            self._send({"model_version": self.backend.model_version})
        elif path == "/predict":
            tasks = payload.get("tasks") or []
            self._send({"results": self.backend.predict(tasks), "model_version": self.backend.model_version})
        elif path in ("/webhook", "/train"):
            self.backend.event(payload)
            self._send({"status": "ok", "model_version": self.backend.model_version}, 201)
        elif path == "/validate":
            self._send({"status": "ok"})
        else:
            self._send({"error": f"no such endpoint: POST {path}"}, 404)

    def _send(self, body: dict, status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # requests are logged by Label Studio; keep the terminal quiet
        pass


def make_server(backend: Backend, host: str = "127.0.0.1", port: int = ML_BACKEND_PORT) -> ThreadingHTTPServer:
    """The HTTP server for ``backend`` (``serve_forever()`` runs it; port 0 picks a free one)."""
    handler = type("Handler", (_Handler,), {"backend": backend})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def connect_project(studio, project: str, backend_url: str) -> int:
    """Connect ``project`` to the backend at ``backend_url`` (once); Label Studio then sends it
    predictions requests and annotation events."""
    from stance.studio.client import errors_explained, require_project
    proj = require_project(studio, project)
    with errors_explained(studio, f"connecting project {proj.id} to {backend_url}"):
        if not any(b.url.rstrip("/") == backend_url for b in studio.client.ml.list(project=proj.id)):
            studio.client.ml.create(project=proj.id, url=backend_url, title="stance", is_interactive=False)
    return proj.id


def serve(model: str | Path, *, host: str = "127.0.0.1", port: int = ML_BACKEND_PORT, studio=None,
          project: str | None = None, retrain_every: int | None = None, workdir: str | Path = ".stance/serve") -> None:
    """Serve until interrupted; with ``studio`` and ``project``, connect the project first."""
    backend = Backend(load_run(model), studio, project, retrain_every, Path(workdir))
    server = make_server(backend, host, port)
    url = f"http://{host}:{server.server_address[1]}"
    if studio is not None and project:
        connect_project(studio, project, url)
        stderr.print(f"project {project!r} is connected: predictions appear as annotators open tasks",
                     highlight=False)
    stderr.print(f"ML backend for {backend.model_version} at {url}"
                 + (f"; retrains every {retrain_every} annotations" if retrain_every else ""), highlight=False)
    try:
        server.serve_forever()
    finally:
        server.server_close()
