"""The schema is the one place that names dimensions; the Label Studio config follows it."""

import xml.etree.ElementTree as ET

import pytest

from stance.schema import SchemaError, load_schema
from stance.studio.config import SENTENCE_TAG, TASK_FIELDS, render_label_config


def test_shipped_schema_has_the_three_dimensions_with_hints():
    schema = load_schema()
    assert schema.names == ["framing", "tone", "speaker"]
    assert schema.dimension("speaker").names == ["us_official", "prc_official", "journalist", "other"]
    for dim in schema.dimensions:
        for choice in dim.choices:
            assert choice.hint, f"guidelines.md has no '>' hint for {dim.name}/{choice.name}"


def test_rendered_config_matches_the_schema():
    schema = load_schema()
    root = ET.fromstring(render_label_config(schema))
    blocks = root.findall(".//Choices")
    assert [b.get("name") for b in blocks] == schema.names
    for block, dim in zip(blocks, schema.dimensions):
        assert block.get("toName") == SENTENCE_TAG and block.get("choice") == "single-radio"
        assert [c.get("alias") for c in block.findall("Choice")] == dim.names
        assert [c.get("hint") for c in block.findall("Choice")] == [c.hint for c in dim.choices]
    values = {t.get("value") for t in root.iter() if t.get("value", "").startswith("$")}
    assert values == {f"${f}" for f in TASK_FIELDS}
    assert root.find(f".//Text[@name='{SENTENCE_TAG}']").get("value") == "$text"


def test_an_added_dimension_flows_into_the_config(tmp_path):
    path = tmp_path / "schema.toml"
    path.write_text(load_schema().path.read_text() + '''
[[dimensions]]
name = "topic"
question = "What is it about?"
choices = [{ name = "trade" }, { name = "security" }]
''')
    schema = load_schema(path)
    assert schema.names[-1] == "topic"
    assert schema.fingerprint != load_schema().fingerprint
    root = ET.fromstring(render_label_config(schema))
    assert [c.get("alias") for c in root.find(".//Choices[@name='topic']")] == ["trade", "security"]


@pytest.mark.parametrize("body, message", [
    ("dimensions = 3", "at least one"),
    ('[[dimensions]]\nname = "Bad Name"\nchoices = [{name="a"}, {name="b"}]', "'name' must be lowercase"),
    ('[[dimensions]]\nname = "x"\nchoices = [{name="a"}]', "at least two"),
    ('[[dimensions]]\nname = "x"\nchoices = [{name="a"}, {name="a"}]', "repeat: a"),
    ("not = [valid", "not valid TOML"),
])
def test_malformed_schema_is_a_clear_error_naming_the_file(tmp_path, body, message):
    path = tmp_path / "schema.toml"
    path.write_text(body)
    with pytest.raises(SchemaError, match=message) as info:
        load_schema(path)
    assert str(path) in str(info.value)
