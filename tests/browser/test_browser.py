"""The real ``streamlit run`` server on localhost, loaded page by page in headless Chromium."""

import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from orchestration.cli import _streamlit_command

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
PAGES = ["Cohort overview", "ROC curves", "Model comparison", "Clinical characteristics", "Patient viewer", "Features"]

pytestmark = [pytest.mark.slow, pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(pipeline_run):
    pipeline, _, _ = pipeline_run
    port = _free_port()
    process = subprocess.Popen(_streamlit_command(pipeline.warehouse().root, port), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    else:
        process.kill()
        pytest.fail("streamlit did not start within 60 s")
    yield url
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # The Debian Chromium, started as the workplace's closed network needs.
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield chromium
        chromium.close()


@pytest.mark.parametrize("page_title", PAGES)
def test_page_loads_in_a_real_browser(server, browser, page_title):
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{server}/?page={page_title.replace(' ', '+')}")
    page.get_by_role("heading", name=page_title).wait_for(timeout=30_000)
    page.wait_for_timeout(1500)  # let charts draw before the screenshot
    page.screenshot(path=str(ARTIFACTS / f"{page_title.lower().replace(' ', '_')}.png"), full_page=True)
    text = page.inner_text("body")
    exceptions = page.locator("[data-testid='stException']").count()
    page.close()
    assert page_title in text
    assert "Traceback" not in text and exceptions == 0
    assert not errors, errors


def test_the_evaluation_report_opens_in_a_browser(pipeline_run, browser):
    pipeline, _, _ = pipeline_run
    ARTIFACTS.mkdir(exist_ok=True)
    report = pipeline.work_dir("reports", "grade.html").resolve()
    page = browser.new_page(viewport={"width": 1200, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(report.as_uri())
    page.get_by_role("heading", name="glioma-rings evaluation: grade").wait_for(timeout=30_000)
    page.wait_for_selector("#figures canvas, #figures svg", timeout=30_000)  # Vega drew offline
    page.screenshot(path=str(ARTIFACTS / "report_grade.png"), full_page=True)
    page.close()
    assert not errors, errors
    assert report.with_name("grade_roc_test.svg").exists() and report.with_name("grade_roc_test.png").exists()
