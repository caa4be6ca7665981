"""``stance audit push``: allocation by hand, a reproducible stratified draw, and the round trip through
a real Label Studio: tasks without predictions, nothing added twice, labels pulled back into estimates."""

import json
import shutil
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stance.errors import StanceError
from stance.findings.audit import DESIGN_FILE, allocate, audit_push, draw, draw_audit


def test_allocation_by_hand():
    population = np.array([50, 30, 5])
    assert allocate(population, 30, "equal").tolist() == [10, 10, 5]          # capped at the stratum's size
    assert allocate(population, 31, "equal").tolist() == [11, 10, 5]          # remainder to the first
    # 17 * (50, 30, 5) / 85 = (10, 6, 1) exactly; 18 * ... = (10.59, 6.35, 1.06): largest remainder to the first
    assert allocate(population, 17, "proportional").tolist() == [10, 6, 1]
    assert allocate(population, 18, "proportional").tolist() == [11, 6, 1]


def test_draw_is_stratified_reproducible_and_each_stratum_has_its_own_stream():
    keys = pd.DataFrame({"source": ["a"] * 100 + ["b"] * 60})
    rows, strata, chances = draw(keys, 20, "equal", seed=5)
    assert [(s["key"]["source"], s["population"], s["sample"]) for s in strata] == [("a", 100, 10), ("b", 60, 10)]
    assert strata[0]["inclusion_probability"] == pytest.approx(0.1)
    assert len(set(rows)) == 20 and (rows < 100).sum() == 10
    assert chances.tolist() == [0.1] * 10 + [10 / 60] * 10
    again, _, _ = draw(keys, 20, "equal", seed=5)
    assert again.tolist() == rows.tolist()
    # adding a stratum leaves the others' draws alone
    more, _, _ = draw(pd.DataFrame({"source": ["a"] * 100 + ["b"] * 60 + ["c"] * 10}), 30, "equal", seed=5)
    assert set(rows) <= set(more)


def test_an_active_draw_favours_the_uncertain_and_records_each_probability():
    keys = pd.DataFrame({"source": ["a"] * 400 + ["b"] * 400})
    error = np.r_[np.full(200, 0.1), np.full(200, 0.9), np.full(400, 0.5)]
    rows, strata, chances = draw(keys, 100, "equal", seed=3, error=error)
    # Poisson sampling: about 50 per source; in a, a sure row's chance is 50 x (0.8 x 0.1 / 200 + 0.2 / 400)
    # = 0.045 and an unsure one's 50 x (0.8 x 0.9 / 200 + 0.2 / 400) = 0.205: about 9 against 41 expected
    in_a = rows < 400
    assert abs(in_a.sum() - 50) < 20 and abs((~in_a).sum() - 50) < 20
    assert (rows[in_a] >= 200).sum() > 2 * (rows[in_a] < 200).sum()
    assert [s["sample"] for s in strata] == [int(in_a.sum()), int((~in_a).sum())]
    from stance.quantify import active_probabilities
    assert chances[in_a] == pytest.approx(active_probabilities(error[:400], 50)[rows[in_a]])
    assert draw(keys, 100, "equal", seed=3, error=error)[0].tolist() == rows.tolist()   # reproducible


@pytest.mark.studio
def test_audit_round_trip_through_label_studio(studio, demo_scores, tmp_path):
    from stance.demo import annotate_from_gold
    from stance.findings.estimate import estimate
    from stance.labels.pull import pull
    from stance.resources import demo_dir
    from stance.schema import load_schema

    scores = Path(shutil.copytree(demo_scores, tmp_path / "scores"))
    project = f"Audit {uuid.uuid4().hex[:8]}"
    ledger = tmp_path / "ledger"
    first = audit_push(studio, scores, project, 20, by=["source"], seed=4, ledger_dir=ledger)
    assert first.created == 20 and [s["sample"] for s in first.strata] == [5, 5, 5, 5]
    design = json.loads((scores / DESIGN_FILE).read_text())
    assert design["project_id"] == first.project_id and len(design["sentence_ids"]) == 20
    assert design["sentence_ids"] == [draw_audit(scores, 20, by=["source"], seed=4).sentences["sentence_id"][i]
                                      for i in draw_audit(scores, 20, by=["source"], seed=4).rows]
    tasks = list(studio.client.tasks.list(project=first.project_id, fields="all"))
    assert len(tasks) == 20 and not any(t.predictions for t in tasks)            # annotators see no model
    assert sorted(t.data["sentence_id"] for t in tasks) == sorted(design["sentence_ids"])
    assert all(t.data["context_before"] or t.data["context_after"] for t in tasks)
    # the same audit again adds nothing, even from another machine (no ledger)
    assert audit_push(studio, scores, project, 20, by=["source"], seed=4, ledger_dir=tmp_path / "other").created == 0
    with pytest.raises(StanceError, match="holds an audit drawn differently"):
        audit_push(studio, scores, project, 24, by=["source"], seed=4, ledger_dir=ledger)
    # people label it; the pulled labels are the audit
    annotate_from_gold(studio, first.project_id, demo_dir() / "gold.jsonl", load_schema())
    pull(studio, project, tmp_path / "audit-labels")
    result = estimate(scores, by=["source"], audit=tmp_path / "audit-labels", replicates=50)
    assert (result.n_audit == 5).all()
    assert result.method.str.contains("stratified random audit by source").all()
    assert result.flag.str.contains("few_audit").all()                            # 5 per source is too few
    assert ((0 <= result.low) & (result.low <= result.estimate) & (result.estimate <= result.high)
            & (result.high <= 1)).all()


def test_plan_sizes_each_group_from_the_model_errors(demo_scores, default_run):
    from stance import quantify
    from stance.findings.audit import plan
    from stance.findings.estimate import run_references
    sized = plan(demo_scores, 0.2, by=["source"])
    sentences = pd.read_parquet(demo_scores / "sentences.parquet")
    labels = json.loads((demo_scores / "manifest.json").read_text())["model"]["labels"]
    references, _ = run_references(default_run, labels)
    for group in sized.groups:
        members = sentences[sentences.source == group["key"]["source"]]
        needed, alone = [], []
        for dim, names in labels.items():
            explained = references[dim].squared_correlations()
            for c, name in enumerate(names):
                share = members[f"{dim}_p_{name}"].mean()
                needed.append(quantify.audit_size(share * (1 - share) * (1 - explained[c]), 0.2, len(members)))
                alone.append(quantify.audit_size(share * (1 - share), 0.2, len(members)))
        assert (group["with_model"], group["alone"]) == (max(needed), max(alone))
        assert group["with_model"] <= group["alone"] <= len(members)
    assert f"--n {max(g['with_model'] for g in sized.groups) * len(sized.groups)} --by source" in str(sized)
    assert "pools them" not in str(sized) and "pools them" in str(plan(demo_scores, 0.2, by=["article_id"]))
    with pytest.raises(StanceError, match="width=2 must lie between 0 and 1"):
        plan(demo_scores, 2)
