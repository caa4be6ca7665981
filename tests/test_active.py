"""Active learning: uncertainty scores, pre-annotations, the replay, and uncertain pushes to a real server."""

import json
import uuid

import numpy as np
import pytest

from stance.experiments.active import Simulation, simulate
from stance.studio.predictions import prediction
from stance.errors import StanceError
from stance.experiments import load_run
from stance.labels.predict import predict
from stance.labels.push import push, read_sentences
from stance.labels.select import uncertainty

DEFAULT = "experiments/default.toml"


def test_uncertainty_is_zero_when_sure_and_one_when_even():
    proba = {"tone": np.array([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0]]),
             "framing": np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])}
    entropy = uncertainty({"tone": proba["tone"]})
    assert entropy[0] == pytest.approx(0, abs=1e-6) and entropy[1] == pytest.approx(1)
    assert entropy[2] == pytest.approx(np.log(2) / np.log(3))
    margin = uncertainty({"tone": proba["tone"]}, "margin")
    assert margin.tolist() == pytest.approx([0.0, 1.0, 1.0])
    assert uncertainty(proba)[1] == pytest.approx(0.5)  # mean over dimensions
    assert uncertainty(proba, focus="framing").tolist() == pytest.approx([0, 0, 0], abs=1e-6)
    with pytest.raises(StanceError, match="focus='speaker': the run predicts tone, framing") as error:
        uncertainty(proba, focus="speaker")
    assert error.value.for_cli().startswith("--focus speaker: ")


def test_balanced_takes_the_likeliest_member_of_each_class_in_turn():
    from stance.labels.select import STRATEGY
    tone = np.array([[0.9, 0.05, 0.05], [0.8, 0.1, 0.1], [0.5, 0.4, 0.1], [0.1, 0.2, 0.7], [0.3, 0.3, 0.4],
                     [0.2, 0.6, 0.2]])
    texts, groups = [f"s{i}" for i in range(6)], ["a"] * 6
    assert STRATEGY["balanced"](texts, groups, 3, proba={"tone": tone}) == [0, 3, 5]
    # a second round: the next likeliest of two classes, in an order the seed draws (1, 2, 4 are second)
    second = set(STRATEGY["balanced"](texts, groups, 5, proba={"tone": tone})) - {0, 3, 5}
    assert len(second) == 2 and second < {1, 2, 4}
    framing = np.array([[0.5, 0.5]] * 5 + [[0.0, 1.0]])
    assert STRATEGY["balanced"](texts, groups, 1, proba={"tone": tone, "framing": framing}, focus="framing") == [0]
    with pytest.raises(StanceError, match="focus='speaker'"):
        STRATEGY["balanced"](texts, groups, 1, proba={"tone": tone}, focus="speaker")


@pytest.mark.parametrize("select", ["uncertain", "uncertain-diverse", "balanced"])
def test_strategies_that_read_a_model_say_they_need_one(select, tmp_path):
    with pytest.raises(StanceError, match=f"select='{select}' needs model: the run whose predictions pick"):
        push(None, tmp_path, "project", select=select, n=5)


def test_uncertain_diverse_spreads_a_batch_over_the_least_sure():
    from stance.labels.select import STRATEGY, UNCERTAIN_POOL
    rng = np.random.default_rng(0)
    sure = np.tile([0.98, 0.01, 0.01], (200, 1))
    unsure = rng.dirichlet([20, 20, 20], 200)
    proba = {"tone": np.vstack([sure, unsure])}
    # the least sure are forty copies of one question and many different ones
    texts = [f"Sure sentence number {i} about trade." for i in range(200)] + \
            ["Beijing warned Washington over Taiwan arms sales."] * 40 + \
            [f"Topic {i} {'alpha beta gamma delta'.split()[i % 4]} word{i} other{i * 7}" for i in range(160)]
    groups = [f"a{i}" for i in range(400)]
    picked = STRATEGY["uncertain-diverse"](texts, groups, 10, proba=proba)
    scores = uncertainty(proba)
    assert len(picked) == 10 and min(scores[picked]) >= np.sort(scores)[-UNCERTAIN_POOL * 10]
    assert sum(texts[i].startswith("Beijing") for i in picked) <= 1  # one of the copies at most


