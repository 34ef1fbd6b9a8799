"""A lab's cluster as the README sets it up, for real on this machine: ``glioma-rings run --engine
slurm`` on a PostgreSQL instance. The daemon that ``run`` starts executes the cohort's backfill,
each patient's extraction is a job of a real single-node Slurm, and nothing is stored in
DAGSTER_HOME's SQLite; the features equal those of a run on this machine alone."""

from __future__ import annotations

import os
import subprocess
import sys

import dagster as dg
import pytest

from cli.instance import default_dagster_home, open_instance
from cli.launcher import run_cohort
from orchestration.resources import PipelineResource
from radiomics_core.settings import Settings
from tests.builders import write_ucsf_cohort
from warehouse import queries

pytestmark = pytest.mark.slow
PATIENTS = [f"UCSF-PDGM-{i:04d}" for i in range(1, 5)]
COLUMNS = ["patient_id", "ring_mm", "sequence", "feature", "value"]


def _features(data) -> object:
    root = Settings(cohort_dir=".", data_dir=str(data)).warehouse_root
    return queries.table(root, "features").sort_values(COLUMNS[:4]).reset_index(drop=True)[COLUMNS]


def test_run_with_the_slurm_engine_on_a_postgres_instance_extracts_each_patient_in_a_slurm_job(
        tmp_path, monkeypatch, postgres_url, slurm):
    cohort = write_ucsf_cohort(tmp_path / "cohort", n=len(PATIENTS), clinical=False)
    common = {"cohort_dir": str(cohort), "params": "demo", "rings_mm": (3.0,), "tasks": (),
              "slurm_memory_mb": 500, "slurm_time_minutes": 5}
    # The reference: the same cohort on this machine alone (in process, its own SQLite instance).
    local = Settings(**common, data_dir=str(tmp_path / "local"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "local-home"))
    default_dagster_home(local.data_dir, local)
    summary = run_cohort(PipelineResource.from_settings(local), open_instance(), workers=1)
    assert all(o.success for o in summary.outcomes)

    cluster = Settings(**common, data_dir=str(tmp_path / "data"), instance_postgres_url=postgres_url)
    cluster.save()
    home = tmp_path / "home"
    env = {**os.environ, "DAGSTER_HOME": str(home), **slurm.env}
    completed = subprocess.run([sys.executable, "-m", "cli", "run", str(cohort), "--data-dir", cluster.data_dir,
                                "--engine", "slurm"], env=env, capture_output=True, text=True, timeout=1800)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "no daemon runs on this instance: started one" in completed.stdout

    monkeypatch.setenv("DAGSTER_HOME", str(home))
    instance = dg.DagsterInstance.get()
    try:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        for patient in PATIENTS:
            [record] = instance.fetch_materializations(dg.AssetRecordsFilter(
                asset_key=dg.AssetKey("voi_extraction"), asset_partitions=[patient]), limit=1).records
            metadata = record.asset_materialization.metadata
            assert metadata["engine"].value == "slurm" and metadata["slurm_job_id"].value, patient
            assert metadata["slurm_state"].value == "COMPLETED"
    finally:
        instance.dispose()
    assert _features(cluster.data_dir).equals(_features(local.data_dir))
    assert not list(home.rglob("*.db"))  # the runs never stored anything in DAGSTER_HOME's SQLite
