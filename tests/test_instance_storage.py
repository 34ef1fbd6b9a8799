"""The Dagster instance follows the settings: SQLite under DAGSTER_HOME by default, a real
PostgreSQL server when ``instance_postgres_url`` names one, and the pipeline runs on either."""

import dagster as dg
import pytest
import yaml
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage

from cli.instance import default_dagster_home, open_instance
from cli.launcher import run_cohort
from orchestration.resources import PipelineResource
from radiomics_core.settings import Settings, SettingsError
from tests.builders import write_ucsf_cohort
from warehouse import queries


def _storage(home) -> dict:
    return yaml.safe_load((home / "dagster.yaml").read_text(encoding="utf-8")).get("storage", {})


def test_without_a_postgres_url_the_instance_is_sqlite_under_dagster_home(tmp_path, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    home = default_dagster_home(str(tmp_path / "data"), Settings(cohort_dir=str(tmp_path)))
    assert home == str(tmp_path / "data" / "dagster_home")
    assert _storage(tmp_path / "data" / "dagster_home") == {}  # Dagster's default: SQLite in DAGSTER_HOME


def test_a_postgres_url_in_the_settings_file_becomes_the_instance_storage(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    url = "postgresql://dagster@db.example.org:5432/dagster"
    Settings(cohort_dir=str(tmp_path), data_dir=str(tmp_path / "data"), instance_postgres_url=url).save()
    default_dagster_home(str(tmp_path / "data"))
    assert _storage(tmp_path / "home") == {"postgres": {
        "postgres_url": "postgresql+psycopg2://dagster@db.example.org:5432/dagster"}}
    # Back to SQLite when the setting goes: the file is glioma-rings' own.
    default_dagster_home(str(tmp_path / "data"), Settings(cohort_dir=str(tmp_path)))
    assert _storage(tmp_path / "home") == {}


def test_a_dagster_yaml_the_user_wrote_is_left_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    own = "storage:\n  postgres:\n    postgres_db: {username: me, hostname: h, db_name: d}\n"
    (tmp_path / "dagster.yaml").write_text(own, encoding="utf-8")
    default_dagster_home(str(tmp_path / "data"), Settings(cohort_dir=str(tmp_path), instance_postgres_url=None))
    assert (tmp_path / "dagster.yaml").read_text(encoding="utf-8") == own


def test_a_postgres_url_that_is_not_one_is_refused_naming_the_key(tmp_path):
    with pytest.raises(SettingsError, match="instance_postgres_url 'sqlite:///x.db'"):
        Settings(cohort_dir=str(tmp_path), instance_postgres_url="sqlite:///x.db")


@pytest.mark.slow
def test_the_pipeline_runs_on_a_postgres_instance_and_nothing_lands_in_sqlite(tmp_path, monkeypatch, postgres_url):
    import sqlalchemy

    home = tmp_path / "home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    cohort = write_ucsf_cohort(tmp_path / "cohort", n=2)
    settings = Settings(cohort_dir=str(cohort), data_dir=str(tmp_path / "data"), params="demo", rings_mm=(3.0,),
                        tasks=("grade",), instance_postgres_url=postgres_url)
    default_dagster_home(settings.data_dir, settings)
    instance = open_instance()
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    summary = run_cohort(PipelineResource.from_settings(settings), instance, workers=1,
                         patients=["UCSF-PDGM-0001", "UCSF-PDGM-0002"])
    per_patient = [o for o in summary.outcomes if "ring_features" in o.job or "raw_scans" in o.job]
    assert per_patient and all(o.success for o in per_patient)
    assert set(queries.table(PipelineResource.from_settings(settings).warehouse().root, "features").patient_id) == {
        "UCSF-PDGM-0001", "UCSF-PDGM-0002"}
    # The runs and their materializations are rows of the PostgreSQL database ...
    engine = sqlalchemy.create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg2://"))
    with engine.connect() as connection:
        runs = connection.execute(sqlalchemy.text("select count(*) from runs")).scalar()
    engine.dispose()
    assert runs == len(instance.get_runs()) >= 3
    # (The server is the session's: another test's runs may share it.)
    ours = {o.run_id for o in summary.outcomes}
    records = [r for r in instance.fetch_materializations(dg.AssetKey("ring_features"), limit=100).records
               if r.run_id in ours]
    assert {r.partition_key.split("|")[0] for r in records} == {"UCSF-PDGM-0001", "UCSF-PDGM-0002"}
    # ... and DAGSTER_HOME holds no SQLite storage.
    assert not list(home.rglob("*.db"))
    instance.dispose()
