"""Materializing the whole graph for a cohort through Dagster, as ``glioma-rings run`` does.

Each patient gets a ``patient_job`` run, then one ``ring_job`` run per ring; then every ring's
feature table and every task's models. Patients go to a pool of worker processes (each with the
persistent instance from DAGSTER_HOME), so the runs, their logs and lineage show in the UI.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field

import dagster as dg

from orchestration.definitions import build_definitions
from orchestration.partitions import patients_partitions, ring_key, ring_mm, rings_partitions
from orchestration.resources import PipelineResource
from warehouse import queries


@dataclass
class PartitionOutcome:
    job: str
    partition: str
    success: bool
    error: str = ""


@dataclass
class RunSummary:
    outcomes: list[PartitionOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[PartitionOutcome]:
        return [o for o in self.outcomes if not o.success]

    @property
    def succeeded(self) -> list[PartitionOutcome]:
        return [o for o in self.outcomes if o.success]


def _execute(defs: dg.Definitions, job: str, partition_key, instance: dg.DagsterInstance) -> PartitionOutcome:
    # Console output stays quiet (the CLI shows progress); every event still goes to the
    # instance, so the Dagster UI shows the full logs of each run.
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    result = defs.resolve_job_def(job).execute_in_process(partition_key=partition_key, instance=instance,
                                                          raise_on_error=False, run_config=quiet)
    error = ""
    if not result.success:
        failures = [e for e in result.all_events if e.is_step_failure]
        error = failures[0].step_failure_data.error.message.strip().splitlines()[0] if failures else "run failed"
    return PartitionOutcome(job, str(partition_key), result.success, error)


def ring_keys(pipeline: PipelineResource) -> list[str]:
    wanted = {ring_key(0.0)} | {ring_key(d) for d in pipeline.rings_mm}
    return [k for k in rings_partitions.get_partition_keys() if k in wanted]


def _settings(pipeline: PipelineResource) -> dict:
    """The resource's fields: resources do not pickle, their settings do (for worker processes)."""
    return {name: getattr(pipeline, name) for name in PipelineResource.model_fields}


def _run_patient_in_worker(settings: dict, patient_id: str, force: bool) -> list[PartitionOutcome]:
    return run_patient(PipelineResource(**settings), patient_id, force=force)


def _materialized(instance: dg.DagsterInstance, asset: str) -> set[str]:
    return set(instance.get_materialized_partitions(dg.AssetKey(asset)))


def run_patient(pipeline: PipelineResource, patient_id: str, instance: dg.DagsterInstance | None = None,
                force: bool = True) -> list[PartitionOutcome]:
    """Patient assets, then each ring's mask and features; rings are skipped if the patient failed.

    With ``force=False`` a patient already normalized and rings whose features are stored with
    the current parameters are skipped, so a killed run resumes where it stopped.
    """
    instance = instance or dg.DagsterInstance.get()
    defs = build_definitions(pipeline)
    outcomes: list[PartitionOutcome] = []
    if force or patient_id not in _materialized(instance, "normalized_images"):
        outcomes.append(_execute(defs, "patient_job", patient_id, instance))
        if not outcomes[-1].success:
            return outcomes
    # Stored features with the current parameters count as done; other parameters do not.
    done = set() if force else queries.extracted_partitions(pipeline.warehouse().root,
                                                            pipeline.extraction_params().hash)
    for ring in ring_keys(pipeline):
        if (patient_id, ring_mm(ring)) not in done:
            key = dg.MultiPartitionKey({"patient": patient_id, "ring": ring})
            outcomes.append(_execute(defs, "ring_job", key, instance))
    return outcomes


def run_cohort(pipeline: PipelineResource, instance: dg.DagsterInstance, workers: int = 2,
               patients: list[str] | None = None, on_patient=None, force: bool = True) -> RunSummary:
    """Materialize everything for ``patients`` (default: every case in the cohort).

    ``force=False`` resumes: patient and ring partitions already materialized are not rerun;
    feature tables and models are always rebuilt (they depend on every case)."""
    ids = patients if patients is not None else [case.patient_id for case in pipeline.cohort().cases]
    known = set(instance.get_dynamic_partitions(patients_partitions.name))
    instance.add_dynamic_partitions(patients_partitions.name, [p for p in ids if p not in known])
    summary = RunSummary()
    if workers > 1 and not instance.is_ephemeral:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(_run_patient_in_worker, _settings(pipeline), p, force): p for p in ids}
            for future in as_completed(futures):
                summary.outcomes.extend(future.result())
                if on_patient:
                    on_patient(futures[future])
    else:
        for patient_id in ids:
            summary.outcomes.extend(run_patient(pipeline, patient_id, instance, force=force))
            if on_patient:
                on_patient(patient_id)
    defs = build_definitions(pipeline)
    for ring in ring_keys(pipeline):
        summary.outcomes.append(_execute(defs, "feature_tables_job", ring, instance))
    for task in pipeline.tasks:
        summary.outcomes.append(_execute(defs, "models_job", task, instance))
    return summary


def open_instance() -> dg.DagsterInstance:
    """The persistent instance from DAGSTER_HOME, created under a file lock: two runs started at
    once on a new DAGSTER_HOME would otherwise race to create its SQLite schema."""
    import fcntl

    home = os.environ["DAGSTER_HOME"]
    with open(os.path.join(home, ".glioma-rings.lock"), "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            instance = dg.DagsterInstance.get()
            instance.get_runs(limit=1)  # touch the storages so their schema exists
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return instance


def default_dagster_home(data_dir: str) -> str:
    """DAGSTER_HOME if set, else <data_dir>/dagster_home (created), exported for child processes."""
    home = os.environ.get("DAGSTER_HOME") or os.path.abspath(os.path.join(data_dir, "dagster_home"))
    os.makedirs(home, exist_ok=True)
    config = os.path.join(home, "dagster.yaml")
    if not os.path.exists(config):
        with open(config, "w", encoding="utf-8") as handle:
            handle.write("telemetry:\n  enabled: false\n")
    os.environ["DAGSTER_HOME"] = home
    return home
