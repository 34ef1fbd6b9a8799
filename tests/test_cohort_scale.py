"""A cohort as users run it: twelve patients x eight ring keys under the real ``glioma-rings dev``
(webserver + daemon). Twelve cases dropped at once flow through the sensor and automation, and a
later ``glioma-rings run --force`` (a backfill launched through Dagster's GraphQL API, as the
Materialize button does) recomputes them: each time every patient is extracted exactly once, in
one run that cuts and extracts all eight of its VOIs, whatever Dagster's grouping of partitions.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import dagster as dg
import pytest

from orchestration.resources import PipelineResource
from tests.builders import write_ucsf_cohort
from tests.test_ui_path import _free_port, _wait, stop_dev, webserver_up

pytestmark = pytest.mark.slow
PATIENTS = 12
RING_KEYS = ["T", "1", "2", "3", "4", "5", "10", "15"]


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    root = tmp_path_factory.mktemp("scale")
    cohort, data, home = write_ucsf_cohort(root / "cohort", n=PATIENTS), root / "data", root / "home"
    # The settings `run` would have saved; the default rings give the grid its eight ring keys.
    PipelineResource(cohort_dir=str(cohort), data_dir=str(data), params="demo", tasks=["grade"]).settings.save()
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    port = _free_port()
    log = open(root / "dev.log", "w", encoding="utf-8")
    process = subprocess.Popen([sys.executable, "-m", "cli", "dev", str(cohort), "--data-dir", str(data),
                                "--dagster-port", str(port), "--dashboard-port", str(_free_port())],
                               env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait(lambda: webserver_up(f"http://127.0.0.1:{port}"), 300, "the Dagster webserver")
        yield {"cohort": cohort, "data": data, "home": home, "env": env}
    finally:
        stop_dev(process)
        log.close()


def _extraction_runs(instance: dg.DagsterInstance, after: float) -> dict[str, list[dg.DagsterRun]]:
    runs: dict[str, list[dg.DagsterRun]] = {}
    for record in instance.get_run_records():
        run = record.dagster_run
        if record.create_timestamp.timestamp() >= after and dg.AssetKey("voi_extraction") in (run.asset_selection or ()):
            runs.setdefault(run.tags.get("dagster/partition", "?"), []).append(run)
    return runs


def _settled(instance: dg.DagsterInstance, after: float) -> bool:
    """Every patient extracted since ``after``, the feature tables refreshed since, nothing queued or running."""
    if len(_extraction_runs(instance, after)) < PATIENTS:
        return False
    busy = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTED,
                                                     dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.NOT_STARTED]))
    tables = instance.get_latest_materialization_event(dg.AssetKey("feature_tables"))
    return not busy and tables is not None and tables.timestamp > after


def _assert_each_patient_extracted_once_with_every_voi(instance: dg.DagsterInstance, after: float) -> None:
    runs = _extraction_runs(instance, after)
    assert sorted(runs) == [f"UCSF-PDGM-{i:04d}" for i in range(1, PATIENTS + 1)]
    for patient, patient_runs in runs.items():
        assert len(patient_runs) == 1, (patient, [r.run_id for r in patient_runs])
        run = patient_runs[0]
        assert run.is_success, (patient, run.status)
        # The run reported every ring of its patient, masks and features: none was left to another run.
        for asset in ("ring_masks", "ring_features"):
            reported = {e.asset_materialization.partition for e in instance.all_logs(
                run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
                if e.asset_materialization.asset_key == dg.AssetKey(asset)}
            assert reported == {f"{patient}|{key}" for key in RING_KEYS}, (patient, asset, reported)
        extraction = instance.fetch_materializations(dg.AssetRecordsFilter(
            asset_key=dg.AssetKey("voi_extraction"), asset_partitions=[patient]), limit=1).records[0]
        assert extraction.run_id == run.run_id
        assert extraction.asset_materialization.metadata["vois"].value == len(RING_KEYS)


def test_twelve_cases_dropped_at_once_are_each_extracted_once_by_the_automation(dev):
    with dg.DagsterInstance.from_config(str(dev["home"])) as instance:
        _wait(lambda: _settled(instance, 0.0), 1200, "the automation to extract all twelve patients", every_s=5)
        _assert_each_patient_extracted_once_with_every_voi(instance, 0.0)


def test_a_cohort_backfill_launched_through_graphql_extracts_each_patient_once(dev):
    started = time.time()
    completed = subprocess.run([sys.executable, "-m", "cli", "run", str(dev["cohort"]), "--data-dir", str(dev["data"]),
                                "--force"], env=dev["env"], capture_output=True, text=True, timeout=1800)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "backfill " in completed.stdout and f"{PATIENTS} patients to extract" in completed.stdout
    with dg.DagsterInstance.from_config(str(dev["home"])) as instance:
        backfills = [b for b in instance.get_backfills() if b.backfill_timestamp >= started]
        assert len(backfills) == 1 and backfills[0].status.value == "COMPLETED_SUCCESS"
        _assert_each_patient_extracted_once_with_every_voi(instance, started)
    assert "the daemon already running on this instance" in completed.stdout  # dev's, not one of run's own
