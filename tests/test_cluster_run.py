"""A lab's cluster as the README sets it up, for real on this machine: ``glioma-rings run --engine
slurm`` on a PostgreSQL instance. The daemon that ``run`` starts executes the cohort's backfill,
each patient's extraction is a job of a real single-node Slurm, the models and reports are
written to and read from the data folder, and nothing is stored in DAGSTER_HOME but its
configuration and compute logs; the features and the models' metrics equal those of a run on
this machine alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import joblib
import pytest

from cli.instance import default_dagster_home, open_instance
from cli.launcher import run_cohort
from orchestration.resources import PipelineResource
from radiomics_core.settings import Settings
from tests.builders import write_ucsf_cohort
from warehouse import queries

pytestmark = pytest.mark.slow
# Four of each grade: the fewest with which the grade task fits its models (3 train + 1 test per
# class for logistic regression and the random forest; radiomics_core/tasks/config.py).
PATIENTS = [f"UCSF-PDGM-{i:04d}" for i in range(1, 9)]
COLUMNS = ["patient_id", "ring_mm", "sequence", "feature", "value"]
METRICS = ["model", "ring_mm", "classifier", "split", "auc"]


def _features(data) -> object:
    root = Settings(cohort_dir=".", data_dir=str(data)).warehouse_root
    return queries.table(root, "features").sort_values(COLUMNS[:4]).reset_index(drop=True)[COLUMNS]


def _metrics(data) -> object:
    root = Settings(cohort_dir=".", data_dir=str(data)).warehouse_root
    return queries.table(root, "model_metrics").sort_values(METRICS[:4]).reset_index(drop=True)[METRICS]


def _latest(instance: dg.DagsterInstance, asset: str, partition: str) -> dg.EventLogRecord:
    [record] = instance.fetch_materializations(dg.AssetRecordsFilter(
        asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=1).records
    return record


def _not_compute_logs(home: Path) -> list[Path]:
    """Files under DAGSTER_HOME other than its configuration, lock and compute logs (Dagster's
    LocalComputeLogManager writes a step's stdout and stderr under ``storage/``)."""
    own = {"dagster.yaml", ".glioma-rings.lock", ".telemetry"}
    return [p for p in home.rglob("*") if p.is_file() and p.name not in own
            and not (p.suffix in {".out", ".err", ".complete"} and p.relative_to(home).parts[0] == "storage")
            and ".telemetry" not in p.parts and "logs" not in p.relative_to(home).parts[:1]]


def test_run_with_the_slurm_engine_on_a_postgres_instance_extracts_each_patient_in_a_slurm_job(
        tmp_path, monkeypatch, postgres_url, slurm):
    cohort = write_ucsf_cohort(tmp_path / "cohort", n=len(PATIENTS))
    common = {"cohort_dir": str(cohort), "params": "demo", "rings_mm": (3.0,), "tasks": ("grade",),
              "slurm_memory_mb": 500, "slurm_time_minutes": 5}
    # The reference: the same cohort on this machine alone (in process, its own SQLite instance).
    local = Settings(**common, data_dir=str(tmp_path / "local"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "local-home"))
    default_dagster_home(local.data_dir, local)
    summary = run_cohort(PipelineResource.from_settings(local), open_instance(), workers=1)
    assert all(o.success for o in summary.outcomes), summary.failed

    cluster = Settings(**common, data_dir=str(tmp_path / "data"), instance_postgres_url=postgres_url)
    cluster.save()
    home = tmp_path / "home"
    env = {**os.environ, "DAGSTER_HOME": str(home), **slurm.env}
    completed = subprocess.run([sys.executable, "-m", "cli", "run", str(cohort), "--data-dir", cluster.data_dir,
                                "--engine", "slurm"], env=env, capture_output=True, text=True, timeout=1800)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "no daemon runs on this instance: started one" in completed.stdout
    assert " 0 failed" in completed.stdout, completed.stdout[-3000:]

    monkeypatch.setenv("DAGSTER_HOME", str(home))
    instance = dg.DagsterInstance.get()
    try:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        for patient in PATIENTS:
            metadata = _latest(instance, "voi_extraction", patient).asset_materialization.metadata
            assert metadata["engine"].value == "slurm" and metadata["slurm_job_id"].value, patient
            assert metadata["slurm_state"].value == "COMPLETED"
        # The models: a joblib file in the data folder, its path in the materialization ...
        models = _latest(instance, "fitted_models", "grade")
        path = Path(models.asset_materialization.metadata["path"].value)
        assert path.is_relative_to(Path(cluster.data_dir).resolve()) and path.suffix == ".joblib"
        assert len(joblib.load(path)) == models.asset_materialization.metadata["models"].value > 0
        # ... which the report's step loaded from there (models_io), as a run on another node would.
        report = _latest(instance, "evaluation_reports", "grade")
        assert Path(report.asset_materialization.metadata["report"].value).is_file()
    finally:
        instance.dispose()
    assert _features(cluster.data_dir).equals(_features(local.data_dir))
    assert _metrics(cluster.data_dir).equals(_metrics(local.data_dir))
    # The runs stored nothing in DAGSTER_HOME: no SQLite, no pickled outputs of the default IO manager.
    assert not list(home.rglob("*.db"))
    assert _not_compute_logs(home) == []


CANCELLED = "UCSF-PDGM-0002"


def _squeued(job_name: str) -> tuple[str, str]:
    """(job id, state) of the active Slurm job named ``job_name``, or ("", "")."""
    found = subprocess.run(["squeue", "-h", "-n", job_name, "-o", "%i %T"], capture_output=True, text=True).stdout.split()
    return (found[0], found[1]) if len(found) >= 2 else ("", "")


def _extraction_runs(instance: dg.DagsterInstance, since: float) -> dict[str, list[dg.DagsterRun]]:
    """Each patient's runs that materialize voi_extraction, created since ``since``, oldest first
    (the PostgreSQL server is the session's: the other cluster test's runs share it)."""
    runs: dict[str, list[dg.DagsterRun]] = {}
    for record in reversed(instance.get_run_records(dg.RunsFilter(created_after=_utc(since)))):
        run = record.dagster_run
        if dg.AssetKey("voi_extraction") in (run.asset_selection or set()):
            runs.setdefault(run.tags["dagster/partition"], []).append(run)
    return runs


def _utc(timestamp: float):
    from datetime import datetime, timezone

    return datetime.fromtimestamp(timestamp, tz=timezone.utc)


def test_a_patients_slurm_job_cancelled_mid_run_fails_that_patient_alone_and_the_next_run_completes_it(
        tmp_path, monkeypatch, postgres_url, slurm):
    import time

    patients = PATIENTS[:3]
    cohort = write_ucsf_cohort(tmp_path / "cohort", n=len(patients), clinical=False)
    settings = Settings(cohort_dir=str(cohort), data_dir=str(tmp_path / "data"), params="demo", rings_mm=(3.0,),
                        tasks=(), engine="slurm", slurm_memory_mb=500, slurm_time_minutes=5,
                        instance_postgres_url=postgres_url)
    settings.save()
    home = tmp_path / "home"
    env = {**os.environ, "DAGSTER_HOME": str(home), **slurm.env}
    command = [sys.executable, "-m", "cli", "run", str(cohort), "--data-dir", settings.data_dir]
    since = time.time()
    with open(tmp_path / "first.out", "w+", encoding="utf-8") as out:
        first = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
        # The job's interpreter takes seconds to import the extraction: cancelled while it runs,
        # the job has stored nothing.
        job_id, deadline = "", time.monotonic() + 900
        while first.poll() is None and time.monotonic() < deadline and not job_id:
            running, state = _squeued(f"glioma-rings-{CANCELLED}")
            if state == "RUNNING":
                subprocess.run(["scancel", running], check=True)
                job_id = running
            time.sleep(0.2)
        first.wait(timeout=1800)
        out.seek(0)
        printed = out.read()
    assert job_id, f"no running job of {CANCELLED} was seen\n{printed[-3000:]}"
    assert first.returncode == 0, printed[-3000:]  # the other patients succeeded
    assert f"Slurm job {job_id} (glioma-rings-{CANCELLED}) ended CANCELLED" in printed, printed[-3000:]

    monkeypatch.setenv("DAGSTER_HOME", str(home))
    instance = dg.DagsterInstance.get()
    try:
        runs = _extraction_runs(instance, since)
        assert [r.status for r in runs[CANCELLED]] == [dg.DagsterRunStatus.FAILURE]
        [failure] = instance.all_logs(runs[CANCELLED][0].run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
        description = failure.dagster_event.step_failure_data.user_failure_data.description
        assert f"Slurm job {job_id} (glioma-rings-{CANCELLED}) ended CANCELLED" in description
        assert all([r.status for r in runs[p]] == [dg.DagsterRunStatus.SUCCESS] for p in patients if p != CANCELLED)

        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
        assert second.returncode == 0 and " 0 failed" in second.stdout, second.stdout[-3000:] + second.stderr[-3000:]
        assert "1 patients to extract (2 current)" in second.stdout, second.stdout[-3000:]
        runs = _extraction_runs(instance, since)
        assert [r.status for r in runs[CANCELLED]] == [dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.SUCCESS]
        assert all(len(runs[p]) == 1 for p in patients if p != CANCELLED)  # not recomputed
        ours = {r.run_id for rs in runs.values() for r in rs}
        for patient in patients:
            records = instance.fetch_materializations(dg.AssetRecordsFilter(
                asset_key=dg.AssetKey("voi_extraction"), asset_partitions=[patient]), limit=10).records
            [materialization] = [r for r in records if r.run_id in ours]
            assert materialization.asset_materialization.metadata["slurm_state"].value == "COMPLETED"
            if patient == CANCELLED:
                assert materialization.asset_materialization.metadata["slurm_job_id"].value != job_id
    finally:
        instance.dispose()
    assert set(_features(settings.data_dir).patient_id) == set(patients)
