"""Sharing the dashboard: login (a local OpenID Connect provider, the local users file), the
allow-list, the de-identified view and the audit log, in headless Chromium against the real
``streamlit run`` server. Everything listens on 127.0.0.1."""

from __future__ import annotations

import secrets
import threading
from pathlib import Path

import pytest

from dashboard.audit import AuditLog
from dashboard.users import UsersFile
from tests.browser.conftest import CHROMIUM, dashboard_server, free_port
from warehouse import queries

PAGES = ["Findings", "Model comparison", "ROC curves", "Clinical characteristics", "Features", "Patient viewer",
         "Cohort overview"]

pytestmark = [pytest.mark.slow, pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")]


def _dashboard(warehouse: Path, settings: Path, *, secrets_file: Path, port: int | None = None, extra=()):
    return dashboard_server(warehouse, port=port, app_args=["--settings", str(settings), *extra], secrets=secrets_file)


@pytest.fixture(scope="module")
def warehouse(pipeline_run) -> Path:
    pipeline, _, _ = pipeline_run
    return Path(pipeline.warehouse().root).resolve()


@pytest.fixture(scope="module")
def patient_ids(warehouse) -> list[str]:
    ids = set(queries.table(warehouse, "patients")["patient_id"]) | set(queries.table(warehouse, "case_issues")["patient_id"])
    return sorted(i for i in ids if i)


@pytest.fixture(scope="module")
def oidc_provider():
    """oidc-provider-mock's Flask app on 127.0.0.1: its form lets the test type any user ('sub')."""
    import oidc_provider_mock
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, oidc_provider_mock.app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def _settings(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "dashboard.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _empty_secrets(folder: Path) -> Path:
    path = folder / "secrets.toml"
    path.write_text("", encoding="utf-8")
    return path


def _page_url(url: str, page: str) -> str:
    return f"{url}/?page={page.replace(' ', '+')}"


def _assert_no_data(page, patient_ids: list[str]) -> None:
    html = page.content()
    assert not [i for i in patient_ids if i in html]
    assert page.get_by_role("radio").count() == 0  # no page picker: no page at all


def test_without_logging_in_no_page_shows_data_and_local_users_log_in(browser, warehouse, patient_ids, tmp_path):
    settings = _settings(tmp_path / "site", '[access]\nallow_users = ["alice"]\n')
    users = UsersFile(tmp_path / "site" / "dashboard-users")
    users.set_password("alice", "correct horse")
    users.set_password("mallory", "battery staple")  # has a password but is not on the allow-list
    with _dashboard(warehouse, settings, secrets_file=_empty_secrets(tmp_path)) as url:
        context = browser.new_context()
        page = context.new_page()
        for title in PAGES:
            page.goto(_page_url(url, title))
            page.get_by_role("heading", name="Log in").wait_for(timeout=30_000)
            page.wait_for_timeout(500)
            _assert_no_data(page, patient_ids)
            assert page.get_by_role("heading", name=title).count() == 0

        def log_in(name: str, password: str) -> None:
            page.goto(url)
            page.get_by_role("textbox", name="User name").fill(name)
            page.get_by_role("textbox", name="Password").fill(password)
            page.get_by_role("button", name="Log in", exact=True).click()

        log_in("alice", "wrong password")
        page.get_by_text("Wrong user name or password.").wait_for(timeout=30_000)
        _assert_no_data(page, patient_ids)

        log_in("mallory", "battery staple")
        page.get_by_text("mallory is not allowed").wait_for(timeout=30_000)
        _assert_no_data(page, patient_ids)

        log_in("alice", "correct horse")
        page.get_by_text("Logged in as alice").wait_for(timeout=30_000)
        page.get_by_text("Cohort overview", exact=True).click()
        page.get_by_role("heading", name="Cohort overview").wait_for(timeout=30_000)
        context.close()

    events = [(e["event"], e["user"], e.get("reason"), e.get("page")) for e in AuditLog(tmp_path / "site" / "dashboard-audit.log").entries()]
    assert ("refused", "alice", "wrong user name or password", None) in events
    assert ("refused", "mallory", "not on the allow-list", None) in events
    assert ("allowed", "alice", None, None) in events
    assert ("view", "alice", None, "Cohort overview") in events
    assert not any(e[0] == "view" and e[1] != "alice" for e in events)
    assert all("time" in e for e in AuditLog(tmp_path / "site" / "dashboard-audit.log").entries())


def _provider_user(oidc_provider: str, email: str, **claims) -> None:
    """What the provider will say about ``email`` (its own form only asks for the subject)."""
    import httpx

    httpx.put(f"{oidc_provider}/users/{email}", json={"email": email, **claims}, timeout=10).raise_for_status()


def test_openid_connect_login_with_an_allow_list(browser, warehouse, patient_ids, oidc_provider, tmp_path):
    settings = _settings(tmp_path / "site", '[access]\nallow_domains = ["lab.example.org"]\n')
    _provider_user(oidc_provider, "alice@lab.example.org", email_verified=True)
    _provider_user(oidc_provider, "mallory@elsewhere.example.com", email_verified=True)
    _provider_user(oidc_provider, "eve@lab.example.org")  # no email_verified claim: an address anyone could type
    port = free_port()
    secrets_file = tmp_path / "secrets.toml"
    secrets_file.write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_hex(32)}"\n'
        'client_id = "glioma-rings-test"\n'
        'client_secret = "not-a-real-secret"\n'
        f'server_metadata_url = "{oidc_provider}/.well-known/openid-configuration"\n', encoding="utf-8")
    with _dashboard(warehouse, settings, secrets_file=secrets_file, port=port) as url:
        def log_in_as(user: str):
            context = browser.new_context()
            page = context.new_page()
            page.goto(url)
            page.get_by_role("heading", name="Log in").wait_for(timeout=30_000)
            _assert_no_data(page, patient_ids)
            page.get_by_role("button", name="Log in with your institution's account").click()
            page.locator("input[name=sub]").fill(user)  # the provider's own login form
            page.get_by_role("button", name="Authorize").click()
            return context, page

        context, page = log_in_as("alice@lab.example.org")
        page.get_by_text("Logged in as alice@lab.example.org").wait_for(timeout=30_000)
        for title in ["Cohort overview", "ROC curves"]:  # the login cookie survives a new page load
            page.goto(_page_url(url, title))
            page.get_by_role("heading", name=title).wait_for(timeout=30_000)
        context.close()

        context, page = log_in_as("mallory@elsewhere.example.com")
        page.get_by_role("heading", name="Access refused").wait_for(timeout=30_000)
        _assert_no_data(page, patient_ids)
        page.goto(_page_url(url, "Cohort overview"))
        page.get_by_role("heading", name="Access refused").wait_for(timeout=30_000)
        _assert_no_data(page, patient_ids)
        context.close()

        context, page = log_in_as("eve@lab.example.org")  # the right domain, but not verified
        page.get_by_role("heading", name="Access refused").wait_for(timeout=30_000)
        page.get_by_text("does not say this e-mail address is verified").wait_for(timeout=30_000)
        _assert_no_data(page, patient_ids)
        context.close()

    events = [(e["event"], e["user"], e.get("method"), e.get("reason"))
              for e in AuditLog(tmp_path / "site" / "dashboard-audit.log").entries()]
    assert ("allowed", "alice@lab.example.org", "oidc", None) in events
    assert ("refused", "mallory@elsewhere.example.com", "oidc", "not on the allow-list") in events
    assert ("refused", "eve@lab.example.org", "oidc", "e-mail not verified") in events


