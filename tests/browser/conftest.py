"""Headless Debian Chromium and the real dashboard server for the browser tests (``make test``
installs chromium when it is missing)."""

import shutil
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import httpx
import pytest

from cli.dashboard import streamlit_command

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def dashboard_server(warehouse: Path, *, port: int | None = None, app_args: Sequence[str] = (),
                     secrets: Path | None = None) -> Iterator[str]:
    """``streamlit run`` as ``glioma-rings dashboard`` starts it, on 127.0.0.1; yields its URL."""
    port = port or free_port()
    process = subprocess.Popen(streamlit_command(warehouse, port, "127.0.0.1", app_args=app_args, secrets=secrets),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    try:
        while time.time() < deadline:
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            pytest.fail("streamlit did not start within 60 s")
        yield url
    finally:
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
