"""Running on an existing Dask cluster (dagster-dask) for cohorts that outgrow one machine.

``dask_patient_job`` and ``dask_ring_job`` are the per-patient and per-ring jobs with Dask's
executor; point them at a scheduler in the run config:

    execution:
      config:
        cluster:
          existing:
            address: tcp://scheduler:8786

The functions are module-level so ``dagster.reconstructable`` can rebuild them on the workers,
which must share the cohort folder, the data folder and the Dagster instance (DAGSTER_HOME).
"""

import dagster as dg
from dagster_dask import dask_executor

from orchestration.assets.imaging import normalized_images, raw_scans, ring_features, ring_masks
from orchestration.definitions import pipeline_from_env
from orchestration.resources import TciaResource


def _job(name: str, selection) -> dg.JobDefinition:
    defs = dg.Definitions(
        assets=[raw_scans, normalized_images, ring_masks, ring_features],
        jobs=[dg.define_asset_job(name, selection=selection, executor_def=dask_executor)],
        resources={"pipeline": pipeline_from_env(), "tcia": TciaResource()},
    )
    return defs.resolve_job_def(name)


def dask_patient_job() -> dg.JobDefinition:
    return _job("dask_patient_job", [raw_scans, normalized_images])


def dask_ring_job() -> dg.JobDefinition:
    return _job("dask_ring_job", [ring_masks, ring_features])
