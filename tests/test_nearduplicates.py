"""Near-duplicate articles (wire copy) are found, clustered, marked or dropped; repeated
sentences share a text_key. Synthetic stories are generated here from a fixed vocabulary;
the seed articles (real news, read from ../shared) are different reports of one event."""

import json
import random
import re

import numpy as np
import pyarrow.parquet as pq
import pytest

from stance.errors import StanceError
from stance.ingest.corpus import build_corpus
from stance.ingest.nearduplicates import THRESHOLD, NearDuplicates, signatures

WORDS = ("talks trade envoy summit tariff minister ministry statement sanctions cooperation dialogue "
         "strategic security region export chips military drills maritime officials spokesperson "
         "agreement framework climate pandemic visit channel pressure partners rules order").split()


def story(seed: int, paragraphs: int = 6, words: int = 40) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "." for _ in range(paragraphs)]


def jaccard(a: str, b: str, k: int = 5) -> float:
    def shingles(text):
        w = re.findall(r"\w+", text.lower())
        return {" ".join(w[i:i + k]) for i in range(len(w) - k + 1)}
    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / len(sa | sb)


def write(path, articles):
    path.write_text("".join(json.dumps(a) + "\n" for a in articles))
    return path


def signature(text):
    return signatures([text])[0]


def test_signatures_estimate_jaccard_without_bias():
    """Over 300 seeded pairs at similarities from 0 to 1, the estimate is unbiased and its
    spread is that of 128 independent comparisons (sqrt(J(1-J)/128), at most 0.044)."""
    rng = random.Random(5)
    pairs = []
    for i in range(300):
        base, other = story(100 + i, 8, 30), story(1000 + i, 8, 30)
        keep = rng.randint(0, 8)
        pairs.append(("\n\n".join(base), "\n\n".join(base[:keep] + other[keep:])))
    left, right = signatures([a for a, _ in pairs]), signatures([b for _, b in pairs])  # one batch each
    errors = (left == right).mean(axis=1) - np.array([jaccard(a, b) for a, b in pairs])
    assert abs(errors.mean()) < 0.01 and errors.std() < 0.05
    text = story(7)[0]
    assert (signature(text) == signature("  " + text.upper().replace(" ", " \n "))).all()  # case and spacing
    assert not (signature(text) == signature(story(8)[0])).all()
    short = signatures(["Story 1 opens here. It ends there.", "Story 2 opens here. It ends there."])
    assert (short == short[0, 0]).all()  # too short to compare: no signature, so never a near-duplicate
    assert (left[7] == signature(pairs[7][0])).all()  # a text's signature does not depend on its batch


