"""Named jobs for the UI's launchpad and for Dask clusters; the graph itself needs none of them
(declarative automation and backfills select assets directly)."""

import dagster as dg

PATIENT_ASSETS = ["raw_scans", "normalized_images"]
RING_ASSETS = ["ring_masks", "ring_features"]

patient_job = dg.define_asset_job("patient_job", selection=PATIENT_ASSETS,
                                  description="Validate and normalize one patient's scans.")
ring_job = dg.define_asset_job("ring_job", selection=RING_ASSETS,
                               description="Cut a patient's rings and extract their features (pick all of a "
                                           "patient's ring keys: they are computed in one pass).")


def dask_jobs(scheduler_address: str | None = None) -> list:
    """``dask_patient_job`` and ``dask_ring_job``: the two partitioned jobs on dagster-dask.

    With a scheduler address (``tcp://host:8786``) they are preconfigured for that cluster;
    without one the run config chooses the cluster (dagster-dask's schema).
    """
    # Imported here: dask and distributed add seconds to every load of the definitions.
    from orchestration.dask_executor import dask_executor

    executor = (dask_executor.configured({"cluster": {"existing": {"address": scheduler_address}}})
                if scheduler_address else dask_executor)
    return [
        dg.define_asset_job("dask_patient_job", selection=PATIENT_ASSETS, executor_def=executor,
                            description="patient_job on a Dask cluster."),
        dg.define_asset_job("dask_ring_job", selection=RING_ASSETS, executor_def=executor,
                            description="ring_job on a Dask cluster."),
    ]
