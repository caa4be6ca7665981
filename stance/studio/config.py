"""Render the Label Studio labelling config from the schema (never written by hand)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from stance.schema import Schema

#: The task fields the config shows; every task stance creates carries all of them.
TASK_FIELDS = ("text", "context_before", "context_after", "title", "meta")
#: The object tag that every dimension's choices point at (``to_name`` in results).
SENTENCE_TAG = "sentence"

_CONTEXT_STYLE = "color:#777; font-size:90%; padding:4px 8px"
_FOCUS_STYLE = (
    "font-size:120%; font-weight:600; padding:8px; margin:4px 0; "
    "border-left:4px solid #4b6bfb; background:#f3f5ff"
)


def render_instructions(schema: Schema) -> str:
    """The guidelines (Markdown) as HTML for Label Studio's instructions.

    Label Studio drops style attributes, so Markdown shown as text would run together into
    one paragraph; headings, lists and block quotes rendered as HTML elements survive. Raw
    HTML in the guidelines is escaped, not passed on.
    """
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).render(schema.guidelines)


def render_label_config(schema: Schema) -> str:
    """The XML config: title and metadata, context around the focus sentence, one block per dimension."""
    view = ET.Element("View")
    ET.SubElement(view, "Header", value="$title", size="4")
    ET.SubElement(view, "Text", name="meta", value="$meta", granularity="word")
    before = ET.SubElement(view, "View", style=_CONTEXT_STYLE)
    ET.SubElement(before, "Text", name="context_before", value="$context_before")
    focus = ET.SubElement(view, "View", style=_FOCUS_STYLE)
    ET.SubElement(focus, "Text", name=SENTENCE_TAG, value="$text")
    after = ET.SubElement(view, "View", style=_CONTEXT_STYLE)
    ET.SubElement(after, "Text", name="context_after", value="$context_after")
    for dim in schema.dimensions:
        block = ET.SubElement(view, "View", style="margin-top:12px")
        ET.SubElement(block, "Header", value=dim.question, size="5")
        choices = ET.SubElement(
            block,
            "Choices",
            name=dim.name,
            toName=SENTENCE_TAG,
            choice="single-radio",
            showInline="true",
            required="true" if dim.required else "false",
        )
        for choice in dim.choices:
            attrs = {"value": choice.label, "alias": choice.name}
            if choice.hint:
                attrs["hint"] = choice.hint
            ET.SubElement(choices, "Choice", attrs)
    ET.indent(view)
    return ET.tostring(view, encoding="unicode")
