"""The ML backend against a real Label Studio: connected through Label Studio's own API, it gives
predictions on tasks, receives annotation events, and retrains into a new run."""

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from stance.experiments import load_run
from stance.labels.push import push
from stance.resources import demo_dir
from stance.serve import Backend, connect_project, make_server

pytestmark = pytest.mark.studio


@pytest.fixture()
def backend(studio, default_run, tmp_path):
    state = Backend(load_run(default_run), studio, None, None, tmp_path / "serve")
    server = make_server(state, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_backend_answers_the_protocol(backend):
    state, url = backend
    assert httpx.get(f"{url}/health").json()["status"] == "UP"
    assert httpx.post(f"{url}/setup", json={"project": "1.0"}).json()["model_version"] == state.model_version
    answer = httpx.post(f"{url}/predict", json={"tasks": [{"id": 1, "data": {"text": "Beijing warned Washington."}},
                                                          {"id": 2, "data": {"text": "Both sides agreed to talk."}}]})
    results = answer.json()["results"]
    assert len(results) == 2 and all(r["model_version"] == state.model_version for r in results)
    assert {item["from_name"] for item in results[0]["result"]} == {"framing", "tone", "speaker"}
    assert httpx.post(f"{url}/predict", content=b"not json").status_code == 400


def test_connected_project_gets_predictions_events_and_a_retrained_run(studio, backend, demo_corpus, tmp_path):
    state, url = backend
    name = f"backend {uuid.uuid4().hex[:6]}"
    pushed = push(studio, demo_corpus, name, ledger_dir=tmp_path)
    pid = pushed.project_id
    state.project, state.retrain_every = name, pushed.created
    # connect through Label Studio's own API: it calls /health and /setup, and sends annotation events
    studio.client.ml.create(project=pid, url=url, title="stance", is_interactive=False)
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
    answer = httpx.post(f"{url}/predict", json={"tasks": [{"id": 1, "data": {"text": "Talks resumed."}}]}).json()
    assert answer["results"][0]["model_version"] == state.trained[0]
    connect_project(studio, name, url)  # what `stance serve --project` does: already connected, so nothing new
    assert len(list(studio.client.ml.list(project=pid))) == 1
