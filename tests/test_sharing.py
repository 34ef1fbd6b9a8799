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
