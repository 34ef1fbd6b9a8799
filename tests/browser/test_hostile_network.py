"""The shared dashboard against a hostile network: each test makes one attack on the real server
(``glioma-rings dashboard``'s command, on 127.0.0.1) and sees it fail. Most speak Streamlit's
websocket protocol directly (tests/browser/wire.py), as an attacker's script would; the markdown
test looks at the page in headless Chromium. Every loop is bounded and every server stops with
its test."""

from __future__ import annotations

import threading
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from dashboard.audit import MAX_LINE, AuditLog
from dashboard.guard import BROWSER_COOKIE, HASH_SLOTS
from dashboard.users import UsersFile
from tests.browser.conftest import CHROMIUM, dashboard_process
from tests.browser.wire import Session, handshake_status, log_in
from warehouse import queries
from warehouse.synthetic import build_warehouse

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery"
ARGON2_MIB = 64  # argon2-cffi's default memory cost, per check


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    return build_warehouse(tmp_path_factory.mktemp("hostile") / "warehouse", 16, rings=(1.0,), tasks=("grade",))


@pytest.fixture(scope="module")
def patient_ids(warehouse) -> list[str]:
    return sorted(queries.table(warehouse, "patients")["patient_id"])


def _site(folder: Path, users: dict[str, str], allow: list[str] | None = None, extra: str = "") -> Path:
    """dashboard.toml (allowing ``allow``, default: every user) and the users file, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    names = ", ".join(f'"{n}"' for n in (list(users) if allow is None else allow))
    (folder / "dashboard.toml").write_text(f"[access]\nallow_users = [{names}]\n{extra}", encoding="utf-8")
    users_file = UsersFile(folder / "dashboard-users")
    users_file.path.write_text("", encoding="utf-8")
    for name, password in users.items():
        users_file.set_password(name, password)
    (folder / "secrets.toml").write_text("", encoding="utf-8")  # no identity provider from the home folder
    return folder


@contextmanager
def _dashboard(warehouse: Path, site: Path, *flags: str, env: dict[str, str] | None = None):
    with dashboard_process(warehouse, app_args=["--settings", str(site / "dashboard.toml"), *flags],
                           secrets=site / "secrets.toml", env=env) as (url, process):
        yield url, process


def _audit(site: Path) -> list[dict]:
    return AuditLog(site / "dashboard-audit.log").entries()


def _shows_data(run) -> bool:
    return "Page" in run.widgets  # the page picker is drawn only for an allowed viewer


def test_the_sixth_rapid_wrong_password_for_a_name_is_refused_even_the_right_one_and_audited_once(warehouse, tmp_path):
    site = _site(tmp_path / "site", {"alice": PASSWORD})
    with _dashboard(warehouse, site) as (url, _), Session(url) as first_tab, Session(url) as second_tab:
        tabs = [first_tab, second_tab]  # the count is shared: a new tab starts no new budget
        for tab in tabs:
            tab.run()
        guesses = [tabs[i % 2].run(values={"User name": "alice", "Password": f"guess number {i}"}, click="Log in")
                   for i in range(8)]
        right = first_tab.run(values={"User name": "alice", "Password": PASSWORD}, click="Log in")

    assert all(g.has("Wrong user name or password.") for g in guesses[:5])
    assert all(g.has("Too many failed logins for this user name. Try again in") for g in guesses[5:])
    assert right.has("Too many failed logins") and not _shows_data(right)
    events = [(e["event"], e.get("reason")) for e in _audit(site) if e["user"] == "alice"]
    assert events == [("refused", "wrong user name or password")] * 5 + [("throttled", "locked out")]


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="reads the server's peak memory in /proc")
def test_fifty_simultaneous_logins_never_run_more_argon2_checks_than_the_cap(warehouse, tmp_path):
    site = _site(tmp_path / "site", {"alice": PASSWORD})
    with _dashboard(warehouse, site) as (url, process):
        tabs = [Session(url) for _ in range(50)]
        for tab in tabs:
            tab.run()
        Path(f"/proc/{process.pid}/clear_refs").write_text("5")  # restart the peak at what the 50 sessions hold
        baseline = _peak_mib(process.pid)
        start, answers = threading.Barrier(len(tabs)), {}

        def attempt(index: int, tab: Session) -> None:
            start.wait(timeout=60)
            answers[index] = tab.run(values={"User name": f"guess{index}", "Password": "x" * 12}, click="Log in")

        threads = [threading.Thread(target=attempt, args=(i, tab)) for i, tab in enumerate(tabs)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        grown = _peak_mib(process.pid) - baseline
        for tab in tabs:
            tab.close()

    assert len(answers) == 50
    outcome = Counter("checked" if run.has("Wrong user name or password.") else "refused before any check"
                      for run in answers.values())
    assert outcome["checked"] > HASH_SLOTS  # more checks were let through than may run at once...
    assert grown < (HASH_SLOTS + 1) * ARGON2_MIB, f"{outcome}: peak memory grew {grown} MiB"  # ...yet never more ran


def _peak_mib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    raise AssertionError("no VmHWM")


@pytest.fixture(scope="module")
def shared_site(tmp_path_factory) -> Path:
    return _site(tmp_path_factory.mktemp("shared") / "site", {"alice": PASSWORD, "bob": PASSWORD, "carol": PASSWORD})


@pytest.fixture(scope="module")
def server(warehouse, shared_site):
    """One dashboard for the tests that make no failed login (the throttle counts per process)."""
    with _dashboard(warehouse, shared_site) as (url, _):
        yield url


def test_a_request_under_a_foreign_host_name_gets_no_page_no_file_and_no_websocket(server):
    port = server.rsplit(":", 1)[1]
    rebound = f"rebind.attacker.example:{port}"
    for path in ["/", "/?page=Cohort+overview", "/_stcore/health", "/_stcore/host-config", "/media/x.csv"]:
        answer = httpx.get(server + path, headers={"Host": rebound, "Origin": f"http://{rebound}"}, timeout=30)
        assert answer.status_code == 400 and "<html" not in answer.text.lower(), path
        assert BROWSER_COOKIE not in answer.headers.get("set-cookie", "")
    assert handshake_status(server, rebound) != 101
    # The names the dashboard is served under still work.
    assert handshake_status(server, f"127.0.0.1:{port}") == 101
    assert handshake_status(server, f"localhost:{port}") == 101
    assert httpx.get(server + "/", headers={"Host": f"localhost:{port}"}, timeout=30).status_code == 200


def test_a_revoked_users_open_session_loses_the_data_pages_at_its_next_click(server, shared_site, patient_ids):
    alice, alice_in = log_in(server, "alice", PASSWORD)
    bob, bob_in = log_in(server, "bob", PASSWORD)
    assert _shows_data(alice_in) and _shows_data(bob_in)

    UsersFile(shared_site / "dashboard-users").remove("alice")  # `glioma-rings users remove alice`
    toml = shared_site / "dashboard.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('"bob", ', ""), encoding="utf-8")  # bob off the list

    alice_next, bob_next = alice.run(query="page=Cohort+overview"), bob.run(query="page=Cohort+overview")
    for run, reason in [(alice_next, "removed from the users file"), (bob_next, "not on the allow-list")]:
        assert not _shows_data(run) and not run.downloads
        assert run.has(f"Your session ended: {reason}.")
        assert not [i for i in patient_ids if any(i in t for t in run.texts)]
    alice.close()
    bob.close()
    ended = {(e["user"], e["reason"]) for e in _audit(shared_site) if e["event"] == "ended"}
    assert ended == {("alice", "removed from the users file"), ("bob", "not on the allow-list")}


def test_download_urls_answer_only_the_browser_of_a_logged_in_session(server):
    with Session(server) as tab:
        tab.run(query="page=Cohort+overview")
        logged_in = tab.run(query="page=Cohort+overview", values={"User name": "carol", "Password": PASSWORD},
                            click="Log in")
        assert logged_in.downloads, "the overview offers a CSV download"
        link = server + logged_in.downloads[0]
        assert httpx.get(link, cookies=tab.cookies, timeout=30).status_code == 200
        assert httpx.get(link, timeout=30).status_code == 403  # the URL alone: copied, logged, guessed
        with Session(server) as stranger:  # another browser, with a cookie of its own but no login
            stranger.run()
            assert httpx.get(link, cookies=stranger.cookies, timeout=30).status_code == 403
        tab.run(query="page=Cohort+overview", click="Log out")
        assert httpx.get(link, cookies=tab.cookies, timeout=30).status_code == 403


def test_an_emptied_users_file_refuses_everyone_and_never_falls_back_to_no_login(warehouse, tmp_path, patient_ids):
    site = _site(tmp_path / "site", {"alice": PASSWORD})
    with _dashboard(warehouse, site) as (url, _):
        tab, logged_in = log_in(url, "alice", PASSWORD)
        assert _shows_data(logged_in)
        UsersFile(site / "dashboard-users").remove("alice")  # the last user: the file stays, empty
        assert (site / "dashboard-users").read_text(encoding="utf-8") == ""

        after = tab.run()
        _, again = log_in(url, "alice", PASSWORD)
        with Session(url) as newcomer:
            fresh = newcomer.run(query="page=Cohort+overview")
        (site / "dashboard-users").unlink()  # even with the file gone, this process keeps asking
        with Session(url) as later:
            gone = later.run(query="page=Cohort+overview")
        tab.close()

    assert after.has("Your session ended") and not _shows_data(after)
    assert again.has("Wrong user name or password.") and not _shows_data(again)
    assert fresh.has("Log in") and not _shows_data(fresh)
    assert gone.has("Login required") and not _shows_data(gone)
    assert not [e for e in _audit(site) if e["user"] == "anonymous" and e["event"] == "allowed"]


def test_a_megabyte_user_name_is_refused_with_one_short_audit_line(warehouse, tmp_path):
    site = _site(tmp_path / "site", {"alice": PASSWORD})
    log = site / "dashboard-audit.log"
    names = ["a" * 1_000_000, "<img src=x onerror=alert(1)>\n" * 40_000]  # letters only; no user name's letters
    with _dashboard(warehouse, site) as (url, _), Session(url) as tab:
        tab.run()
        answers, added = [], []
        for name in names:
            before = log.stat().st_size if log.exists() else 0
            answers.append(tab.run(values={"User name": name, "Password": "whatever it is"}, click="Log in"))
            added.append(log.read_bytes()[before:])

    for answer, lines in zip(answers, added):
        assert not _shows_data(answer)
        assert lines.count(b"\n") == 1 and len(lines) <= MAX_LINE
        assert b"a" * 300 not in lines and lines.count(b"onerror") < 10
    plain_letters, markup = _audit(site)[-2:]
    assert (plain_letters["event"], plain_letters["reason"]) == ("refused", "wrong user name or password")
    assert len(plain_letters["user"]) <= 250  # Streamlit keeps max_chars (128) of the field; the log keeps that
    assert (markup["event"], markup["user"], markup["reason"]) == ("refused", "(invalid user name)", "invalid user name")
    assert answers[1].has("A user name has at most 128")


def test_x_forwarded_for_names_the_client_only_when_it_comes_from_a_trusted_proxy(warehouse, tmp_path):
    spoofed = {"X-Forwarded-For": "203.0.113.7"}
    direct = _site(tmp_path / "direct", {"alice": PASSWORD})
    with _dashboard(warehouse, direct) as (url, _), Session(url, headers=spoofed) as tab:
        tab.run()
        tab.run(values={"User name": "alice", "Password": "not the password"}, click="Log in")
    proxied = _site(tmp_path / "proxied", {"alice": PASSWORD}, extra='trusted_proxies = ["127.0.0.1"]\n')
    with _dashboard(warehouse, proxied) as (url, _), Session(url, headers=spoofed) as tab:
        tab.run()
        tab.run(values={"User name": "alice", "Password": "not the password"}, click="Log in")

    assert [e["client"] for e in _audit(direct) if e["event"] == "refused"] == ["127.0.0.1"]
    assert [e["client"] for e in _audit(proxied) if e["event"] == "refused"] == ["203.0.113.7"]


def test_the_deidentified_copy_is_removed_when_the_dashboard_stops(warehouse, tmp_path):
    site = _site(tmp_path / "site", {"alice": PASSWORD})
    temp = tmp_path / "tmp"
    temp.mkdir()
    with _dashboard(warehouse, site, "--deidentified", env={"TMPDIR": str(temp)}) as (url, process):
        tab, logged_in = log_in(url, "alice", PASSWORD)
        assert logged_in.has("De-identified view")
        copies = list(temp.glob("glioma-rings-deidentified-*"))
        assert len(copies) == 1 and list(copies[0].glob("*/warehouse/warehouse.duckdb"))
        tab.close()
    assert process.returncode is not None
    assert not list(temp.glob("glioma-rings-deidentified-*"))


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
def test_a_crafted_models_parameter_is_shown_as_text_not_as_a_link(browser, warehouse, tmp_path):
    site = _site(tmp_path / "site", {})
    (site / "dashboard-users").unlink()  # no login: the URL parameter, not the gate, is under test
    bait = "[Session expired: log in again here](http://evil.example/login)"
    with _dashboard(warehouse, site, "--no-auth") as (url, _):
        page = browser.new_page()
        page.goto(f"{url}/?page=ROC+curves&models={quote(bait)}")
        page.get_by_text("Not evaluated for this task and split").wait_for(timeout=30_000)
        assert page.locator("a[href*='evil.example']").count() == 0
        assert bait in page.get_by_text("Not evaluated for this task and split").inner_text()
        page.close()
