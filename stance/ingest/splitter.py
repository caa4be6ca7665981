"""A fast rule-based sentence splitter tuned for news text.

All the rules live in one regular expression that matches the white space between
two sentences: after terminal punctuation (also inside closing quotes) when the next
character could open a sentence, or at a line break. Lookbehinds veto abbreviations
("Mr.", "Gen.", "Jan. 5"); initialisms and company suffixes ("U.S.", "Corp.") end a
sentence only before a usual opener word ("The", "It"); lower-case continuations
(stray " . ", "… with") never split. Because every match is a real boundary,
``re.split`` and running sums give sentences and exact offsets with no Python loop
per sentence: ``text[start:end]`` is always the sentence. Most text takes a faster
form of the same rules that is matched from the punctuation mark (``_PUNCT_FIRST``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import accumulate
from operator import add

#: Bumped whenever a rule changes, because sentence ids depend on the splits.
SPLITTER_VERSION = "news-rules-3"

# Never end a sentence after these: titles and words that stand before a name or number.
_TITLES = (
    "mr mrs ms dr prof gen lt col maj capt cmdr adm sgt cpl pvt gov sen rep reps sens pres amb rev "
    "hon st ft mt messrs supt insp det gens vs v approx dept est jan feb mar apr jun jul aug sep "
    "sept oct nov dec no nos vol art fig p pp para ch sec"
).split()
# End a sentence after these (and after single letters: initials, "U.S.") only when the
# next word is a usual sentence opener: "the U.S. The ..." splits, "the U.S. President" not.
_SOFT = "jr sr inc corp co ltd llc plc bros etc al".split()
_OPENERS = (
    "The A An It Its He She They We I You But And Or So Yet In On At For As If When While After "
    "Before This That These Those There Their His Her Our Some Many Most Both Neither No Not Still "
    "However Meanwhile Since Although Though Now Then What Why How Who Where Such Other Officials "
    "According Analysts China Beijing Washington Chinese American"
).split()
_CLOSE = r"[\"'”’)\]»]"
_LAST_CHAR = r"[.!?…\"'”’)\]»]"  # what a sentence can end with before the white space: a stop or a closer


def _after_word(words: list[str], negate: bool) -> str:
    """Lookbehinds for ``word.`` and one white-space character just before the current
    position, one per word length (Python's lookbehinds need a fixed width)."""
    by_width: dict[int, list[str]] = {}
    for word in words:
        by_width.setdefault(len(word), []).append(re.escape(word))
    kind = "(?<!" if negate else "(?<="
    parts = [f"{kind}\\b(?i:{'|'.join(sorted(ws))})\\.\\s)" for _, ws in sorted(by_width.items())]
    return "".join(parts) if negate else "(?:" + "|".join(parts) + ")"


# The white space between two sentences, as one group (for re.split). The pattern starts
# with a plain \\s (so the regex engine jumps from one white space to the next instead of
# trying every character), then makes the two cheap checks that reject most white space
# (punctuation before it, no lower-case continuation after it) before the costly ones.
_AFTER_PUNCT = (
    f"(?<={_LAST_CHAR}\\s)(?=\\s*[^\\sa-z,;:%)\\u00df-\\u00ff])(?:"
    f"(?<=[!?…]\\s)|(?<=[!?…]{_CLOSE}\\s)|(?<=[!?…]{_CLOSE}{_CLOSE}\\s)"  # ! ? … (inside quotes too)
    f"|(?<=\\.{_CLOSE}\\s)|(?<=\\.{_CLOSE}{_CLOSE}\\s)|(?<=\\.\\.\\s)"  # said so." and ...
    f"|(?<=\\.\\s){_after_word(_TITLES, True)}{_after_word(_SOFT, True)}(?<!\\b[A-Za-z]\\.\\s)"
    f"|(?:(?<=\\b[A-Za-z]\\.\\s)|{_after_word(_SOFT, False)})(?=\\s*(?:{'|'.join(_OPENERS)})\\b)"
    ")\\s*"
)
_LINE_BREAK = "(?:(?<=\\n)|[^\\S\\n]*\\n)"
_SEPARATOR = re.compile(f"(\\s(?:{_AFTER_PUNCT}|{_LINE_BREAK}\\s*))")
# Hard-wrapped text: a single line break is not a boundary; a blank line or a bullet is.
_SEPARATOR_WRAPPED = re.compile(
    f"(\\s(?:{_AFTER_PUNCT}|{_LINE_BREAK}[^\\S\\n]*\\n\\s*|{_LINE_BREAK}(?=[ \\t]*[-–—•*·▪●] )))"
)
# The same boundaries after punctuation, matched from the punctuation mark (kept in a group of
# its own): the engine then skips from one mark to the next instead of stopping at every
# space, which makes splitting about a third faster. It cannot see line breaks, so
# :func:`_split_after_punctuation` gives up on text that has one outside its separators.
_PUNCT_FIRST = re.compile(f"({_LAST_CHAR})(\\s{_AFTER_PUNCT})")
_WORD_CHAR = re.compile(r"\w")
# A photo credit closing a caption: "(© Stefani Reynolds/AP Images)", "(AP Photo/Andrew Harnik)",
# "(Photo by X/Getty Images)", or a line of its own such as "Photo: Reuters".
_CREDIT = re.compile(
    r"(?:\([^()\n]{0,160}?(?:©|\(c\)|\bphoto\b|\bimages?\b|\bcredit\b|/reuters|/afp|/epa|/xinhua)"
    r"[^()\n]{0,160}\)|^(?:photo|image|credit)s?\s*:.{0,160})\s*$", re.IGNORECASE)
_CREDIT_HINT = re.compile(r"©|\(c\)|photo|image|credit|/reuters|/afp|/epa|/xinhua", re.IGNORECASE)


def without_captions(text: str, starts: list[int], ends: list[int], sentences: list[str]
                     ) -> tuple[list[int], list[int], list[str], int]:
    """Drop photo captions: every sentence of a paragraph (line) whose last sentence ends in a
    photo credit. A caption describes a picture, not the story, and carries no stance. Returns
    the sentences kept and how many were dropped."""
    if not _CREDIT_HINT.search(text):
        return starts, ends, sentences, 0
    drop = set()
    for i, sentence in enumerate(sentences):
        if not _CREDIT.search(sentence):
            continue
        paragraph = text.rfind("\n", 0, starts[i]) + 1
        j = i
        while j >= 0 and starts[j] >= paragraph:
            drop.add(j)
            j -= 1
    if not drop:
        return starts, ends, sentences, 0
    keep = [i for i in range(len(sentences)) if i not in drop]
    return [starts[i] for i in keep], [ends[i] for i in keep], [sentences[i] for i in keep], len(drop)


def split_sentences(text: str, max_chars: int = 1000) -> list[tuple[int, int]]:
    """Return ``(start, end)`` offsets of the sentences in ``text``, white space trimmed.

    A line break ends a sentence, except in hard-wrapped text, where only blank lines
    and bullets do. A sentence longer than ``max_chars`` is cut at the last white space
    before the limit, so a run-on block cannot become an unlabellable task.
    """
    starts, ends, _ = split_with_text(text, max_chars)
    return list(zip(starts, ends))


def split_with_text(text: str, max_chars: int = 1000) -> tuple[list[int], list[int], list[str]]:
    """Starts, ends and texts of the sentences, computed without a Python loop per sentence."""
    body = text.strip()
    if not body:
        return [], [], []
    lead = text.index(body[0])
    line_breaks = body.count("\n")
    wrapped = line_breaks >= 3 and _looks_hard_wrapped(body, line_breaks)
    parts = None if wrapped else _split_after_punctuation(body, line_breaks)
    if parts is None:
        parts = (_SEPARATOR_WRAPPED if wrapped else _SEPARATOR).split(body)
    bounds = list(accumulate(map(len, parts), initial=lead))
    starts, ends, sentences = bounds[0:-1:2], bounds[1::2], parts[0::2]
    if max(map(len, sentences)) > max_chars > 0 or not all(map(_WORD_CHAR.search, sentences)):
        spans = _merge_fragments(text, list(zip(starts, ends)))
        if max_chars:
            spans = [piece for span in spans for piece in _cut_long(text, span, max_chars)]
        starts, ends = [s for s, _ in spans], [e for _, e in spans]
        sentences = [text[s:e] for s, e in spans]
    return starts, ends, sentences


def _split_after_punctuation(body: str, line_breaks: int) -> list[str] | None:
    """``_SEPARATOR.split(body)`` when every boundary follows punctuation, else None."""
    parts = _PUNCT_FIRST.split(body)
    separators = parts[2::3]
    if line_breaks and line_breaks != "".join(separators).count("\n"):
        return None  # a line break inside a piece: a boundary only _SEPARATOR finds
    pieces = [""] * (2 * len(separators) + 1)
    pieces[0:-1:2] = map(add, parts[0::3], parts[1::3])
    pieces[1::2] = separators
    pieces[-1] = parts[-1]
    return pieces


def _merge_fragments(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Attach pieces with no letter or digit (a lone quote mark, ". .") to a neighbour."""
    merged: list[tuple[int, int]] = []
    pending_start = None
    for s, e in spans:
        if _WORD_CHAR.search(text, s, e):
            if pending_start is not None:
                s, pending_start = pending_start, None
            merged.append((s, e))
        elif merged:
            merged[-1] = (merged[-1][0], e)
        elif pending_start is None:
            pending_start = s
    if pending_start is not None:
        if not merged:  # nothing but punctuation: keep it whole rather than lose it
            return [(spans[0][0], spans[-1][1])]
        merged[0] = (pending_start, merged[0][1])
    return merged


def _cut_long(text: str, span: tuple[int, int], max_chars: int) -> Iterator[tuple[int, int]]:
    start, end = span
    while end - start > max_chars:
        cut = text.rfind(" ", start + 1, start + max_chars)
        if cut <= start:
            cut = start + max_chars
        piece_end = cut
        while text[piece_end - 1].isspace():
            piece_end -= 1
        yield start, piece_end
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if end > start:
        yield start, end


def _looks_hard_wrapped(text: str, breaks: int) -> bool:
    """True when single line breaks (``breaks`` in all) mostly fall mid-sentence (text wrapped
    at a fixed width)."""
    if breaks < 3 or breaks <= 2 * text.count("\n\n"):  # paragraphs, not wrapped lines
        return False
    lines = text.split("\n")
    breaks = mid = 0
    for line, following in zip(lines, lines[1:]):
        line = line.rstrip()
        following = following.lstrip()
        if not line or not following:
            continue
        breaks += 1
        if line[-1] not in ".!?…:\"”’" or following[0].islower():
            mid += 1
    return breaks >= 3 and mid * 2 > breaks