def test_the_deidentified_view_shows_no_original_patient_id(browser, warehouse, patient_ids, tmp_path):
    settings = _settings(tmp_path / "site", "[sharing]\ndeidentified = true\n")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    seen_pages = []
    with _dashboard(warehouse, settings, secrets_file=_empty_secrets(tmp_path)) as url:
        context = browser.new_context(accept_downloads=True)
        page = context.new_page()
        for title in PAGES:
            page.goto(_page_url(url, title))
            page.get_by_text("De-identified view: patient ids are pseudonyms.").wait_for(timeout=30_000)
            page.wait_for_timeout(2000)  # let tables and charts draw
            if page.get_by_role("heading", name=title).count():
                seen_pages.append(title)
            html = page.content()
            assert not [i for i in patient_ids if i in html], title
            buttons = page.locator("[data-testid='stDownloadButton'] button")  # CSV, PNG, SVG, Markdown, LaTeX
            for index in range(buttons.count()):
                with page.expect_download() as download:
                    buttons.nth(index).click()
                target = downloads / f"{title}-{index}-{download.value.suggested_filename}"
                download.value.save_as(target)
        context.close()
    assert "Patient viewer" not in seen_pages and "Cohort overview" in seen_pages
    files = list(downloads.iterdir())
    assert any(path.suffix == ".csv" for path in files), "no CSV download was offered"
    for path in files:
        text = path.read_bytes().decode("utf-8", errors="replace")
        assert not [i for i in patient_ids if i in text], path.name
    assert any("P-" in path.read_text(encoding="utf-8") for path in files if path.suffix == ".csv")
