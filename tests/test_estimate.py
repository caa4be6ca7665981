"""``stance estimate``: rows per group x dimension x class, formats, audits with and without a design,
thin cells, and one clear sentence for each kind of bad input."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import datasets
import numpy as np
import pandas as pd
import pytest
from conftest import gold_audit

from stance import quantify
from stance.errors import StanceError
from stance.findings.audit import draw_audit
from stance.findings.estimate import COLUMNS, companion, compare, estimate, estimation, read_estimates, trends
from stance.resources import demo_dir


@pytest.fixture()
def scores(demo_scores, tmp_path) -> Path:
    """A copy of the demo scores that a test may add an audit design to."""
    return Path(shutil.copytree(demo_scores, tmp_path / "scores"))


def test_one_row_per_group_dimension_class_with_counts(demo_scores):
    result = estimate(demo_scores, by=["source"], replicates=200)
    assert list(result.columns) == ["source", *COLUMNS]
    sentences = pd.read_parquet(demo_scores / "sentences.parquet")
    labels = json.loads((demo_scores / "manifest.json").read_text())["model"]["labels"]
    assert len(result) == sentences["source"].nunique() * sum(len(v) for v in labels.values())
    for (source, dim), cell in result.groupby(["source", "dimension"]):
        members = sentences[sentences.source == source]
        assert list(cell["class"]) == labels[dim]
        assert (cell.n_sentences == len(members)).all() and (cell.n_articles == members.article_id.nunique()).all()
        assert cell.estimate.sum() == pytest.approx(1.0)       # corrected shares still sum to one
        assert ((cell.low <= cell.estimate) & (cell.estimate <= cell.high)).all()
        assert (cell.n_audit == 0).all() and cell.method.str.startswith("model-only: ").all()
        assert (cell.flag == "few_articles").all()              # 6 to 10 articles per source, fewer than 20


def test_estimates_equal_the_estimator_on_the_same_arrays(demo_scores, default_run):
    """The command adds grouping and bookkeeping, nothing else: the same arrays give the same numbers."""
    result = estimate(demo_scores, by=["source"], method="pacc", replicates=50)
    sentences = pd.read_parquet(demo_scores / "sentences.parquet")
    cv = pd.read_parquet(Path(default_run) / "cv_predictions.parquet")
    names = ["conciliatory", "adversarial", "neutral"]
    known = cv.tone_true.notna()
    reference = quantify.Reference(cv.loc[known, [f"tone_p_{n}" for n in names]].to_numpy(),
                                   cv.loc[known, "tone_true"].map(names.index).to_numpy())
    groups = pd.factorize(sentences.source, sort=True)[0]
    direct = quantify.estimate_groups(sentences[[f"tone_p_{n}" for n in names]].to_numpy(np.float64), groups,
                                      pd.factorize(sentences.article_id)[0], reference, "pacc", replicates=50)
    tone = result[result.dimension == "tone"]
    assert tone.estimate.to_numpy() == pytest.approx(direct.estimate.ravel())


def test_one_article_groups_are_never_zero_width_and_rows_say_model_only(demo_scores, default_run):
    result = estimate(demo_scores, by=["article_id"], replicates=100)
    assert ((result.high - result.low) > 0.2).all()  # one article is about one observation
    assert (result.flag.str.contains("few_articles")).all()
    run_metrics = json.loads((Path(default_run) / "metrics.json").read_text())
    kept = run_metrics["dimensions"]["tone"]["quantification"]
    assert kept["protocol"].startswith("artificial prevalence") and set(kept["mae"]) == set(quantify.QUANTIFIERS)
    tone = result[result.dimension == "tone"]
    assert tone.method.str.contains(f"classify and count {100 * kept['mae']['cc']:.1f}").all()


def test_formats_follow_the_extension_and_read_back(demo_scores, tmp_path):
    frames = {}
    for suffix in (".csv", ".parquet", ".json"):
        estimate(demo_scores, tmp_path / f"e{suffix}", by=["source"], period="month", replicates=50)
        frames[suffix] = read_estimates(tmp_path / f"e{suffix}")
    for frame in frames.values():
        assert list(frame.columns) == ["source", "period", *COLUMNS]
        assert frame["period"].str.match(r"2026-0[1-7]-01").all()
        pd.testing.assert_frame_equal(frame.reset_index(drop=True), frames[".parquet"].reset_index(drop=True),
                                      check_dtype=False)


def test_no_grouping_gives_one_group_and_min_articles_sets_the_flag(demo_scores):
    whole = estimate(demo_scores, replicates=50)
    assert list(whole.columns) == COLUMNS and (whole.n_articles == 30).all() and (whole.flag == "").all()
    strict = estimate(demo_scores, replicates=50, min_articles=31)
    assert (strict.flag == "few_articles").all()


def test_audit_without_design_is_a_random_sample_within_each_group(demo_scores, tmp_path):
    ids = pd.read_parquet(demo_scores / "sentences.parquet").sentence_id.iloc[::3].tolist()
    audit = gold_audit(demo_scores, ids, tmp_path / "audit")
    result = estimate(demo_scores, by=["source"], audit=audit, replicates=50)
    assert result.n_audit.groupby([result.dimension, result["class"]]).sum().eq(len(ids)).all()
    assert result.method.str.contains("simple random sample within each group").all()
    assert ((result.low <= result.estimate) & (result.estimate <= result.high)).all()
    assert ((0 <= result.low) & (result.high <= 1)).all()


def test_audit_with_design_weights_each_stratum(scores, tmp_path):
    drawn = draw_audit(scores, 40, by=["source"], seed=3)
    assert [s["sample"] for s in drawn.design["strata"]] == [10, 10, 10, 10]  # equal allocation
    drawn.write()
    ids = [drawn.sentences["sentence_id"][i] for i in drawn.rows]
    audit = gold_audit(scores, ids, tmp_path / "audit")
    whole = estimate(scores, audit=audit, replicates=50)
    assert whole.method.str.contains("stratified random audit by source").all()
    assert (whole.n_audit == 40).all()
    # with the model switched off (coefficient 0) the whole-corpus share is the stratified mean:
    # sum over sources of N_h * (share among its 10 audited) / N
    sentences = pd.read_parquet(scores / "sentences.parquet")
    gold = {r["sentence_id"]: r for r in map(json.loads, (demo_dir() / "gold.jsonl").read_text().splitlines())}
    audited = sentences.set_index("sentence_id").loc[ids]
    adversarial = audited.index.map(lambda s: gold[s]["tone"] == "adversarial").to_numpy().astype(float)
    by_source = pd.Series(adversarial, index=audited.source).groupby(level=0).mean()
    sizes = sentences.source.value_counts()
    expected = (by_source * sizes[by_source.index]).sum() / len(sentences)
    strata = np.array([s["key"]["source"] for s in drawn.design["strata"]])
    codes = np.searchsorted(strata, audited.source.to_numpy())
    alone = quantify.audit_share(0.0, len(sentences), adversarial, np.zeros(40), np.ones(40, bool), codes,
                                 sizes[strata].to_numpy(), coefficient=0.0)
    assert alone.estimate == pytest.approx(expected)
    # and the command's estimate is the same estimator with the model's predictions and a tuned coefficient
    p = sentences["tone_p_adversarial"].to_numpy(np.float64)
    tuned = quantify.audit_share(p.sum(), len(sentences), adversarial, audited["tone_p_adversarial"].to_numpy(),
                                 np.ones(40, bool), codes, sizes[strata].to_numpy())
    row = whole[(whole.dimension == "tone") & (whole["class"] == "adversarial")].iloc[0]
    assert (row.estimate, row.low, row.high) == pytest.approx((tuned.estimate, tuned.low, tuned.high))


def test_an_active_audit_weights_each_sentence_back_by_its_chance(scores, tmp_path):
    drawn = draw_audit(scores, 40, by=["source"], seed=3, active=True)
    drawn.write()
    design = json.loads((scores / "audit.json").read_text())
    assert design["sampling"] == "active" and len(design["inclusion_probabilities"]) == len(drawn.rows)
    ids = [drawn.sentences["sentence_id"][i] for i in drawn.rows]
    # one drawn sentence never labelled: the others of its source stand in for it (chances scaled)
    audit = gold_audit(scores, ids[1:], tmp_path / "audit")
    result = estimate(scores, by=["source"], audit=audit, replicates=50)
    assert result.method.str.contains("active audit by source").all()
    sentences = pd.read_parquet(scores / "sentences.parquet")
    gold = {r["sentence_id"]: r for r in map(json.loads, (demo_dir() / "gold.jsonl").read_text().splitlines())}
    audited = sentences.set_index("sentence_id").loc[ids[1:]]
    chances = np.array(design["inclusion_probabilities"][1:])
    first = audited.source.iloc[0]
    in_first = (audited.source == sentences.set_index("sentence_id").loc[ids[0], "source"]).to_numpy()
    chances[in_first] *= in_first.sum() / (in_first.sum() + 1)
    members = sentences[sentences.source == first]
    adversarial = audited.index.map(lambda s: gold[s]["tone"] == "adversarial").to_numpy().astype(float)
    by_hand = quantify.active_share(members["tone_p_adversarial"].sum(), len(members), adversarial,
                                    audited["tone_p_adversarial"].to_numpy(), chances,
                                    (audited.source == first).to_numpy())
    row = result[(result.source == first) & (result.dimension == "tone") & (result["class"] == "adversarial")].iloc[0]
    assert (row.estimate, row.low, row.high) == pytest.approx((by_hand.estimate, by_hand.low, by_hand.high))
    differences = compare(scores, "source", audit=audit, replicates=50)
    assert differences["method"].str.startswith("audit").all()


def test_audit_of_other_sentences_than_the_design_drew_is_refused(scores, tmp_path):
    drawn = draw_audit(scores, 8, by=["source"], seed=1)
    drawn.write()
    others = [s for s in pd.read_parquet(scores / "sentences.parquet").sentence_id
              if s not in {drawn.sentences["sentence_id"][i] for i in drawn.rows}][:5]
    with pytest.raises(StanceError, match="5 audit sentences were not drawn by the audit design"):
        estimate(scores, audit=gold_audit(scores, others, tmp_path / "audit"), replicates=10)


def test_a_group_without_audit_labels_keeps_the_model_estimate_and_is_flagged(demo_scores, tmp_path):
    sentences = pd.read_parquet(demo_scores / "sentences.parquet")
    one_source = sentences[sentences.source == sentences.source.iloc[0]].sentence_id.tolist()[:12]
    result = estimate(demo_scores, by=["source"], audit=gold_audit(demo_scores, one_source, tmp_path / "a"),
                      replicates=50)
    audited = result[result.source == sentences.source.iloc[0]]
    others = result[result.source != sentences.source.iloc[0]]
    assert (audited.n_audit == 12).all() and not audited.flag.str.contains("audit").any()
    assert (others.n_audit == 0).all() and others.flag.str.contains("no_audit").all()
    assert others.method.str.contains("too few audit labels").all()


def test_audits_of_many_groups_are_pooled_unless_asked_not_to(demo_scores, tmp_path):
    """30 articles as groups, 3 audited sentences each: every class's shares are pooled across them
    (narrower on average than each group's own, and said so in the method); ``pool="never"`` and
    fewer than POOL_MIN_GROUPS audited groups keep each group's own; differences keep them too."""
    sentences = pd.read_parquet(demo_scores / "sentences.parquet")
    audit = gold_audit(demo_scores, sentences.groupby("article_id").head(3).sentence_id.tolist(), tmp_path / "a")
    found = estimation(demo_scores, by=["article_id"], audit=audit, replicates=20)
    pooled = found.shares()
    own = estimate(demo_scores, by=["article_id"], audit=audit, replicates=20, pool="never")
    assert pooled.method.str.startswith("pooled audit across 30 groups").all()
    assert own.method.str.contains("simple random sample").all() and not own.method.str.startswith("pooled").any()
    assert (pooled[["article_id", "dimension", "class", "n_audit"]] == own[["article_id", "dimension", "class",
                                                                           "n_audit"]]).all().all()
    assert (pooled.high - pooled.low).mean() < (own.high - own.low).mean()
    assert ((pooled.low <= pooled.estimate) & (pooled.estimate <= pooled.high)).all()
    # differences stay each group's own audit: own shares subtracted
    first, second = sorted(sentences.article_id.unique())[:2]
    differences = found.differences("article_id")
    row = differences[(differences.group == first) & (differences.baseline == second)].iloc[0]
    point = own.set_index(["article_id", "dimension", "class"])["estimate"]
    assert row["difference"] == pytest.approx(point[first, row["dimension"], row["class"]]
                                              - point[second, row["dimension"], row["class"]])
    assert row["method"].startswith("audit (each group's own PPI++")
    few = sentences[sentences.article_id.isin(sorted(sentences.article_id.unique())[:19])]
    audit19 = gold_audit(demo_scores, few.groupby("article_id").head(3).sentence_id.tolist(), tmp_path / "b")
    some = estimate(demo_scores, by=["article_id"], audit=audit19, replicates=20)
    assert not some.method.str.startswith("pooled").any()
    with pytest.raises(StanceError, match="pool='always': audits are pooled across groups 'auto'"):
        estimate(demo_scores, audit=audit, pool="always", replicates=20)
    done = _cli(demo_scores, "--out", tmp_path / "e.csv", "--by", "article_id", "--audit", audit, "--replicates", 20)
    assert done.returncode == 0, done.stderr
    assert "300 pooled" in done.stderr and "on average over the groups, not for each group alone" in done.stderr
    assert read_estimates(tmp_path / "e.csv")["estimate"].to_numpy() == pytest.approx(pooled["estimate"].to_numpy())


# ---------------------------------------------------------------- bad input: one sentence, exit status 1

def _cli(*args):
    return subprocess.run([sys.executable, "-m", "stance", "estimate", *map(str, args)], capture_output=True,
                          text=True)


def test_differences_are_the_shares_subtracted_with_holm_over_each_dimension(demo_scores, tmp_path):
    shares = estimate(demo_scores, tmp_path / "e.csv", compare="source", replicates=100)
    differences = read_estimates(companion(tmp_path / "e.csv", "differences"), kind="differences")
    sources = sorted(shares["source"].unique())
    classes = len(shares) // len(sources)
    assert len(differences) == len(sources) * (len(sources) - 1) // 2 * classes   # every pair, every class
    point = shares.set_index(["source", "dimension", "class"])["estimate"]
    for _, row in differences.iterrows():
        assert row["difference"] == pytest.approx(point[row["group"], row["dimension"], row["class"]]
                                                  - point[row["baseline"], row["dimension"], row["class"]])
        assert row["low"] <= row["difference"] <= row["high"]
        assert row["method"].startswith("model-only")
    for _, cells in differences.groupby("dimension"):
        assert cells["p_holm"].to_numpy() == pytest.approx(quantify.holm(cells["p_value"].to_numpy()))
        assert (cells["holds"] == (cells["p_holm"] < 0.05)).all()
    # against one baseline: each other group once, the same numbers as in the pairs
    first = sources[0]
    against = compare(demo_scores, "source", baseline=first, replicates=100)
    assert set(against["baseline"]) == {first} and set(against["group"]) == set(sources) - {first}
    with pytest.raises(StanceError, match="no group 'nowhere'"):
        compare(demo_scores, "source", baseline="nowhere", replicates=20)


def test_differences_under_an_audit_use_its_labels(demo_scores, tmp_path):
    sentences = pd.read_parquet(demo_scores / "sentences.parquet")
    audit = gold_audit(demo_scores, sentences.groupby("source").head(12).sentence_id.tolist(), tmp_path / "audit")
    differences = compare(demo_scores, "source", audit=audit, replicates=50)
    assert differences["method"].str.startswith("audit").all() and (differences["n_audit"] == 24).all()


def test_a_trend_is_the_sentence_weighted_slope_of_the_shares(demo_scores, tmp_path):
    found = estimation(demo_scores, period="month", replicates=100)
    shares, slopes = found.shares(), found.trends()
    dated = shares[shares["period"] != "undated"].copy()
    months = pd.to_datetime(dated["period"]).dt.year * 12 + pd.to_datetime(dated["period"]).dt.month
    for (dim, name), cells in dated.assign(month=months).groupby(["dimension", "class"]):
        fitted = np.polyfit(cells["month"], cells["estimate"], 1, w=np.sqrt(cells["n_sentences"]))[0]
        row = slopes[(slopes["dimension"] == dim) & (slopes["class"] == name)].iloc[0]
        assert row["slope"] == pytest.approx(fitted)
        assert row["low"] <= row["slope"] <= row["high"] and row["n_periods"] == len(cells)
    assert trends(demo_scores, "month", replicates=100)["slope"].to_numpy() == pytest.approx(slopes["slope"])


def test_cli_compare_writes_the_differences_and_says_how_many_hold(demo_scores, tmp_path):
    done = _cli(demo_scores, "--out", tmp_path / "e.csv", "--compare", "source", "--period", "month",
                "--replicates", 50)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "e.differences.csv").is_file() and (tmp_path / "e.trends.csv").is_file()
    assert "hold at 95% after Holm's adjustment" in done.stderr
    _one_line_error(_cli(demo_scores, "--out", tmp_path / "e.csv", "--baseline", "x"), "--baseline x needs --compare")


