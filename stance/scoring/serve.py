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

Only Label Studio can drive it: every request needs HTTP basic auth with a random
password kept in ``.stance/serve/credentials.env`` (mode 0600), which
:func:`connect_project` registers with Label Studio (the ML backend's basic auth, and
an ``Authorization`` header on the webhook Label Studio makes for it). Bodies must be
JSON (415 otherwise) and at most ``MAX_BODY`` bytes (413); a webhook must name its
action (nothing retrains by default); failures answer JSON with status 500; the event
log keeps the last ``EVENT_LOG`` events.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import secrets
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from stance.model.runs import Run, load_run
from stance.progress import stderr
from stance.studio import ML_BACKEND_PORT
from stance.studio.predictions import prediction

ANNOTATION_EVENTS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_CREATED")
TRAIN_EVENTS = ("START_TRAINING", "TRAIN")
MAX_BODY = 32 * 2**20   # a /predict batch of a few thousand tasks with their context fits easily
#: A connection idle this long is closed, and a request body must arrive within BODY_DEADLINE seconds
#: (one byte every few seconds would otherwise hold a thread for ever).
IDLE_TIMEOUT = 30
BODY_DEADLINE = 60
EVENT_LOG = 1000
USER = "stance"


@dataclass(frozen=True)
class BackendCredentials:
    user: str
    password: str

    def __repr__(self) -> str:  # keep the password out of logs and tracebacks
        return f"BackendCredentials(user={self.user!r})"

    def header(self) -> str:
        return "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode("ascii")


def backend_credentials(workdir: str | Path = ".stance/serve") -> BackendCredentials:
    """The backend's user and password, made at random on first use and kept 0600 in ``workdir``."""
    path = Path(workdir) / "credentials.env"
    if path.is_file():
        values = dict(line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines() if "=" in line)
        return BackendCredentials(values["STANCE_BACKEND_USER"], values["STANCE_BACKEND_PASSWORD"])
    path.parent.mkdir(parents=True, exist_ok=True)
    made = BackendCredentials(USER, secrets.token_urlsafe(24))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(f"STANCE_BACKEND_USER={made.user}\nSTANCE_BACKEND_PASSWORD={made.password}\n")
    return made


@dataclass
class Backend:
    """The state behind the HTTP server: the current run and what has happened."""

    run: Run
    credentials: BackendCredentials
    studio: object | None = None  # a stance.studio.client.Studio, needed to retrain
    project: str | None = None
    retrain_every: int | None = None
    workdir: Path = Path(".stance/serve")
    max_body: int = MAX_BODY
    events: deque = field(default_factory=lambda: deque(maxlen=EVENT_LOG))
    events_seen: int = 0
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

    def event(self, action: str, payload: dict) -> None:
        with self._lock:
            self.events.append({"action": action, "task": (payload.get("task") or {}).get("id"),
                                "annotation": (payload.get("annotation") or {}).get("id")})
            self.events_seen += 1
            if action in ANNOTATION_EVENTS:
                self.since_training += 1
            due = self.retrain_every and (action in TRAIN_EVENTS or self.since_training >= self.retrain_every)
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
        return {"model_version": self.model_version, "events": self.events_seen,
                "annotation_events_since_training": self.since_training, "training": self.training,
                "retrained_runs": list(self.trained), "last_error": self.last_error}


def _safe(name: str | None) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in (name or "project"))


