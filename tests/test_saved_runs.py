"""Runs saved by earlier stance still load: their pickles name the classes where they lived then
(``stance.experiments.embeddings``, ``stance.experiments.runs``), so those names must keep working."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).parent / "data"
SAVED = DATA / "run-saved-2026-12-07"   # an embeddings run on the demo labels, as stance saved it that day


def test_a_run_saved_before_the_stage_packages_loads_and_predicts_the_same(tmp_path):
    from stance.model.runs import load_run, trust_run
    expected = json.loads((DATA / "run-saved-2026-12-07.expected.json").read_text())
    run_dir = Path(shutil.copytree(SAVED, tmp_path / "run"))
    trust_run(run_dir)                       # made under another key: trusted once, as a user would
    run = load_run(run_dir)
    proba = run.predict_proba(expected["sentences"])
    assert set(proba) == set(expected["proba"])
    for dim, values in expected["proba"].items():
        assert np.asarray(proba[dim]) == pytest.approx(np.asarray(values), abs=1e-6)
