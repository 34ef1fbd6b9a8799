"""The Dagster Definitions: ``dagster dev -w workspace.yaml`` and ``glioma-rings dev`` load these.

Settings come from the project settings file written by ``glioma-rings run``
(``<data dir>/glioma-rings.yaml``; GLIOMA_RINGS_SETTINGS names another one, GLIOMA_RINGS_DATA
another data dir). Without one: GLIOMA_RINGS_COHORT, GLIOMA_RINGS_DATA, GLIOMA_RINGS_PARAMS and
GLIOMA_RINGS_LAYOUT (defaults: the demo cohort). GLIOMA_RINGS_TCIA_COLLECTION, GLIOMA_RINGS_TCIA_COHORT,
GLIOMA_RINGS_TCIA_SEGMENTATIONS (defaults: the pipeline's cohort and its segmentations/ folder),
GLIOMA_RINGS_TCIA_BASE_URL (another NBIA, such as a mirror or a test server) and
GLIOMA_RINGS_TCIA_POLL_SECONDS (default 3600) configure the TCIA sensor and its downloads.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from orchestration.assets.imaging import normalized_images, raw_scans, ring_specs, voi_extraction
from orchestration.assets.modeling import feature_tables_asset, task_assets
from orchestration.assets.robustness import robustness_assets
from orchestration.assets.tables import warehouse_table_specs
from orchestration.assets.tcia import tcia_collection_release, tcia_series
from orchestration.io_managers import FeatureTablesIOManager, JoblibIOManager
from orchestration.jobs import patient_job
from orchestration.partitions import ring_partitions, task_partitions
from orchestration.resources import PipelineResource, TciaResource, settings_path
from orchestration.slurm import PipesSlurmClient
from orchestration.sensors import automation_sensor, new_cases_sensor, tcia_release_sensor, tcia_sensor


def pipeline_from_env() -> PipelineResource:
    data_dir = os.environ.get("GLIOMA_RINGS_DATA", "data")
    path = Path(os.environ.get("GLIOMA_RINGS_SETTINGS") or settings_path(data_dir))
    if path.is_file():
        return PipelineResource.load(path)
    return PipelineResource(
        cohort_dir=os.environ.get("GLIOMA_RINGS_COHORT", "data/demo-cohort"),
        data_dir=data_dir,
        params=os.environ.get("GLIOMA_RINGS_PARAMS", "default"),
        layout=os.environ.get("GLIOMA_RINGS_LAYOUT") or None,
    )


def tcia_case_folders(pipeline: PipelineResource) -> dict[str, str]:
    """Where TCIA cases land: by default as manifest rows of the pipeline's own cohort, so a landed
    case reaches the models like a dropped one, with segmentations looked for in its
    ``segmentations/`` folder (as ``tcia pull`` does). GLIOMA_RINGS_TCIA_COHORT set to nothing:
    series land and nothing more."""
    own = Path(pipeline.cohort_dir)
    cohort = os.environ.get("GLIOMA_RINGS_TCIA_COHORT", str(own.parent if own.suffix.lower() == ".csv" else own))
    segmentations = os.environ.get("GLIOMA_RINGS_TCIA_SEGMENTATIONS", os.path.join(cohort, "segmentations"))
    return {"cohort_dir": cohort, "segmentation_dir": segmentations if cohort else ""}


def assets(pipeline: PipelineResource) -> list[dg.AssetsDefinition | dg.AssetSpec]:
    """The asset graph for these settings (the ring and task dimensions are the settings')."""
    rings = ring_partitions(pipeline.settings.rings)
    robustness = robustness_assets(pipeline.settings)
    icc = [a.key for a in robustness if a.key.to_user_string() == "feature_robustness"]
    return [raw_scans, normalized_images, voi_extraction, *ring_specs(rings), feature_tables_asset(rings),
            *task_assets(task_partitions(pipeline.tasks), after=icc), *robustness]


def build_definitions(pipeline: PipelineResource) -> dg.Definitions:
    graph = assets(pipeline)
    return dg.Definitions(
        assets=[*graph, *warehouse_table_specs(graph), tcia_series, tcia_collection_release],
        jobs=[patient_job],
        sensors=[automation_sensor, new_cases_sensor, tcia_sensor, tcia_release_sensor],
        resources={
            "pipeline": pipeline,
            # Used by voi_extraction when the settings' engine is "slurm".
            "slurm": PipesSlurmClient(),
            "feature_tables_io": FeatureTablesIOManager(folder=str(Path(pipeline.data_dir, "work", "feature_tables"))),
            "models_io": JoblibIOManager(folder=str(Path(pipeline.data_dir, "work", "models"))),
            # Any other value an asset returns: in the data folder too, never in DAGSTER_HOME.
            "io_manager": dg.FilesystemIOManager(base_dir=str(Path(pipeline.data_dir, "work", "storage"))),
            "tcia": TciaResource(collection=os.environ.get("GLIOMA_RINGS_TCIA_COLLECTION", "TCGA-GBM"),
                                 base_url=os.environ.get("GLIOMA_RINGS_TCIA_BASE_URL", TciaResource().base_url),
                                 landing_dir=os.path.join(pipeline.data_dir, "landing", "tcia"),
                                 **tcia_case_folders(pipeline)),
        },
        # A run's steps follow each other in the run's own process; how many runs execute at
        # once is the instance's run queue (max_concurrent_runs, written by cli.instance).
        executor=dg.in_process_executor,
    )


defs = build_definitions(pipeline_from_env())
