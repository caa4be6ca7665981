"""The labelling loop against a real Label Studio server (started once per session)."""

import json
import os
import stat
import uuid

import datasets
import pytest

from stance.errors import StanceError
from stance.labels.importer import import_labels
from stance.labels.pull import pull
from stance.labels.push import config_dimensions, push
from stance.schema import load_schema
from stance.studio import server
from stance.studio.client import connect

pytestmark = pytest.mark.studio


def unique(name: str) -> str:
    return f"{name} {uuid.uuid4().hex[:8]}"


def project_tasks(studio, project_id):
    return list(studio.client.tasks.list(project=project_id, fields="task_only", include="id,data"))


def test_embedded_server_is_local_private_and_started_once(studio_server):
    assert studio_server.url.startswith("http://127.0.0.1:")
    mode = stat.S_IMODE(os.stat(studio_server.credentials_file).st_mode)
    assert mode == 0o600
    again = server.start(studio_server.data_dir, 1)  # the port is ignored: it already runs
    assert again.already_running and again.pid == studio_server.pid
    creds = server.read_credentials(studio_server.credentials_file)
    assert creds.api_key not in repr(creds) and creds.password not in repr(creds)


def test_status_finds_the_server_by_a_relative_data_dir(studio_server, monkeypatch):
    monkeypatch.chdir(studio_server.data_dir.parent)
    found = server.status(studio_server.data_dir.name)
    assert found is not None and found.pid == studio_server.pid


def test_project_created_from_schema_and_repush_creates_no_duplicates(studio, demo_corpus, tmp_path):
    name = unique("Demo push")
    ledger = tmp_path / "ledger"
    first = push(studio, demo_corpus, name, select="random", n=40, ledger_dir=ledger)
    assert first.project_created and first.created == 40
    project = studio.client.projects.get(id=first.project_id)
    assert config_dimensions(project.label_config) == load_schema().to_dict()  # the server accepted our config
    second = push(studio, demo_corpus, name, ledger_dir=ledger)
    assert second.created == 165 - 40 and second.already_in_project == 40
    third = push(studio, demo_corpus, name, ledger_dir=tmp_path / "another-machine")  # no ledger at all
    assert third.created == 0
    ids = [t.data["sentence_id"] for t in project_tasks(studio, first.project_id)]
    assert len(ids) == len(set(ids)) == 165
    task = next(t for t in project_tasks(studio, first.project_id) if t.data["sentence_id"].startswith("demo-001"))
    assert task.data["title"] and "Demo Wire" in task.data["meta"] and task.data["article_id"] == "demo-001"


def test_interrupted_push_completes_without_duplicates(studio, demo_corpus, tmp_path):
    name = unique("Interrupted")
    started = push(studio, demo_corpus, name, n=10, ledger_dir=tmp_path / "l")
    # a push that died after Label Studio stored a batch but before the ledger heard of it
    from stance.labels.push import build_tasks, read_sentences

    sentences = read_sentences(demo_corpus)
    studio.client.projects.import_tasks(id=started.project_id, request=build_tasks(sentences, list(range(10, 25)), 2))
    finished = push(studio, demo_corpus, name, ledger_dir=tmp_path / "l")
    assert finished.created == 165 - 25
    ids = [t.data["sentence_id"] for t in project_tasks(studio, started.project_id)]
    assert len(ids) == len(set(ids)) == 165


def test_a_wire_sentence_is_sent_once_and_its_cluster_comes_back_with_the_labels(studio, tmp_path):
    """Two copies of one story (synthetic): each sentence text becomes one task, carrying the
    story's cluster, and a pull of the labelled tasks keeps the cluster for the folds."""
    from stance.ingest.corpus import build_corpus
    paragraphs = [f"Officials in city {i} said the talks on trade and security would continue next week, "
                  f"and that both delegations had agreed to meet again before the summit in month {i}." for i in range(6)]
    rows = [{"id": "wire", "text": "\n\n".join(paragraphs)},
            {"id": "copy", "text": "\n\n".join(["A local lede opens this version of the story."] + paragraphs[1:])}]
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    build_corpus([tmp_path / "a.jsonl"], tmp_path / "corpus", workers=1)
    name = unique("Wire")
    pushed = push(studio, tmp_path / "corpus", name, ledger_dir=tmp_path / "ledger")
    assert (pushed.candidates, pushed.created) == (7, 7)  # 6 + 6 sentences, 5 of them repeated
    tasks = project_tasks(studio, pushed.project_id)
    assert {t.data["cluster_id"] for t in tasks} == {"wire"}
    assert len({t.data["text"] for t in tasks}) == 7
    for task in tasks:
        studio.client.annotations.create(id=task.id, result=[{"from_name": "tone", "to_name": "sentence",
                                                              "type": "choices", "value": {"choices": ["neutral"]}}])
    pulled = pull(studio, name, tmp_path / "labels")
    dataset = datasets.load_from_disk(str(tmp_path / "labels"))
    assert pulled.sentences == 7 and set(dataset["cluster_id"]) == {"wire"}


