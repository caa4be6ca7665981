"""Scoring speed of the model tiers, each figure side by side with its reference in one run.

    python benchmarks/model_speed.py [--dir /tmp/stance-bench-models] [--only shared onnx static transformer startup]

1. shared: a three-dimension TF-IDF model scoring 20,000 sentences, its feature block
   computed once for all dimensions (now) against once per dimension (before), in
   one process. Target: >= 2x.
2. onnx: the packaged MiniLM encoding 1,024 BASIL sentences through int8 ONNX against
   torch, both on all cores in this process; and how often a logistic regression
   trained on torch vectors (half of BASIL) labels the other half the same from int8
   vectors (int8 alone: `stance score` re-predicts near-ties in float32, and
   basil_models.py gives the agreement after that, out of sample); the same for the
   float32 export that re-predicts them. Targets: >= 2x, >= 99% agreement.
3. static: `stance score` end to end with the static config (static + TF-IDF, three
   dimensions) over news-like articles, 2 workers; sentences/s per core. Target: >= 5,000.
4. transformer: `stance score` end to end with the embeddings config (MiniLM + TF-IDF)
   over BASIL's 300 articles (real news) against the bare int8 encoder on the same
   sentences, all cores each, start-up included; with near-ties re-predicted in float32
   (the default) and with --no-recheck, interleaved. Target: >= 0.8.
5. startup: `stance score` of 50 articles with the default run, wall time from start
   to exit, scored from its portable arrays and, alternately, from model.joblib (the
   same run without its arrays, as runs made before them). Target: < 1.5 s.

Best of several runs on both sides (the machine is shared). Every figure is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from newslike import article, sentence, trained_run, write_jsonl  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BASIL = ROOT.parent / "shared" / "basil"


def best_rate(work, count: int, repeats: int = 3) -> tuple[float, list[float]]:
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        rates.append(count / (time.perf_counter() - started))
    return max(rates), rates


def basil_sentences(limit: int | None = None) -> tuple[list[str], list[str], list[str]]:
    texts, labels, events = [], [], []
    with open(BASIL / "sentences.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if row["bias_polarity"] != "mixed":
                texts.append(row["text"])
                labels.append(row["bias_polarity"])
                events.append(str(row["event"]))
    return texts[:limit], labels[:limit], events[:limit]


def shared_features(work: Path) -> None:
    import random

    from stance.experiments import load_run
    from stance.experiments.config import load_config
    from stance.experiments.pipeline import build_pipeline
    from stance.labels.dataset import read_labelled
    from stance.model.stance_model import StanceModel
    from stance.schema import load_schema
    run = trained_run(work, "default")
    shared = load_run(run.path).model
    data = read_labelled(work / "labelled-10000", load_schema())
    config = load_config(ROOT / "experiments" / "default.toml")
    per_dimension = StanceModel({dim: build_pipeline(config).fit(data.texts[data.labels[dim] >= 0],
                                                               data.labels[dim][data.labels[dim] >= 0])
                                 for dim in shared.pipelines}, shared.labels)
    rng = random.Random(5)
    texts = [sentence(rng) for _ in range(20_000)]
    before, before_runs = best_rate(lambda: per_dimension.predict_proba(texts), len(texts))
    arrays = load_run(run.path, prefer_portable=True).model
    after, after_runs = best_rate(lambda: shared.predict_proba(texts), len(texts))
    portable, portable_runs = best_rate(lambda: arrays.predict_proba(texts), len(texts))
    print(f"[shared] 3 dimensions, TF-IDF + LR, {len(texts):,} sentences, 1 process: once per dimension "
          f"{before:,.0f}/s (runs {', '.join(f'{r:,.0f}' for r in before_runs)}); shared {after:,.0f}/s "
          f"(runs {', '.join(f'{r:,.0f}' for r in after_runs)}); ratio {after / before:.2f} (target >= 2); "
          f"shared from portable arrays, as `stance score` computes it, {portable:,.0f}/s (runs "
          f"{', '.join(f'{r:,.0f}' for r in portable_runs)}), ratio {portable / before:.2f}", flush=True)


def onnx_against_torch(work: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    from stance.encoders import DEFAULT_MODEL, locate, sentence_transformer
    from stance.encoders.onnx import onnx_encoder
    files = locate(DEFAULT_MODEL)
    texts, labels, _ = basil_sentences()
    sample = texts[:1024]
    torch_model = sentence_transformer(files, "cpu")
    quantized = onnx_encoder(files, work / "cache", "cpu")
    float32 = onnx_encoder(files, work / "cache", "cpu", "onnx-fp32")
    rates = {"torch": [], "onnx": [], "onnx-fp32": []}
    for _ in range(3):  # interleaved: a busy moment hits every side alike
        for name, encode in (("torch", lambda b: torch_model.encode(b, batch_size=64)),
                             ("onnx", lambda b: quantized.encode(b, batch_size=64)),
                             ("onnx-fp32", lambda b: float32.encode(b, batch_size=64))):
            started = time.perf_counter()
            encode(sample)
            rates[name].append(len(sample) / (time.perf_counter() - started))
    print(f"[onnx] packaged MiniLM, {len(sample):,} BASIL sentences, {os.cpu_count()} cores: torch "
          f"{max(rates['torch']):,.0f}/s, int8 ONNX {max(rates['onnx']):,.0f}/s; ratio "
          f"{max(rates['onnx']) / max(rates['torch']):.2f} (target >= 2); float32 ONNX (what re-predicts "
          f"near-ties) {max(rates['onnx-fp32']):,.0f}/s", flush=True)
    half = len(texts) // 2
    reference = torch_model.encode(texts, batch_size=64)
    head = LogisticRegression(C=1.0, max_iter=3000, class_weight="balanced").fit(reference[:half], labels[:half])
    for name, encoder in (("int8", quantized), ("float32", float32)):
        vectors = encoder.encode(texts[half:], batch_size=64)
        bare = np.mean(head.predict(reference[half:]) == head.predict(vectors))
        cosine = float(np.mean(np.sum(reference[half:] * vectors, axis=1)))
        shipped = shipped_agreement(texts, labels, half, "onnx" if name == "int8" else "onnx-fp32")
        print(f"[onnx] labels of {len(texts) - half:,} BASIL sentences (negative/none/positive), trained on the "
              f"other half with torch vectors, {name} ONNX alone against torch: the embeddings config (MiniLM + "
              f"TF-IDF) agrees on {shipped:.2%}; a bare MiniLM + logistic regression on {bare:.2%} (target >= 99%); "
              f"mean cosine {cosine:.4f}", flush=True)


def shipped_agreement(texts: list[str], labels: list[str], half: int, backend: str) -> float:
    """How often the shipped embeddings pipeline labels the same on ``backend`` as with torch encoding."""
    from stance.experiments.config import load_config
    from stance.experiments.pipeline import build_pipeline
    from stance.model.embeddings import use_backend
    pipeline = build_pipeline(load_config(ROOT / "experiments" / "embeddings.toml"))
    pipeline.fit(np.array(texts[:half], dtype=object), labels[:half])
    test = np.array(texts[half:], dtype=object)
    use_backend([pipeline], "torch")
    from_torch = pipeline.predict(test)
    use_backend([pipeline], backend)
    return float(np.mean(pipeline.predict(test) == from_torch))


def score_rate(run_path: Path, inputs: Path, out: Path, workers: int, *options: str) -> tuple[float, int]:
    command = [sys.executable, "-m", "stance", "score", str(inputs), "--model", str(run_path), "--out", str(out),
               "--workers", str(workers), "--overwrite", "--quiet", *options]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    elapsed = time.perf_counter() - started
    sentences = json.loads((out / "manifest.json").read_text())["counts"]["sentences"]
    return sentences / elapsed, sentences


def static_end_to_end(work: Path) -> None:
    run = trained_run(work, "static")
    articles = work / "articles-static"
    if not any(articles.glob("*.jsonl")):
        write_jsonl(articles, 25, files=2)
    rates = [score_rate(run.path, articles, work / "scores-static", 2) for _ in range(3)]
    best = max(r for r, _ in rates)
    f1 = ", ".join(f"{d} {m['cv']['macro_f1']:.3f}" for d, m in run.metrics["dimensions"].items())
    print(f"[static] stance score, static + TF-IDF, 3 dimensions, {rates[0][1]:,} sentences, 2 workers: "
          f"{best:,.0f} sentences/s = {best / 2:,.0f} per core (target >= 5,000; runs "
          f"{', '.join(f'{r:,.0f}' for r, _ in rates)}); its CV F1 on the news-like labels: "
          f"{f1}", flush=True)


def transformer_end_to_end(work: Path) -> None:
    import pyarrow.parquet as pq

    from stance.encoders import DEFAULT_MODEL, locate
    from stance.encoders.onnx import onnx_encoder
    from stance.ingest.corpus import build_corpus
    os.environ["STANCE_CACHE_DIR"] = str(work / "cache")
    run = trained_run(work, "embeddings", sentences=2_000)
    articles = BASIL / "articles.jsonl"  # real news: few sentences repeat
    corpus = work / "corpus-basil"
    shutil.rmtree(corpus, ignore_errors=True)
    build_corpus([articles], corpus, workers=1)
    texts = pq.read_table(corpus / "sentences.parquet", columns=["text"]).column("text").to_pylist()
    unique = list(dict.fromkeys(texts))  # stance encodes a repeated sentence once; so does the bare side
    encoder = onnx_encoder(locate(DEFAULT_MODEL), work / "cache", "cpu")
    bare, bare_runs = best_rate(lambda: encoder.encode(unique, batch_size=64), len(texts), repeats=3)
    rates = {"--recheck": [], "--no-recheck": []}
    for _ in range(3):  # interleaved: a busy moment hits both alike
        for option, found in rates.items():
            (work / "cache" / "embeddings.sqlite").unlink(missing_ok=True)  # encode afresh, as on a new corpus
            found.append(score_rate(run.path, articles, work / "scores-transformer", 2, option)[0])
            if option == "--recheck":
                counts = json.loads((work / "scores-transformer" / "manifest.json").read_text())["counts"]
    checked, plain = max(rates["--recheck"]), max(rates["--no-recheck"])
    print(f"[transformer] BASIL's 300 articles, {len(texts):,} sentences ({len(unique):,} different): bare int8 "
          f"encoder, 2 threads, {bare:,.0f}/s (runs {', '.join(f'{r:,.0f}' for r in bare_runs)}); stance score "
          f"with MiniLM + TF-IDF, 3 dimensions, 2 workers, default parts: {checked:,.0f}/s re-predicting "
          f"{counts['rechecked']:,} near-ties in float32 ({counts['rechecked'] / counts['sentences']:.1%}; runs "
          f"{', '.join(f'{r:,.0f}' for r in rates['--recheck'])}), ratio {checked / bare:.2f}; --no-recheck "
          f"{plain:,.0f}/s (runs {', '.join(f'{r:,.0f}' for r in rates['--no-recheck'])}), ratio "
          f"{plain / bare:.2f} (target >= 0.8)", flush=True)


def small_corpus(directory: Path, articles: int, seed: int) -> Path:
    """``articles`` news-like articles in one JSONL file under ``directory`` (kept between runs)."""
    if not directory.exists():
        import random
        rng = random.Random(seed)
        directory.mkdir()
        with open(directory / "a.jsonl", "w", encoding="utf-8") as fh:
            for i in range(articles):
                fh.write(json.dumps(article(rng, i)) + "\n")
    return directory


def startup(work: Path) -> None:
    from stance.model import portable
    from stance.model.runs import MANIFEST, file_hashes
    from stance.model.signing import sign_run

    run = trained_run(work, "default")
    if not (run.path / portable.PORTABLE_FILE).exists():
        raise SystemExit(f"{run.path} was made before portable models; delete {work / 'runs'} and run again")
    unpickled = work / "runs-unpickled" / run.path.name  # the same run without its arrays, as older runs are
    if not unpickled.exists():
        shutil.copytree(run.path, unpickled)
        for name in (portable.PORTABLE_FILE, portable.ARRAYS_FILE):
            (unpickled / name).unlink()
        manifest = json.loads((unpickled / MANIFEST).read_text())
        manifest["files"] = file_hashes(unpickled)
        (unpickled / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        sign_run(unpickled, (unpickled / MANIFEST).read_bytes())
    small = small_corpus(work / "articles-50", 50, seed=3)
    walls = {}
    for _ in range(5):
        for name, path in (("arrays", run.path), ("model.joblib", unpickled)):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "stance", "score", str(small), "--model", str(path), "--out",
                            str(work / "scores-50"), "--overwrite", "--quiet"], check=True, stdout=subprocess.DEVNULL)
            walls.setdefault(name, []).append(time.perf_counter() - started)
    for name, runs in walls.items():
        print(f"[startup] stance score, 50 articles, default run from {name}: {min(runs):.2f} s wall, start to exit "
              f"(runs {', '.join(f'{w:.2f}' for w in runs)}; target < 1.5 s)", flush=True)


PARTS = {"shared": shared_features, "onnx": onnx_against_torch, "static": static_end_to_end,
         "transformer": transformer_end_to_end, "startup": startup}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/stance-bench-models"))
    parser.add_argument("--only", nargs="*", choices=list(PARTS), help="run only these parts")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("STANCE_CACHE_DIR", str(args.dir / "cache"))
    os.environ.setdefault("STANCE_RUNS_DIR", str(args.dir / "runs"))
    for name in args.only or PARTS:
        PARTS[name](args.dir)


if __name__ == "__main__":
    main()