def _simulation(**per_repeat) -> Simulation:
    means = {s: np.mean(v, axis=0).tolist() for s, v in per_repeat.items()}
    return Simulation(None, [10, 20, 30], means, {}, per_repeat)


def test_replay_intervals_and_labels_to_target_by_hand():
    sim = _simulation(random=[[0.1, 0.2, 0.3], [0.1, 0.2, 0.3]], steady=[[0.1, 0.3, 0.3], [0.1, 0.3, 0.3]],
                      mixed=[[0.1, 0.3, 0.3], [0.1, 0.2, 0.25]], short=[[0.1, 0.2, 0.2], [0.1, 0.2, 0.2]])
    # two repeats 0.3 and 0.2 at 20 labels: mean 0.25, sd 0.0707, t(0.975, 1) = 12.706 -> 0.25 -+ 0.635
    low, high = sim.interval("mixed")[1]
    assert (low, high) == pytest.approx((0.25 - 12.706 * 0.05, 0.25 + 12.706 * 0.05), abs=1e-3)
    assert sim.interval("random")[2] == pytest.approx((0.3, 0.3))  # no spread, no width
    steady = sim.labels_saved("steady")
    assert (steady.needed, steady.low, steady.high, steady.target) == (20, 20, 20, pytest.approx(0.3))
    assert "with 20 labels against 30, 33% fewer (95% interval over resampled repeats: 20 to 20)" in str(steady)
    # resampling the repeats: both first (1/4) reaches 0.3 at 20 labels, any other draw never
    mixed = sim.labels_saved("mixed")
    assert mixed.needed is None and mixed.low == 20 and np.isinf(mixed.high)
    assert "does not reach random's final macro-F1 (0.300) within 30 labels" in str(mixed)
    assert "20 to not reached" in str(mixed)
    # paired gain over rounds after the seed: steady +0.1, 0 -> +0.05 per repeat, both the same: no spread
    steady_gain = sim.gain("steady")
    assert (steady_gain.mean, steady_gain.low, steady_gain.high) == pytest.approx((0.05, 0.05, 0.05))
    # mixed: repeat one (+0.1 + 0) / 2 = 0.05, repeat two (0 - 0.05) / 2 = -0.025; mean 0.0125, sd 0.053
    mixed_gain = sim.gain("mixed")
    half = 12.706 * np.std([0.05, -0.025], ddof=1) / np.sqrt(2)
    assert (mixed_gain.mean, mixed_gain.low, mixed_gain.high) == pytest.approx((0.0125, 0.0125 - half,
                                                                                0.0125 + half), abs=1e-3)
    assert str(mixed_gain).startswith("mixed: +0.012 macro-F1 against random on average from 20 to 30 labels")
    short = sim.labels_saved("short")
    assert np.isinf(short.low) and "(over resampled repeats: not reached in any)" in str(short)


def test_prediction_is_label_studio_shaped():
    labels = {"tone": ["conciliatory", "adversarial", "neutral"]}
    made = prediction(labels, {"tone": np.array([[0.2, 0.7, 0.1]])}, 0, "run-1")
    assert made["model_version"] == "run-1" and made["score"] == pytest.approx(0.7)
    assert made["result"] == [{"from_name": "tone", "to_name": "sentence", "type": "choices",
                               "value": {"choices": ["adversarial"]}, "score": 0.7}]


