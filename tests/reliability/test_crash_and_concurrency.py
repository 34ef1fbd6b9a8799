"""Killed runs resume without recomputing or leaving half-written rows; parallel runs never
duplicate rows; an oversized volume fails with a clear error instead of exhausting memory."""

import os
import signal
import subprocess
import sys
import time

import dagster as dg
import pyarrow.parquet as pq
import pytest

from orchestration.resources import PipelineResource
from cli.launcher import run_patient
from tests.builders import write_ucsf_cohort
from warehouse import queries

pytestmark = pytest.mark.slow


def _run_command(cohort, data, *extra):
    return [sys.executable, "-m", "cli", "run", str(cohort), "--data-dir", str(data),
            "--params", "demo", "--rings", "1,3", "--task", "grade", "--workers", "1", "--in-process", *extra]


def _env(home):
    return {**os.environ, "DAGSTER_HOME": str(home)}


def _feature_files(data):
    return [p for p in (data / "warehouse" / "tables" / "features").glob("*.parquet") if not p.name.startswith("_")]


def _ring_runs(home) -> dict[str, int]:
    """How many runs extracted each patient's rings (every VOI of a patient in one run)."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        counts: dict[str, int] = {}
        for run in instance.get_runs():
            patient = run.tags.get("dagster/partition", "")
            if patient and dg.AssetKey("voi_extraction") in (run.asset_selection or set()):
                counts[patient] = counts.get(patient, 0) + 1
        return counts


def test_a_killed_run_resumes_without_recomputing_and_leaves_no_partial_rows(tmp_path):
    cohort = write_ucsf_cohort(tmp_path / "cohort", n=4)
    data, home = tmp_path / "data", tmp_path / "home"
    home.mkdir()
    process = subprocess.Popen(_run_command(cohort, data), env=_env(home), start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while len(_feature_files(data)) < 4 and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    for path in (data / "warehouse" / "tables").glob("*/*.parquet"):
        pq.read_table(path)  # every visible file is whole
    root = data / "warehouse"
    identity = PipelineResource(cohort_dir=str(cohort), params="demo").settings.feature_identity
    done_before = queries.extracted_partitions(root, identity)
    assert 4 <= len(done_before) < 12  # killed part-way: 4 patients x 3 VOIs in all
    runs_before = _ring_runs(home)

    resumed = subprocess.run(_run_command(cohort, data), env=_env(home), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    runs_after = _ring_runs(home)
    complete = {p for p, _ in done_before if sum(1 for q, _ in done_before if q == p) == 3}
    assert complete  # the kill came after at least one patient's three VOIs
    for patient in complete:
        assert runs_after.get(patient) == runs_before.get(patient), patient  # not recomputed
    features = queries.table(root, "features")
    per_partition = features.groupby(["patient_id", "ring_mm"]).size()
    assert len(per_partition) == 12 and per_partition.nunique() == 1  # none missing, none duplicated


def test_two_runs_at_once_neither_fail_nor_duplicate_rows(tmp_path):
    cohort = write_ucsf_cohort(tmp_path / "cohort", n=2)
    data, home = tmp_path / "data", tmp_path / "home"
    home.mkdir()
    runs = [subprocess.Popen(_run_command(cohort, data, "--force"), env=_env(home), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    features = queries.table(data / "warehouse", "features")
    per_partition = features.groupby(["patient_id", "ring_mm"]).size()
    assert len(per_partition) == 2 * 3 and per_partition.nunique() == 1
    assert not features.duplicated(["patient_id", "ring_mm", "sequence", "feature"]).any()


def test_an_oversized_volume_fails_with_a_clear_error(tmp_path):
    cohort = write_ucsf_cohort(tmp_path / "cohort", n=1)
    pipeline = PipelineResource(cohort_dir=str(cohort), data_dir=str(tmp_path / "data"), params="demo",
                                rings_mm=[], max_voxels=10_000)
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("patients", ["UCSF-PDGM-0001"])
        outcomes = run_patient(pipeline, "UCSF-PDGM-0001", instance)
    assert not outcomes[0].success
    issues = queries.table(pipeline.warehouse().root, "case_issues")
    assert "too_large" in issues.kind.tolist()
    assert "raise ValidationConfig.max_voxels" in issues.message.iloc[0]
