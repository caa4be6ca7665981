"""The ML backend against a real Label Studio: connected through Label Studio's own API, it gives
predictions on tasks, receives annotation events, and retrains into a new run."""

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from stance.labels.push import push
from stance.model.runs import load_run
from stance.resources import demo_dir
from stance.scoring.serve import Backend, backend_credentials, connect_project, make_server


@pytest.fixture()
def backend(default_run, tmp_path):
    state = Backend(load_run(default_run), backend_credentials(tmp_path / "serve"), workdir=tmp_path / "serve")
    server = make_server(state, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _auth(state):
    return (state.credentials.user, state.credentials.password)


def test_backend_answers_the_protocol(backend):
    state, url = backend
    auth = _auth(state)
    assert httpx.get(f"{url}/health", auth=auth).json()["status"] == "UP"
    assert httpx.post(f"{url}/setup", json={"project": "1.0"}, auth=auth).json()["model_version"] == \
        state.model_version
    answer = httpx.post(f"{url}/predict", auth=auth,
                        json={"tasks": [{"id": 1, "data": {"text": "Beijing warned Washington."}},
                                        {"id": 2, "data": {"text": "Both sides agreed to talk."}}]})
    results = answer.json()["results"]
    assert len(results) == 2 and all(r["model_version"] == state.model_version for r in results)
    assert {item["from_name"] for item in results[0]["result"]} == {"framing", "tone", "speaker"}
    bad = httpx.post(f"{url}/predict", content=b"not json", auth=auth, headers={"Content-Type": "application/json"})
    assert bad.status_code == 400


def test_the_password_is_random_and_private(tmp_path):
    import os
    import stat
    first = backend_credentials(tmp_path / "a")
    assert stat.S_IMODE(os.stat(tmp_path / "a" / "credentials.env").st_mode) == 0o600
    assert backend_credentials(tmp_path / "a") == first                 # kept
    assert backend_credentials(tmp_path / "b").password != first.password
    assert first.password not in repr(first)


def test_requests_without_the_password_get_401(backend):
    state, url = backend
    for answer in (httpx.get(f"{url}/health"), httpx.get(f"{url}/status", auth=("stance", "wrong")),
                   httpx.post(f"{url}/webhook", json={"action": "START_TRAINING"}),
                   httpx.post(f"{url}/predict", json={"tasks": []}, auth=("someone", state.credentials.password))):
        assert answer.status_code == 401 and "Basic" in answer.headers["WWW-Authenticate"]
    assert state.events_seen == 0


def test_only_json_bodies_of_bounded_size(backend):
    state, url = backend
    auth = _auth(state)
    # what a web page can send without a preflight: text/plain
    answer = httpx.post(f"{url}/webhook", content=b'{"action": "START_TRAINING"}', auth=auth,
                        headers={"Content-Type": "text/plain"})
    assert answer.status_code == 415 and answer.json()["error"].startswith("the body must be application/json")
    state.max_body = 1000
    big = httpx.post(f"{url}/predict", json={"tasks": [{"data": {"text": "x" * 2000}}]}, auth=auth)
    assert big.status_code == 413
    assert state.events_seen == 0


def test_an_event_without_an_action_retrains_nothing(backend):
    state, url = backend
    state.retrain_every, state.studio, state.project = 1, object(), "p"   # any TRAIN would start at once
    for body in ({}, {"project": {"id": 1}}):
        answer = httpx.post(f"{url}/webhook", json=body, auth=_auth(state))
        assert answer.status_code == 400 and "no action" in answer.json()["error"]
    assert httpx.post(f"{url}/train", json={}, auth=_auth(state)).status_code == 400
    assert not state.training and state.events_seen == 0


def test_failures_answer_json_500_and_the_event_log_is_bounded(backend, monkeypatch):
    state, url = backend

    def broken_model(tasks):
        raise RuntimeError("the model failed")

    monkeypatch.setattr(state, "predict", broken_model)
    broken = httpx.post(f"{url}/predict", json={"tasks": [{"data": {"text": "x"}}]}, auth=_auth(state))
    assert broken.status_code == 500 and broken.json()["error"] == "RuntimeError: the model failed"
    assert httpx.get(f"{url}/health", auth=_auth(state)).status_code == 200   # still up
    for _ in range(1200):
        state.event("ANNOTATION_CREATED", {})
    assert len(state.events) == 1000 and state.events_seen == 1200


@pytest.mark.studio
def test_connected_project_gets_predictions_events_and_a_retrained_run(studio, backend, demo_corpus, tmp_path):
    state, url = backend
    state.studio = studio
    name = f"backend {uuid.uuid4().hex[:6]}"
    pushed = push(studio, demo_corpus, name, ledger_dir=tmp_path)
    pid = pushed.project_id
    state.project, state.retrain_every = name, pushed.created
    # connect with its basic auth: Label Studio calls /health and /setup, and sends annotation events
    connect_project(studio, name, url, state.credentials)
    studio.client.actions.create(id="retrieve_tasks_predictions", project=pid,
                                 selected_items={"all": True, "excluded": []})
    tasks = list(studio.client.tasks.list(project=pid, fields="all"))
    assert len(tasks) == 165
    first_version = state.model_version
    for task in tasks:
        assert [p.model_version for p in task.predictions] == [first_version]

    gold = {row["sentence_id"]: row for row in map(json.loads, (demo_dir() / "gold.jsonl").read_text().splitlines())}
    user = studio.client.users.create(username=f"ann{uuid.uuid4().hex[:6]}", email=f"{uuid.uuid4().hex[:6]}@x.org").id

    def annotate(task):
        labels = gold[task.data["sentence_id"]]
        studio.client.annotations.create(id=task.id, completed_by=user, result=[
            {"from_name": dim, "to_name": "sentence", "type": "choices", "value": {"choices": [labels[dim]]}}
            for dim in ("framing", "tone", "speaker")])

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(annotate, tasks))
    deadline = time.time() + 180
    while not state.trained and state.last_error is None and time.time() < deadline:
        time.sleep(0.5)
    created = [e for e in state.events if e["action"] == "ANNOTATION_CREATED"]
    assert len(created) == 165 and {e["task"] for e in created} == {t.id for t in tasks}
    assert state.last_error is None and len(state.trained) == 1
    assert state.model_version == state.trained[0] != first_version
    retrained = load_run(state.run.path)  # a complete, verified run beside the first one
    assert (retrained.path.parent / first_version).is_dir()
    assert retrained.manifest["data"]["rows"] == 165
    answer = httpx.post(f"{url}/predict", json={"tasks": [{"id": 1, "data": {"text": "Talks resumed."}}]},
                        auth=_auth(state)).json()
    assert answer["results"][0]["model_version"] == state.trained[0]
    connect_project(studio, name, url, state.credentials)  # connected again: nothing new
    assert len(list(studio.client.ml.list(project=pid))) == 1


