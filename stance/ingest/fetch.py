"""``corpus fetch``: the articles of a URL list (Media Cloud, GDELT: id, url, title, outlet,
date; no text), fetched politely and reduced to their main text for ``corpus build``.

Polite: robots.txt is honoured (its Crawl-delay too) for every host a URL leads to,
redirects included, and one that cannot be read (no answer, 5xx) disallows its host
(RFC 9309); each host gets at most ``rate`` requests a second, failures are retried
with exponential back-off (a server's Retry-After wins), and every request names the
fetcher in its User-Agent. Hosts are fetched side by side, each one at its own pace.

Bounded: a body is streamed to at most 16 MB (robots.txt to 512 KiB), and everything a
URL takes (redirects, retries, a body sent a byte at a time) ends by its ``deadline``.

Resumable: ``OUT/articles.jsonl`` gains one line per article as it is fetched and
``OUT/.fetch/outcomes.jsonl`` one line per URL tried (a line torn by a kill is cut on the
next run and its URL tried again); a URL that gave no article also
gets a line in ``OUT/.fetch/rejects.jsonl``, in the form of every other rejects file
(origin, reason, field, record). A second run fetches only the URLs with no article
yet, except those refused for good (robots.txt, 4xx, no article in the page).
``corpus build OUT`` reads the articles (the hidden ``.fetch`` is skipped).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

from stance import __version__
from stance.errors import StanceError
from stance.ingest.corpus import reject_line
from stance.ingest.pages import MAX_PAGE_BYTES, RawPage, page_record
from stance.ingest.readers import read_records
from stance.ingest.records import Rejected
from stance.progress import progress_bar

USER_AGENT = f"stance/{__version__} (news research corpus builder)"
#: Fields of the URL list carried onto the article (the list knows the outlet and date best).
LIST_FIELDS = {"title": "title", "source": "outlet", "date": "date", "author": "author"}
MAX_REDIRECTS = 5
#: A Crawl-delay longer than this leaves the host for a later run rather than waiting days.
MAX_CRAWL_DELAY = 60
#: RFC 9309 asks crawlers to read at least 500 KiB of a robots.txt; the rest is ignored.
MAX_ROBOTS_BYTES = 512 << 10


@dataclass
class FetchResult:
    out: Path
    listed: int
    already: int
    fetched: int
    failed: int
    seconds: float

    def __str__(self) -> str:
        return (f"{self.fetched:,} articles fetched into {self.out / 'articles.jsonl'}, {self.failed:,} failed "
                f"(reasons in {self.out / '.fetch' / 'rejects.jsonl'}); {self.already:,} of {self.listed:,} "
                "listed URLs were done before")


def fetch(urls: str | Path, out: str | Path, *, url_field: str = "url", id_field: str = "id",
          user_agent: str = USER_AGENT, rate: float = 1.0, retries: int = 3, timeout: float = 20.0,
          deadline: float = 120.0, workers: int = 8, progress: bool = False) -> FetchResult:
    """Fetch every URL of the list ``urls`` (CSV, JSONL or parquet) into ``out``: ``timeout`` seconds
    for a server to answer or send more, ``deadline`` for everything one URL takes (its redirects,
    retries and body)."""
    started = time.perf_counter()
    if rate <= 0:
        raise StanceError("{rate}: requests a second per host must be above 0", rate=rate)
    urls, out = Path(urls), Path(out)
    listed = _read_list(urls, url_field, id_field)
    log = out / ".fetch" / "outcomes.jsonl"
    for path in (log, out / "articles.jsonl", log.parent / "rejects.jsonl"):
        _drop_torn_line(path)  # a run killed mid-write: the next line must not be glued to half of one
    done = _finished(log) | _fetched_ids(out / "articles.jsonl")
    todo = [row for row in listed if row["id"] not in done]
    log.parent.mkdir(parents=True, exist_ok=True)
    fetcher = _Fetcher(user_agent, rate, retries, timeout, deadline)
    by_host: dict[str, list[dict]] = defaultdict(list)
    for row in todo:
        by_host[urlsplit(row["url"]).netloc].append(row)
    fetched = failed = 0
    lock = threading.Lock()
    with fetcher.client, open(out / "articles.jsonl", "a", encoding="utf-8") as articles, \
            open(log, "a", encoding="utf-8") as outcomes, \
            open(log.parent / "rejects.jsonl", "a", encoding="utf-8") as rejects, \
            progress_bar("corpus fetch", len(todo), enabled=progress, unit="pages") as bar, \
            ThreadPoolExecutor(max_workers=max(1, min(workers, len(by_host)))) as pool:
        def host_worker(rows: list[dict]) -> None:
            nonlocal fetched, failed
            for row in rows:
                article, outcome = fetcher.get(row)
                with lock:
                    if article is not None:
                        articles.write(json.dumps(article, ensure_ascii=False) + "\n")
                        articles.flush()
                        fetched += 1
                    else:
                        failed += 1
                        rejects.write(reject_line(Rejected(row["origin"], f"{row['url']}: {outcome['reason']}",
                                                           field="url", raw=row)))
                        rejects.flush()
                    outcomes.write(json.dumps(outcome, ensure_ascii=False) + "\n")
                    outcomes.flush()
                    bar.advance()
        for future in as_completed([pool.submit(host_worker, rows) for rows in by_host.values()]):
            future.result()
    return FetchResult(out, len(listed), len(listed) - len(todo), fetched, failed, time.perf_counter() - started)


def _read_list(path: Path, url_field: str, id_field: str) -> list[dict]:
    if not path.exists():
        raise StanceError(f"{path}: no such file")
    rows, seen = [], set()
    for record in read_records(path):
        if isinstance(record, Rejected):
            raise StanceError(f"{record.origin}: {record.reason}")
        if url_field not in record.fields:
            raise StanceError(f"{path}: the URL list has no {url_field!r} column (it has "
                              f"{', '.join(map(str, record.fields))}); name it with {{url_field}}", url_field=...)
        url = str(record.fields.get(url_field) or "").strip()
        if not url.startswith(("http://", "https://")):
            raise StanceError(f"{record.origin}: {url_field!r} is not an http(s) URL: {url!r}")
        row = {"id": str(record.fields.get(id_field) or url), "url": url, "origin": record.origin,
               **{ours: record.fields[theirs] for ours, theirs in LIST_FIELDS.items()
                  if record.fields.get(theirs) not in (None, "")}}
        if row["id"] not in seen:
            seen.add(row["id"])
            rows.append(row)
    return rows


def _finished(log: Path) -> set[str]:
    """Ids with an article, or refused for good; a transient failure is tried again."""
    finished: dict[str, bool] = {}
    for outcome in _json_lines(log):
        if isinstance(outcome, dict) and "id" in outcome:
            finished[outcome["id"]] = outcome.get("status") in ("fetched", "refused")
    return {key for key, final in finished.items() if final}


def _fetched_ids(articles: Path) -> set[str]:
    """Ids already in ``articles.jsonl`` (a run killed between an article and its outcome line)."""
    return {row["id"] for row in _json_lines(articles) if isinstance(row, dict) and "id" in row}


def _json_lines(path: Path):
    if not path.is_file():
        return
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                yield json.loads(line)
            except ValueError:
                continue  # a line torn by a kill: its URL is simply tried again


def _drop_torn_line(path: Path) -> None:
    """Cut a last line that has no newline (written in part when a run was killed)."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) == b"\n":
            return
        size = fh.seek(0, os.SEEK_END)
        start = max(0, size - (1 << 20))
        while True:  # find the last newline, reading back from the end a block at a time
            fh.seek(start)
            block = fh.read(size - start)
            at = block.rfind(b"\n")
            if at >= 0 or start == 0:
                fh.truncate(start + at + 1 if at >= 0 else 0)
                return
            size, start = start, max(0, start - (1 << 20))


