"""The records readers yield: an input record as read, or one that could not be read."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path


@dataclass
class Record:
    """One input record as read, before any validation."""

    origin: str
    fields: dict
    default_id: str | None = None  # used when the record has no id field (a .txt file's path)


@dataclass
class Rejected:
    """An input that could not be read at all (a bad line, an unreadable file)."""

    origin: str
    reason: str
    field: str | None = None
    raw: object = None
    extra: dict = dataclass_field(default_factory=dict)


def id_from_path(path: Path, root: Path | None) -> str:
    """An article id from a file's path below ``root`` (its name alone without one)."""
    rel = path.relative_to(root) if root and path.is_relative_to(root) else Path(path.name)
    return rel.with_suffix("").as_posix()