def test_simulation_replays_every_strategy_from_the_same_start(demo_labels, tmp_path):
    sim = simulate(demo_labels, DEFAULT, seed_size=10, batch=10, rounds=2, repeats=2, out=tmp_path)
    assert sim.labels_used == [10, 20, 30]
    firsts = {values[0] for values in sim.macro_f1.values()}
    assert len(firsts) == 1  # same seed labels, same first model
    saved = json.loads((tmp_path / "simulation.json").read_text())
    assert set(saved["macro_f1"]) == {"uncertain", "diverse", "random", "uncertain-diverse", "balanced"}
    assert np.mean(saved["per_repeat"]["diverse"], axis=0) == pytest.approx(saved["macro_f1"]["diverse"], abs=1e-3)
    assert set(saved["labels_to_target"]) == {"uncertain", "diverse", "uncertain-diverse", "balanced"}
    assert len(sim.interval("uncertain")) == 3
    assert (tmp_path / "simulation.png").stat().st_size > 1000
    with pytest.raises(StanceError, match="need more"):
        simulate(demo_labels, DEFAULT, seed_size=100, batch=50, rounds=3, repeats=1, out=tmp_path)


def test_a_replay_from_a_later_seed_is_the_later_repeats_of_a_longer_one(demo_labels, tmp_path):
    """--seed S --repeats R runs repeats S to S+R-1, so two runs add up to one longer replay."""
    from typer.testing import CliRunner

    from stance.cli import app
    longer = simulate(demo_labels, DEFAULT, strategies=["random", "uncertain"], seed_size=10, batch=10, rounds=1,
                      repeats=2, out=tmp_path / "a")
    result = CliRunner().invoke(app, ["labels", "simulate", "--data", str(demo_labels), "--config", str(DEFAULT),
                                      "--strategy", "random", "--strategy", "uncertain", "--seed-size", "10",
                                      "--batch", "10", "--rounds", "1", "--repeats", "1", "--seed", "1",
                                      "--out", str(tmp_path / "b"), "-q"])
    assert result.exit_code == 0, result.output
    later = json.loads((tmp_path / "b" / "simulation.json").read_text())
    assert later["seed"] == 1
    for strategy in ("random", "uncertain"):
        assert later["per_repeat"][strategy] == [longer.per_repeat[strategy][1]]
        assert later["per_repeat"][strategy] != [longer.per_repeat[strategy][0]]


@pytest.mark.studio
def test_uncertain_push_never_resends_and_carries_predictions(studio, demo_corpus, default_run, tmp_path):
    name = f"uncertain {uuid.uuid4().hex[:6]}"
    run = load_run(default_run)
    first = push(studio, demo_corpus, name, select="uncertain", n=10, model=run, ledger_dir=tmp_path)
    second = push(studio, demo_corpus, name, select="uncertain", n=10, model=run, ledger_dir=tmp_path)
    assert (first.created, second.created) == (10, 10)
    tasks = list(studio.client.tasks.list(project=first.project_id, fields="all"))
    ids = [t.data["sentence_id"] for t in tasks]
    assert len(ids) == len(set(ids)) == 20
    for task in tasks:
        assert [p.model_version for p in task.predictions] == [run.run_id]
        chosen = {r["from_name"]: r["value"]["choices"][0] for r in task.predictions[0].result}
        assert chosen == {dim: labels[0] for dim, labels in run.predict([task.data["text"]]).items()}
    sentences = read_sentences(demo_corpus)
    scores = dict(zip(sentences["sentence_id"], uncertainty(run.predict_proba(sentences["text"]))))
    picked = [scores[s] for s in ids[:10]]
    rest = [v for s, v in scores.items() if s not in ids]
    assert np.mean(picked) > np.mean(rest)  # the first batch is the unsure end


@pytest.mark.studio
def test_predict_adds_predictions_once(studio, demo_corpus, default_run, tmp_path):
    name = f"predict {uuid.uuid4().hex[:6]}"
    push(studio, demo_corpus, name, select="random", n=5, ledger_dir=tmp_path)
    run = load_run(default_run)
    first = predict(studio, name, run)
    again = predict(studio, name, run)
    assert (first.added, again.added, again.tasks) == (5, 0, 5)
    run_id = run.run_id
    project = next(iter(studio.client.projects.list(title=name)))
    assert studio.client.projects.get(id=project.id).model_version == run_id
    for task in studio.client.tasks.list(project=project.id, fields="all"):
        assert [p.model_version for p in task.predictions] == [run_id]
