"""Sharing settings without a browser: allow-list, users file, CLI host check, pseudonyms."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from dashboard.audit import AuditLog
from dashboard.deidentify import Pseudonyms, load_or_create_key, sync_view
from dashboard.settings import load_settings, oidc_providers
from dashboard.users import UsersFile
from cli.main import main as cli_main
from warehouse import queries
from warehouse.schema import TABLES
from warehouse.store import Warehouse

IDS = {"UCSF-PDGM-0004": "UCSF-PDGM-004", "UCSF-PDGM-0117": "UCSF-PDGM-117"}


def test_the_allow_list_takes_names_and_email_domains(tmp_path):
    (tmp_path / "dashboard.toml").write_text(
        '[access]\nallow_users = ["Bob", "carol@partner.org"]\nallow_domains = ["lab.org"]\n', encoding="utf-8")
    settings = load_settings(tmp_path / "warehouse")
    assert settings.is_allowed("bob") and settings.is_allowed("alice@LAB.org") and settings.is_allowed("carol@partner.org")
    assert not settings.is_allowed("dave@partner.org") and not settings.is_allowed("alice@evil-lab.org")
    assert not settings.is_allowed("lab.org") and not settings.is_allowed("")
    assert settings.users_file == tmp_path / "dashboard-users"
    assert settings.audit_log == tmp_path / "dashboard-audit.log"


def test_no_rules_means_nobody_is_allowed(tmp_path):
    settings = load_settings(tmp_path / "warehouse")
    assert not settings.is_allowed("anyone@anywhere.org") and not settings.deidentified


def test_oidc_needs_the_shared_settings_and_a_client():
    shared = {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "x" * 32}
    assert oidc_providers({}) == []
    assert oidc_providers({"auth": shared}) == []
    assert oidc_providers({"auth": {**shared, "client_id": "a"}}) == [None]
    assert oidc_providers({"auth": {**shared, "microsoft": {"client_id": "a"}}}) == ["microsoft"]


def test_passwords_are_stored_hashed_and_verified(tmp_path):
    users = UsersFile(tmp_path / "users")
    users.set_password("alice", "correct horse")
    text = users.path.read_text(encoding="utf-8")
    assert "correct horse" not in text and text.startswith("alice:$argon2id$")
    assert users.verify("alice", "correct horse")
    assert not users.verify("alice", "Correct horse") and not users.verify("bob", "correct horse")
    with pytest.raises(ValueError):
        users.set_password("eve", "short")
    assert users.remove("alice") and users.names() == []


def test_users_add_reads_the_password_and_allows_the_first_user(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    warehouse = tmp_path / "data" / "warehouse"
    assert cli_main(["users", "add", "alice", "--warehouse", str(warehouse), "--password-stdin"]) == 0
    assert UsersFile(tmp_path / "data" / "dashboard-users").verify("alice", "a long password")
    assert load_settings(warehouse).is_allowed("alice")


def _isolated(tmp_path, monkeypatch):
    """No secrets.toml from the developer's home or working folder."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


def test_dashboard_refuses_a_public_host_without_login(tmp_path, monkeypatch, capsys):
    _isolated(tmp_path, monkeypatch)
    started = []
    monkeypatch.setattr("subprocess.call", lambda command: started.append(command) or 0)
    assert cli_main(["dashboard", "--warehouse", str(tmp_path / "data" / "warehouse"), "--host", "0.0.0.0"]) != 0
    error = capsys.readouterr().err
    assert "refusing to serve the dashboard on 0.0.0.0 without a login" in error
    assert "glioma-rings users add" in error and "[auth]" in error and "--no-auth" in error
    assert not started


def test_dashboard_defaults_to_loopback_and_no_auth_is_loud(tmp_path, monkeypatch, capsys):
    _isolated(tmp_path, monkeypatch)
    started = []
    monkeypatch.setattr("subprocess.call", lambda command: started.append(command) or 0)
    warehouse = str(tmp_path / "data" / "warehouse")
    assert cli_main(["dashboard", "--warehouse", warehouse]) == 0
    assert started[-1][started[-1].index("--server.address") + 1] == "127.0.0.1"
    assert cli_main(["dashboard", "--warehouse", warehouse, "--host", "0.0.0.0", "--no-auth"]) == 0
    assert "WARNING: --no-auth" in capsys.readouterr().err
    assert "--no-auth" in started[-1][started[-1].index("--"):]


