"""Publication dates in the shapes corpora carry them ("Sept. 24, 2021", "24/09/2021",
ISO timestamps, Unix epochs), normalised to ISO dates (``2021-09-24``) so that grouping
by day, week or month works on every input.

ISO dates and epochs are read directly; anything else goes to ``dateparser`` (loaded
only then). A date that cannot be read is kept as the text it was, and counted.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache

_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:$|[T ])")
#: Languages month names are read in (more are slower to try).
LANGUAGES = ["en", "zh", "fr", "de", "es", "ru", "ja"]
_EPOCH = re.compile(r"^\d{9,10}(?:\.\d+)?$|^\d{12,13}$")  # seconds (2001 on), or milliseconds


def normalise_date(value: str | None) -> tuple[str | None, bool]:
    """``(date, understood)``: the ISO date, or the value unchanged and ``False``."""
    if value is None:
        return None, True
    text = value.strip()
    iso = _ISO.match(text)
    if iso and _valid(*map(int, iso.groups())):
        return f"{iso[1]}-{iso[2]}-{iso[3]}", True
    if _EPOCH.match(text):
        seconds = float(text) / (1000 if len(text) >= 12 and "." not in text else 1)
        return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).date().isoformat(), True
    parsed = _parse(text)
    return (parsed, True) if parsed else (value, False)


def _valid(year: int, month: int, day: int) -> bool:
    try:
        dt.date(year, month, day)
    except ValueError:
        return False
    return True


@lru_cache(maxsize=65536)  # corpora repeat their dates a great deal
def _parse(text: str) -> str | None:
    import dateparser

    # absolute dates only: "yesterday" means nothing once the page is saved
    parsed = dateparser.parse(text, languages=LANGUAGES, settings={
        "PREFER_DAY_OF_MONTH": "first", "PREFER_MONTH_OF_YEAR": "first", "RETURN_AS_TIMEZONE_AWARE": False,
        "PARSERS": ["custom-formats", "absolute-time"]})
    return parsed.date().isoformat() if parsed else None
