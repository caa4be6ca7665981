"""The HTML report: groupings, shares against a hand computation, time buckets, and a real browser."""

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stance.errors import StanceError
from stance.report import _period, _sentence_shares, report
from stance.resources import demo_dir
from stance.scoring import score

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]


def _images(page: str) -> int:
    return page.count("data:image/png;base64,")


def test_by_source_lists_every_source_with_its_counts(demo_scores, tmp_path):
    result = report(demo_scores, tmp_path / "r.html", by=["source"])
    page = (tmp_path / "r.html").read_text()
    articles = pd.read_parquet(demo_scores / "articles.parquet")
    for source, group in articles.groupby("source"):
        row = re.search(rf"<td>{re.escape(source)}</td><td class=\"num\">(\d+)</td><td class=\"num\">(\d+)</td>",
                        page)
        assert row, source
        assert (int(row.group(1)), int(row.group(2))) == (len(group), group.sentences.sum())
    assert result.period == "month"  # 30 articles over six months: a few per month, too few per week
    assert _images(page) == 3 + 3 + 1  # shares by source and over time per dimension, net score histogram
    assert "Most confident sentences per class" in page


def test_by_date_and_by_another_field(demo_scores, tmp_path):
    by_date = report(demo_scores, tmp_path / "d.html", by=["date"], period="week")
    page = (tmp_path / "d.html").read_text()
    assert by_date.period == "week" and "Over time (by week)" in page and "By source" not in page
    assert _images(page) == 3 + 1
    report(demo_scores, tmp_path / "t.html", by=["title"])
    assert "By title" in (tmp_path / "t.html").read_text()
    with pytest.raises(StanceError, match="--by outlet: the articles have no such field"):
        report(demo_scores, tmp_path / "x.html", by=["outlet"])


def test_group_shares_weight_articles_by_their_sentences():
    frame = pd.DataFrame({"g": ["a", "a", "b"], "sentences": [2, 3, 4],
                          "tone_share_adversarial": [0.5, 1 / 3, 0.0], "tone_share_other": [0.5, 2 / 3, 1.0]})
    shares = _sentence_shares(frame, frame["g"], "tone", ["adversarial", "other"])
    assert shares.loc["a", "adversarial"] == pytest.approx(2 / 5)  # (1 + 1) adversarial of 5 sentences
    assert shares.loc["b", "other"] == pytest.approx(1.0)


def test_automatic_time_buckets():
    days = pd.Series(pd.date_range("2026-01-01", periods=10, freq="D").repeat(6))
    assert _period(days, "auto") == "day"
    spread = pd.Series(pd.date_range("2026-01-01", periods=60, freq="D"))
    assert _period(spread, "auto") == "week"
    with pytest.raises(StanceError, match="--period"):
        _period(spread, "year")


def test_most_confident_examples_are_the_top_probabilities(demo_scores, tmp_path):
    report(demo_scores, tmp_path / "r.html", by=["source"], examples=2)
    page = (tmp_path / "r.html").read_text()
    sentences = pd.read_parquet(demo_scores / "sentences.parquet")
    best = sentences[sentences.tone == "adversarial"].nlargest(1, "tone_p_adversarial").iloc[0]
    assert f"{best.tone_p_adversarial:.3f}" in page
    assert best.text.replace('"', "&quot;")[:40] in page


def test_report_renders_in_headless_chromium(demo_scores, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Chromium is not installed (.ci/run installs Debian's chromium)")
    page = tmp_path / "report.html"
    report(demo_scores, page, by=["source"])
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report-screenshot.png"
    shot.unlink(missing_ok=True)
    base = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*base, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert dom.count("<img") == 7 and "Article net scores" in dom
    subprocess.run([*base, "--window-size=1200,2400", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    import matplotlib.image
    pixels = matplotlib.image.imread(shot)[..., :3]
    # the plots' blue bars (#1f5fa8) are on screen: the inline images were decoded and drawn
    blue = np.all(np.abs(pixels - np.array([0x1F, 0x5F, 0xA8]) / 255) < 0.06, axis=-1)
    assert blue.sum() > 5000, "no plot colours in the screenshot"
