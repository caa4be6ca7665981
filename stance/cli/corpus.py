"""``stance corpus build``: articles in, sentences out."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from stance.cli._app import (DateField, IdField, MaxChars, MaxSentenceChars, SourceField, TextField, TitleField,
                             UrlField, AuthorField, corpus_app)
from stance.ingest.corpus import MAX_ARTICLE_CHARS, MAX_SENTENCE_CHARS
from stance.ingest.nearduplicates import THRESHOLD
from stance.progress import stderr
from stance.ingest.readers import FieldMap


@corpus_app.command("build")
def build(
    inputs: Annotated[list[Path], typer.Argument(help="Files or directories: .txt (one article each), "
                                                  ".jsonl, .csv, .parquet, a saved Hugging Face dataset, saved "
                                                  "news pages (.html), web archives (.warc, .warc.gz), or "
                                                  "database exports (Nexis Uni .docx/.txt, Factiva .html).",
                                                  show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the corpus files.")],
    id_field: IdField = "id",
    text_field: TextField = "text",
    title_field: TitleField = "title",
    source_field: SourceField = "source",
    date_field: DateField = "date",
    url_field: UrlField = "url",
    author_field: AuthorField = "author",
    strict: Annotated[bool, typer.Option(help="Stop at the first bad record instead of rejecting it.")] = False,
    max_chars: MaxChars = MAX_ARTICLE_CHARS,
    max_sentence_chars: MaxSentenceChars = MAX_SENTENCE_CHARS,
    input_format: Annotated[str, typer.Option(
        help="What files of articles hold: `auto` looks inside (.txt or .docx with \"End of "
        "Document\" lines: a Nexis Uni export; .html with Factiva's field codes: a Factiva export); "
        "`text`, `html`, `nexis` or `factiva` says it for all (as in `score`).")] = "auto",
    old_format: Annotated[Optional[str], typer.Option(
        "--format", hidden=True, help="Before --input-format, this flag's name here.")] = None,
    near_duplicates: Annotated[str, typer.Option(
        help="Copies of one story (wire copy): `mark` gives them a shared cluster_id, `drop` keeps only the "
             "first, `keep` does not look.")] = "mark",
    near_duplicate_threshold: Annotated[float, typer.Option(
        help="Jaccard similarity of word 5-shingles above which two articles are copies.")] = THRESHOLD,
    workers: Annotated[int, typer.Option("--workers", "-w", help="Processes that split sentences "
                                         "(default: all cores).", show_default=False)] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Split articles into sentences with exact offsets and stable ids.

    Writes DIR/articles.parquet, DIR/sentences.parquet, DIR/rejects.jsonl (every record
    not kept, with the reason) and DIR/manifest.json (read = kept + duplicates + rejected).
    Pages and archives are reduced to their main text and metadata (trafilatura); dates
    become ISO dates; near-duplicate articles share a `cluster_id`, and a sentence found
    in several articles has the same `text_key` in each.

    Example: `stance corpus build news/ --out corpus/ --text-field body`
    """
    from stance.ingest.corpus import build_corpus
    if old_format is not None:  # --format is the output's in `score`; here it named the input
        stderr.print("note: `corpus build --format` is now --input-format, as in `score`", highlight=False)
        input_format = old_format
    fields = FieldMap(id_field, text_field, title_field, source_field, date_field, url_field, author_field)
    result = build_corpus(inputs, out, fields=fields, strict=strict, max_chars=max_chars,
                          max_sentence_chars=max_sentence_chars, near_duplicates=near_duplicates,
                          near_duplicate_threshold=near_duplicate_threshold, input_format=input_format,
                          workers=workers or None,
                          progress=not quiet)
    stderr.print(str(result), highlight=False)
