"""HTML pages for reports: one self-contained file, and one place where text becomes HTML.

Everything that is not our own markup goes through :func:`esc`, so a run name, an outlet
or a sentence with ``<`` in it stays text."""

from __future__ import annotations

import html

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; padding: 0 1em; }}
h1 {{ font-size: 1.5em; }} h2 {{ margin-top: 2em; border-bottom: 1px solid #ddd; }}
table {{ border-collapse: collapse; margin: 0.8em 0; }}
td, th {{ border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
.plot {{ max-width: 100%; margin: 0.5em 1em 0.5em 0; vertical-align: top; }}
.muted {{ color: #666; font-size: 0.9em; }}
</style></head><body>
{body}
</body></html>
"""


def esc(value) -> str:
    """Text (or anything printable) made safe to put into HTML, quotes included."""
    return html.escape(str(value), quote=True)


def page(title: str, body: str) -> str:
    return PAGE.format(title=esc(title), body=body)


def table(header: list[str], rows: list[list], numeric_from: int = 1) -> str:
    def cell(i, v):
        text = f"{v:.3f}" if isinstance(v, float) else esc(v)
        return f'<td class="num">{text}</td>' if i >= numeric_from else f"<td>{text}</td>"
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(i, v) for i, v in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"
