"""`labels import` from tables made by other tools (the Label Studio export case runs against a real server)."""

import datasets
import pandas as pd
import pytest

from stance.errors import StanceError
from stance.labels.importer import import_labels


@pytest.fixture()
def coded_csv(tmp_path):
    path = tmp_path / "coded.csv"
    pd.DataFrame([
        {"sid": "a:1", "art": "a", "sentence": "Talks resumed.", "frame": "US", "coder": "x"},
        {"sid": "a:1", "art": "a", "sentence": "Talks resumed.", "frame": "US", "coder": "y"},
        {"sid": "a:2", "art": "a", "sentence": "Beijing objected.", "frame": "China", "coder": "x"},
        {"sid": "a:2", "art": "a", "sentence": "Beijing objected.", "frame": "US", "coder": "y"},
        {"sid": "b:1", "art": "b", "sentence": "No frame given.", "frame": "", "coder": "x"},
    ]).to_csv(path, index=False)
    return path


def test_table_import_maps_values_and_resolves(coded_csv, tmp_path):
    result = import_labels(coded_csv, tmp_path / "out", text_field="sentence", id_field="sid", article_field="art",
                           annotator_field="coder", labels={"framing": "frame"},
                           value_map={"framing": {"US": "us", "China": "prc"}})
    rows = {r["sentence_id"]: r for r in datasets.load_from_disk(str(tmp_path / "out"))}
    assert (rows["a:1"]["framing_status"], rows["a:1"]["framing_n"]) == ("unanimous", 2)
    assert (rows["a:2"]["framing"], rows["a:2"]["framing_status"]) == (-1, "tie")
    assert rows["b:1"]["framing_status"] == "unlabelled" and rows["b:1"]["article_id"] == "b"
    assert rows["a:1"]["tone_status"] == "unlabelled"  # a dimension the file does not carry
    assert result.agreement["dimensions"]["framing"]["pairwise"]["x ~ y"] == {"n": 2, "agreement": 0.5}


def test_unknown_value_names_value_record_and_choices(coded_csv, tmp_path):
    with pytest.raises(StanceError) as info:
        import_labels(coded_csv, tmp_path / "out", text_field="sentence", id_field="sid",
                      labels={"framing": "frame"}, value_map={"framing": {"US": "us"}})
    message = str(info.value)
    assert "'China'" in message and "coded.csv:4" in message and "us, prc, neutral" in message


def test_missing_label_field_and_unknown_dimension_are_errors(coded_csv, tmp_path):
    with pytest.raises(StanceError, match="framing=framing_code"):
        import_labels(coded_csv, tmp_path / "o1", text_field="sentence", labels={"framing": "framing_code"})
    with pytest.raises(StanceError, match="unknown dimension 'stance'"):
        import_labels(coded_csv, tmp_path / "o2", text_field="sentence", labels={"stance": "frame"})


def test_opening_a_dataset_with_another_schema_is_refused(coded_csv, tmp_path):
    from stance.labels.dataset import load_labelled
    from stance.schema import load_schema

    import_labels(coded_csv, tmp_path / "out", text_field="sentence", labels={"framing": "frame"},
                  value_map={"framing": {"US": "us", "China": "prc"}})
    assert load_labelled(tmp_path / "out", load_schema()).num_rows == 3
    other = tmp_path / "schema.toml"
    other.write_text(load_schema().path.read_text().replace('{ name = "neutral", label = "Neither / both" },', ""))
    with pytest.raises(StanceError, match="'framing' has choices"):
        load_labelled(tmp_path / "out", load_schema(other))


def test_agreement_command_reads_a_dataset_and_explains_a_missing_one(coded_csv, tmp_path):
    import json
    import subprocess
    import sys

    import_labels(coded_csv, tmp_path / "out", text_field="sentence", id_field="sid", annotator_field="coder",
                  labels={"framing": "frame"}, value_map={"framing": {"US": "us", "China": "prc"}})
    done = subprocess.run([sys.executable, "-m", "stance", "labels", "agreement", str(tmp_path / "out"), "--json"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["dimensions"]["framing"]["pairwise"]["x ~ y"] == {"n": 2, "agreement": 0.5}
    assert report["sentences_by_annotators"] == {"1": 1, "2": 2}
    missing = subprocess.run([sys.executable, "-m", "stance", "labels", "agreement", str(tmp_path / "nope")],
                             capture_output=True, text=True)
    assert missing.returncode == 1 and "no labelled dataset here" in missing.stderr


def test_rows_without_text_are_rejected_and_the_rest_imported(tmp_path):
    """BASIL has sentences with empty text: they land in rejects.jsonl, not in an error."""
    import json
    path = tmp_path / "coded.jsonl"
    rows = [{"sid": "a:1", "sentence": "Talks resumed.", "tone": "adversarial"},
            {"sid": "a:2", "sentence": "   ", "tone": "neutral"},
            {"sid": "a:3", "sentence": "Beijing objected.", "tone": "mixed"},
            {"sid": "a:4", "sentence": "Both sides spoke.", "tone": "neutral"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n{not json\n")
    result = import_labels(path, tmp_path / "out", text_field="sentence", id_field="sid",
                           value_map={"tone": {"mixed": ""}})
    kept = {r["sentence_id"]: r for r in datasets.load_from_disk(str(tmp_path / "out"))}
    assert set(kept) == {"a:1", "a:3", "a:4"} and result.sentences == 3 and result.rejected == 2
    assert kept["a:3"]["tone_status"] == "unlabelled"  # 'mixed' mapped to nothing
    assert kept["a:4"]["tone_status"] == "single"
    rejects = [json.loads(line) for line in (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()]
    assert [(r["origin"], r["field"]) for r in rejects][0] == (f"{path}:2", "sentence")
    assert "empty sentence text" in rejects[0]["reason"] and rejects[1]["origin"] == f"{path}:5"
    assert "2 rows rejected" in str(result)


def test_map_to_nothing_on_the_command_line(coded_csv, tmp_path):
    from typer.testing import CliRunner

    from stance.cli import app
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["labels", "import", str(coded_csv), "--out", str(out), "-q",
                                      "--text-field", "sentence", "--id-field", "sid", "--label", "framing=frame",
                                      "--map", "framing:US=us", "--map", "framing:China="])
    assert result.exit_code == 0, result.output
    rows = {r["sentence_id"]: r for r in datasets.load_from_disk(str(out))}
    assert rows["a:2"]["framing_n"] == 1 and rows["a:2"]["framing_status"] == "single"  # China dropped
    bad = CliRunner().invoke(app, ["labels", "import", str(coded_csv), "--out", str(out), "--label", "framing="])
    assert isinstance(bad.exception, StanceError) and "--label takes KEY=VALUE" in str(bad.exception)
