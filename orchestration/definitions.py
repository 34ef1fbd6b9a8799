"""The Dagster Definitions: ``dagster dev -w workspace.yaml`` and ``glioma-rings dev`` load these.

Where the cohort and data live comes from the environment, set by ``glioma-rings dev``/``run``:
GLIOMA_RINGS_COHORT, GLIOMA_RINGS_DATA, GLIOMA_RINGS_PARAMS (defaults: the demo cohort).
GLIOMA_RINGS_DASK_SCHEDULER, when set, adds the two partitioned jobs on that Dask cluster.
"""

from __future__ import annotations

import os

import dagster as dg

from orchestration.assets.imaging import normalized_images, raw_scans, ring_features, ring_masks
from orchestration.assets.modeling import evaluation_reports, feature_tables, fitted_models, splits
from orchestration.jobs import dask_jobs, feature_tables_job, models_job, patient_job, ring_job
from orchestration.resources import PipelineResource, TciaResource
from orchestration.schedules import refit_schedule
from orchestration.sensors import models_after_feature_tables, new_cases_sensor, rings_after_patient, tcia_poller

ASSETS = [raw_scans, normalized_images, ring_masks, ring_features, feature_tables, splits, fitted_models,
          evaluation_reports]


def pipeline_from_env() -> PipelineResource:
    return PipelineResource(
        cohort_dir=os.environ.get("GLIOMA_RINGS_COHORT", "data/demo-cohort"),
        data_dir=os.environ.get("GLIOMA_RINGS_DATA", "data"),
        params=os.environ.get("GLIOMA_RINGS_PARAMS", "default"),
        layout=os.environ.get("GLIOMA_RINGS_LAYOUT") or None,
    )


def build_definitions(pipeline: PipelineResource) -> dg.Definitions:
    scheduler = os.environ.get("GLIOMA_RINGS_DASK_SCHEDULER")
    dask_on = dask_jobs(scheduler) if scheduler else []
    # Two cores: one partition per core; each run's steps go in-process (one step each).
    return dg.Definitions(
        assets=ASSETS,
        jobs=[patient_job, ring_job, feature_tables_job, models_job] + dask_on,
        sensors=[new_cases_sensor, rings_after_patient, models_after_feature_tables, tcia_poller],
        schedules=[refit_schedule],
        resources={"pipeline": pipeline, "tcia": TciaResource(
            collection=os.environ.get("GLIOMA_RINGS_TCIA_COLLECTION", "TCGA-GBM"),
            landing_dir=os.path.join(pipeline.data_dir, "landing", "tcia"))},
        executor=dg.multiprocess_executor.configured({"max_concurrent": 2}),
    )


defs = build_definitions(pipeline_from_env())
