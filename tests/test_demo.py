"""`stance demo` end to end against a real Label Studio, twice: the second run adds nothing."""

import json

import pandas as pd
import pytest

from stance.demo import ANNOTATORS, AUDIT_PROJECT, AUDIT_SIZE, PROJECT, run_demo

pytestmark = pytest.mark.studio


def test_demo_runs_the_loop_and_is_idempotent(studio_server, studio, tmp_path):
    first = run_demo(tmp_path / "demo", data_dir=studio_server.data_dir)
    assert first.tasks_created == 165
    assert first.annotations_created == 165 * len(ANNOTATORS)
    assert not first.run_reused
    pulled = json.loads((tmp_path / "demo" / "labels" / "pull.json").read_text())
    alphas = [d["alpha"] for d in pulled["agreement"]["dimensions"].values()]
    assert all(0.3 < a < 1.0 for a in alphas), alphas  # one careless annotator: good, not perfect
    assert first.report.is_file() and "Most confident sentences" in first.report.read_text()
    assert (first.scores / "manifest.json").is_file()
    # it ends with estimates that use the audit, and a report that shows their intervals
    assert first.audit_created == AUDIT_SIZE
    estimates = pd.read_csv(first.estimates)
    assert (estimates.groupby(["dimension", "class"]).n_audit.sum() == AUDIT_SIZE).all()
    assert estimates.method.str.contains("stratified random audit by source").all()
    assert ((estimates.low <= estimates.estimate) & (estimates.estimate <= estimates.high)).all()
    differences = pd.read_csv(first.estimates.with_name("estimates.differences.csv"))   # outlet against outlet
    assert len(differences) == 6 * len(estimates) // 4 and differences.method.str.startswith("audit").all()
    page = first.report.read_text()
    first_row = estimates.iloc[0]
    assert f"Audit: {AUDIT_SIZE} randomly drawn" in page and f"{first_row.low:.1%} to {first_row.high:.1%}" in page
    assert "The estimates as numbers" in page and "Calibration, from the audit" in page

    second = run_demo(tmp_path / "demo", data_dir=studio_server.data_dir)
    assert (second.tasks_created, second.annotations_created, second.audit_created) == (0, 0, 0)
    assert second.run_reused and second.run_path == first.run_path
    project = next(p for p in studio.client.projects.list(title=PROJECT) if p.title == PROJECT)
    tasks = list(studio.client.tasks.list(project=project.id, fields="all"))
    assert len(tasks) == 165
    assert sum(len(t.annotations or []) for t in tasks) == 165 * len(ANNOTATORS)
    assert [p.name for p in (tmp_path / "demo" / "runs").iterdir()] == [first.run_path.name]
    audit = next(p for p in studio.client.projects.list(title=AUDIT_PROJECT) if p.title == AUDIT_PROJECT)
    audit_tasks = list(studio.client.tasks.list(project=audit.id, fields="all"))
    assert len(audit_tasks) == AUDIT_SIZE and not any(t.predictions for t in audit_tasks)

    third = run_demo(tmp_path / "demo", data_dir=studio_server.data_dir, new_run=True)
    assert not third.run_reused and third.run_path != first.run_path
    assert "stance studio stop" in third.summary()
