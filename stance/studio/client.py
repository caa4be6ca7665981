"""Connecting to Label Studio: explicit arguments, then the environment, then the embedded server.

Legacy tokens and personal access tokens both work (the SDK tells them apart).
Every failure to connect becomes one :class:`StanceError` sentence.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError

from stance.errors import StanceError
from stance.studio.server import DEFAULT_DATA_DIR, credentials_path, read_credentials

URL_ENV = "LABEL_STUDIO_URL"
KEY_ENV = "LABEL_STUDIO_API_KEY"


@dataclass
class Studio:
    """A checked connection: the SDK client and where it points."""

    client: LabelStudio
    url: str
    api_key: str

    def __repr__(self) -> str:  # keep the token out of logs and tracebacks
        return f"Studio(url={self.url!r})"


def connect(url: str | None = None, api_key: str | None = None, *,
            data_dir: str | os.PathLike = DEFAULT_DATA_DIR, check: bool = True) -> Studio:
    """Connect with ``url``/``api_key``, else $LABEL_STUDIO_URL/$LABEL_STUDIO_API_KEY,
    else the credentials of the embedded server in ``data_dir``.

    The embedded server's token goes only to the embedded server: a ``url`` elsewhere
    without its own API key is refused before anything is sent.
    """
    url = url or os.environ.get(URL_ENV)
    api_key = api_key or os.environ.get(KEY_ENV)
    if not (url and api_key):
        creds_file = credentials_path(data_dir)
        if url and not (creds_file.is_file() and _same_server(url, read_credentials(creds_file).url)):
            raise StanceError(f"no API key for Label Studio at {url.rstrip('/')}: give that server's own key "
                              f"({KEY_ENV} or {{api_key}}); the embedded server's key is only ever sent "
                              "to the embedded server", api_key=...)
        if not creds_file.is_file():
            raise StanceError(
                "no Label Studio to talk to: give {url} and {api_key}, set LABEL_STUDIO_URL and "
                f"LABEL_STUDIO_API_KEY, or start the embedded one with `stance studio start` ({creds_file} is missing)",
                url=..., api_key=...)
        creds = read_credentials(creds_file)
        url, api_key = url or creds.url, api_key or creds.api_key
    url = url.rstrip("/")
    studio = Studio(LabelStudio(base_url=url, api_key=api_key, timeout=120), url, api_key)
    if check:
        with errors_explained(studio):
            studio.client.users.whoami()
    return studio


def _same_server(url: str, embedded: str) -> bool:
    """Whether ``url`` names the embedded server (scheme, host and port; localhost and 127.0.0.1 alike)."""
    def key(u: str):
        parts = httpx.URL(u)
        host = "127.0.0.1" if parts.host in ("localhost", "127.0.0.1", "::1") else parts.host
        return parts.scheme, host, parts.port or (443 if parts.scheme == "https" else 80)
    try:
        return key(url) == key(embedded)
    except (httpx.InvalidURL, TypeError):
        return False


@contextmanager
def errors_explained(studio: Studio, doing: str = ""):
    """Turn connection and HTTP failures into one sentence that says what to check."""
    where = f"Label Studio at {studio.url}"
    during = f" while {doing}" if doing else ""
    try:
        yield
    except httpx.TimeoutException:
        raise StanceError(f"{where} did not answer in time{during}") from None
    except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
        raise StanceError(f"cannot reach {where}{during}: nothing answers there ({exc or 'connection failed'}; "
                          "is it running? `stance studio start` starts the embedded one)") from None
    except ApiError as exc:
        if exc.status_code in (401, 403):
            raise StanceError(f"{where} refused the API key (HTTP {exc.status_code}){during}: check {{api_key}} or "
                              "LABEL_STUDIO_API_KEY; legacy tokens work only where the server enables them, "
                              "personal access tokens always", api_key=...) from None
        if exc.status_code == 404:
            raise StanceError(f"{where} has no such object{during} (HTTP 404): {_short(exc.body)}") from None
        raise StanceError(f"{where} answered HTTP {exc.status_code}{during}: {_short(exc.body)}") from None
    except httpx.HTTPError as exc:
        raise StanceError(f"talking to {where} failed{during}: {exc}") from None


def get_json(studio: Studio, path: str, params: dict) -> dict:
    """GET through the SDK's own HTTP client (its auth, base URL and retries) but skip its
    model parsing, which costs more than the request on large task pages. The SDK version
    is pinned, so this internal client is the one we test against."""
    response = studio.client._client_wrapper.httpx_client.request(path, method="GET", params=params)
    if response.status_code >= 400:
        raise ApiError(status_code=response.status_code, headers=dict(response.headers), body=response.text)
    return response.json()


def _short(body) -> str:
    text = str(body)
    return text if len(text) < 300 else text[:300] + "…"


def find_project(studio: Studio, title: str):
    """The project with exactly this title, or None; two with the same title is an error."""
    with errors_explained(studio, f"looking for project {title!r}"):
        matches = [p for p in studio.client.projects.list(title=title) if p.title == title]
    if len(matches) > 1:
        ids = ", ".join(str(p.id) for p in matches)
        raise StanceError(f"{len(matches)} projects are titled {title!r} (ids {ids}); rename one in Label Studio")
    return matches[0] if matches else None


def require_project(studio: Studio, title: str):
    project = find_project(studio, title)
    if project is None:
        raise StanceError(f"Label Studio at {studio.url} has no project titled {title!r} "
                          "(`stance labels push CORPUS --project NAME` creates it)")
    return project


def server_key(studio: Studio) -> str:
    """A file-name-safe name for the server, for local state kept per server."""
    return "".join(ch if ch.isalnum() else "_" for ch in studio.url.split("://", 1)[-1])


