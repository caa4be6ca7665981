"""``labels pull``: annotations from Label Studio into a versioned labelled dataset.

The first pull reads every task, with only the fields it needs. Later pulls into
the same directory ask only for tasks updated since the newest task they have
seen (adding or changing an annotation updates its task), and fall back to a full
read when the project holds fewer tasks than they know of (some were deleted).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from stance.labels.agreement import agreement
from stance.labels.dataset import Annotation, Sentence, choice_name, read_annotations, write_dataset, write_summary
from stance.progress import stderr
from stance.schema import Schema, load_schema
from stance.studio.client import Studio, errors_explained, get_json, require_project

TASKS_FILE = "tasks.parquet"
_LS_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"
_PAGE = 1000
# Only what a pull reads; "include" trims the annotations' own fields as well.
_FIELDS = "id,data,annotations,updated_at,result,completed_by,was_cancelled,ground_truth"


@dataclass
class PullResult:
    out: Path
    mode: str  # "full" or "incremental"
    tasks_read: int
    sentences: int
    annotations: int
    cancelled: int
    seconds: float
    agreement: dict

    def __str__(self) -> str:
        return (f"{self.mode} pull: read {self.tasks_read:,} tasks in {self.seconds:.1f} s; {self.sentences:,} "
                f"sentences with {self.annotations:,} annotations ({self.cancelled:,} skipped/cancelled, "
                f"ignored) written to {self.out}")


def pull(studio: Studio, project: str, out: str | Path, *, full: bool = False, schema: Schema | None = None,
         progress: bool = False) -> PullResult:
    """Pull every annotator's annotations of ``project`` into the dataset at ``out``."""
    schema = schema or load_schema()
    out = Path(out)
    started = time.perf_counter()
    proj = require_project(studio, project)
    users = _user_names(studio)
    previous = _previous_state(out, studio, proj.id)
    tasks, annotations = ({}, []) if previous is None or full else _read_local(out, schema)
    incremental = previous is not None and not full and (proj.task_number or 0) >= len(tasks)
    if not incremental:
        tasks, annotations = {}, []
    newest = previous["last_task_updated_at"] if incremental else None
    fresh: list[Annotation] = []
    changed_ids: set[int] = set()
    with (stderr.status(f"reading project {project!r} from {studio.url}") if progress else nullcontext()):
        for task in read_tasks(studio, proj.id, newest):
            data = task.get("data") or {}
            sentence_id = data.get("sentence_id") or f"task-{task['id']}"
            changed_ids.add(task["id"])
            tasks[task["id"]] = {"task_id": task["id"], "sentence_id": sentence_id,
                                 "article_id": data.get("article_id") or "", "text": data.get("text") or "",
                                 "cluster_id": data.get("cluster_id") or ""}
            fresh.extend(parse_annotations(task.get("annotations") or [], sentence_id, task["id"], schema,
                                           users, f"project {proj.id}, task {task['id']}"))
            stamp = _ls_time(task.get("updated_at"))
            newest = stamp if newest is None or (stamp and stamp > newest) else newest
    annotations = [a for a in annotations if a.task_id not in changed_ids] + fresh
    sentences = _sentences(tasks, annotations)
    write_dataset(sentences, schema, out)
    pq.write_table(pa.Table.from_pylist(list(tasks.values()), schema=pa.schema(
        [("task_id", pa.int64()), ("sentence_id", pa.string()), ("article_id", pa.string()),
         ("text", pa.string()), ("cluster_id", pa.string())])), out / TASKS_FILE)
    report = agreement(annotations, schema, (s.sentence_id for s in sentences))
    result = PullResult(out, "incremental" if incremental else "full", len(changed_ids), len(sentences),
                        sum(not a.cancelled for a in annotations), sum(a.cancelled for a in annotations),
                        time.perf_counter() - started, report)
    write_summary(out, {
        "project": project, "project_id": proj.id, "server": studio.url,
        "pulled_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "last_task_updated_at": newest, "mode": result.mode, "tasks_read": result.tasks_read,
        "counts": {"sentences": result.sentences, "tasks": len(tasks), "annotations": result.annotations,
                   "cancelled": result.cancelled},
        "schema": schema.to_dict(), "agreement": report,
    })
    return result


