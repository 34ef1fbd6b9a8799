"""Headless Debian Chromium and the real dashboard server for the browser tests (``make test``
installs chromium when it is missing)."""

import os
import shutil
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import httpx
import pytest

from cli.dashboard import streamlit_command

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ROOT = Path(__file__).resolve().parents[2]  # the repository (or worktree) whose dashboard is served


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def dashboard_process(warehouse: Path, *, port: int | None = None, app_args: Sequence[str] = (),
                      secrets: Path | None = None, host: str = "127.0.0.1",
                      env: Mapping[str, str] | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """The dashboard's server as ``glioma-rings dashboard`` starts it; yields its URL (always on
    127.0.0.1, whatever ``host`` it binds) and the server process. Stopped with SIGTERM on exit."""
    port = port or free_port()
    process = subprocess.Popen(streamlit_command(warehouse, port, host, app_args=app_args, secrets=secrets),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
                               env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
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
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@contextmanager
def dashboard_server(warehouse: Path, *, port: int | None = None, app_args: Sequence[str] = (),
                     secrets: Path | None = None) -> Iterator[str]:
    """The dashboard's server as ``glioma-rings dashboard`` starts it, on 127.0.0.1; yields its URL."""
    with dashboard_process(warehouse, port=port, app_args=app_args, secrets=secrets) as (url, _):
        yield url


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
