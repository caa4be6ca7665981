"""The label schema: dimensions and their choices, read from ``labels/schema.toml``.

Everything that names a dimension or a choice (the Label Studio config, the
dataset columns, the models) gets it from a :class:`Schema`, so editing the
TOML file is the only step needed to add a dimension or a choice.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from stance.errors import StanceError
from stance.resources import shipped

SCHEMA_ENV = "STANCE_SCHEMA"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class SchemaError(StanceError):
    """The schema file (or the guidelines beside it) is malformed."""


@dataclass(frozen=True)
class Choice:
    name: str
    label: str
    hint: str = ""


@dataclass(frozen=True)
class Dimension:
    name: str
    question: str
    choices: tuple[Choice, ...]
    required: bool = True

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.choices]

    def index(self, choice: str) -> int:
        """Position of ``choice`` (the ClassLabel id); raises KeyError if unknown."""
        try:
            return self.names.index(choice)
        except ValueError:
            raise KeyError(choice) from None


@dataclass(frozen=True)
class Schema:
    dimensions: tuple[Dimension, ...]
    path: Path | None = None
    guidelines: str = field(default="", repr=False)

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.dimensions]

    def dimension(self, name: str) -> Dimension:
        for dim in self.dimensions:
            if dim.name == name:
                return dim
        raise SchemaError(f"unknown dimension {name!r}; the schema has: {', '.join(self.names)}")

    def to_dict(self) -> dict:
        """The parts that define compatibility: dimension and choice names, in order."""
        return {d.name: d.names for d in self.dimensions}

    @property
    def fingerprint(self) -> str:
        """Short hash of :meth:`to_dict`; equal fingerprints mean interchangeable labels."""
        blob = json.dumps(self.to_dict(), sort_keys=False).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def default_schema_path() -> Path:
    """Where the schema is looked for: $STANCE_SCHEMA, ./labels/, then the one stance ships."""
    if os.environ.get(SCHEMA_ENV):
        return Path(os.environ[SCHEMA_ENV])
    here = Path.cwd() / "labels" / "schema.toml"
    if here.is_file():
        return here
    shipped_schema = shipped("labels/schema.toml", "schema.toml")
    if shipped_schema.is_file():
        return shipped_schema
    raise SchemaError("no labels/schema.toml found here, and stance's own copy is missing")


def load_schema(path: str | os.PathLike | None = None) -> Schema:
    """Read and check a schema file; hints come from ``guidelines.md`` beside it, if present."""
    path = Path(path) if path else default_schema_path()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SchemaError(f"{path}: schema file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise SchemaError(f"{path}: not valid TOML: {exc}") from None
    guidelines_path = path.with_name("guidelines.md")
    guidelines = guidelines_path.read_text(encoding="utf-8") if guidelines_path.is_file() else ""
    hints = parse_hints(guidelines)
    dims = []
    entries = raw.get("dimensions")
    if not isinstance(entries, list) or not entries:
        raise SchemaError(f"{path}: needs at least one [[dimensions]] table")
    for i, entry in enumerate(entries):
        where = f"{path}: dimensions[{i}]"
        name = entry.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise SchemaError(f"{where}: 'name' must be lowercase letters, digits or _, got {name!r}")
        choices = entry.get("choices")
        if not isinstance(choices, list) or len(choices) < 2:
            raise SchemaError(f"{where} ({name}): 'choices' needs at least two entries")
        parsed = []
        for j, choice in enumerate(choices):
            cname = choice.get("name") if isinstance(choice, dict) else None
            if not isinstance(cname, str) or not _NAME.match(cname):
                raise SchemaError(f"{where} ({name}): choices[{j}] needs a lowercase 'name', got {cname!r}")
            label = choice.get("label", cname)
            parsed.append(Choice(cname, label, hints.get((name, cname), "")))
        duplicates = {c.name for c in parsed if [p.name for p in parsed].count(c.name) > 1}
        if duplicates:
            raise SchemaError(f"{where} ({name}): choice names repeat: {', '.join(sorted(duplicates))}")
        dims.append(Dimension(name, entry.get("question", name), tuple(parsed), bool(entry.get("required", True))))
    seen = [d.name for d in dims]
    if len(set(seen)) != len(seen):
        raise SchemaError(f"{path}: dimension names repeat: {seen}")
    return Schema(tuple(dims), path, guidelines)


_DIM_HEADING = re.compile(r"^##\s+.*?`([a-z0-9_]+)`")
_CHOICE_HEADING = re.compile(r"^###\s+`([a-z0-9_]+)`")


def parse_hints(guidelines: str) -> dict[tuple[str, str], str]:
    """Map (dimension, choice) to the first ``> `` line under the choice's ``###`` heading."""
    hints: dict[tuple[str, str], str] = {}
    dim = choice = None
    for line in guidelines.splitlines():
        if m := _DIM_HEADING.match(line):
            dim, choice = m.group(1), None
        elif line.startswith("## "):
            dim = choice = None
        elif m := _CHOICE_HEADING.match(line):
            choice = m.group(1) if dim else None
        elif dim and choice and line.startswith(">") and (dim, choice) not in hints:
            hints[(dim, choice)] = line.lstrip("> ").strip()
    return hints
