"""The labelling page as an annotator sees it, in headless Chromium against the real Label Studio."""

import shutil
import uuid

import pytest

from stance.labels.push import push
from stance.schema import load_schema
from stance.studio import server

pytestmark = pytest.mark.studio
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture()
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev extra (./setup.sh --dev)")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Chromium is not installed (.ci/run installs Debian's chromium)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def test_guidelines_show_as_headed_sections_and_wait_to_be_opened(studio_server, studio, demo_corpus, browser):
    pushed = push(studio, demo_corpus, f"Guidelines {uuid.uuid4().hex[:8]}", select="random", n=2)
    creds = server.read_credentials(studio_server.credentials_file)
    page = browser.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{creds.url}/user/login/")
    page.fill("input[name=email]", creds.username)
    page.fill("input[name=password]", creds.password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    page.goto(f"{creds.url}/projects/{pushed.project_id}/data?labeling=1")
    question = load_schema().dimensions[0].question
    page.get_by_text(question).wait_for()
    # the task comes first: no instructions pop-up stands over it
    assert page.get_by_text("Annotation guidelines").count() == 0
    page.get_by_role("button", name="Instructions").click()
    page.get_by_text("Annotation guidelines").wait_for()
    sections = page.locator("h2").all_inner_texts()
    assert {"Framing (framing)", "Tone (tone)", "Speaker (speaker)"} <= set(sections)
    choices = page.locator("h3").all_inner_texts()
    assert "us — US framing" in choices and "prc — PRC framing" in choices
    shown = page.locator("body").inner_text()
    assert "## " not in shown and "### " not in shown  # Markdown rendered, not shown as text
