"""A patient's assets run through dagster-dask on a real local Dask distributed cluster."""

import dagster as dg
import pytest
from distributed import LocalCluster

from orchestration.distributed import dask_patient_job
from warehouse import queries
from warehouse.store import Warehouse
from tests.builders import write_ucsf_cohort

pytestmark = pytest.mark.slow


# dagster-dask 0.29.27 submits the DagsterRun record to Dask; for a partitioned run that record
# holds a partitions subset, which Dask's scheduler iterates and Dagster's @record forbids
# ("Iteration is not allowed on `@record` KeyRangesPartitionsSubset"; also with dask 2024.10).
# Every asset here is partitioned, so this stays red until dagster-dask passes the run by
# reference. strict=True: when upstream fixes it, this test fails and the marker must go.
@pytest.mark.xfail(strict=True, reason="dagster-dask cannot submit partitioned runs (see comment)")
def test_patient_job_runs_on_a_local_dask_cluster(tmp_path, monkeypatch):
    cohort = write_ucsf_cohort(tmp_path / "cohort", n=1)
    monkeypatch.setenv("GLIOMA_RINGS_COHORT", str(cohort))
    monkeypatch.setenv("GLIOMA_RINGS_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("GLIOMA_RINGS_PARAMS", "demo")
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("patients", ["UCSF-PDGM-0001"])
        result = dg.execute_job(
            dg.reconstructable(dask_patient_job), instance=instance,
            run_config={"execution": {"config": {"cluster": {"existing": {"address": cluster.scheduler_address}}}}},
            tags={"dagster/partition": "UCSF-PDGM-0001"},
        )
        assert result.success
        workers = cluster.scheduler.workers
        assert workers  # the cluster was real
    root = Warehouse(tmp_path / "data" / "warehouse").root
    assert queries.table(root, "patients").patient_id.tolist() == ["UCSF-PDGM-0001"]
    assert (tmp_path / "data" / "work" / "normalized" / "UCSF-PDGM-0001" / "FLAIR.nii.gz").exists()
