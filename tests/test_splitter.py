"""The sentence splitter on the hazards of news text. All example text is ours."""

import pytest

from stance.ingest.splitter import _SEPARATOR, _split_after_punctuation, split_sentences


def sentences(text: str, **kw) -> list[str]:
    spans = split_sentences(text, **kw)
    for start, end in spans:
        piece = text[start:end]
        assert piece == piece.strip() and piece, f"untrimmed or empty span {piece!r}"
    return [text[s:e] for s, e in spans]


def fast(text: str) -> list[str] | None:
    """The splitter's fast route on its own (None where it defers to the full pattern)."""
    return _split_after_punctuation(text, text.count("\n"))


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The U.S. President spoke. Then he left.", ["The U.S. President spoke.", "Then he left."]),
        ("Relations with the U.S. The talks ended.", ["Relations with the U.S.", "The talks ended."]),
        ("Mr. Hale met Gen. Marsh and Sen. Ortiz. They agreed.",
         ["Mr. Hale met Gen. Marsh and Sen. Ortiz.", "They agreed."]),
        ("Talks resume on Jan. 5 in Geneva. No. 2 on the list is trade.",
         ["Talks resume on Jan. 5 in Geneva.", "No. 2 on the list is trade."]),
        ("“We will respond,” he said. “Soon.” Officials agreed.",
         ["“We will respond,” he said.", "“Soon.”", "Officials agreed."]),
        ("He called it “a success.” The next round is in May.",
         ["He called it “a success.”", "The next round is in May."]),
        ("WASHINGTON (Demo Wire) — The envoys met on Monday. They talked for hours.",
         ["WASHINGTON (Demo Wire) — The envoys met on Monday.", "They talked for hours."]),
        ("They were not satisfied … with the outcome. Talks went on … Then they stopped.",
         ["They were not satisfied … with the outcome.", "Talks went on …", "Then they stopped."]),
        ("The deal stalled... Both sides left.", ["The deal stalled...", "Both sides left."]),
        ("Was it a breakthrough? “No!” she said. Maybe not.",
         ["Was it a breakthrough?", "“No!” she said.", "Maybe not."]),
        ("It aims to avoid conflict. , according to an official. reporters were told.",
         ["It aims to avoid conflict. , according to an official. reporters were told."]),
        ("It sought the release of an officer of Acme Technologies Co. Washington objected.",
         ["It sought the release of an officer of Acme Technologies Co.", "Washington objected."]),
        ("Acme Co. Chairman Li spoke.", ["Acme Co. Chairman Li spoke."]),
        ("He joined Acme Corp. in 2019. The firm grew.", ["He joined Acme Corp. in 2019.", "The firm grew."]),
        ("Talks at 3 p.m. Thursday went well.", ["Talks at 3 p.m. Thursday went well."]),
        ("Trade rose 4.5% to $690.6 billion. Exports fell.", ["Trade rose 4.5% to $690.6 billion.", "Exports fell."]),
    ],
)
def test_news_hazards(text, expected):
    assert sentences(text) == expected
    assert fast(text) == _SEPARATOR.split(text)  # the fast route was taken


@pytest.mark.parametrize("text", [
    "Headline without a stop\nThe envoys met. They talked.",
    "The envoys met Mr. \nHale today.",
    "The envoys met.\nMr.\nHale agreed.",
    "Key points\n- Tariffs fall",
])
def test_line_breaks_that_end_a_sentence_take_the_full_route(text):
    """A boundary at a bare line break is invisible from the punctuation: the fast route says so."""
    assert fast(text) is None
    assert len(sentences(text)) == len(_SEPARATOR.split(text)) // 2 + 1


def test_both_routes_agree_on_the_seed_articles(seed_dir):
    quick_ones = 0
    for path in sorted(seed_dir.glob("*.txt")):
        body = path.read_text(encoding="utf-8").strip()
        quick = fast(body)
        assert quick is None or quick == _SEPARATOR.split(body), path.name
        quick_ones += quick is not None
    assert quick_ones  # at least one article went the fast way


def test_lines_and_bullets_are_boundaries():
    text = "Key points\n- Tariffs fall\n- Talks resume in March\n\nThe envoys met."
    assert sentences(text) == ["Key points", "- Tariffs fall", "- Talks resume in March", "The envoys met."]


def test_hard_wrapped_text_joins_lines_but_keeps_paragraphs_and_bullets():
    text = (
        "The U.S. official said on Monday that the talks\n"
        "would resume next week in Geneva. Mr. Hale\n"
        "added that both sides were ready to\n"
        "meet again.\n\n"
        "A new paragraph starts\n"
        "here and goes on.\n"
        "- a bullet line\n"
    )
    assert sentences(text) == [
        "The U.S. official said on Monday that the talks\nwould resume next week in Geneva.",
        "Mr. Hale\nadded that both sides were ready to\nmeet again.",
        "A new paragraph starts\nhere and goes on.",
        "- a bullet line",
    ]


def test_no_sentence_is_only_punctuation():
    text = "We were not satisfied with the behavior of our interlocutors. “\n\nSenior officials spoke. .\n\n”"
    out = sentences(text)
    assert all(any(ch.isalnum() for ch in s) for s in out)
    assert out[0].endswith("“") and out[1] == "Senior officials spoke. .\n\n”"


def test_offsets_survive_leading_space_and_windows_newlines():
    text = "  \r\nHeadline here \r\nThe U.S. official said.\r\n\r\nMr. Hale agreed.  "
    assert sentences(text) == ["Headline here", "The U.S. official said.", "Mr. Hale agreed."]


def test_long_run_on_text_is_cut_at_spaces():
    text = " ".join(["word"] * 600)
    out = sentences(text, max_chars=100)
    assert all(len(s) <= 100 for s in out)
    assert " ".join(out) == text


def test_punctuation_only_text_is_kept_whole():
    assert sentences("… — …") == ["… — …"]


def test_empty_text_has_no_sentences():
    assert split_sentences("   \n ") == []