def test_dashboard_serves_a_public_host_once_a_user_exists(tmp_path, monkeypatch):
    _isolated(tmp_path, monkeypatch)
    started = []
    monkeypatch.setattr("subprocess.call", lambda command: started.append(command) or 0)
    warehouse = tmp_path / "data" / "warehouse"
    UsersFile(tmp_path / "data" / "dashboard-users").set_password("alice", "correct horse")
    assert cli_main(["dashboard", "--warehouse", str(warehouse), "--host", "0.0.0.0"]) == 0
    assert started


def _warehouse(root) -> Warehouse:
    warehouse = Warehouse(root).initialize()
    now = pd.Timestamp("2026-01-01")
    for patient, source in IDS.items():
        warehouse.write_partition("patients", patient, pd.DataFrame({
            "patient_id": [patient], "source_id": [source], "layout": ["ucsf-pdgm"],
            "folder": [f"/cohort/{patient}_nifti"], "usable": [True], "updated_at": [now]}))
        warehouse.write_partition("clinical", patient, pd.DataFrame({
            "patient_id": [patient], "sex": ["F"], "age": [50.0], "who_grade": [4], "mgmt_methylated": [True],
            "idh": ["wildtype"], "raw_json": [f'{{"ID": "{source}"}}'], "diagnosis": ["Glioblastoma, IDH-wildtype"],
            "biopsy_prior_to_imaging": [False], "brats21_id": [None], "brats21_mgmt_cohort": ["Training"]}))
        warehouse.write_partition("features", f"{patient}__T", pd.DataFrame({
            "patient_id": [patient] * 2, "ring_mm": [0.0] * 2, "sequence": ["T1"] * 2, "feature": ["a", "b"],
            "value": [1.0, 2.0], "feature_identity": ["h"] * 2, "pyradiomics_version": ["3.0.1"] * 2}))
    warehouse.write_partition("case_issues", "UCSF-PDGM-0117", pd.DataFrame({
        "patient_id": ["UCSF-PDGM-0117"], "stage": ["ingest"], "path": ["/cohort/UCSF-PDGM-0117_nifti/UCSF-PDGM-117_FLAIR.nii.gz"],
        "kind": ["unreadable_file"], "severity": ["error"], "message": ["UCSF-PDGM-117_FLAIR.nii.gz is truncated"],
        "recorded_at": [now]}))
    warehouse.write_partition("splits", "grade", pd.DataFrame({
        "task": ["grade"] * 2, "patient_id": list(IDS), "label": [0, 1], "split": ["train", "test"]}))
    return warehouse


def test_the_deidentified_view_holds_no_original_id_in_any_table_or_file_name(tmp_path):
    source = _warehouse(tmp_path / "warehouse")
    pseudonyms = Pseudonyms(load_or_create_key(tmp_path / "warehouse" / "pseudonym.key"))
    view = sync_view(source.root, pseudonyms, tmp_path / "view")
    originals = [i for pair in IDS.items() for i in pair]
    for table in TABLES:
        text = queries.table(view, table).to_csv(index=False)
        assert not [i for i in originals if i in text], table
    assert not [p for p in view.rglob("*") if any(i in p.name for i in originals)]
    assert not [i for i in originals if i in (view / "manifest.json").read_text(encoding="utf-8")]
    patients = queries.table(view, "patients")
    assert set(patients["patient_id"]) == {pseudonyms.of(p) for p in IDS}
    assert Warehouse(view).partition_keys("patients") == sorted(pseudonyms.of(p) for p in IDS)
    features = queries.table(view, "features", {"patient_id": pseudonyms.of("UCSF-PDGM-0004")})
    assert sorted(features["feature"]) == ["a", "b"]
    splits = queries.table(view, "splits")
    assert set(splits["patient_id"]) == set(patients["patient_id"])  # joins across tables still work
    issue = queries.table(view, "case_issues").iloc[0]
    assert pseudonyms.of("UCSF-PDGM-0117") in issue["message"] and pseudonyms.of("UCSF-PDGM-0117") in issue["path"]
    assert queries.last_update(view) == queries.last_update(source.root)