def _one_line_error(done, *fragments):
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), done.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_cli_writes_the_file(demo_scores, tmp_path):
    done = _cli(demo_scores, "--out", tmp_path / "e.csv", "--by", "source", "--replicates", 50)
    assert done.returncode == 0, done.stderr
    assert len(pd.read_csv(tmp_path / "e.csv")) == 40 and "written to" in done.stderr


def test_bad_input_gets_one_clear_sentence(demo_scores, scores, tmp_path):
    _one_line_error(_cli(demo_scores, "--out", tmp_path / "e.csv", "--level", 1.5), "between 0 and 1")
    _one_line_error(_cli(demo_scores, "--out", tmp_path / "e.csv", "--by", "outlet"),
                    "no field 'outlet'", "source")
    _one_line_error(_cli(demo_scores, "--out", tmp_path / "e.txt"), "must end in .csv, .parquet, .json")
    _one_line_error(_cli(demo_scores, "--out", tmp_path / "e.csv", "--replicates", 0), "--replicates 0 must be at least 2")
    # an audit whose ids are not in the scores: how many, and one of them
    sentences = pd.read_parquet(demo_scores / "sentences.parquet")
    foreign = gold_audit(demo_scores, sentences.sentence_id.tolist()[:6], tmp_path / "foreign")
    data = datasets.load_from_disk(str(foreign))
    data = data.map(lambda row: {"sentence_id": "elsewhere:" + row["sentence_id"]})
    data.save_to_disk(str(tmp_path / "elsewhere"))
    _one_line_error(_cli(demo_scores, "--out", tmp_path / "e.csv", "--audit", tmp_path / "elsewhere"),
                    "6 of 6 audit sentences are not in the scores", "elsewhere:")
    # labels of another schema: tone with other choices
    other = data.cast_column("tone", datasets.ClassLabel(names=["friendly", "hostile", "neutral"]))
    other.save_to_disk(str(tmp_path / "other"))
    _one_line_error(_cli(demo_scores, "--out", tmp_path / "e.csv", "--audit", tmp_path / "other"),
                    "labels of another schema")


