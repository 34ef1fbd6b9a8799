"""The graph in this process, for notebooks and tests (``glioma-rings run --in-process``).

``glioma-rings run`` itself launches a backfill that the daemon executes (``cli/backfill.py``).
This path executes the same assets with ``execute_in_process`` on the given instance: the
stages are read off the asset graph (consecutive assets in Dagster's topological order that
share a partitioning), each patient's stages in turn, then the cohort-wide stages once. A stage
whose assets have a single-run backfill policy is one run, any other one run per partition.
Resuming skips a patient whose normalized images and features are stored with the current
settings (every sequence, every ring); ``force`` recomputes.
"""

from __future__ import annotations

import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field

import dagster as dg

from orchestration.assets.imaging import voi_extraction
from orchestration.assets.tcia import tcia_series_partitions
from orchestration.definitions import build_definitions
from orchestration.partitions import patient_ring_key, patients_partitions
from radiomics_core.settings import Ring
from orchestration.resources import PipelineResource
from warehouse import queries

RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


@dataclass
class PartitionOutcome:
    job: str  # the stage's assets, e.g. "raw_scans+normalized_images"
    partition: str
    success: bool
    error: str = ""
    run_id: str = ""


@dataclass
class RunSummary:
    outcomes: list[PartitionOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[PartitionOutcome]:
        return [o for o in self.outcomes if not o.success]

    @property
    def succeeded(self) -> list[PartitionOutcome]:
        return [o for o in self.outcomes if o.success]


@dataclass(frozen=True)
class Stage:
    """Consecutive assets of the graph with one partitioning: they run together."""

    assets: tuple[dg.AssetKey, ...]
    partitions_def: dg.PartitionsDefinition | None  # None: an unpartitioned asset
    backfill_policy: dg.BackfillPolicy | None

    @property
    def name(self) -> str:
        return "+".join(key.to_user_string() for key in self.assets)

    @property
    def per_patient(self) -> bool:
        definition = self.partitions_def
        if isinstance(definition, dg.MultiPartitionsDefinition):
            return any(d.partitions_def == patients_partitions for d in definition.partitions_defs)
        return definition == patients_partitions


def graph_stages(defs: dg.Definitions) -> list[Stage]:
    graph = defs.resolve_asset_graph()
    stages: list[Stage] = []
    for key in graph.toposorted_asset_keys:
        node = graph.get(key)
        # TCIA downloads are requested by the TCIA sensor, one run per series, not by cohort runs.
        if not node.is_materializable or node.partitions_def == tcia_series_partitions:
            continue
        if stages and stages[-1].partitions_def == node.partitions_def:
            stages[-1] = Stage((*stages[-1].assets, key), node.partitions_def, stages[-1].backfill_policy)
        else:
            stages.append(Stage((key,), node.partitions_def, node.backfill_policy))
    return stages


def stage_runs(stage: Stage, keys: list[str | None]) -> list[dict]:
    """The runs of ``keys``: one for a single-run stage (a partition range), else one per key."""
    policy = stage.backfill_policy
    if policy is not None and policy.max_partitions_per_run is None and len(keys) > 1:
        return [{"tags": {RANGE_START: keys[0], RANGE_END: keys[-1]}}]
    return [{"partition_key": key} for key in keys]


def _execute(defs: dg.Definitions, stage: Stage, run: dict, instance: dg.DagsterInstance) -> PartitionOutcome:
    # Console output stays quiet (the CLI shows progress); every event still goes to the
    # instance, so the Dagster UI shows the full logs of each run.
    # A failure reaches the console as the CLI's one-line summary, not as a stack trace.
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=instance, asset_selection=list(stage.assets), raise_on_error=False,
                                    run_config=quiet, partition_key=run.get("partition_key"), tags=run.get("tags"))
    error = ""
    if not result.success:
        failures = [e for e in result.all_events if e.is_step_failure]
        error = failure_line(failures[0].step_failure_data) if failures else "run failed"
    tags = run.get("tags") or {}
    partition = run.get("partition_key") or (f"{tags.get(RANGE_START)}...{tags.get(RANGE_END)}" if tags else "all")
    return PartitionOutcome(stage.name, partition, result.success, error, run_id=result.run_id)


def failure_line(failure) -> str:
    """A step failure in one line: a ``dg.Failure``'s description, else the innermost error (the
    user code's exception, not Dagster's wrapper around it)."""
    if failure.user_failure_data is not None and failure.user_failure_data.description:
        return failure.user_failure_data.description.strip().splitlines()[0]
    error = failure.error
    while error.cause is not None:
        error = error.cause
    return error.message.strip().splitlines()[0]


def _stage_keys(stage: Stage, patient_id: str | None) -> list[str | None]:
    """The stage's partition keys, for one patient where the stage has a patient dimension."""
    definition = stage.partitions_def
    if definition is None:  # a cohort-wide asset without partitions (feature_robustness): one run
        return [None]
    if not stage.per_patient:
        return definition.get_partition_keys()
    if isinstance(definition, dg.MultiPartitionsDefinition):
        rings = definition.get_partitions_def_for_dimension("ring").get_partition_keys()
        return [str(patient_ring_key(patient_id, Ring.from_key(ring))) for ring in rings]
    return [patient_id]


