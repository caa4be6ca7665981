"""The HTML report: groupings, shares against a hand computation, time buckets, and a real browser."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stance.errors import StanceError
import stance.findings.estimate as estimate_module
import stance.findings.report as report_module
from stance.findings.estimate import compare, run_references
from stance.findings.report import _period, _sentence_shares, report
from stance.resources import demo_dir

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]


def _images(page: str) -> int:
    return page.count("data:image/png;base64,")


def test_by_source_lists_every_source_with_its_counts(demo_scores, tmp_path, monkeypatch):
    reads = []

    def counted(*args, **kwargs):
        reads.append(args)
        return run_references(*args, **kwargs)

    monkeypatch.setattr(estimate_module, "run_references", counted)
    monkeypatch.setattr(report_module, "run_references", counted)
    result = report(demo_scores, tmp_path / "r.html", by=["source"])
    assert len(reads) == 1  # one read of the run's checks for the shares, the period and the calibration
    page = (tmp_path / "r.html").read_text()
    articles = pd.read_parquet(demo_scores / "articles.parquet")
    for source, group in articles.groupby("source"):
        row = re.search(rf"<td>{re.escape(source)}</td><td class=\"num\">(\d+)</td><td class=\"num\">(\d+)</td>",
                        page)
        assert row, source
        assert (int(row.group(1)), int(row.group(2))) == (len(group), group.sentences.sum())
    assert result.period == "quarter"  # 30 articles over six months: 5 a month, 15 a quarter
    # estimates and differences by source and over time per dimension, calibration, net score histogram
    assert _images(page) == 3 + 3 + 3 + 1 + 1
    differences = compare(demo_scores, "source")  # what the report drew, with the same seed
    for dim, cells in differences.groupby("dimension"):
        holding = int(cells["holds"].sum())
        said = (f"{holding:,} of {len(cells):,} differences in {dim} hold at 95%" if holding
                else f"No difference in {dim} holds at 95% after Holm's adjustment for its {len(cells):,}")
        assert said in page
    assert "Most confident sentences per class" in page
    assert "estimates are model-only" in page and "assume the scored corpus differs from the labelled" in page
    assert "Hollow markers are flagged cells" in page and "few_articles" in page  # no source has 20 articles


def test_by_date_and_by_another_field(demo_scores, tmp_path):
    by_date = report(demo_scores, tmp_path / "d.html", by=["date"], period="week")
    page = (tmp_path / "d.html").read_text()
    assert by_date.period == "week" and "Over time" in page and "By source" not in page
    assert _images(page) == 3 + 1 + 1
    report(demo_scores, tmp_path / "t.html", by=["title"])
    assert "By title" in (tmp_path / "t.html").read_text()
    with pytest.raises(StanceError, match="by='outlet': the articles have no such field"):
        report(demo_scores, tmp_path / "x.html", by=["outlet"])


def test_an_estimates_file_is_shown_as_it_is(demo_scores, tmp_path):
    from stance.findings.estimate import estimate, write_estimates
    frame = estimate(demo_scores, by=["source"], replicates=50)
    frame.loc[0, ["estimate", "low", "high"]] = [0.123, 0.101, 0.145]
    write_estimates(frame, tmp_path / "e.parquet")
    report(demo_scores, tmp_path / "r.html", estimates=tmp_path / "e.parquet")
    page = (tmp_path / "r.html").read_text()
    assert "12.3%" in page and "10.1% to 14.5%" in page and "from " + str(tmp_path / "e.parquet") in page


def test_with_an_audit_the_report_measures_the_model_on_the_target(demo_scores, tmp_path):
    from conftest import gold_audit
    ids = pd.read_parquet(demo_scores / "sentences.parquet").sentence_id.iloc[::2].tolist()
    audit = gold_audit(demo_scores, ids, tmp_path / "audit")
    report(demo_scores, tmp_path / "r.html", by=["source"], audit=audit)
    page = (tmp_path / "r.html").read_text()
    assert "PPI++" in page or "audit labels alone" in page
    assert "Calibration, from the audit" in page and "Precision and recall on the target corpus need" not in page
    # precision of each class from the audit, as the share of audited sentences predicted as it that are it
    sentences = pd.read_parquet(demo_scores / "sentences.parquet").set_index("sentence_id").loc[ids]
    gold = {r["sentence_id"]: r for r in map(json.loads, (demo_dir() / "gold.jsonl").read_text().splitlines())}
    predicted = sentences[sentences.tone == "adversarial"]
    precision = np.mean([gold[s]["tone"] == "adversarial" for s in predicted.index])
    row = re.search(r"<td>tone</td><td>adversarial</td><td class=\"num\">([0-9.]+) \(", page)
    assert row and float(row.group(1)) == pytest.approx(precision, abs=0.005)


def test_a_report_of_many_audited_groups_says_they_are_pooled_unless_asked_not_to(demo_scores, tmp_path):
    from conftest import gold_audit
    sentences = pd.read_parquet(demo_scores / "sentences.parquet")
    audit = gold_audit(demo_scores, sentences.groupby("article_id").head(3).sentence_id.tolist(), tmp_path / "a")
    report(demo_scores, tmp_path / "pooled.html", by=["article_id"], audit=audit, period="year")
    report(demo_scores, tmp_path / "own.html", by=["article_id"], audit=audit, period="year", pool="never")
    pooled, own = (tmp_path / "pooled.html").read_text(), (tmp_path / "own.html").read_text()
    assert "estimates are pooled audits.</b>" in pooled and "on average over the groups" in pooled
    assert "pooled audit" not in own


def test_group_shares_weight_articles_by_their_sentences():
    frame = pd.DataFrame({"g": ["a", "a", "b"], "sentences": [2, 3, 4],
                          "tone_share_adversarial": [0.5, 1 / 3, 0.0], "tone_share_other": [0.5, 2 / 3, 1.0]})
    shares = _sentence_shares(frame, frame["g"], "tone", ["adversarial", "other"])
    assert shares.loc["a", "adversarial"] == pytest.approx(2 / 5)  # (1 + 1) adversarial of 5 sentences
    assert shares.loc["b", "other"] == pytest.approx(1.0)


def test_automatic_time_buckets():
    days = pd.Series(pd.date_range("2026-01-01", periods=10, freq="D").repeat(12))
    assert _period(days, "auto") == "day"
    spread = pd.Series(pd.date_range("2026-01-01", periods=60, freq="D"))
    assert _period(spread, "auto") == "month"  # 7 a week, about 30 a month
    decade = pd.Series(pd.date_range("2010-01-01", periods=300, freq="12D"))  # BASIL: 300 articles in ten years
    assert _period(decade, "auto") == "year"
    assert _period(decade[::4], "auto") is None  # 75: about 8 a year
    assert _period(decade[::4], "month") == "month"  # asked for: drawn as asked
    with pytest.raises(StanceError, match="period='decade': must be auto"):
        _period(spread, "decade")


def test_most_confident_examples_are_the_top_probabilities(demo_scores, tmp_path):
    report(demo_scores, tmp_path / "r.html", by=["source"], examples=2)
    page = (tmp_path / "r.html").read_text()
    sentences = pd.read_parquet(demo_scores / "sentences.parquet")
    best = sentences[sentences.tone == "adversarial"].nlargest(1, "tone_p_adversarial").iloc[0]
    assert f"{best.tone_p_adversarial:.3f}" in page
    assert best.text.replace('"', "&quot;")[:40] in page


def test_a_quote_repeated_across_articles_is_shown_once(default_run, demo_articles, tmp_path):
    from stance.scoring.batch import score
    articles = [json.loads(line) for line in demo_articles.read_text().splitlines()]
    scored = pd.read_parquet(score([demo_articles], default_run, tmp_path / "first", workers=1).out
                             / "sentences.parquet")
    quote = scored[scored.tone == "adversarial"].nlargest(1, "tone_p_adversarial").iloc[0].text
    for i, article in enumerate(articles[:3]):  # three more outlets carry the same quote
        article.update(id=f"copy-{i}", text=f"{article['text']}\n\n{quote}")
    (tmp_path / "news.jsonl").write_text("".join(json.dumps(a) + "\n" for a in articles))
    scores = score([tmp_path / "news.jsonl"], default_run, tmp_path / "scores", workers=1).out
    report(scores, tmp_path / "r.html", examples=3)
    page = (tmp_path / "r.html").read_text()
    tone = page[page.index("<h3>tone</h3>"):page.index("<h3>speaker</h3>")]
    assert tone.count(quote.replace('"', "&quot;")[:60]) == 1
    assert tone.count("<td>adversarial</td>") == 3  # still three distinct sentences for the class


def test_the_net_score_says_what_it_leaves_out(demo_scores, tmp_path):
    report(demo_scores, tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    articles = pd.read_parquet(demo_scores / "articles.parquet")
    net = articles["net_adversarial"]
    neutral = (articles["tone_share_neutral"] * articles["sentences"]).sum() / articles["sentences"].sum()
    assert f"{(net > 0.05).mean():.0%} of articles lean adversarial (net above +0.05)" in page
    assert f"{(net < -0.05).mean():.0%} lean conciliatory" in page
    assert f"leaves out the {neutral:.0%} of sentences labelled neutral" in page


def test_too_few_articles_a_year_leave_the_time_panel_out(default_run, demo_articles, tmp_path):
    from stance.scoring.batch import score
    articles = [json.loads(line) for line in demo_articles.read_text().splitlines()][:12]
    for year, article in enumerate(articles, 2010):  # BASIL-like: a handful of articles a year
        article["date"] = f"{year}-05-01"
    (tmp_path / "news.jsonl").write_text("".join(json.dumps(a) + "\n" for a in articles))
    scores = score([tmp_path / "news.jsonl"], default_run, tmp_path / "scores", workers=1).out
    result = report(scores, tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    assert result.period is None and "<h2>Over time" not in page
    assert "No panel over time: the dated articles are too few per year (a median of 1 in 12 years)" in page
    forced = report(scores, tmp_path / "y.html", period="year")
    assert forced.period == "year" and "<h2>Over time" in (tmp_path / "y.html").read_text()


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
    assert dom.count("<img") == 11 and "Article net scores" in dom and "How far to trust the model" in dom
    subprocess.run([*base, "--window-size=1200,2400", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    import matplotlib.image
    pixels = matplotlib.image.imread(shot)[..., :3]
    # the first two classes' intervals and markers (#1f5fa8 blue, #c0392b red) are on screen: the
    # inline images were decoded and drawn
    for colour in ([0x1F, 0x5F, 0xA8], [0xC0, 0x39, 0x2B]):
        drawn = np.all(np.abs(pixels - np.array(colour) / 255) < 0.06, axis=-1)
        assert drawn.sum() > 1500, f"no plot colour {colour} in the screenshot"


def test_importing_stance_leaves_matplotlib_backend_alone():
    code = ("import matplotlib; matplotlib.use('svg'); import stance.findings.report, stance.plots, stance.experiments.active, "
            "stance.experiments.report, stance.experiments.curve; print(matplotlib.get_backend())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "svg", done.stderr


def test_text_is_escaped_on_every_page(demo_labels, tmp_path):
    from stance.experiments.curve import learning_curve
    from stance.webpage import esc, table
    assert esc('<b a="1">') == "&lt;b a=&quot;1&quot;&gt;"
    assert "<td>&lt;script&gt;</td>" in table(["x"], [["<script>"]])
    curve = learning_curve(Path(__file__).resolve().parents[1] / "experiments" / "default.toml", demo_labels,
                           out=tmp_path / "curve", sizes=[40, 80], overrides={"name": "<b>x"})
    page = (curve.out / "curve.html").read_text()
    assert "Learning curve: &lt;b&gt;x" in page and "<b>x" not in page


def test_articles_without_a_source_give_a_report_of_the_whole_corpus(default_run, tmp_path):
    """Issue 23: a traceback where a sentence belongs."""
    from stance.scoring.batch import score
    articles = tmp_path / "a.jsonl"
    articles.write_text("".join(json.dumps({"id": f"a{i}", "text": "Talks resumed on Monday. Beijing warned "
                                                                    f"Washington again on day {i}."}) + "\n"
                                for i in range(4)))
    score([articles], default_run, tmp_path / "s", workers=1)
    result = report(tmp_path / "s", tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    assert result.groups == [] and "of the whole corpus" in str(result)
    assert "No article names its source" in page and "<h2>The whole corpus</h2>" in page