def test_a_wire_copy_with_a_new_headline_and_a_paragraph_cut_is_caught_and_other_stories_are_not(tmp_path):
    original = story(1)
    copy = ["Local angle: what the call means for our port."] + original[:3] + original[4:]  # 5 of 6 paragraphs
    distant = original[:2] + story(3, 4)  # shares two paragraphs of six: a different story quoting the same
    assert 0.55 < jaccard("\n\n".join(original), "\n\n".join(copy)) < 0.85
    assert jaccard("\n\n".join(original), "\n\n".join(distant)) < 0.35
    rows = [{"id": "wire", "text": "\n\n".join(original), "source": "Wire"},
            {"id": "other", "text": "\n\n".join(story(9)), "source": "Post"},
            {"id": "copy", "text": "\n\n".join(copy), "source": "Ledger"},
            {"id": "distant", "text": "\n\n".join(distant), "source": "Herald"}]
    result = build_corpus([write(tmp_path / "a.jsonl", rows)], tmp_path / "mark", workers=1)
    assert (result.counts.near_duplicates, result.counts.near_duplicate_clusters) == (1, 1)
    assert "1 near-duplicates of 1 stories marked" in str(result)
    articles = {a["article_id"]: a["cluster_id"] for a in pq.read_table(tmp_path / "mark" / "articles.parquet").to_pylist()}
    assert articles == {"wire": "wire", "other": "other", "copy": "wire", "distant": "distant"}
    sentences = pq.read_table(tmp_path / "mark" / "sentences.parquet").to_pylist()
    assert all(s["cluster_id"] == articles[s["article_id"]] for s in sentences)
    shared = {s["text_key"] for s in sentences if s["article_id"] == "wire"} & \
        {s["text_key"] for s in sentences if s["article_id"] == "copy"}
    assert len(shared) == 5  # the five paragraphs the copy kept, each one sentence

    dropped = build_corpus([tmp_path / "a.jsonl"], tmp_path / "drop", near_duplicates="drop", workers=2)
    kept = pq.read_table(tmp_path / "drop" / "articles.parquet").column("article_id").to_pylist()
    assert kept == ["wire", "other", "distant"] and dropped.counts.kept == 3
    assert "copy" not in pq.read_table(tmp_path / "drop" / "sentences.parquet").column("article_id").to_pylist()
    assert dropped.counts.read == dropped.counts.kept + dropped.counts.near_duplicates

    build_corpus([tmp_path / "a.jsonl"], tmp_path / "keep", near_duplicates="keep", workers=1)
    kept = pq.read_table(tmp_path / "keep" / "articles.parquet").to_pylist()
    assert all(a["cluster_id"] == a["article_id"] for a in kept) and len(kept) == 4
    assert set(pq.read_table(tmp_path / "keep" / "sentences.parquet").column("text_key").to_pylist()) == {None}


def test_a_copy_of_two_stories_joins_their_clusters_and_earlier_articles_are_renamed(tmp_path):
    first, second = story(11, 6), story(12, 6)
    both = first + second  # Jaccard about 0.5 with each; the two alone share nothing
    rows = [{"id": "a", "text": "\n\n".join(first)}, {"id": "c", "text": "\n\n".join(second)},
            {"id": "b", "text": "\n\n".join(both)}]
    index = NearDuplicates(threshold=0.4)
    assert index.add([r["id"] for r in rows], signatures([r["text"] for r in rows])) == [0, 1, 0] and index.merged
    assert index.cluster_ids() == {"a": "a", "c": "a", "b": "a"}
    result = build_corpus([write(tmp_path / "a.jsonl", rows)], tmp_path / "out", near_duplicate_threshold=0.4,
                          workers=1)
    clusters = pq.read_table(tmp_path / "out" / "sentences.parquet").column("cluster_id").to_pylist()
    assert set(clusters) == {"a"} and result.counts.near_duplicates == 2  # c was written as its own, then renamed
    assert result.counts.near_duplicate_clusters == 1


def test_bad_options_are_refused_before_any_work(tmp_path):
    with pytest.raises(StanceError, match="near_duplicates='fold': must be one of keep, mark, drop"):
        build_corpus([tmp_path], tmp_path / "out", near_duplicates="fold")
    with pytest.raises(StanceError, match="near_duplicate_threshold=1.5"):
        build_corpus([tmp_path], tmp_path / "out", near_duplicate_threshold=1.5)
    assert not (tmp_path / "out").exists()


def test_the_seed_articles_are_different_reports_and_a_trimmed_copy_of_one_is_caught(seed_dir, tmp_path):
    """Five outlets on one call share statements (up to 43 five-word shingles between two) but
    not a story; a copy of one with a new lede and a sixth of its paragraphs cut is a copy."""
    texts = {p.stem: p.read_text(encoding="utf-8") for p in sorted(seed_dir.glob("*.txt"))}
    signatures = [signature(t) for t in texts.values()]
    similarities = [float((a == b).mean()) for i, a in enumerate(signatures) for b in signatures[i + 1:]]
    assert max(similarities) < 0.1 < THRESHOLD
    name, text = next(iter(texts.items()))
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    trimmed = ["Our correspondent adds local reaction below."] + [p for i, p in enumerate(paragraphs) if i % 6 != 5]
    (tmp_path / "in").mkdir()
    for stem, body in texts.items():
        (tmp_path / "in" / f"{stem}.txt").write_text(body, encoding="utf-8")
    (tmp_path / "in" / "zz-copy.txt").write_text("\n\n".join(trimmed), encoding="utf-8")
    result = build_corpus([tmp_path / "in"], tmp_path / "out", workers=1)
    assert (result.counts.near_duplicates, result.counts.near_duplicate_clusters) == (1, 1)
    clusters = {a["article_id"]: a["cluster_id"] for a in pq.read_table(tmp_path / "out" / "articles.parquet").to_pylist()}
    assert clusters["zz-copy"] == name and sum(c != a for a, c in clusters.items()) == 1