class _Handler(BaseHTTPRequestHandler):
    backend: Backend  # set on the subclass made per server
    #: Seconds a connection may sit idle or trickle a request before it is closed (slowloris).
    timeout = IDLE_TIMEOUT

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self._answer(self._get)

    def do_POST(self):  # noqa: N802
        self._answer(self._post)

    def _answer(self, handle) -> None:
        """Authentication first, then the endpoint; any failure is a JSON answer, never a dropped connection."""
        given = self.headers.get("Authorization") or ""
        if not hmac.compare_digest(given.encode(), self.backend.credentials.header().encode()):
            self._send({"error": "authentication required"}, 401,
                       {"WWW-Authenticate": 'Basic realm="stance ML backend"'})
            return
        try:
            handle(self.path.split("?")[0].rstrip("/"))
        except Exception as exc:  # noqa: BLE001 (the client gets the reason; the backend stays up)
            traceback.print_exc()
            self._send({"error": f"{type(exc).__name__}: {exc}"}, 500)

    def _get(self, path: str) -> None:
        if path in ("", "/health"):
            self._send({"status": "UP", "model_class": "stance", "model_version": self.backend.model_version})
        elif path == "/status":
            self._send(self.backend.status())
        else:
            self._send({"error": f"no such endpoint: GET {path}"}, 404)

    def _post(self, path: str) -> None:
        payload = self._json_body()
        if payload is None:
            return
        if path == "/setup":
            self._send({"model_version": self.backend.model_version})
        elif path == "/predict":
            tasks = payload.get("tasks")
            if not isinstance(tasks, list):
                self._send({"error": "the body needs a list of tasks under 'tasks'"}, 400)
                return
            odd = next((i for i, task in enumerate(tasks)
                        if not isinstance(task, dict) or not isinstance(task.get("data") or {}, dict)), None)
            if odd is not None:
                self._send({"error": f"task {odd} is not an object with a 'data' object"}, 400)
                return
            self._send({"results": self.backend.predict(tasks), "model_version": self.backend.model_version})
        elif path in ("/webhook", "/train"):
            # /train is older servers' training call, which names the project; a webhook names its action
            action = payload.get("action") or ("TRAIN" if path == "/train" and payload.get("project") else None)
            if not action:
                self._send({"error": "no action in the event: nothing done"}, 400)
                return
            self.backend.event(action, payload)
            self._send({"status": "ok", "model_version": self.backend.model_version}, 201)
        elif path == "/validate":
            self._send({"status": "ok"})
        else:
            self._send({"error": f"no such endpoint: POST {path}"}, 404)

    def _json_body(self) -> dict | None:
        """The request's JSON object, or None after answering 415, 413 or 400."""
        kind = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if kind != "application/json":
            self._send({"error": f"the body must be application/json, not {kind or 'unstated'}"}, 415)
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self._send({"error": "Content-Length is not a length"}, 400)
            return None
        if length > self.backend.max_body:
            self._send({"error": f"the body is over {self.backend.max_body:,} bytes"}, 413)
            return None
        body = self._read_body(length)
        if body is None:
            self._send({"error": f"the body did not arrive within {BODY_DEADLINE} s"}, 408)
            return None
        try:
            payload = json.loads(body or b"{}")
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            self._send({"error": f"request body is not JSON: {exc}"}, 400)
            return None
        if not isinstance(payload, dict):
            self._send({"error": "the body must be a JSON object"}, 400)
            return None
        return payload

    def _read_body(self, length: int) -> bytes | None:
        """``length`` bytes of body, or None when they do not all come within ``BODY_DEADLINE``."""
        deadline = time.monotonic() + BODY_DEADLINE
        parts, left = [], length
        try:
            while left > 0:
                if time.monotonic() > deadline:
                    return None
                block = self.rfile.read1(min(left, 1 << 16))
                if not block:
                    return None
                parts.append(block)
                left -= len(block)
        except TimeoutError:
            return None
        return b"".join(parts)

    def _send(self, body: dict, status: int = 200, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if status >= 400:
            self.send_header("Connection", "close")  # an unread body must not be taken for the next request
            self.close_connection = True
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


def connect_project(studio, project: str, backend_url: str, credentials: BackendCredentials) -> int:
    """Connect ``project`` to the backend at ``backend_url`` with its basic auth (once); Label Studio
    then sends it predictions requests and annotation events, both authenticated."""
    from stance.studio.client import errors_explained, require_project
    proj = require_project(studio, project)
    auth = {"auth_method": "BASIC_AUTH", "basic_auth_user": credentials.user,
            "basic_auth_pass": credentials.password}
    with errors_explained(studio, f"connecting project {proj.id} to {backend_url}"):
        existing = [b for b in studio.client.ml.list(project=proj.id) if b.url.rstrip("/") == backend_url]
        for backend in existing:  # the password may be new since
            studio.client.ml.update(id=backend.id, url=backend_url, project=proj.id, **auth)
        if not existing:
            studio.client.ml.create(project=proj.id, url=backend_url, title="stance", is_interactive=False, **auth)
        # Label Studio sends annotation events through the webhook it made for the backend, without the
        # backend's auth: give that webhook the header
        hook = f"{backend_url}/webhook"
        header = {"Authorization": credentials.header()}
        hooks = [w for w in studio.client.webhooks.list(project=str(proj.id)) if w.url.rstrip("/") == hook]
        for webhook in hooks:
            studio.client.webhooks.update(id=webhook.id, headers=header)
        if not hooks:
            studio.client.webhooks.create(project=proj.id, url=hook, send_payload=True, send_for_all_actions=True,
                                          headers=header)
    return proj.id


def serve(model: str | Path, *, host: str = "127.0.0.1", port: int = ML_BACKEND_PORT, studio=None,
          project: str | None = None, retrain_every: int | None = None, workdir: str | Path = ".stance/serve") -> None:
    """Serve until interrupted; with ``studio`` and ``project``, connect the project first."""
    backend = Backend(load_run(model), backend_credentials(workdir), studio, project, retrain_every, Path(workdir))
    server = make_server(backend, host, port)
    url = f"http://{host}:{server.server_address[1]}"
    if studio is not None and project:
        connect_project(studio, project, url, backend.credentials)
        stderr.print(f"project {project!r} is connected: predictions appear as annotators open tasks",
                     highlight=False)
    stderr.print(f"ML backend for {backend.model_version} at {url}"
                 + (f"; retrains every {retrain_every} annotations" if retrain_every else "")
                 + f"; basic auth as {backend.credentials.user!r}, password in {Path(workdir) / 'credentials.env'}",
                 highlight=False)
    try:
        server.serve_forever()
    finally:
        server.server_close()
