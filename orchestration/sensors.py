"""Incremental runs: new case folders become partitions and runs; each stage triggers the next."""


import dagster as dg

from orchestration.jobs import feature_tables_job, models_job, patient_job, ring_job
from orchestration.partitions import RING_KEYS, patients_partitions, rings_partitions, tasks_partitions
from orchestration.resources import PipelineResource, TciaResource


@dg.sensor(job=patient_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def new_cases_sensor(context: dg.SensorEvaluationContext, pipeline: PipelineResource) -> dg.SensorResult:
    """Cases in the cohort folder that are not yet partitions: add them and run exactly those."""
    known = set(context.instance.get_dynamic_partitions(patients_partitions.name))
    cohort = pipeline.cohort()
    new = [case.patient_id for case in cohort.cases if case.patient_id not in known]
    waiting = [i for i in cohort.issues if i.patient_id in new and i.kind.value == "missing_segmentation"]
    for issue in waiting:
        context.log.info(f"{issue.patient_id}: waiting for segmentation ({issue.path})")
    ready = sorted(set(new) - {i.patient_id for i in waiting})
    if not ready:
        return dg.SensorResult(skip_reason=dg.SkipReason(f"no new cases ({len(waiting)} waiting for segmentation)"))
    context.log.info(f"new cases: {', '.join(ready)}")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=p, run_key=f"patient-{p}") for p in ready],
        dynamic_partitions_requests=[patients_partitions.build_add_request(ready)],
    )


def ring_run_requests(patient_id: str, rings: list[str]) -> list[dg.RunRequest]:
    return [dg.RunRequest(job_name=ring_job.name,
                          partition_key=dg.MultiPartitionKey({"patient": patient_id, "ring": ring}))
            for ring in rings]


@dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS, monitored_jobs=[patient_job], request_job=ring_job,
                      default_status=dg.DefaultSensorStatus.RUNNING)
def rings_after_patient(context: dg.RunStatusSensorContext, pipeline: PipelineResource):
    """A patient's images are ready: cut and extract each of its rings (a run per ring)."""
    patient_id = context.dagster_run.tags.get("dagster/partition")
    rings = ["T"] + [f"{d:g}" for d in pipeline.rings_mm]
    return ring_run_requests(patient_id, [r for r in RING_KEYS if r in rings])


@dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS, monitored_jobs=[feature_tables_job],
                      request_job=models_job, default_status=dg.DefaultSensorStatus.RUNNING)
def models_after_feature_tables(context: dg.RunStatusSensorContext):
    """Once every ring's table is rebuilt in a refit wave, refit and evaluate every task."""
    wave = context.dagster_run.tags.get("glioma-rings/wave")
    if not wave:
        return []
    runs = context.instance.get_runs(dg.RunsFilter(job_name=feature_tables_job.name, tags={"glioma-rings/wave": wave}))
    if len(runs) < len(rings_partitions.get_partition_keys()) or any(
            r.status != dg.DagsterRunStatus.SUCCESS for r in runs):
        return []
    return [dg.RunRequest(partition_key=task, run_key=f"models-{wave}-{task}")
            for task in tasks_partitions.get_partition_keys()]


@dg.sensor(minimum_interval_seconds=3600, default_status=dg.DefaultSensorStatus.STOPPED)
def tcia_poller(context: dg.SensorEvaluationContext, tcia: TciaResource) -> dg.SkipReason:
    """Download new series of the configured TCIA collection into the landing folder.

    NBIA series carry no tumor segmentation, so a downloaded case waits in the landing folder
    until its segmentation is added (then it is copied into the cohort like any new case).
    Off by default: turn it on in the UI once the collection and landing folder are set.
    """
    from pathlib import Path

    from radiomics_core.tcia import TciaClient, TciaError

    client = TciaClient(base_url=tcia.base_url)
    landed, failed = 0, 0
    for series in client.series(tcia.collection, modality=tcia.modality):
        if (Path(tcia.landing_dir) / series.patient_id / series.series_uid).exists():
            continue
        try:
            client.download_series(series, Path(tcia.landing_dir))
            landed += 1
        except TciaError as error:
            failed += 1
            context.log.warning(str(error))
    return dg.SkipReason(f"{landed} new series landed in {tcia.landing_dir} (waiting for segmentation), "
                         f"{failed} failed validation")
