"""Sensors: new case folders become patient partitions; declarative automation does the rest."""


import dagster as dg

from orchestration.partitions import patients_partitions
from orchestration.resources import PipelineResource, TciaResource

# Evaluates every asset's automation condition (orchestration/automation.py); emits a backfill
# when a tick requests several partitions, so a new patient becomes one patient run and one ring run.
automation_sensor = dg.AutomationConditionSensorDefinition(
    "automation", target=dg.AssetSelection.all(), default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=15,
    description="Materializes what the assets' automation conditions request (new cases, refits).")


@dg.sensor(minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           asset_selection=["raw_scans", "normalized_images"])
def new_cases_sensor(context: dg.SensorEvaluationContext, pipeline: PipelineResource) -> dg.SensorResult:
    """Cases in the cohort folder that are not yet partitions become partitions, and their patient
    assets one run each; the automation sensor then requests the rings and the refits."""
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
