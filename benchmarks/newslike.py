"""Synthetic news-like articles for benchmarks: wire-style sentences with the usual hazards
(abbreviations, initialisms, curly quotes, datelines, ellipses, numbers). Written by us."""

from __future__ import annotations

import json
import random
from pathlib import Path

PLACES = ["WASHINGTON", "BEIJING", "SHANGHAI", "GENEVA", "SINGAPORE", "TOKYO", "BRUSSELS"]
OUTLETS = ["Wire", "Daily Ledger", "Harbor Post", "Evening Courier", "Pacific Monitor"]
US = ["the U.S. trade representative", "Mr. Hale, the deputy secretary", "Sen. Ortiz",
      "a senior U.S. official", "Gen. Marsh", "the State Department spokesperson"]
PRC = ["the Chinese foreign ministry", "Vice Premier Lin", "the ministry spokesperson",
       "Beijing's ambassador", "state media", "a PRC commerce official"]
TOPICS = ["tariffs on solar panels", "export controls on chips", "climate cooperation",
          "fentanyl precursors", "the Taiwan Strait", "student visas", "rare-earth exports",
          "military hotlines", "farm purchases", "debt relief for poorer nations"]
VERBS = ["warned that", "said that", "argued that", "insisted that", "told reporters that",
         "noted that", "signalled that"]
CLAIMS = ["talks would resume in Jan. next year", "the measures were unfair",
          "both sides had an interest in stability", "the dispute could escalate quickly",
          "new sanctions were not ruled out", "cooperation on {topic} remained possible",
          "the U.S. would respond to any coercion", "Washington must stop interfering",
          "trade rose 4.5% to $690.6 billion", "the meeting was frank and constructive"]


def sentence(rng: random.Random) -> str:
    topic = rng.choice(TOPICS)
    speaker = rng.choice(US + PRC)
    claim = rng.choice(CLAIMS).format(topic=topic)
    kind = rng.random()
    if kind < 0.3:
        return f"“{claim[0].upper()}{claim[1:]},” {speaker} said on {rng.choice(['Monday', 'Tuesday', 'Friday'])}."
    if kind < 0.4:
        return f"The talks on {topic} stalled … then resumed after a call between the leaders."
    if kind < 0.5:
        return f"Asked about {topic}, {speaker} replied: “We will see.”"
    return f"{speaker[0].upper()}{speaker[1:]} {rng.choice(VERBS)} {claim}."


def article(rng: random.Random, i: int) -> dict:
    paragraphs = []
    for p in range(rng.randint(4, 9)):
        body = " ".join(sentence(rng) for _ in range(rng.randint(2, 5)))
        if p == 0:
            body = f"{rng.choice(PLACES)} ({rng.choice(OUTLETS)}) — {body}"
        paragraphs.append(body)
    return {"id": f"bench-{i:08d}", "title": f"Officials discuss {rng.choice(TOPICS)}",
            "source": rng.choice(OUTLETS), "date": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "text": "\n\n".join(paragraphs)}


def write_jsonl(path: Path, megabytes: float, seed: int = 0, files: int = 1) -> list[Path]:
    """Write about ``megabytes`` of articles as JSONL, spread over ``files`` files."""
    rng = random.Random(seed)
    path.mkdir(parents=True, exist_ok=True)
    target = int(megabytes * 1_000_000 / files)
    written, i = [], 0
    for f in range(files):
        out = path / f"articles-{f:03d}.jsonl"
        size = 0
        with open(out, "w", encoding="utf-8") as fh:
            while size < target:
                line = json.dumps(article(rng, i), ensure_ascii=False) + "\n"
                fh.write(line)
                size += len(line.encode())
                i += 1
        written.append(out)
    return written


ADVERSARIAL = {"the measures were unfair", "the dispute could escalate quickly", "new sanctions were not ruled out",
               "the U.S. would respond to any coercion", "Washington must stop interfering"}
CONCILIATORY = {"both sides had an interest in stability", "cooperation on {topic} remained possible",
                "the meeting was frank and constructive", "talks would resume in Jan. next year"}


def labelled_sentence(rng: random.Random, noise: float = 0.15) -> tuple[str, dict]:
    """A sentence with labels that follow from how it was made, then flipped at rate ``noise``."""
    topic, claim = rng.choice(TOPICS), rng.choice(CLAIMS)
    side = rng.random()
    if side < 0.35:
        speaker, framing, who = rng.choice(US), "us", "us_official"
    elif side < 0.6:
        speaker, framing, who = rng.choice(PRC), "prc", "prc_official"
    else:
        speaker, framing, who = rng.choice(["analysts", "a Tokyo-based economist", "business groups"]), "neutral", "other"
    tone = "adversarial" if claim in ADVERSARIAL else "conciliatory" if claim in CONCILIATORY else "neutral"
    text = f"{speaker[0].upper()}{speaker[1:]} {rng.choice(VERBS)} {claim.format(topic=topic)}."
    if rng.random() < 0.2:
        text, framing, who = f"The talks on {topic} stalled, {rng.choice(['officials', 'diplomats'])} noted.", \
            "neutral", "journalist"
    labels = {"framing": framing, "tone": tone, "speaker": who}
    choices = {"framing": ["us", "prc", "neutral"], "tone": ["conciliatory", "adversarial", "neutral"],
               "speaker": ["us_official", "prc_official", "journalist", "other"]}
    for dim in labels:
        if rng.random() < noise:
            labels[dim] = rng.choice(choices[dim])
    return text, labels


def write_labelled(path: Path, sentences: int, seed: int = 0, per_article: int = 10) -> Path:
    """A JSONL table of labelled sentences (``labels import`` reads it), ``per_article`` per article."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(sentences):
            text, labels = labelled_sentence(rng)
            fh.write(json.dumps({"sentence_id": f"s{i:07d}", "article_id": f"a{i // per_article:06d}",
                                 "text": f"{text} ({i})", **labels}) + "\n")
    return path


def default_run(work: Path):
    """The default config trained on 10,000 labelled news-like sentences under ``work`` (reused when there)."""
    return trained_run(work, "default")


def trained_run(work: Path, config: str, sentences: int = 10_000, overrides: dict | None = None):
    """The shipped ``config`` trained on ``sentences`` labelled news-like sentences under ``work``
    (reused when there)."""
    from stance.experiments import run
    from stance.labels.importer import import_labels

    labelled = work / f"labelled-{sentences}"
    if not labelled.exists():
        table = write_labelled(work / f"labelled-{sentences}.jsonl", sentences, seed=1)
        import_labels(table, labelled, id_field="sentence_id", article_field="article_id")
    return run(Path(__file__).resolve().parents[1] / "experiments" / f"{config}.toml", labelled,
               out=work / "runs", reuse=True, report=False, overrides=overrides)