class _Refused(Exception):
    """A URL not to be fetched, for good (robots.txt, a 4xx, a page too big): status ``refused``."""


class _Failed(Exception):
    """A URL that could not be fetched this time (no answer in time, robots.txt unreachable)."""


class _Fetcher:
    """One HTTP client shared by the hosts' threads; robots.txt and pacing per host, for every host a
    URL leads to (a redirect to another host reads that host's robots.txt and keeps its pace)."""

    def __init__(self, user_agent: str, rate: float, retries: int, timeout: float, deadline: float) -> None:
        import httpx

        self.user_agent, self.interval, self.retries, self.deadline = user_agent, 1.0 / rate, retries, deadline
        self.client = httpx.Client(headers={"User-Agent": user_agent}, timeout=timeout, follow_redirects=False)
        self.robots: dict[str, RobotFileParser] = {}
        self.pause: dict[str, float] = {}  # per host: 1 / rate, or its Crawl-delay where longer
        self.next_at: dict[str, float] = defaultdict(float)
        self._host_locks: dict[str, threading.RLock] = defaultdict(threading.RLock)
        self._locks_lock = threading.Lock()

    def get(self, row: dict) -> tuple[dict | None, dict]:
        """(article, outcome) for one listed URL, all tries within the URL's deadline."""
        import httpx

        url = row["url"]
        outcome = {"id": row["id"], "url": url, "origin": row["origin"]}
        deadline = time.monotonic() + self.deadline
        for attempt in range(self.retries + 1):
            try:
                response, body = self._fetch(url, deadline)
            except _Refused as exc:
                return None, {**outcome, "status": "refused", "reason": str(exc)}
            except _Failed as exc:
                return None, {**outcome, "status": "failed", "reason": str(exc)}
            except httpx.TimeoutException:
                reason, wait = "timed out", None
            except httpx.HTTPError as exc:
                reason, wait = f"cannot connect: {exc.__class__.__name__}", None
            else:
                if response.status_code == 200:
                    return self._article(row, response, body, outcome)
                reason = f"HTTP {response.status_code}"
                if response.status_code < 500 and response.status_code != 429:
                    return None, {**outcome, "status": "refused", "reason": reason}
                wait = _retry_after(response.headers.get("Retry-After"))
            pause = wait if wait is not None else min(60.0, self.interval * 2 ** attempt)
            if attempt < self.retries and time.monotonic() + pause < deadline:
                time.sleep(pause)
            elif attempt < self.retries:
                return None, {**outcome, "status": "failed",
                              "reason": f"{reason}; no time left for another try within {self.deadline:.0f} s"}
        return None, {**outcome, "status": "failed", "reason": f"{reason} after {self.retries + 1} tries"}

    def _fetch(self, url: str, deadline: float):
        """The answer to ``url`` after at most ``MAX_REDIRECTS`` redirects, each hop allowed by its
        host's robots.txt and paced, and its body read to at most ``MAX_PAGE_BYTES`` by ``deadline``."""
        for _ in range(MAX_REDIRECTS + 1):
            if not self._allowed(url):
                raise _Refused("robots.txt disallows it")
            self._wait_turn(url, deadline)
            with self.client.stream("GET", url) as response:
                if response.is_redirect and response.headers.get("Location"):
                    url = urljoin(url, response.headers["Location"])
                    if not url.startswith(("http://", "https://")):
                        raise _Refused(f"redirected to {url!r}, not an http(s) URL")
                    continue
                return response, _read_body(response, MAX_PAGE_BYTES, deadline)
        raise _Refused(f"more than {MAX_REDIRECTS} redirects")

    def _article(self, row: dict, response, body: bytes, outcome: dict) -> tuple[dict | None, dict]:
        content_type = response.headers.get("Content-Type", "")
        charset = response.charset_encoding if "charset" in content_type.lower() else None
        record = page_record(RawPage(row["url"], body, url=str(response.url), default_id=row["id"], charset=charset))
        if isinstance(record, Rejected):
            return None, {**outcome, "status": "refused", "reason": record.reason}
        article = {"id": row["id"], **{k: v for k, v in record.fields.items() if v not in (None, "")},
                   **{k: row[k] for k in LIST_FIELDS if k in row}}
        return article, {**outcome, "status": "fetched"}

    def _allowed(self, url: str) -> bool:
        """Whether the host's robots.txt lets us fetch ``url``, read once per host (RFC 9309: a robots.txt
        that does not answer, or answers 5xx, disallows everything; 401 and 403 too)."""
        parts = urlsplit(url)
        host = f"{parts.scheme}://{parts.netloc}"
        with self._lock(parts.netloc):
            if host not in self.robots:
                self.robots[host] = self._read_robots(host, url)
                delay = float(self.robots[host].crawl_delay(self.user_agent) or 0)
                if delay > MAX_CRAWL_DELAY:
                    self.robots[host] = None
                    raise _Failed(f"robots.txt asks {delay:,.0f} s between requests, over the {MAX_CRAWL_DELAY} s "
                                  "stance waits; the host is left for now")
                self.pause[parts.netloc] = max(self.interval, delay)
        parser = self.robots[host]
        if parser is None:
            raise _Failed(f"robots.txt of {parts.netloc} asks too long a wait between requests")
        if getattr(parser, "unreachable", None):
            raise _Failed(f"robots.txt of {parts.netloc} is unreachable ({parser.unreachable}): everything is "
                          "disallowed until it answers (RFC 9309)")
        return parser.can_fetch(self.user_agent, url)

    def _read_robots(self, host: str, url: str) -> RobotFileParser:
        import httpx

        parser = RobotFileParser()
        try:
            self._wait_turn(url, time.monotonic() + self.deadline)
            with self.client.stream("GET", f"{host}/robots.txt") as answer:
                status = answer.status_code
                text = (_read_body(answer, MAX_ROBOTS_BYTES, time.monotonic() + self.deadline, cut=True)
                        .decode("utf-8", "replace") if status == 200 else "")
        except (httpx.HTTPError, _Failed) as exc:
            parser.unreachable = f"{type(exc).__name__}"
            return parser
        if status >= 500:
            parser.unreachable = f"HTTP {status}"
        elif status in (401, 403):
            parser.disallow_all = True
        elif status == 200:
            parser.parse(text.splitlines())
        else:  # 404 and other 4xx: no rules, everything is allowed
            parser.allow_all = True
        return parser

    def _lock(self, host: str) -> threading.RLock:
        with self._locks_lock:
            return self._host_locks[host]

    def _wait_turn(self, url: str, deadline: float) -> None:
        """Wait until the host's next request is due (several threads may reach one host through
        redirects, so the turn is taken under the host's lock)."""
        host = urlsplit(url).netloc
        with self._lock(host):
            at = max(self.next_at[host], time.monotonic())
            if at > deadline:
                raise _Failed(f"the host's pace leaves no turn within the {self.deadline:.0f} s a URL may take")
            self.next_at[host] = at + self.pause.get(host, self.interval)
        pause = at - time.monotonic()
        if pause > 0:
            time.sleep(pause)


def _read_body(response, limit: int, deadline: float, cut: bool = False) -> bytes:
    """The response's body, streamed: at most ``limit`` bytes (beyond it the URL is refused, or with
    ``cut`` the rest ignored) and all of it by ``deadline`` (a body sent a byte at a time is stopped)."""
    parts, size = [], 0
    for block in response.iter_bytes():
        parts.append(block)
        size += len(block)
        if size > limit:
            if cut:
                break
            raise _Refused(f"page over {limit >> 20} MB: not an article")
        if time.monotonic() > deadline:
            raise _Failed("the page did not arrive within the deadline (sent too slowly)")
    return b"".join(parts)[:limit]


def _retry_after(value: str | None) -> float | None:
    try:
        return min(120.0, float(value)) if value else None
    except ValueError:
        return None