def test_filter_and_diverse_selection(studio, demo_corpus, tmp_path):
    filtered = push(studio, demo_corpus, unique("Filter"), filters=["Taiwan"], ledger_dir=tmp_path)
    texts = [t.data["text"] for t in project_tasks(studio, filtered.project_id)]
    assert texts and all("taiwan" in t.lower() for t in texts)
    diverse = push(studio, demo_corpus, unique("Diverse"), select="diverse", n=30, ledger_dir=tmp_path)
    articles = [t.data["article_id"] for t in project_tasks(studio, diverse.project_id)]
    assert len(articles) == 30 and len(set(articles)) == 30  # 30 articles, one each


def test_config_mismatch_is_refused_unless_asked(studio, demo_corpus, tmp_path):
    name = unique("Schema change")
    push(studio, demo_corpus, name, n=3, ledger_dir=tmp_path)
    changed = tmp_path / "schema.toml"
    changed.write_text(load_schema().path.read_text().replace('{ name = "other", label',
                                                             '{ name = "ngo", label = "NGO" },\n  { name = "other", label'))
    (tmp_path / "guidelines.md").write_text(load_schema().guidelines)
    new_schema = load_schema(changed)
    with pytest.raises(StanceError, match="update_config=True"):
        push(studio, demo_corpus, name, schema=new_schema, ledger_dir=tmp_path)
    push(studio, demo_corpus, name, schema=new_schema, update_config=True, n=3, ledger_dir=tmp_path)
    project = [p for p in studio.client.projects.list(title=name)][0]
    assert "ngo" in config_dimensions(studio.client.projects.get(id=project.id).label_config)["speaker"]


def annotate(studio, task_id, user_id, framing=None, tone=None, ground_truth=False, cancelled=False):
    result = [{"from_name": dim, "to_name": "sentence", "type": "choices", "value": {"choices": [value]}}
              for dim, value in (("framing", framing), ("tone", tone)) if value]
    studio.client.annotations.create(id=task_id, result=result, completed_by=user_id,
                                     ground_truth=ground_truth, was_cancelled=cancelled)


@pytest.fixture()
def annotated_project(studio, demo_corpus, tmp_path):
    """Six sentences, three annotators: unanimous, majority, tie, ground truth, a cancelled one, none."""
    name = unique("Three annotators")
    made = push(studio, demo_corpus, name, n=6, ledger_dir=tmp_path)
    tasks = sorted(project_tasks(studio, made.project_id), key=lambda t: t.id)
    suffix = uuid.uuid4().hex[:6]
    users = [studio.client.users.create(username=f"ann{i}{suffix}", email=f"ann{i}-{suffix}@example.org").id
             for i in range(3)]
    a1, a2, a3 = users
    t = [task.id for task in tasks]
    for u in users:
        annotate(studio, t[0], u, framing="us", tone="adversarial")
    annotate(studio, t[1], a1, framing="us")
    annotate(studio, t[1], a2, framing="us")
    annotate(studio, t[1], a3, framing="prc")
    annotate(studio, t[2], a1, framing="us")
    annotate(studio, t[2], a2, framing="prc")
    annotate(studio, t[3], a1, framing="us", ground_truth=True)
    annotate(studio, t[3], a2, framing="prc")
    annotate(studio, t[3], a3, framing="prc")
    annotate(studio, t[4], a1, cancelled=True)
    annotate(studio, t[4], a2, framing="neutral")
    return name, made.project_id, [task.data["sentence_id"] for task in tasks], users


