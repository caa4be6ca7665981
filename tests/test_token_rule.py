"""The embedded server's admin token goes only to the embedded server: a listener of our own on
127.0.0.1 records every Authorization header it is sent."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from stance.errors import StanceError
from stance.studio.client import _same_server, connect
from stance.studio.server import read_credentials


@pytest.fixture()
def listener():
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            seen.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def _credentials(tmp_path, url="http://127.0.0.1:8080", key="embedded-secret-token-0123456789"):
    (tmp_path / "credentials.env").write_text(f"LABEL_STUDIO_URL={url}\nLABEL_STUDIO_API_KEY={key}\n"
                                              "LABEL_STUDIO_USERNAME=admin@localhost\nLABEL_STUDIO_PASSWORD=x\n")
    return read_credentials(tmp_path / "credentials.env")


def test_another_url_without_a_key_gets_no_token(listener, tmp_path, monkeypatch):
    url, seen = listener
    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    creds = _credentials(tmp_path)
    with pytest.raises(StanceError, match="no API key for Label Studio at"):
        connect(url, data_dir=tmp_path)
    assert seen == []                                     # refused before anything was sent
    # with its own key, that key (and only it) is sent
    connect(url, "the-listeners-own-key", data_dir=tmp_path)
    assert seen and all(creds.api_key not in (h or "") for h in seen)
    assert any("the-listeners-own-key" in (h or "") for h in seen)


def test_the_embedded_url_may_use_the_embedded_key(listener, tmp_path, monkeypatch):
    url, seen = listener
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    creds = _credentials(tmp_path, url=url)
    connect(url.replace("127.0.0.1", "localhost"), data_dir=tmp_path)
    assert seen and all(creds.api_key in (h or "") for h in seen)


def test_same_server_compares_scheme_host_and_port():
    assert _same_server("http://localhost:8080/", "http://127.0.0.1:8080")
    assert not _same_server("http://127.0.0.1:8081", "http://127.0.0.1:8080")
    assert not _same_server("https://127.0.0.1:8080", "http://127.0.0.1:8080")
    assert not _same_server("http://other-host:8080", "http://127.0.0.1:8080")
