"""``labels predict``: a run's predictions on tasks already in a project, as pre-annotations.

Tasks that already carry this run's prediction are left alone, so the command can be
re-run; the project is switched to show this run's predictions.
"""

from __future__ import annotations

from dataclasses import dataclass

from stance.labels.pull import read_tasks
from stance.progress import progress_bar
from stance.studio.client import Studio, errors_explained, require_project
from stance.studio.predictions import Predictor, prediction

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


def predict(studio: Studio, project: str, model: Predictor, *, progress: bool = False) -> PredictResult:
    """Add the predictions of ``model`` (a run from ``stance.load_run``) to the project's tasks."""
    proj = require_project(studio, project)
    tasks = list(read_tasks(studio, proj.id, include="id,data,predictions,model_version"))
    todo = [t for t in tasks if model.run_id not in {p.get("model_version") for p in t.get("predictions") or []}]
    with progress_bar(f"predict {project}", len(todo), enabled=progress) as bar:
        for start in range(0, len(todo), BATCH):
            batch = todo[start:start + BATCH]
            proba = model.predict_proba([t["data"]["text"] for t in batch])
            request = [{"task": t["id"], **prediction(model.labels, proba, i, model.run_id)}
                       for i, t in enumerate(batch)]
            with errors_explained(studio, f"adding predictions to project {proj.id}"):
                studio.client.projects.import_predictions(id=proj.id, request=request)
            bar.advance(len(batch))
    with errors_explained(studio, f"showing {model.run_id}'s predictions in project {proj.id}"):
        studio.client.projects.update(id=proj.id, model_version=model.run_id)
    return PredictResult(proj.id, model.run_id, len(tasks), len(todo))
