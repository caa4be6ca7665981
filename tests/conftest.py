"""Shared fixtures: the seed articles (from ../shared, never copied here) and the demo corpus."""

from pathlib import Path

import pytest

from stance.resources import demo_dir

SEED_DIR = Path(__file__).resolve().parents[2] / "shared" / "seed-articles"


@pytest.fixture(scope="session")
def seed_dir() -> Path:
    if not SEED_DIR.is_dir():
        pytest.skip(f"the seed articles are not at {SEED_DIR}")
    return SEED_DIR


@pytest.fixture(scope="session")
def demo_articles() -> Path:
    return demo_dir() / "articles.jsonl"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def studio_server(tmp_path_factory):
    """A real Label Studio on 127.0.0.1 and a free port, for the whole test session."""
    from stance.studio import server

    data_dir = tmp_path_factory.mktemp("studio")
    info = server.start(data_dir, free_port(), timeout=600)
    yield info
    server.stop(data_dir)


@pytest.fixture()
def studio(studio_server):
    from stance.studio.client import connect

    return connect(data_dir=studio_server.data_dir)


@pytest.fixture()
def demo_corpus(demo_articles, tmp_path_factory):
    from stance.corpus import build_corpus

    out = tmp_path_factory.mktemp("demo-corpus")
    build_corpus([demo_articles], out, workers=1)
    return out
