"""Running on an existing Dask cluster (dagster-dask) for cohorts that outgrow one machine.

In the UI: set ``GLIOMA_RINGS_DASK_SCHEDULER=tcp://scheduler:8786`` before ``glioma-rings dev``
and the Definitions gain ``dask_patient_job`` and ``dask_ring_job`` bound to that scheduler.

From Python: ``dask_patient_job`` and ``dask_ring_job`` below are module-level so that
``dagster.reconstructable`` can rebuild them on the workers; choose the cluster in the run config:

    execution:
      config:
        cluster:
          existing:
            address: tcp://scheduler:8786

Workers must share the cohort folder, the data folder and the Dagster instance (DAGSTER_HOME).
"""

import dagster as dg

from orchestration.definitions import assets, pipeline_from_env
from orchestration.jobs import dask_jobs
from orchestration.resources import TciaResource


def _job(name: str) -> dg.JobDefinition:
    pipeline = pipeline_from_env()
    defs = dg.Definitions(
        assets=assets(pipeline)[:4],  # raw scans, normalized images, ring masks, ring features
        jobs=dask_jobs(),
        resources={"pipeline": pipeline, "tcia": TciaResource()},
    )
    return defs.resolve_job_def(name)


def dask_patient_job() -> dg.JobDefinition:
    return _job("dask_patient_job")


def dask_ring_job() -> dg.JobDefinition:
    return _job("dask_ring_job")
