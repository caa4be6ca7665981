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
