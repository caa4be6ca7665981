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
