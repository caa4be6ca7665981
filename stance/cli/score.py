"""``stance score``: a trained run over new articles."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from stance.cli._app import (DateField, IdField, MaxChars, MaxSentenceChars, SourceField, TextField, TitleField,
                             UrlField, AuthorField, RunsOption, app, run_path)
from stance.ingest.corpus import MAX_ARTICLE_CHARS, MAX_SENTENCE_CHARS
from stance.encoders import SCORING_BACKEND
from stance.progress import stderr
from stance.ingest.readers import CHUNK_RECORDS, TRANSFORMER_CHUNK, FieldMap


@app.command("score")
def score_command(
    inputs: Annotated[list[Path], typer.Argument(
        help="Articles (.txt directory, .jsonl, .csv, .parquet, saved dataset) or pre-split sentences "
             "(a `corpus build` directory, or parquet with sentence_id and text).", show_default=False)],
    model: Annotated[str, typer.Option("--model", "-m", help="Run directory, run id, or `latest`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the scores.")],
    runs: RunsOption = None,
    workers: Annotated[int, typer.Option("--workers", "-w", help="Processes (default: all cores).",
                                         show_default=False)] = 0,
    engine: Annotated[str, typer.Option(help="local (processes here) or dask.")] = "local",
    scheduler: Annotated[Optional[str], typer.Option(
        help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (default: a local cluster).")] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="parquet, jsonl or csv.")] = "parquet",
    input_format: Annotated[str, typer.Option(
        help="What files of articles hold: auto (looks inside), text, html, nexis or factiva; "
             "as `corpus build --input-format`.")] = "auto",
    backend: Annotated[str, typer.Option(
        help="How transformer encoders run: onnx (int8 ONNX Runtime, about 2.5x faster than torch; a run's "
             "cross-validation describes its labels), torch (the reference they were trained with) or onnx-fp32 "
             "(torch's arithmetic in ONNX Runtime: torch's labels, without loading torch). Other models ignore "
             "it.")] = SCORING_BACKEND,
    recheck: Annotated[bool, typer.Option(
        help="On onnx, predict near-ties again in float32, so that at least 99% of labels are torch's (on BASIL "
             "97.5% -> 99.5%, re-predicting 6% of sentences). --no-recheck takes int8's labels as they come, "
             "a little faster.")] = True,
    cache_vectors: Annotated[bool, typer.Option(
        help="Keep transformer encoders' sentence vectors in the cache (~/.cache/stance), so scoring the same "
             "sentences again with another run of the encoder is fast. They take about 1.5 kB a sentence: "
             "--no-cache-vectors for a big corpus scored once.")] = True,
    resume: Annotated[bool, typer.Option(help="Finish an interrupted run in --out, keeping its done parts.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace what --out holds.")] = False,
    id_field: IdField = "id",
    text_field: TextField = "text",
    title_field: TitleField = "title",
    source_field: SourceField = "source",
    date_field: DateField = "date",
    url_field: UrlField = "url",
    author_field: AuthorField = "author",
    max_chars: MaxChars = MAX_ARTICLE_CHARS,
    max_sentence_chars: MaxSentenceChars = MAX_SENTENCE_CHARS,
    chunk_size: Annotated[int, typer.Option(
        help=f"Articles per part: the unit of work and of resuming (0: {CHUNK_RECORDS:,}, or {TRANSFORMER_CHUNK} for a "
             "model with a transformer encoder, so that every worker has parts).")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Score every sentence on every dimension, and every article as a whole.

    Writes OUT/sentences.parquet (sentence fields, DIM label and DIM_p_CLASS per class),
    OUT/articles.parquet (sentence count, DIM_share_CLASS, DIM_mean_p_CLASS, net_adversarial:
    mean P(adversarial) - mean P(conciliatory)), OUT/rejects.jsonl and OUT/manifest.json
    (read = scored + rejected). Ctrl-C leaves only complete parts; `--resume` finishes.

    Example: `stance score news/ --model latest --out scores/ --workers 8`
    """
    from stance.scoring.batch import score
    model = run_path(model, runs)
    fields = FieldMap(id_field, text_field, title_field, source_field, date_field, url_field, author_field)
    result = score(inputs, model, out, workers=workers or None, engine=engine, scheduler=scheduler,
                   format=format, input_format=input_format, resume=resume, overwrite=overwrite, fields=fields,
                   max_chars=max_chars, max_sentence_chars=max_sentence_chars, chunk_size=chunk_size or None,
                   backend=backend, recheck=recheck, cache_vectors=cache_vectors, progress=not quiet)
    stderr.print(str(result), highlight=False)
