"""``stance demo``: the whole loop on the synthetic demo corpus, with nothing to set up.

Build the corpus, start the embedded Label Studio, push the sentences, let three
simulated annotators label them from the demo's gold labels (one of them careless,
so agreement is not perfect), pull, train the default experiment, score the demo
articles, draw a random audit of the scores into its own project (labelled by the
same annotators), estimate the shares per source with intervals, and write the
report. Every step reuses what a previous run left: no duplicate tasks, annotations
or runs.
"""

from __future__ import annotations

import json
import random
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from stance.ingest.corpus import CorpusResult, build_corpus
from stance.progress import progress_bar, stderr
from stance.resources import demo_dir, shipped
from stance.schema import Schema, load_schema
from stance.studio import DEFAULT_DATA_DIR

DEFAULT_WORKDIR = Path("artifacts/demo")
PROJECT = "stance demo"
#: The audit: its own project, and how many scored sentences it draws (equal per source).
AUDIT_PROJECT = "stance demo audit"
AUDIT_SIZE = 60
#: The simulated annotators: user name and the share of labels each gets wrong on purpose.
ANNOTATORS = (("demo-annotator-1", 0.0), ("demo-annotator-2", 0.05), ("demo-annotator-3", 0.3))


@dataclass
class DemoResult:
    workdir: Path
    corpus: CorpusResult
    studio_url: str
    credentials: Path
    project_id: int
    tasks_created: int
    annotations_created: int
    run_path: Path
    run_reused: bool
    metrics: dict
    scores: Path
    audit_project_id: int
    audit_created: int
    estimates: Path
    report: Path
    data_dir: Path = DEFAULT_DATA_DIR
    project: str = PROJECT

    def summary(self) -> str:
        from stance.findings.estimate import companion
        lines = [
            "stance demo: the whole loop on 30 synthetic articles",
            f"  corpus       {self.corpus.out}  ({self.corpus.counts.sentences} sentences)",
            f"  Label Studio {self.studio_url}/projects/{self.project_id}  (login: user name and password in "
            f"{self.credentials})",
            f"               {self.tasks_created} new tasks, {self.annotations_created} new annotations "
            f"by {len(ANNOTATORS)} simulated annotators",
            f"  labels       {self.workdir / 'labels'}",
            f"  model run    {self.run_path}{'  (reused)' if self.run_reused else ''}",
        ]
        for dim, m in self.metrics["dimensions"].items():
            lines.append(f"               {dim:<8} cross-validated macro-F1 {m['cv']['macro_f1']:.3f}")
        lines += [
            f"  scores       {self.scores}",
            f"  audit        {AUDIT_SIZE} random scored sentences, equal per source, in "
            f"{self.studio_url}/projects/{self.audit_project_id}  ({self.audit_created} new tasks; labels in "
            f"{self.workdir / 'audit-labels'})",
            f"  estimates    {self.estimates}  (shares per source with 95% intervals, model + audit; "
            f"outlet against outlet in {companion(self.estimates, 'differences').name})",
            f"  report       {self.report}",
            "",
            "next steps:",
            f"  open the report:          {self.report}",
            f"  label more in the browser: {self.studio_url}/projects/{self.project_id}, then",
            f"                            stance labels pull --project \"{self.project}\" --out {self.workdir / 'labels'}",
            f"  compare a stronger model: stance experiments run experiments/word-char.toml "
            f"--data {self.workdir / 'labels'} --out {self.workdir / 'runs'}",
            f"                            stance experiments compare {self.run_path.name} latest "
            f"(with STANCE_RUNS_DIR={self.workdir / 'runs'})",
            "  score your own articles:  stance score YOUR_ARTICLES/ --model "
            f"{self.run_path} --out scores/",
            "  stop Label Studio:        stance studio stop"
            + ("" if Path(self.data_dir) == DEFAULT_DATA_DIR else f" --data-dir {self.data_dir}"),
        ]
        return "\n".join(lines)


