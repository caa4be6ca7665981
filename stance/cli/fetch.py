"""``stance corpus fetch``: the articles of a URL list, fetched politely, ready for `corpus build`."""

from pathlib import Path
from typing import Annotated

import typer

from stance.cli._app import corpus_app
from stance.ingest.fetch import USER_AGENT
from stance.progress import stderr


@corpus_app.command("fetch")
def fetch_command(
    urls: Annotated[Path, typer.Argument(help="A URL list (CSV, JSONL or parquet) with a url column, and "
                                              "optionally id, title, outlet, date: a Media Cloud or GDELT export.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for articles.jsonl (read by `corpus build`).")],
    url_field: Annotated[str, typer.Option(help="Column holding the URL.")] = "url",
    id_field: Annotated[str, typer.Option(help="Column holding the article id (default: the URL).")] = "id",
    user_agent: Annotated[str, typer.Option(help="How the fetcher names itself to servers; add a contact.")]
    = USER_AGENT,
    rate: Annotated[float, typer.Option(help="Most requests a second to any one host.")] = 1.0,
    retries: Annotated[int, typer.Option(help="Tries after the first, with exponential back-off.")] = 3,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for a server to answer or send more.")] = 20.0,
    deadline: Annotated[float, typer.Option(help="Seconds one URL may take in all: redirects, retries and a "
                                                 "body sent slowly.")] = 120.0,
    workers: Annotated[int, typer.Option(help="Hosts fetched side by side.")] = 8,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Fetch the pages of a URL list and keep each one's main text and metadata.

    Honours robots.txt (and its Crawl-delay) of every host a URL leads to, redirects
    included; a robots.txt that does not answer, or answers 5xx, disallows the host for
    this run (RFC 9309), and a Crawl-delay over 60 s leaves it for later. Paces each host,
    retries failures with back-off, refuses pages over 16 MB, and resumes: run it again
    and it fetches only what is still missing. The list's outlet, title and date win
    over the page's.

    Example: `stance corpus fetch mediacloud.csv --out fetched/ --user-agent "lab-crawler (me@uni.edu)"`
    then `stance corpus build fetched/ --out corpus/`
    """
    from stance.ingest.fetch import fetch
    result = fetch(urls, out, url_field=url_field, id_field=id_field, user_agent=user_agent, rate=rate,
                   retries=retries, timeout=timeout, deadline=deadline, workers=workers, progress=not quiet)
    stderr.print(str(result), highlight=False)