def test_pseudonyms_are_stable_per_warehouse_and_the_view_follows_the_warehouse(tmp_path):
    key_file = tmp_path / "warehouse" / "pseudonym.key"
    source = _warehouse(tmp_path / "warehouse")
    first = Pseudonyms(load_or_create_key(key_file))
    assert Pseudonyms(load_or_create_key(key_file)).of("UCSF-PDGM-0004") == first.of("UCSF-PDGM-0004")
    assert Pseudonyms(b"another warehouse").of("UCSF-PDGM-0004") != first.of("UCSF-PDGM-0004")
    view = sync_view(source.root, first, tmp_path / "view")
    written = {p: p.stat().st_mtime_ns for p in view.rglob("*.parquet")}
    assert sync_view(source.root, first, tmp_path / "view") == view
    assert {p: p.stat().st_mtime_ns for p in view.rglob("*.parquet")} == written  # nothing rewritten
    source.delete_partition("case_issues", "UCSF-PDGM-0117")
    source.write_partition("splits", "grade", pd.DataFrame({
        "task": ["grade"], "patient_id": ["UCSF-PDGM-0004"], "label": [0], "split": ["train"]}))
    sync_view(source.root, first, tmp_path / "view")
    assert queries.table(view, "case_issues").empty
    assert list(queries.table(view, "splits")["patient_id"]) == [first.of("UCSF-PDGM-0004")]


def test_the_audit_log_appends_one_json_line_per_event(tmp_path):
    audit = AuditLog(tmp_path / "dashboard-audit.log")
    audit.record("allowed", "alice", method="local")
    audit.record("view", "alice", page="ROC curves")
    entries = audit.entries()
    assert [(e["event"], e["user"]) for e in entries] == [("allowed", "alice"), ("view", "alice")]
    assert entries[1]["page"] == "ROC curves" and entries[0]["time"].endswith("+00:00")


def test_password_hashes_and_the_pseudonym_key_are_not_world_readable(tmp_path):
    import os
    import stat

    previous = os.umask(0o022)
    try:
        users = UsersFile(tmp_path / "users")
        users.set_password("alice", "correct horse")
        load_or_create_key(tmp_path / "pseudonym.key")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(users.path).st_mode) == 0o640
    assert stat.S_IMODE(os.stat(tmp_path / "pseudonym.key").st_mode) == 0o640


def _app(warehouse, *flags):
    import sys
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py"), default_timeout=60)
    argv, sys.argv = sys.argv, ["app.py", "--warehouse", str(warehouse), *flags]
    try:
        app.run()
    finally:
        sys.argv = argv
    return app


def test_a_bare_streamlit_run_on_every_interface_shows_no_data_without_login(tmp_path):
    source = _warehouse(tmp_path / "warehouse")
    app = _app(source.root)  # no --server.address: Streamlit listens on every interface
    assert [t.value for t in app.title] == ["Login required"]
    assert not app.sidebar.radio and not app.exception
    assert AuditLog(tmp_path / "dashboard-audit.log").entries()[0]["event"] == "refused"


def test_the_deidentified_app_hides_the_patient_viewer(tmp_path):
    source = _warehouse(tmp_path / "warehouse")
    app = _app(source.root, "--no-auth", "--deidentified")
    pages = app.sidebar.radio(key="page").options
    assert "Patient viewer" not in pages and "Cohort overview" in pages
    views = [e for e in AuditLog(tmp_path / "dashboard-audit.log").entries() if e["event"] == "view"]
    assert views and views[0]["user"] == "anonymous" and views[0]["deidentified"] is True


# Hostile input without a server: the rules the real-server tests (tests/browser/test_hostile_network.py) rely on.

class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _failed(throttle, name: str, client: str | None = "198.51.100.1") -> None:
    assert throttle.begin(name, client) is None
    throttle.end(name, client, succeeded=False)


