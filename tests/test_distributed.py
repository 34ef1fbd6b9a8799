"""A patient's assets run through dagster-dask on a real local Dask distributed cluster."""

import dagster as dg
import pytest
from distributed import LocalCluster

from orchestration.distributed import dask_patient_job, dask_ring_job
from warehouse import queries
from warehouse.store import Warehouse
from tests.builders import write_ucsf_cohort

pytestmark = pytest.mark.slow

PATIENT = "UCSF-PDGM-0001"


def _run_on(cluster: LocalCluster, job, instance: dg.DagsterInstance, tags: dict[str, str]):
    return dg.execute_job(
        dg.reconstructable(job), instance=instance, tags=tags, raise_on_error=False,
        run_config={"execution": {"config": {"cluster": {"existing": {"address": cluster.scheduler_address}}}}},
    )


def test_patient_and_ring_jobs_run_on_a_local_dask_cluster(tmp_path, monkeypatch):
    cohort = write_ucsf_cohort(tmp_path / "cohort", n=1)
    monkeypatch.setenv("GLIOMA_RINGS_COHORT", str(cohort))
    monkeypatch.setenv("GLIOMA_RINGS_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("GLIOMA_RINGS_PARAMS", "demo")
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("patients", [PATIENT])
        patient = _run_on(cluster, dask_patient_job, instance, {"dagster/partition": PATIENT})
        ring = _run_on(cluster, dask_ring_job, instance, {
            "dagster/partition": f"{PATIENT}|3", "dagster/partition/patient": PATIENT,
            "dagster/partition/ring": "3"})
        worker_pids = {w.pid for w in cluster.scheduler.workers.values()}
        successes = [e for e in patient.all_events + ring.all_events if e.is_step_success]
        steps = {e.step_key for e in successes}
    assert patient.success and ring.success
    assert {e.pid for e in successes} <= worker_pids  # every step ran in a Dask worker process
    assert steps == {"raw_scans", "normalized_images", "ring_masks", "ring_features"}
    root = Warehouse(tmp_path / "data" / "warehouse").root
    assert queries.table(root, "patients").patient_id.tolist() == [PATIENT]
    volumes = queries.table(root, "ring_volumes")
    assert volumes.ring_mm.tolist() == [3.0] and volumes.voxels.iloc[0] > 0
    assert queries.count(root, "features") > 0


def test_a_dask_scheduler_address_adds_the_dask_jobs_to_the_definitions(monkeypatch):
    from orchestration.definitions import build_definitions, pipeline_from_env

    monkeypatch.delenv("GLIOMA_RINGS_DASK_SCHEDULER", raising=False)
    jobs = {j.name for j in build_definitions(pipeline_from_env()).resolve_all_job_defs()}
    assert "ring_job" in jobs and "dask_ring_job" not in jobs
    monkeypatch.setenv("GLIOMA_RINGS_DASK_SCHEDULER", "tcp://scheduler:8786")
    job = build_definitions(pipeline_from_env()).resolve_job_def("dask_ring_job")
    assert job.executor_def.name == "dask"
    assert job.partitions_def is not None