def test_short_articles_are_their_own_cluster_and_copies_after_them_are_found():
    index = NearDuplicates()
    short = signatures(["Too short to say."])[0]
    assert index.add([f"s{i}" for i in range(1500)], np.tile(short, (1500, 1))) == list(range(1500))
    long = signature("\n\n".join(story(1)))
    assert index.add(["x"], long) == [1500] and index.add(["y"], long) == [1500]
    assert index.cluster_ids()["y"] == "x" and not index.merged


def test_cross_validation_groups_join_clusters_and_repeated_sentences(tmp_path):
    from stance.labels.dataset import LabelledData
    data = LabelledData(tmp_path, np.array(["s1", "s2", "s3", "s4", "s5"], dtype=object),
                        np.array(["a", "b", "c", "d", "e"], dtype=object),
                        np.array(["One.", "Two.", "Three.", "two. ", "Five."], dtype=object), {}, {},
                        np.array(["a", "a", "c", "d", "e"], dtype=object))
    assert data.groups.tolist() == ["a", "a", "c", "a", "e"]  # b copies a; d repeats a sentence of b


def test_wire_copies_stay_on_one_side_of_the_folds(tmp_path):
    """A corpus with copies, labels imported by sentence id: every copy's sentences fall in the
    same cross-validation fold as its original's."""
    from stance.experiments import load_run
    from stance.experiments.runner import run
    from stance.labels.importer import import_labels
    rng = random.Random(3)
    rows = []
    for i in range(24):
        paragraphs = story(200 + i, 6, 12)
        rows.append({"id": f"story{i}", "text": "\n\n".join(paragraphs)})
        if i % 3 == 0:
            rows.append({"id": f"copy{i}", "text": "\n\n".join(paragraphs[1:])})
    build_corpus([write(tmp_path / "a.jsonl", rows)], tmp_path / "corpus", workers=1)
    sentences = pq.read_table(tmp_path / "corpus" / "sentences.parquet").to_pylist()
    assert {s["cluster_id"] for s in sentences if s["article_id"] == "copy3"} == {"story3"}
    labels = [{"sentence_id": s["sentence_id"], "tone": rng.choice(["conciliatory", "adversarial", "neutral"])}
              for s in sentences]
    write(tmp_path / "labels.jsonl", labels)
    import_labels(tmp_path / "labels.jsonl", tmp_path / "labelled", labels={"tone": "tone"},
                  corpus=tmp_path / "corpus")
    result = run("experiments/default.toml", tmp_path / "labelled", out=tmp_path / "runs", report=False,
                 overrides={"dimensions": ["tone"], "cv.folds": 4})
    folds = pq.read_table(load_run(result.path).path / "cv_predictions.parquet").to_pandas()
    folds["article"] = folds["sentence_id"].str.split(":").str[0]
    per_article = folds.groupby("article")["tone_fold"].unique()
    for i in range(0, 24, 3):
        assert set(per_article[f"copy{i}"]) == set(per_article[f"story{i}"]) and len(per_article[f"copy{i}"]) == 1
    assert folds["tone_fold"].nunique() == 4


@pytest.mark.parametrize("threshold", [0.2, 0.3, 0.5, 0.6, 0.8, 0.95])
def test_bands_are_the_ones_datasketch_chooses(threshold):
    from datasketch import MinHashLSH

    from stance.ingest.nearduplicates import NUM_PERM, bands
    reference = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    assert bands(threshold) == (reference.b, reference.r)