def run_demo(workdir: str | Path = DEFAULT_WORKDIR, *, data_dir: str | Path = DEFAULT_DATA_DIR,
             port: int | None = None, project: str = PROJECT, new_run: bool = False,
             progress: bool = False) -> DemoResult:
    """Run every stage of the loop on the demo corpus, writing under ``workdir``.

    ``port`` defaults to 8080, or a free port if 8080 is taken; ``new_run=True``
    trains a new model run even if an identical one exists.
    """
    from stance.experiments import run as run_experiment
    from stance.findings.audit import audit_push
    from stance.findings.estimate import estimate
    from stance.findings.report import report
    from stance.labels.pull import pull
    from stance.labels.push import push
    from stance.studio import server
    from stance.studio.client import connect

    workdir = Path(workdir)
    schema = load_schema()
    say = stderr.print if progress else (lambda *a, **k: None)
    corpus = build_corpus([demo_dir() / "articles.jsonl"], workdir / "corpus", workers=1, progress=False)
    say(f"corpus: {corpus}")
    info = server.start(data_dir, port or server.pick_port(), progress=progress)
    studio = connect(data_dir=data_dir)
    pushed = push(studio, corpus.out, project, schema=schema, ledger_dir=workdir / "ledger", progress=progress)
    say(f"push: {pushed}")
    added = annotate_from_gold(studio, pushed.project_id, demo_dir() / "gold.jsonl", schema, progress=progress)
    pulled = pull(studio, project, workdir / "labels", schema=schema, progress=progress)
    say(f"pull: {pulled}")
    result = run_experiment(shipped("experiments/default.toml", "experiments/default.toml"), workdir / "labels",
                            out=workdir / "runs", reuse=not new_run, schema=schema, progress=progress)
    say(f"experiment: {result}")
    scores = _score_once(corpus, result.path, workdir / "scores", progress)
    audit_project = AUDIT_PROJECT if project == PROJECT else f"{project} audit"
    audited = audit_push(studio, scores, audit_project, AUDIT_SIZE, by=["source"], ledger_dir=workdir / "ledger",
                         progress=progress)
    say(f"audit: {audited}")
    annotate_from_gold(studio, audited.project_id, demo_dir() / "gold.jsonl", schema, progress=progress)
    pull(studio, audit_project, workdir / "audit-labels", schema=schema, progress=progress)
    estimates = workdir / "estimates.csv"
    estimate(scores, estimates, compare="source", audit=workdir / "audit-labels")  # + estimates.differences.csv
    written = report(scores, workdir / "report.html", estimates=estimates, audit=workdir / "audit-labels")
    return DemoResult(workdir, corpus, info.url, info.credentials_file, pushed.project_id, pushed.created, added,
                      result.path, result.reused, result.metrics, scores, audited.project_id, audited.created,
                      estimates, written.out, Path(data_dir), project)


def _score_once(corpus: CorpusResult, run_path: Path, out: Path, progress: bool) -> Path:
    """Score the demo articles unless ``out`` already holds this run's scores of them."""
    from stance.scoring.batch import score
    manifest = out / "manifest.json"
    if manifest.is_file() and json.loads(manifest.read_text())["model"]["path"] == str(run_path):
        return out
    score([demo_dir() / "articles.jsonl"], run_path, out, workers=1, overwrite=True, progress=progress)
    return out


def annotate_from_gold(studio, project_id: int, gold: Path, schema: Schema, *, progress: bool = False) -> int:
    """Label every task of the project as each simulated annotator, from the gold labels.

    An annotator's mistakes are drawn from the sentence id, so they are the same on
    every run; tasks an annotator already labelled are left alone. Returns how many
    annotations were created.
    """
    from stance.labels.pull import read_tasks
    from stance.studio.client import errors_explained
    from stance.studio.config import SENTENCE_TAG

    labels = {row["sentence_id"]: row for row in map(json.loads, gold.read_text(encoding="utf-8").splitlines())}
    users = _ensure_users(studio)
    todo = []
    for task in read_tasks(studio, project_id):
        sentence_id = task["data"].get("sentence_id")
        if sentence_id not in labels:
            continue
        done = {a.get("completed_by") for a in task.get("annotations") or []}
        done = {d.get("id") if isinstance(d, dict) else d for d in done}
        for (name, error_rate), user_id in zip(ANNOTATORS, users):
            if user_id not in done:
                todo.append((task["id"], user_id, _labels_of(labels[sentence_id], name, error_rate, schema)))

    def create(item) -> None:
        task_id, user_id, chosen = item
        result = [{"from_name": dim, "to_name": SENTENCE_TAG, "type": "choices", "value": {"choices": [value]}}
                  for dim, value in chosen.items()]
        with errors_explained(studio, f"annotating task {task_id}"):
            studio.client.annotations.create(id=task_id, result=result, completed_by=user_id)

    with progress_bar("simulated annotators", len(todo), enabled=progress) as bar, ThreadPoolExecutor(4) as pool:
        for _ in pool.map(create, todo):
            bar.advance()
    return len(todo)


def _labels_of(gold: dict, annotator: str, error_rate: float, schema: Schema) -> dict[str, str]:
    rng = random.Random(zlib.crc32(f"{annotator}:{gold['sentence_id']}".encode()))
    chosen = {}
    for dim in schema.dimensions:
        value = gold.get(dim.name)
        if value is None:
            continue
        if rng.random() < error_rate:
            value = rng.choice([n for n in dim.names if n != value])
        chosen[dim.name] = value
    return chosen


def _ensure_users(studio) -> list[int]:
    existing = {u.username: u.id for u in studio.client.users.list()}
    ids = []
    for name, _ in ANNOTATORS:
        if name not in existing:
            existing[name] = studio.client.users.create(username=name, email=f"{name}@demo.invalid").id
        ids.append(existing[name])
    return ids