def test_odd_tasks_a_negative_length_and_idle_or_trickling_sockets_are_bounded(backend, monkeypatch):
    """Issue 23: non-dict tasks answered 500, Content-Length -1 held a thread, idle sockets stayed open."""
    import base64
    import socket

    from stance.scoring import serve
    state, url = backend
    auth = _auth(state)
    for tasks in ([1, "two"], [{"data": "text"}]):
        answer = httpx.post(f"{url}/predict", json={"tasks": tasks}, auth=auth)
        assert answer.status_code == 400 and "is not an object with a 'data' object" in answer.json()["error"]
    port = int(url.rsplit(":", 1)[1])
    token = base64.b64encode(f"{state.credentials.user}:{state.credentials.password}".encode()).decode()
    head = (f"POST /predict HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {token}\r\n"
            "Content-Type: application/json\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall((head + "Content-Length: -1\r\n\r\n").encode())
        assert b" 400 " in sock.recv(4096).split(b"\r\n")[0] + b" "
    # a body trickled a byte at a time past the deadline is answered 408 and the connection closed
    monkeypatch.setattr(serve, "BODY_DEADLINE", 1)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall((head + "Content-Length: 100\r\n\r\n").encode())
        for _ in range(4):
            sock.sendall(b" ")
            time.sleep(0.5)
        assert b" 408 " in sock.recv(4096).split(b"\r\n")[0] + b" "
    # an idle connection is closed by the server after its timeout
    monkeypatch.setattr(serve._Handler, "timeout", 1)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        started = time.monotonic()
        assert sock.recv(1) == b""                      # closed from the other side
        assert time.monotonic() - started < 5