def test_five_failures_lock_a_user_name_out_for_a_delay_that_doubles():
    from dashboard.throttle import LoginThrottle

    clock = _Clock()
    throttle = LoginThrottle(clock=clock)
    for _ in range(5):
        _failed(throttle, "alice")
    refusal = throttle.begin("alice", "198.51.100.2")  # another client, the same name
    assert (refusal.kind, refusal.reason, refusal.retry_after_s, refusal.first) == ("user name", "locked out", 30, True)
    assert throttle.begin("alice", "198.51.100.2").first is False  # audited once per lockout
    assert throttle.begin("bob", "198.51.100.2") is None  # other names are not locked
    throttle.end("bob", "198.51.100.2", succeeded=True)
    clock.now += 31
    _failed(throttle, "alice")
    assert throttle.begin("alice", None).retry_after_s == 60
    clock.now += 61
    assert throttle.begin("alice", None) is None
    throttle.end("alice", None, succeeded=True)  # the right password clears the name's count
    assert throttle.begin("alice", None) is None


def test_simultaneous_attempts_use_up_the_free_attempts_before_any_outcome():
    from dashboard.throttle import LoginThrottle

    throttle = LoginThrottle(clock=_Clock())
    let_through = [throttle.begin("alice", f"203.0.113.{i}") is None for i in range(50)]
    assert sum(let_through) == 5


def test_a_client_trying_many_names_is_locked_out_and_its_own_login_does_not_reset_it():
    from dashboard.throttle import LoginThrottle

    throttle = LoginThrottle(clock=_Clock())
    for index in range(19):
        _failed(throttle, f"guess{index}")
    assert throttle.begin("mallory", "198.51.100.1") is None
    throttle.end("mallory", "198.51.100.1", succeeded=True)  # the attacker's own account
    _failed(throttle, "guess19")
    assert throttle.refuse_client("198.51.100.1").kind == "client"
    assert throttle.refuse_client("198.51.100.9") is None


