"""`corpus fetch` against a news site we serve on 127.0.0.1: normal pages, a slow page, a 404,
a 500 then success, a login page, and a robots.txt that forbids a path."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pyarrow.parquet as pq
import pytest

from stance.ingest.corpus import build_corpus
from stance.errors import StanceError
from stance.ingest.fetch import fetch
from synthetic_pages import BODY, LOGIN, news_page


class Site:
    """A tiny news site; it records every request (path, User-Agent, time)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, float]] = []
        self.flaky_failures = 1
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the http.server name)
                site.requests.append((self.path, self.headers.get("User-Agent", ""), time.monotonic()))
                status, body, kind = site.answer(self.path)
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the fetcher gave up waiting
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, path: str) -> tuple[int, bytes, str]:
        html = "text/html; charset=utf-8"
        if path == "/robots.txt":
            return 200, b"User-agent: *\nDisallow: /private/\n", "text/plain"
        if path.startswith("/news/"):
            n = path.rsplit("/", 1)[1]
            return 200, news_page(f"Story {n}", body=BODY.replace("ninety", f"{n}0")).encode(), html
        if path == "/slow":
            time.sleep(1.0)
            return 200, news_page("Slow").encode(), html
        if path == "/flaky":
            if self.flaky_failures:
                self.flaky_failures -= 1
                return 500, b"try again", "text/plain"
            return 200, news_page("Back again", body=BODY.replace("ninety", "eighty")).encode(), html
        if path == "/login":
            return 200, LOGIN.encode(), html
        if path.startswith("/private/"):
            return 200, news_page("Secret").encode(), html
        return 404, b"not here", "text/plain"

    def paths(self) -> list[str]:
        return [p for p, _, _ in self.requests]


@pytest.fixture
def site():
    served = Site()
    yield served
    served.server.shutdown()


def url_list(path, site, names):
    rows = ["id,url,outlet,date"] + [f"{n},{site.url}/{n.replace('-', '/')},Outlet {i},24/09/2021"
                                     for i, n in enumerate(names)]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_fetch_is_polite_and_accounts_for_every_url(site, tmp_path):
    names = ["news-1", "news-2", "flaky", "missing", "private-secret", "slow", "login"]
    listed = url_list(tmp_path / "urls.csv", site, names)
    result = fetch(listed, tmp_path / "out", rate=50, retries=1, timeout=0.4, user_agent="stance-test/1 (+tests)")
    assert (result.listed, result.fetched, result.failed) == (7, 3, 4)
    articles = {a["id"]: a for a in map(json.loads, (tmp_path / "out" / "articles.jsonl").read_text().splitlines())}
    assert set(articles) == {"news-1", "news-2", "flaky"}
    assert articles["news-1"]["source"] == "Outlet 0" and articles["news-1"]["date"] == "24/09/2021"  # the list wins
    assert articles["news-1"]["title"] == "Story 1" and articles["news-1"]["text"].startswith("The two presidents")
    outcomes = {o["id"]: o for o in map(json.loads, (tmp_path / "out" / ".fetch" / "outcomes.jsonl").read_text().splitlines())}
    assert outcomes["missing"]["reason"] == "HTTP 404" and outcomes["missing"]["status"] == "refused"
    assert outcomes["private-secret"]["reason"] == "robots.txt disallows it"
    assert outcomes["slow"] == {**outcomes["slow"], "status": "failed", "reason": "timed out after 2 tries"}
    assert "too short to be an article" in outcomes["login"]["reason"]
    assert "/private/secret" not in site.paths() and site.paths().count("/robots.txt") == 1
    rejects = [json.loads(line) for line in (tmp_path / "out" / ".fetch" / "rejects.jsonl").read_text().splitlines()]
    assert len(rejects) == 4 and all(r["origin"].startswith(str(listed)) and r["field"] == "url" for r in rejects)
    assert any(r["reason"] == f"{site.url}/missing: HTTP 404" for r in rejects)
    assert site.paths().count("/flaky") == 2  # a 500, then the page
    assert {agent for _, agent, _ in site.requests} == {"stance-test/1 (+tests)"}

    before = len(site.requests)
    again = fetch(listed, tmp_path / "out", rate=50, retries=0, timeout=0.4)
    assert (again.already, again.fetched, again.failed) == (6, 0, 1)  # only the timed-out page is tried again
    assert [p for p in site.paths()[before:] if p != "/robots.txt"] == ["/slow"]
    corpus = build_corpus([tmp_path / "out"], tmp_path / "corpus", workers=1)
    assert corpus.counts.kept == 3 and corpus.counts.rejected == 0  # the fetch log is not read as articles
    dates = pq.read_table(tmp_path / "corpus" / "articles.parquet").column("date").to_pylist()
    assert set(dates) == {"2021-09-24"}


