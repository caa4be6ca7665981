"""``labels predict``: a run's predictions on tasks already in a project, as pre-annotations.

Tasks that already carry this run's prediction are left alone, so the command can be
re-run; the project is switched to show this run's predictions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stance.studio.predictions import prediction
from stance.experiments.runs import load_run
from stance.labels.pull import read_tasks
from stance.progress import progress_bar
from stance.schema import Schema, load_schema
from stance.studio.client import Studio, errors_explained, require_project

BATCH = 1000


@dataclass
class PredictResult:
    project_id: int
    model_version: str
    tasks: int
    added: int

    def __str__(self) -> str:
        return (f"project {self.project_id}: added predictions of {self.model_version} to {self.added:,} tasks; "
                f"{self.tasks - self.added:,} of {self.tasks:,} had them already")


def predict(studio: Studio, project: str, model: str | Path, *, schema: Schema | None = None,
            progress: bool = False) -> PredictResult:
    schema = schema or load_schema()
    run = load_run(model, schema)
    proj = require_project(studio, project)
    tasks = list(read_tasks(studio, proj.id, include="id,data,predictions,model_version"))
    todo = [t for t in tasks if run.run_id not in {p.get("model_version") for p in t.get("predictions") or []}]
    with progress_bar(f"predict {project}", len(todo), enabled=progress) as bar:
        for start in range(0, len(todo), BATCH):
            batch = todo[start:start + BATCH]
            proba = run.predict_proba([t["data"]["text"] for t in batch])
            request = [{"task": t["id"], **prediction(run.labels, proba, i, run.run_id)} for i, t in enumerate(batch)]
            with errors_explained(studio, f"adding predictions to project {proj.id}"):
                studio.client.projects.import_predictions(id=proj.id, request=request)
            bar.advance(len(batch))
    with errors_explained(studio, f"showing {run.run_id}'s predictions in project {proj.id}"):
        studio.client.projects.update(id=proj.id, model_version=run.run_id)
    return PredictResult(proj.id, run.run_id, len(tasks), len(todo))