def test_no_more_password_checks_run_at_once_than_the_slots():
    import threading
    import time

    from dashboard.throttle import HashSlots

    slots, ran = HashSlots(2, wait_s=30), []

    def check() -> None:
        with slots.slot() as free:
            ran.append(free)
            time.sleep(0.02)

    threads = [threading.Thread(target=check) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(ran) == 20 and all(ran) and slots.peak == 2


def test_user_names_and_passwords_are_checked_for_size_before_any_hash(tmp_path, monkeypatch):
    from dashboard import users as users_module
    from dashboard.users import valid_name

    users = UsersFile(tmp_path / "users")
    users.set_password("alice", "correct horse")
    hashed = []
    monkeypatch.setattr(users_module.PasswordHasher, "hash", lambda self, p: hashed.append(p) or "x")
    assert not users.verify("a" * 1_000_000, "correct horse")
    assert not users.verify("alice", "x" * 1_000_000)
    assert not users.verify("alice\n", "correct horse")
    assert not hashed
    assert valid_name("alice@lab.org") and not valid_name("a" * 129) and not valid_name("alice\n")
    assert not valid_name("[x](http://evil.example)")
    with pytest.raises(ValueError):
        users.set_password("eve", "p" * 1025)


def test_the_audit_log_is_created_0640_and_a_line_stays_short_whatever_it_is_given(tmp_path):
    import json
    import os
    import stat

    from dashboard.audit import MAX_LINE

    log = tmp_path / "dashboard-audit.log"
    previous = os.umask(0o022)
    try:
        AuditLog(log).record("refused", "a" * 1_000_000, reason="\x00" * 100_000, client="198.51.100.1")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o640
    text = log.read_bytes()
    assert text.count(b"\n") == 1 and len(text) <= MAX_LINE
    entry = json.loads(text)
    assert entry["user"].startswith("a" * 50) and entry["user"].endswith("more characters)")
    log.chmod(0o644)  # a log left by an older version
    AuditLog(log).record("view", "alice")
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o640


def test_the_users_files_temporary_file_is_never_readable_by_others(tmp_path, monkeypatch):
    import os
    import pathlib
    import stat

    modes = []
    write_text = pathlib.Path.write_text

    def recording(self, *args, **kwargs):
        modes.append(stat.S_IMODE(os.stat(self).st_mode))  # the temporary file, before the hashes go in
        return write_text(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "write_text", recording)
    previous = os.umask(0o022)
    try:
        UsersFile(tmp_path / "users").set_password("alice", "correct horse")
    finally:
        os.umask(previous)
    assert modes and all(mode & 0o007 == 0 for mode in modes)


def test_the_names_served_are_the_loopback_names_on_loopback_and_the_configured_names_besides():
    from dashboard.settings import allowed_hosts, host_allowed

    local = allowed_hosts("127.0.0.1")
    assert set(local) == {"127.0.0.1", "localhost", "::1"}
    assert host_allowed("127.0.0.1:8501", local) and host_allowed("[::1]:8501", local)
    assert host_allowed("LOCALHOST.:8501", local)
    assert not host_allowed("rebind.attacker.example:8501", local) and not host_allowed(None, local)
    assert not host_allowed("127.0.0.1@rebind.attacker.example", local)
    proxied = allowed_hosts("127.0.0.1", ["dashboard.lab.org"])
    assert host_allowed("dashboard.lab.org", proxied) and not host_allowed("lab.org", proxied)
    assert "10.1.2.3" in allowed_hosts("10.1.2.3")


def test_dev_refuses_a_public_dagster_ui_unless_the_risk_is_accepted(tmp_path, capsys):
    import argparse

    from cli.dev import check_dagster_host

    assert cli_main(["dev", str(tmp_path / "cohort"), "--data-dir", str(tmp_path / "data"),
                     "--dagster-host", "0.0.0.0"]) == 2
    error = capsys.readouterr().err
    assert "refusing to serve the Dagster UI on 0.0.0.0" in error and "--expose-dagster-ui" in error
    assert not (tmp_path / "data").exists()  # refused before anything was set up
    for _ in range(2):  # accepted: a warning at every start
        check_dagster_host(argparse.Namespace(dagster_host="0.0.0.0", dagster_port=3000, expose_dagster_ui=True))
        assert "WARNING: --expose-dagster-ui" in capsys.readouterr().err


def test_an_existing_empty_users_file_counts_as_login_configured(tmp_path, monkeypatch, capsys):
    _isolated(tmp_path, monkeypatch)
    started = []
    monkeypatch.setattr("subprocess.call", lambda command: started.append(command) or 0)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "dashboard-users").write_text("", encoding="utf-8")
    assert cli_main(["dashboard", "--warehouse", str(tmp_path / "data" / "warehouse"), "--host", "0.0.0.0"]) == 0
    assert started and "holds no user: nobody can log in" in capsys.readouterr().err


def test_the_deidentified_app_never_reads_the_real_warehouse_while_its_copy_is_missing(tmp_path):
    source = _warehouse(tmp_path / "warehouse")
    source.database.unlink()  # the partition files are there, the copy cannot be made yet
    app = _app(source.root, "--no-auth", "--deidentified")
    assert not app.exception
    shown = " ".join(c.value for c in app.sidebar.caption)
    assert str(source.root) not in shown and "glioma-rings-deidentified-" in shown
    assert "No results yet" in [t.value for t in app.title]


def test_the_server_is_started_with_the_served_names_and_trusting_no_proxy_unless_told(tmp_path):
    from dashboard.settings import server_launch

    (tmp_path / "dashboard.toml").write_text('[access]\nserver_names = ["dashboard.lab.org"]\n', encoding="utf-8")
    app_args = ["--warehouse", str(tmp_path / "warehouse")]
    argv, env = server_launch(["--server.address", "127.0.0.1", "--", *app_args])
    hosts = {argv[i + 1] for i, flag in enumerate(argv) if flag == "--server.allowedHosts"}
    assert hosts == {"127.0.0.1", "localhost", "::1", "dashboard.lab.org"}
    assert argv[argv.index("--") + 1:] == app_args and env == {"FORWARDED_ALLOW_IPS": ""}
    (tmp_path / "dashboard.toml").write_text('[access]\ntrusted_proxies = ["10.0.0.2"]\n', encoding="utf-8")
    argv, env = server_launch(["--server.allowedHosts", "x.org", "--", *app_args])
    assert argv.count("--server.allowedHosts") == 1 and env == {"FORWARDED_ALLOW_IPS": "10.0.0.2"}
