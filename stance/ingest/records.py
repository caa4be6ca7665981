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


#: A rejected record keeps at most this many characters of each text and this many items of each
#: list or dict (and nothing below this depth): enough to find it, never a copy of a hostile input.
REJECT_PREFIX = 2_000
REJECT_ITEMS = 50
REJECT_DEPTH = 8


def printable(text: str) -> str:
    """``text`` with any lone surrogate (a file name or JSON escape that is not valid Unicode) written
    as a backslash escape, so that it can be written as UTF-8."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def has_surrogates(text: str) -> bool:
    if text.isascii():  # constant time in CPython: most fields, on the hot path of every record
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def bounded(value, depth: int = 0):
    """A copy of ``value`` fit for a rejects file: texts cut to a prefix (saying how long they were),
    lists and dicts to their first items, nesting to a depth, lone surrogates escaped."""
    if isinstance(value, str):
        cut = printable(value[:REJECT_PREFIX])
        return cut if len(value) <= REJECT_PREFIX else f"{cut}... ({len(value):,} characters in all)"
    if isinstance(value, bytes):
        return bounded(value[:REJECT_PREFIX].decode("utf-8", "backslashreplace")
                       + (f"... ({len(value):,} bytes in all)" if len(value) > REJECT_PREFIX else ""), depth)
    if isinstance(value, int) and abs(value) >= 10 ** 30:  # str() of a huge integer is refused, and slow
        return f"(an integer of about {int(value.bit_length() * 0.30103) + 1:,} digits)"
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    if depth >= REJECT_DEPTH:
        return "..."
    if isinstance(value, dict):
        items = list(value.items())
        out = {printable(str(k))[:200]: bounded(v, depth + 1) for k, v in items[:REJECT_ITEMS]}
        if len(items) > REJECT_ITEMS:
            out["..."] = f"{len(items) - REJECT_ITEMS:,} more fields"
        return out
    if isinstance(value, (list, tuple)):
        out = [bounded(v, depth + 1) for v in value[:REJECT_ITEMS]]
        return out + ([f"... {len(value) - REJECT_ITEMS:,} more"] if len(value) > REJECT_ITEMS else [])
    return bounded(str(value), depth)