def _normalized_current(pipeline: PipelineResource, patient_id: str) -> bool:
    rows = pipeline.warehouse().read_partitions("preprocessing", [patient_id])
    if rows.empty or json.loads(rows.metadata_json.iloc[0]).get("identity") != pipeline.settings.preprocessing_identity:
        return False
    folder = pipeline.settings.work_dir("normalized", patient_id)
    return all((folder / f"{sequence}.nii.gz").exists() for sequence in pipeline.sequences)


def _features_current(pipeline: PipelineResource, patient_id: str, stored: dict) -> bool:
    wanted = set(pipeline.settings.stored_sequences)
    return all(wanted <= stored.get((patient_id, ring.mm), set()) for ring in pipeline.settings.rings)


def _stored_sequences(pipeline: PipelineResource) -> dict[tuple[str, float], set[str]]:
    return queries.extracted_sequences(pipeline.warehouse().root, pipeline.settings.feature_identity)


def patients_to_compute(pipeline: PipelineResource, patients: list[str], force: bool) -> tuple[list[str], list[str]]:
    """(patients whose scans are read and normalized again, then extracted; patients whose
    normalized images are current and only their extraction is stale). The others are current."""
    if force:
        return list(patients), []
    stored = _stored_sequences(pipeline)
    full, features_only = [], []
    for patient_id in patients:
        if not _normalized_current(pipeline, patient_id):
            full.append(patient_id)
        elif not _features_current(pipeline, patient_id, stored):
            features_only.append(patient_id)
    return full, features_only


def run_patient(pipeline: PipelineResource, patient_id: str, instance: dg.DagsterInstance | None = None,
                force: bool = True, stored: dict[tuple[str, float], set[str]] | None = None) -> list[PartitionOutcome]:
    """The patient's stages in graph order; later stages are skipped if one fails.

    With ``force=False`` stages whose results are stored with the current settings are skipped,
    so a killed or changed run resumes where it stopped and recomputes only what changed.
    ``stored`` (what ``queries.extracted_sequences`` returns for the current identity) spares a
    scan of the features table per patient when the caller has it already.
    """
    instance = instance or dg.DagsterInstance.get()
    defs = build_definitions(pipeline)
    normalized = not force and _normalized_current(pipeline, patient_id)
    if normalized:
        stored = _stored_sequences(pipeline) if stored is None else stored
        if _features_current(pipeline, patient_id, stored):
            return []
    outcomes: list[PartitionOutcome] = []
    for stage in (s for s in graph_stages(defs) if s.per_patient):
        if normalized and stage.partitions_def == patients_partitions:
            # The scans are current: only their extraction is stale.
            stage = Stage(tuple(k for k in stage.assets if k == voi_extraction.key), stage.partitions_def,
                          stage.backfill_policy)
        for run in stage_runs(stage, _stage_keys(stage, patient_id)):
            outcomes.append(_execute(defs, stage, run, instance))
            if not outcomes[-1].success:
                return outcomes
    return outcomes


def _run_patient_in_worker(settings: dict, patient_id: str, force: bool, stored: dict | None) -> list[PartitionOutcome]:
    return run_patient(PipelineResource(**settings), patient_id, force=force, stored=stored)


def run_cohort(pipeline: PipelineResource, instance: dg.DagsterInstance, workers: int = 2,
               patients: list[str] | None = None, on_patient=None, force: bool = True) -> RunSummary:
    """Materialize everything for ``patients`` (default: every case in the cohort), then the
    cohort-wide assets (feature tables, splits, models, reports), which are always refreshed."""
    ids = patients if patients is not None else [case.patient_id for case in pipeline.settings.cohort().cases]
    known = set(instance.get_dynamic_partitions(patients_partitions.name))
    instance.add_dynamic_partitions(patients_partitions.name, [p for p in ids if p not in known])
    pipeline.warehouse()  # create the views once, before workers read them
    # What is stored under the current settings, read once for every patient's resume check.
    stored = None if force else _stored_sequences(pipeline)
    summary = RunSummary()
    if workers > 1 and not instance.is_ephemeral and len(ids) > 1:
        # Resources do not pickle, their settings do.
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(_run_patient_in_worker, pipeline.settings.to_dict(), p, force, stored): p
                       for p in ids}
            for future in as_completed(futures):
                summary.outcomes.extend(future.result())
                if on_patient:
                    on_patient(futures[future])
    else:
        for patient_id in ids:
            summary.outcomes.extend(run_patient(pipeline, patient_id, instance, force=force, stored=stored))
            if on_patient:
                on_patient(patient_id)
    defs = build_definitions(pipeline)
    for stage in (s for s in graph_stages(defs) if not s.per_patient):
        for run in stage_runs(stage, _stage_keys(stage, None)):
            summary.outcomes.append(_execute(defs, stage, run, instance))
    return summary