def test_an_audit_given_twice_out_of_range_or_empty_is_refused_by_row(demo_scores, tmp_path):
    """Issue 23: repeated audit rows were counted twice (the interval halved), a class index out of
    range was taken in (shares summing to 0.75), and an empty audit gave a traceback."""
    sentences = pd.read_parquet(demo_scores / "sentences.parquet")
    ids = sentences.sentence_id.tolist()[:8]
    data = datasets.load_from_disk(str(gold_audit(demo_scores, ids, tmp_path / "gold")))
    datasets.concatenate_datasets([data, data.select([2])]).save_to_disk(str(tmp_path / "twice"))
    _one_line_error(_cli(demo_scores, "--out", tmp_path / "e.csv", "--audit", tmp_path / "twice"),
                    "1 audit sentences are given more than once", repr(ids[2]))
    data.cast_column("tone", datasets.Value("int64")).map(
        lambda row, i: {"tone": 7 if i == 5 else row["tone"]}, with_indices=True).save_to_disk(str(tmp_path / "range"))
    with pytest.raises(StanceError, match=f"row 5 \\(sentence '{ids[5]}'\\) has tone = 7, not one of its 3"):
        estimate(demo_scores, audit=tmp_path / "range", replicates=20)
    data.select([]).save_to_disk(str(tmp_path / "empty"))
    _one_line_error(_cli(demo_scores, "--out", tmp_path / "e.csv", "--audit", tmp_path / "empty"),
                    "dataset has no rows")
    from stance.findings.report import report
    with pytest.raises(StanceError, match="dataset has no rows"):
        report(demo_scores, tmp_path / "r.html", audit=tmp_path / "empty")


def test_an_empty_group_field_is_refused(default_run, tmp_path):
    from stance.scoring.batch import score
    articles = tmp_path / "a.jsonl"
    articles.write_text("".join(json.dumps({"id": f"x{i}", "text": "Talks resumed on Monday. Both sides spoke.",
                                            "source": ""}) + "\n" for i in range(3)))
    score([articles], default_run, tmp_path / "s", workers=1)
    _one_line_error(_cli(tmp_path / "s", "--out", tmp_path / "e.csv", "--by", "source"),
                    "'source' is empty in every sentence")
    empty = tmp_path / "none.jsonl"
    empty.write_text("")
    score([empty], default_run, tmp_path / "s0", workers=1)
    _one_line_error(_cli(tmp_path / "s0", "--out", tmp_path / "e.csv"), "no sentences")