def test_each_host_gets_at_most_rate_requests_a_second(site, tmp_path):
    listed = url_list(tmp_path / "urls.csv", site, ["news-1", "news-2", "news-3"])
    fetch(listed, tmp_path / "out", rate=5)
    times = [t for p, _, t in site.requests]  # robots.txt, then the three pages
    gaps = [b - a for a, b in zip(times, times[1:])]
    # the client spaces its requests 0.2 s apart; the server sees them with some jitter
    assert len(times) == 4 and min(gaps) >= 0.15 and sum(gaps) >= 0.55


def test_a_url_list_without_a_url_column_is_one_clear_error(tmp_path):
    (tmp_path / "urls.csv").write_text("id,link\n1,http://127.0.0.1:9/x\n")
    with pytest.raises(StanceError, match=r"urls.csv: the URL list has no 'url' column \(it has id, link\); "
                                          r"name it with url_field"):
        fetch(tmp_path / "urls.csv", tmp_path / "out")
    assert not (tmp_path / "out").exists()


class Host:
    """A server on 127.0.0.1 whose answers are functions of the handler (to redirect, trickle, fail)."""

    def __init__(self, routes: dict) -> None:
        self.requests: list[tuple[str, float]] = []
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                host.requests.append((self.path, time.monotonic()))
                route = routes.get(self.path)
                try:
                    if route is None:
                        self._send(404, b"not here")
                    else:
                        route(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _send(self, status, body, kind="text/html; charset=utf-8", headers=()):
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def paths(self):
        return [p for p, _ in self.requests]


def _page(n):
    return news_page(f"Story {n}", body=BODY.replace("ninety", f"{n}0")).encode()


def test_redirects_to_another_host_follow_its_robots_and_pace(tmp_path):
    other = Host({"/robots.txt": lambda h: h._send(200, b"User-agent: *\nDisallow: /private/\n", "text/plain"),
                  **{f"/news/{n}": (lambda h, n=n: h._send(200, _page(n))) for n in range(1, 4)},
                  "/private/1": lambda h: h._send(200, _page(9))})
    first = Host({"/robots.txt": lambda h: h._send(404, b""),
                  **{f"/go/{n}": (lambda h, n=n: h._send(302, b"", headers=[("Location", f"{other.url}/news/{n}")]))
                     for n in range(1, 4)},
                  "/go/secret": lambda h: h._send(301, b"", headers=[("Location", f"{other.url}/private/1")])})
    rows = ["id,url"] + [f"g{n},{first.url}/go/{n}" for n in range(1, 4)] + [f"s,{first.url}/go/secret"]
    (tmp_path / "urls.csv").write_text("\n".join(rows) + "\n")
    result = fetch(tmp_path / "urls.csv", tmp_path / "out", rate=5)
    assert (result.fetched, result.failed) == (3, 1)
    outcomes = {o["id"]: o for o in map(json.loads, (tmp_path / "out" / ".fetch" / "outcomes.jsonl").open())}
    assert outcomes["s"]["reason"] == "robots.txt disallows it" and "/private/1" not in other.paths()
    assert other.paths()[0] == "/robots.txt" and other.paths().count("/robots.txt") == 1
    times = [t for p, t in other.requests]
    assert min(b - a for a, b in zip(times, times[1:])) >= 0.15       # the other host's pace is kept


def test_hostile_hosts_are_bounded(tmp_path):
    """A Crawl-delay of 11 days, a robots.txt that answers 500, one of 40 MB, a body of 20 MB, and one
    sent a byte at a time: each URL ends within its deadline, with the reason, and memory stays bounded."""
    def trickle(h):
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Content-Length", "5000")
        h.end_headers()
        for _ in range(50):
            h.wfile.write(b" ")
            h.wfile.flush()
            time.sleep(0.1)

    slow = Host({"/robots.txt": lambda h: h._send(200, b"User-agent: *\nCrawl-delay: 999999\n", "text/plain"),
                 "/a": lambda h: h._send(200, _page(1))})
    down = Host({"/robots.txt": lambda h: h._send(503, b"busy"), "/a": lambda h: h._send(200, _page(2))})
    robots, big = b"User-agent: *\nDisallow: /no/\n" + b"#" * (40 << 20), b"<p>" * (7 << 20)  # made before tracing
    huge = Host({"/robots.txt": lambda h: h._send(200, robots, "text/plain"),
                 "/a": lambda h: h._send(200, _page(3)), "/big": lambda h: h._send(200, big), "/trickle": trickle})
    rows = ["id,url", f"slow,{slow.url}/a", f"down,{down.url}/a", f"ok,{huge.url}/a", f"big,{huge.url}/big",
            f"trickle,{huge.url}/trickle"]
    (tmp_path / "urls.csv").write_text("\n".join(rows) + "\n")
    import tracemalloc
    started = time.monotonic()
    tracemalloc.start()
    result = fetch(tmp_path / "urls.csv", tmp_path / "out", rate=50, retries=0, timeout=2, deadline=2)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert time.monotonic() - started < 20
    assert peak < 48 << 20, f"{peak >> 20} MB"   # 40 MB of robots.txt read to 512 kB, 21 MB of page to 16 MB
    outcomes = {o["id"]: o for o in map(json.loads, (tmp_path / "out" / ".fetch" / "outcomes.jsonl").open())}
    assert result.fetched == 1 and "ok" in {a["id"] for a in map(json.loads, (tmp_path / "out" / "articles.jsonl").open())}
    assert outcomes["slow"]["status"] == "failed" and "999,999 s between requests" in outcomes["slow"]["reason"]
    assert outcomes["down"]["status"] == "failed" and "unreachable (HTTP 503)" in outcomes["down"]["reason"]
    assert "/a" not in down.paths()
    assert outcomes["big"] == {**outcomes["big"], "status": "refused", "reason": "page over 16 MB: not an article"}
    assert outcomes["trickle"]["status"] == "failed" and "did not arrive" in outcomes["trickle"]["reason"]


def test_a_torn_last_line_is_cut_and_its_url_fetched_again(site, tmp_path):
    listed = url_list(tmp_path / "urls.csv", site, ["news-1", "news-2"])
    fetch(listed, tmp_path / "out", rate=50)
    log = tmp_path / "out" / ".fetch" / "outcomes.jsonl"
    articles = tmp_path / "out" / "articles.jsonl"
    lines = log.read_text().splitlines()
    log.write_text(lines[0] + "\n" + lines[1][:20])                  # killed while writing the second
    kept = articles.read_text().splitlines()
    second = json.loads(kept[1])["id"]
    articles.write_text(kept[0] + "\n" + kept[1][:30])
    again = fetch(listed, tmp_path / "out", rate=50)
    assert again.fetched == 1 and again.already == 1
    rows = [json.loads(line) for line in articles.read_text().splitlines()]   # every line whole again
    assert sorted(r["id"] for r in rows) == ["news-1", "news-2"] and rows[-1]["id"] == second
    assert all(json.loads(line) for line in log.read_text().splitlines())