def parse_annotations(raw: list[dict], sentence_id: str, task_id: int | None, schema: Schema,
                      users: dict[int, str], where: str) -> list[Annotation]:
    """Label Studio annotation dicts (export or API shape) as :class:`Annotation`s."""
    parsed = []
    for ann in raw:
        labels = {}
        for item in ann.get("result") or []:
            name = item.get("from_name")
            values = (item.get("value") or {}).get("choices") or []
            if name in schema.names and values:
                labels[name] = choice_name(schema.dimension(name), values[0],
                                           f"{where}, annotation {ann.get('id')}, {name}")
        who = ann.get("completed_by")
        if isinstance(who, dict):
            who = who.get("email") or who.get("id")
        parsed.append(Annotation(sentence_id, users.get(who, str(who)), labels, bool(ann.get("ground_truth")),
                                 bool(ann.get("was_cancelled")), task_id, ann.get("id"),
                                 str(ann.get("updated_at") or "")))
    return parsed


def _sentences(tasks: dict[int, dict], annotations: list[Annotation]) -> list[Sentence]:
    """One entry per sentence id (a sentence pushed twice elsewhere still counts once)."""
    by_id: dict[str, Sentence] = {}
    for task in sorted(tasks.values(), key=lambda t: t["task_id"]):
        by_id.setdefault(task["sentence_id"], Sentence(task["sentence_id"], task["article_id"], task["text"],
                                                       cluster_id=task.get("cluster_id") or ""))
    for a in annotations:
        if a.sentence_id in by_id:
            by_id[a.sentence_id].annotations.append(a)
    return list(by_id.values())


def read_tasks(studio: Studio, project_id: int, since: str | None = None, include: str = _FIELDS) -> Iterator[dict]:
    """Tasks with just the fields a pull needs (all of them, or those updated since ``since``).

    Pages are fetched two at a time in the background and yielded as they come, so the
    server prepares the next pages while this process parses the last one.
    """
    items = [{"filter": "filter:tasks:updated_at", "operator": "greater_or_equal", "type": "Datetime",
              "value": since}] if since else []
    request = {"project": project_id, "fields": "all", "include": include, "page_size": _PAGE,
               "query": json.dumps({"filters": {"conjunction": "and", "items": items}})}
    def page(number: int) -> dict:
        return get_json(studio, "api/tasks", {**request, "page": number})

    with errors_explained(studio, f"reading the tasks of project {project_id}"):
        first = page(1)
        pages = -(-(first.get("total") or 0) // _PAGE)
        with ThreadPoolExecutor(2) as pool:
            for answer in chain([first], pool.map(page, range(2, pages + 1))):
                yield from answer.get("tasks", [])


def _user_names(studio: Studio) -> dict[int, str]:
    with errors_explained(studio, "listing users"):
        return {u.id: u.email or u.username or str(u.id) for u in studio.client.users.list()}


def _previous_state(out: Path, studio: Studio, project_id: int) -> dict | None:
    """The last pull's summary, if it pulled this very project from this server into ``out``."""
    try:
        state = json.loads((out / "pull.json").read_text())
    except (OSError, ValueError):
        return None
    same = state.get("server") == studio.url and state.get("project_id") == project_id
    return state if same and (out / TASKS_FILE).is_file() else None


def _read_local(out: Path, schema: Schema) -> tuple[dict[int, dict], list[Annotation]]:
    tasks = {row["task_id"]: row for row in pq.read_table(out / TASKS_FILE).to_pylist()}
    return tasks, read_annotations(out, schema)


def _ls_time(value) -> str | None:
    """A timestamp in the format Label Studio's filters accept (UTC, microseconds, Z)."""
    if not value:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.astimezone(dt.timezone.utc).strftime(_LS_TIME)
