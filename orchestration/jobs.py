"""Jobs: one per partitioning, so each run materializes exactly one partition of its assets."""

import dagster as dg

from orchestration.assets.imaging import normalized_images, ring_features, ring_masks, raw_scans
from orchestration.assets.modeling import evaluation_reports, feature_tables, fitted_models, splits

patient_job = dg.define_asset_job("patient_job", selection=[raw_scans, normalized_images],
                                  description="Validate and normalize one patient's scans.")
ring_job = dg.define_asset_job("ring_job", selection=[ring_masks, ring_features],
                               description="Cut one ring of one patient and extract its features.")
feature_tables_job = dg.define_asset_job("feature_tables_job", selection=[feature_tables],
                                         description="Rebuild one ring's wide feature table.")
models_job = dg.define_asset_job("models_job", selection=[splits, fitted_models, evaluation_reports],
                                 description="Split, fit and evaluate one task's models.")


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
        dg.define_asset_job("dask_patient_job", selection=[raw_scans, normalized_images], executor_def=executor,
                            description="patient_job on a Dask cluster."),
        dg.define_asset_job("dask_ring_job", selection=[ring_masks, ring_features], executor_def=executor,
                            description="ring_job on a Dask cluster."),
    ]
