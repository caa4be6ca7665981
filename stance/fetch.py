"""``corpus fetch``: the articles of a URL list (Media Cloud, GDELT: id, url, title, outlet,
date; no text), fetched politely and reduced to their main text for ``corpus build``.

Polite: robots.txt is honoured (its Crawl-delay too), each host gets at most ``rate``
requests a second, failures are retried with exponential back-off (a server's
Retry-After wins), and every request names the fetcher in its User-Agent. Hosts are
fetched side by side, each one at its own pace.

Resumable: ``OUT/articles.jsonl`` gains one line per article as it is fetched and
``OUT/.fetch/outcomes.jsonl`` one line per URL tried; a URL that gave no article also
gets a line in ``OUT/.fetch/rejects.jsonl``, in the form of every other rejects file
(origin, reason, field, record). A second run fetches only the URLs with no article
yet, except those refused for good (robots.txt, 4xx, no article in the page).
``corpus build OUT`` reads the articles (the hidden ``.fetch`` is skipped).
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

from stance import __version__
from stance.corpus import reject_line
from stance.errors import StanceError
from stance.pages import RawPage, page_record
from stance.progress import progress_bar
from stance.readers import read_records
from stance.records import Rejected

USER_AGENT = f"stance/{__version__} (news research corpus builder)"
#: Fields of the URL list carried onto the article (the list knows the outlet and date best).
LIST_FIELDS = {"title": "title", "source": "outlet", "date": "date", "author": "author"}


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
          workers: int = 8, progress: bool = False) -> FetchResult:
    """Fetch every URL of the list ``urls`` (CSV, JSONL or parquet) into ``out``."""
    started = time.perf_counter()
    if rate <= 0:
        raise StanceError("{rate}: requests a second per host must be above 0", rate=rate)
    urls, out = Path(urls), Path(out)
    listed = _read_list(urls, url_field, id_field)
    log = out / ".fetch" / "outcomes.jsonl"
    done = _finished(log)
    todo = [row for row in listed if row["id"] not in done]
    log.parent.mkdir(parents=True, exist_ok=True)
    fetcher = _Fetcher(user_agent, rate, retries, timeout)
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
    if log.is_file():
        for line in log.read_text(encoding="utf-8").splitlines():
            if line.strip():
                outcome = json.loads(line)
                finished[outcome["id"]] = outcome["status"] in ("fetched", "refused")
    return {key for key, final in finished.items() if final}


class _Fetcher:
    """One HTTP client shared by the hosts' threads; robots.txt and pacing per host."""

    def __init__(self, user_agent: str, rate: float, retries: int, timeout: float) -> None:
        import httpx

        self.user_agent, self.interval, self.retries = user_agent, 1.0 / rate, retries
        self.client = httpx.Client(headers={"User-Agent": user_agent}, timeout=timeout, follow_redirects=True)
        self.robots: dict[str, RobotFileParser] = {}
        self.pause: dict[str, float] = {}  # per host: 1 / rate, or its Crawl-delay where longer
        self.next_at: dict[str, float] = defaultdict(float)

    def get(self, row: dict) -> tuple[dict | None, dict]:
        """(article, outcome) for one listed URL."""
        import httpx

        url = row["url"]
        outcome = {"id": row["id"], "url": url, "origin": row["origin"]}
        if not self._allowed(url):
            return None, {**outcome, "status": "refused", "reason": "robots.txt disallows it"}
        for attempt in range(self.retries + 1):
            self._wait_turn(url)
            try:
                response = self.client.get(url)
            except httpx.TimeoutException:
                reason, wait = "timed out", None
            except httpx.HTTPError as exc:
                reason, wait = f"cannot connect: {exc.__class__.__name__}", None
            else:
                if response.status_code == 200:
                    return self._article(row, response, outcome)
                reason = f"HTTP {response.status_code}"
                if response.status_code < 500 and response.status_code != 429:
                    return None, {**outcome, "status": "refused", "reason": reason}
                wait = _retry_after(response.headers.get("Retry-After"))
            if attempt < self.retries:
                time.sleep(wait if wait is not None else min(60.0, self.interval * 2 ** attempt))
        return None, {**outcome, "status": "failed", "reason": f"{reason} after {self.retries + 1} tries"}

    def _article(self, row: dict, response, outcome: dict) -> tuple[dict | None, dict]:
        content_type = response.headers.get("Content-Type", "")
        charset = response.charset_encoding if "charset" in content_type.lower() else None
        record = page_record(RawPage(row["url"], response.content, url=str(response.url), default_id=row["id"],
                                     charset=charset))
        if isinstance(record, Rejected):
            return None, {**outcome, "status": "refused", "reason": record.reason}
        article = {"id": row["id"], **{k: v for k, v in record.fields.items() if v not in (None, "")},
                   **{k: row[k] for k in LIST_FIELDS if k in row}}
        return article, {**outcome, "status": "fetched"}

    def _allowed(self, url: str) -> bool:
        parts = urlsplit(url)
        host = f"{parts.scheme}://{parts.netloc}"
        if host not in self.robots:
            parser = RobotFileParser()
            try:
                self._wait_turn(url)
                answer = self.client.get(f"{host}/robots.txt")
            except Exception:  # no robots.txt to read: nothing is forbidden
                answer = None
            if answer is not None and answer.status_code in (401, 403):
                parser.disallow_all = True
            elif answer is not None and answer.status_code == 200:
                parser.parse(answer.text.splitlines())
            else:
                parser.allow_all = True
            self.robots[host] = parser
            self.pause[parts.netloc] = max(self.interval, float(parser.crawl_delay(self.user_agent) or 0))
        return self.robots[host].can_fetch(self.user_agent, url)

    def _wait_turn(self, url: str) -> None:
        host = urlsplit(url).netloc  # each host is fetched by one thread: no lock needed
        pause = self.next_at[host] - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        self.next_at[host] = time.monotonic() + self.pause.get(host, self.interval)


def _retry_after(value: str | None) -> float | None:
    try:
        return min(120.0, float(value)) if value else None
    except ValueError:
        return None