def test_pull_resolves_every_case_and_reports_agreement(studio, annotated_project, tmp_path):
    name, _, sentence_ids, _ = annotated_project
    result = pull(studio, name, tmp_path / "labels")
    assert result.mode == "full" and result.cancelled == 1
    ds = datasets.load_from_disk(str(tmp_path / "labels"))
    rows = {r["sentence_id"]: r for r in ds}
    framing = ds.features["framing"]
    got = [(framing.int2str(rows[s]["framing"]) if rows[s]["framing"] >= 0 else None,
            rows[s]["framing_status"], rows[s]["framing_n"]) for s in sentence_ids]
    assert got == [("us", "unanimous", 3), ("us", "majority", 3), (None, "tie", 2),
                   ("us", "ground_truth", 3), ("neutral", "single", 1), (None, "unlabelled", 0)]
    assert rows[sentence_ids[0]]["tone_status"] == "unanimous"
    assert rows[sentence_ids[1]]["tone_status"] == "unlabelled"
    summary = json.loads((tmp_path / "labels" / "pull.json").read_text())
    assert summary["counts"] == {"sentences": 6, "tasks": 6, "annotations": 12, "cancelled": 1}
    report = summary["agreement"]
    assert report["sentences_by_annotators"] == {"0": 1, "1": 1, "2": 1, "3": 3}
    pairs = report["dimensions"]["framing"]["pairwise"]
    assert sum(p["n"] for p in pairs.values()) == 3 + 3 + 1 + 3  # annotator pairs on s1, s2, s3, s4
    assert -1 <= report["dimensions"]["framing"]["alpha"] < 1


def test_second_pull_reads_only_what_changed(studio, annotated_project, tmp_path):
    name, project_id, sentence_ids, users = annotated_project
    out = tmp_path / "labels"
    pull(studio, name, out)
    task = [t for t in project_tasks(studio, project_id) if t.data["sentence_id"] == sentence_ids[5]][0]
    annotate(studio, task.id, users[0], framing="prc")
    again = pull(studio, name, out)
    assert again.mode == "incremental" and again.tasks_read < 6
    rows = {r["sentence_id"]: r for r in datasets.load_from_disk(str(out))}
    assert rows[sentence_ids[5]]["framing_status"] == "single"
    assert rows[sentence_ids[0]]["framing_status"] == "unanimous"  # kept from the first pull


def test_import_of_a_real_export_matches_the_pull(studio, annotated_project, tmp_path):
    name, project_id, _, _ = annotated_project
    export = tmp_path / "export.json"
    export.write_bytes(b"".join(studio.client.projects.exports.download_sync(
        id=project_id, export_type="JSON", download_all_tasks=True)))
    import_labels(export, tmp_path / "imported")
    pull(studio, name, tmp_path / "pulled")
    columns = ["sentence_id", "framing", "framing_status", "framing_n", "tone", "tone_status"]
    imported = datasets.load_from_disk(str(tmp_path / "imported")).select_columns(columns).sort("sentence_id")
    pulled = datasets.load_from_disk(str(tmp_path / "pulled")).select_columns(columns).sort("sentence_id")
    assert imported.to_list() == pulled.to_list()


def test_bad_token_and_stopped_server_are_one_clear_sentence(studio_server):
    with pytest.raises(StanceError, match="refused the API key"):
        connect(studio_server.url, "not-a-real-token")
    server.stop(studio_server.data_dir)
    try:
        with pytest.raises(StanceError, match="cannot reach Label Studio"):
            connect(data_dir=studio_server.data_dir)
    finally:
        port = int(studio_server.url.rsplit(":", 1)[1])
        server.start(studio_server.data_dir, port)


def test_personal_access_token_works(studio):
    token = studio.client.tokens.create()
    pat = getattr(token, "token", None) or getattr(token, "refresh", None)
    assert pat and connect(studio.url, pat).client.users.whoami().id


def test_sign_up_is_closed(studio_server, studio):
    import httpx

    with httpx.Client(base_url=studio_server.url) as web:
        web.get("/user/signup/")
        token = web.cookies.get("csrftoken")
        answer = web.post("/user/signup/", data={"email": "intruder@example.org", "password": "long-enough-123",
                                                 "csrfmiddlewaretoken": token},
                          headers={"X-CSRFToken": token, "Referer": f"{studio_server.url}/user/signup/"})
    assert answer.status_code == 403
    assert "intruder@example.org" not in {u.email for u in studio.client.users.list()}
