"""``labels push``: send corpus sentences to a Label Studio project, never twice.

The project is created from the schema on first use. Which sentences a project
already holds is known from a local ledger (``.stance/ledger/``), checked against
the server's task count and completed from the server when they differ, so a push
into a large project does not list every task, and an interrupted push can simply
be run again.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from stance.errors import StanceError
from stance.labels import SELECTIONS
from stance.labels.select import NEEDS_MODEL, STRATEGY, matching
from stance.progress import progress_bar
from stance.schema import Schema, load_schema
from stance.studio.client import Studio, errors_explained, find_project, server_key
from stance.studio.config import render_instructions, render_label_config
from stance.studio.predictions import Predictor, prediction

BATCH = 2500  # fewer calls: each import has a fixed cost on the server
LEDGER_DIR = Path(".stance/ledger")


@dataclass
class PushResult:
    project_id: int
    project_created: bool
    candidates: int
    already_in_project: int
    created: int

    def __str__(self) -> str:
        made = "created project" if self.project_created else "project"
        return (f"{made} {self.project_id}: {self.created:,} new tasks; {self.already_in_project:,} of "
                f"{self.candidates:,} candidate sentences were already there")


def push(studio: Studio, corpus: str | Path, project: str, *, select: str = "all", n: int | None = None,
         filters: Iterable[str] = (), context: int = 2, seed: int = 0, update_config: bool = False,
         model: Predictor | None = None, focus: str | None = None, uncertainty: str = "entropy",
         schema: Schema | None = None, ledger_dir: str | Path = LEDGER_DIR, progress: bool = False) -> PushResult:
    """Push the sentences of ``corpus`` (a ``corpus build`` directory) to project ``project``.

    ``filters`` keeps the sentences that mention any of these terms. With ``model`` (a
    run from ``stance.load_run``), every task carries the run's predictions as
    pre-annotations, and ``select="uncertain"`` sends the sentences the run is least sure
    of (over all dimensions, or the ``focus`` one), spread over articles, without
    near-duplicates.
    """
    schema = schema or load_schema()
    if select not in SELECTIONS:
        raise StanceError(f"{{select}}: must be one of {', '.join(SELECTIONS)}", select=select)
    if select != "all" and not n:
        raise StanceError("{select} needs {n}: how many sentences to send", select=select, n=...)
    if select in NEEDS_MODEL and model is None:
        raise StanceError("{select} needs {model}: the run whose predictions pick the sentences",
                          select=select, model=...)
    sentences = read_sentences(corpus)
    proj, created, ledger = open_project(studio, project, schema, update_config, ledger_dir)
    present = ledger.sync(studio, proj.id)
    candidates = first_of_each_text(sentences, matching(sentences["text"],
                                                       [filters] if isinstance(filters, str) else list(filters)))
    fresh = [i for i in candidates if sentences["sentence_id"][i] not in present]
    already = len(candidates) - len(fresh)
    if select in STRATEGY:
        texts = [sentences["text"][i] for i in fresh]
        proba = model.predict_proba(texts) if select in NEEDS_MODEL else None
        picked = STRATEGY[select](texts, [sentences["article_id"][i] for i in fresh], n, seed=seed, proba=proba,
                                  method=uncertainty, focus=focus)
        fresh = [fresh[i] for i in picked]
    elif n:
        fresh = fresh[:n]
    tasks = build_tasks(sentences, fresh, context)
    if model is not None:
        tasks = with_predictions(tasks, model)
    send_tasks(studio, proj.id, ledger, tasks, f"push to {project}", progress)
    return PushResult(proj.id, created, len(candidates), already, len(tasks))


def open_project(studio: Studio, project: str, schema: Schema, update_config: bool, ledger_dir: str | Path):
    """The project (created from the schema on first use), whether it was created, and its ledger."""
    proj, created = ensure_project(studio, project, schema, update_config)
    # keyed by creation time too: a wiped server can hand out the same project id again
    stamp = "".join(ch for ch in str(proj.created_at or "") if ch.isdigit())
    return proj, created, Ledger(Path(ledger_dir) / server_key(studio) / f"project-{proj.id}-{stamp}.txt")


def send_tasks(studio: Studio, project_id: int, ledger: "Ledger", tasks: list[dict], description: str,
               progress: bool) -> None:
    """Import ``tasks`` in batches, recording each batch in the ledger as soon as the server has it."""
    with progress_bar(description, len(tasks), enabled=progress) as bar:
        for start in range(0, len(tasks), BATCH):
            batch = tasks[start:start + BATCH]
            with errors_explained(studio, f"importing tasks into project {project_id}"):
                answer = studio.client.projects.import_tasks(id=project_id, request=batch, return_task_ids=True)
            ledger.add([t.get("data", t)["sentence_id"] for t in batch], max(answer.task_ids or [0]))
            bar.advance(len(batch))


def read_sentences(corpus: str | Path) -> dict[str, list]:
    path = Path(corpus) / "sentences.parquet"
    if not path.is_file():
        raise StanceError(f"{corpus}: not a corpus (no sentences.parquet); make one with `stance corpus build`")
    table = pq.read_table(path)
    return {name: table.column(name).to_pylist() for name in table.column_names}


def first_of_each_text(sentences: dict[str, list], rows: list[int]) -> list[int]:
    """The rows whose sentence text has not appeared before in the corpus: a wire sentence
    repeated in many articles is labelled once (by its ``text_key``, which older corpora and
    those built with ``near_duplicates="keep"`` do not have)."""
    keys = sentences.get("text_key")
    if not keys or keys[0] is None:
        return rows
    first: dict[str, int] = {}
    for i, key in enumerate(keys):
        first.setdefault(key, i)
    return [i for i in rows if first[keys[i]] == i]


def build_tasks(sentences: dict[str, list], rows: list[int], context: int) -> list[dict]:
    """Task data for the chosen rows, with up to ``context`` sentences of the same article either side."""
    article_ids, texts = sentences["article_id"], sentences["text"]
    tasks = []
    for i in rows:
        before = [texts[j] for j in range(max(0, i - context), i) if article_ids[j] == article_ids[i]]
        after = [texts[j] for j in range(i + 1, min(len(texts), i + 1 + context)) if article_ids[j] == article_ids[i]]
        meta = " · ".join(sentences[field][i] for field in ("source", "date", "url") if sentences[field][i])
        tasks.append({
            "text": texts[i],
            "context_before": " ".join(before),
            "context_after": " ".join(after),
            "title": sentences["title"][i] or "",
            "meta": meta,
            "sentence_id": sentences["sentence_id"][i],
            "article_id": article_ids[i],
            "cluster_id": (sentences.get("cluster_id") or article_ids)[i],
        })
    return tasks


def with_predictions(tasks: list[dict], run: Predictor) -> list[dict]:
    """Tasks in Label Studio's import form, each with the run's prediction as a pre-annotation."""
    proba = run.predict_proba([t["text"] for t in tasks])
    return [{"data": task, "predictions": [prediction(run.labels, proba, i, run.run_id)]}
            for i, task in enumerate(tasks)]


def ensure_project(studio: Studio, title: str, schema: Schema, update_config: bool):
    """Find or create the project; refuse one whose config names other dimensions or choices."""
    if len(title) < 3:
        raise StanceError(f"project name {title!r} is too short: Label Studio needs at least 3 characters")
    config = render_label_config(schema)
    existing = find_project(studio, title)
    if existing is None:
        with errors_explained(studio, f"creating project {title!r}"):
            made = studio.client.projects.create(
                title=title, label_config=config, description="Sentences pushed by stance; see the instructions.",
                expert_instruction=render_instructions(schema), show_instruction=False, show_skip_button=True)
        return made, True
    theirs = config_dimensions(existing.label_config or "")
    if theirs != schema.to_dict():
        if not update_config:
            raise StanceError(
                f"project {title!r} was set up for other labels ({_describe(theirs)}) than the schema "
                f"({_describe(schema.to_dict())}); push with {{update_config}} to replace its config",
                update_config=True)
        with errors_explained(studio, f"updating the config of project {title!r}"):
            studio.client.projects.update(id=existing.id, label_config=config,
                                          expert_instruction=render_instructions(schema))
    return existing, False


def config_dimensions(label_config: str) -> dict[str, list[str]]:
    """Dimension -> choice names, as a Label Studio config defines them."""
    try:
        root = ET.fromstring(label_config)
    except ET.ParseError:
        return {}
    return {c.get("name"): [ch.get("alias") or ch.get("value") for ch in c.iter("Choice")]
            for c in root.iter("Choices")}


def _describe(dims: dict[str, list[str]]) -> str:
    return "; ".join(f"{d}: {', '.join(c)}" for d, c in dims.items()) or "none"


class Ledger:
    """Sentence ids known to be in one project, and the highest task id seen there."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ids: set[str] = set()
        self.max_task_id = 0
        self.count = 0
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.startswith("#max_task_id="):
                    self.max_task_id = max(self.max_task_id, int(line.split("=", 1)[1]))
                elif line:
                    self.ids.add(line)
            self.count = len(self.ids)

    def add(self, sentence_ids: list[str], max_task_id: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_task_id = max(self.max_task_id, max_task_id)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write("".join(f"{s}\n" for s in sentence_ids) + f"#max_task_id={self.max_task_id}\n")
        self.ids.update(sentence_ids)

    def sync(self, studio: Studio, project_id: int) -> set[str]:
        """Make the ledger agree with the server: read tasks newer than the ledger, or all of
        them when the server holds fewer tasks than the ledger knows (some were deleted)."""
        with errors_explained(studio, f"counting the tasks of project {project_id}"):
            on_server = studio.client.projects.get(id=project_id).task_number or 0
        if on_server == len(self.ids):
            return self.ids
        if on_server < len(self.ids):
            self.ids, self.max_task_id = set(), 0
            self.path.unlink(missing_ok=True)
        newer = {"filters": {"conjunction": "and", "items": [
            {"filter": "filter:tasks:id", "operator": "greater", "type": "Number", "value": self.max_task_id}]}}
        found, top = [], self.max_task_id
        with errors_explained(studio, f"reading the tasks of project {project_id}"):
            for task in studio.client.tasks.list(project=project_id, fields="task_only", include="id,data",
                                                 query=json.dumps(newer), page_size=1000):
                top = max(top, task.id)
                sentence_id = (task.data or {}).get("sentence_id")
                if sentence_id:
                    found.append(sentence_id)
        self.add(found, top)
        return self.ids
