"""Sensors: new case folders become patient partitions; declarative automation does the rest."""


import hashlib
import os
from datetime import date, datetime, timedelta, timezone

import dagster as dg

from orchestration.assets.tcia import TciaSeriesConfig, tcia_collection_release, tcia_series_partitions
from orchestration.partitions import patients_partitions
from orchestration.resources import PipelineResource, TciaResource

# Evaluates every asset's automation condition (orchestration/automation.py); emits a backfill
# when a tick requests several partitions, so a new patient becomes one patient run and one ring run.
automation_sensor = dg.AutomationConditionSensorDefinition(
    "automation", target=dg.AssetSelection.all(), default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=15,
    description="Materializes what the assets' automation conditions request (new cases, refits).")


PATIENT_ASSETS = [dg.AssetKey("raw_scans"), dg.AssetKey("normalized_images"), dg.AssetKey("voi_extraction")]


@dg.sensor(minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           asset_selection=["raw_scans", "normalized_images", "voi_extraction", "splits"])
def new_cases_sensor(context: dg.SensorEvaluationContext, pipeline: PipelineResource) -> dg.SensorResult:
    """Cases in the cohort folder that are not yet partitions become partitions, and their patient
    assets one run each; the automation sensor then requests the rings and the refits. Clinical
    rows edited since a patient's scans were read request each task's ``splits`` (which stores
    them), and the refit follows; the images are not read again."""
    from orchestration.assets.imaging import clinical_edits

    known = set(context.instance.get_dynamic_partitions(patients_partitions.name))
    cohort = pipeline.settings.cohort()
    new = [case.patient_id for case in cohort.cases if case.patient_id not in known]
    waiting = [i for i in cohort.issues if i.patient_id in new and i.kind.value == "missing_segmentation"]
    for issue in waiting:
        context.log.info(f"{issue.patient_id}: waiting for segmentation ({issue.path})")
    ready = sorted(set(new) - {i.patient_id for i in waiting})
    requests = [dg.RunRequest(partition_key=p, run_key=f"patient-{p}", asset_selection=PATIENT_ASSETS) for p in ready]
    edited = clinical_edits(pipeline, cohort)
    if edited:
        context.log.info(f"clinical rows edited: {', '.join(sorted(edited))}")
        # The same edit is requested once; a later edit has another digest.
        digest = hashlib.sha256("".join(f"{p}{rows.to_json()}" for p, rows in sorted(edited.items())).encode()
                                ).hexdigest()[:16]
        requests += [dg.RunRequest(partition_key=task, run_key=f"clinical-{task}-{digest}",
                                   asset_selection=[dg.AssetKey("splits")]) for task in pipeline.tasks]
    if not requests:
        return dg.SensorResult(skip_reason=dg.SkipReason(f"no new cases ({len(waiting)} waiting for segmentation)"
                                                         " and no clinical edits"))
    if ready:
        context.log.info(f"new cases: {', '.join(ready)}")
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[patients_partitions.build_add_request(ready)] if ready else [],
    )


def tcia_poll_start(cursor: str | None, configured: str) -> date | None:
    """The day to ask NBIA for changes from: one day before the last poll (NBIA's dates have no
    time and its time zone is not ours, so a day of overlap loses nothing; series seen twice are
    dropped because their partition exists), or the configured start, or None for everything."""
    if cursor:
        return date.fromisoformat(cursor) - timedelta(days=1)
    return date.fromisoformat(configured) if configured else None


# NBIA changes a few times a year; hourly is plenty (GLIOMA_RINGS_TCIA_POLL_SECONDS: a test server).
@dg.sensor(minimum_interval_seconds=int(os.environ.get("GLIOMA_RINGS_TCIA_POLL_SECONDS", "3600")),
           default_status=dg.DefaultSensorStatus.STOPPED, asset_selection=["tcia_series"])
def tcia_sensor(context: dg.SensorEvaluationContext, tcia: TciaResource) -> dg.SensorResult:
    """New and updated series of the configured TCIA collection become ``tcia_series``
    partitions, one download run each. The cursor is the day of the last successful poll.

    The tick only lists (NewPatientsInCollection and getUpdatedSeries since the cursor, then
    getSeries for those patients); downloads happen in the runs. A landed patient waiting for its
    segmentation whose NIfTI has since been dropped into the segmentation folder gets one run of
    a landed series (nothing is downloaded again), which lands the case. Off by default: turn it
    on in the UI once the collection and landing folder are set.
    """
    from radiomics_core.tcia.dicom_cases import SequenceRule
    from radiomics_core.tcia.client import TciaError

    reruns, rerun_keys = segmentation_reruns(tcia)

    since = tcia_poll_start(context.cursor, tcia.since)
    today = datetime.now(timezone.utc).date()
    try:
        # A tick has about 60 s: few, short attempts; a failed poll is simply repeated next tick.
        # Every modality is listed: the study's DICOM-SEG (modality SEG) may be its segmentation.
        changed = tcia.client(max_attempts=2, max_timeout_s=20).changes_since(tcia.collection, since)
    except TciaError as error:
        # The cursor stays: the next tick asks for the same span again.
        return dg.SensorResult(skip_reason=dg.SkipReason(f"NBIA did not answer: {error}"), run_requests=reruns,
                               dynamic_partitions_requests=_add_missing(context, rerun_keys))
    rule = SequenceRule()
    changed = [s for s in changed if rule.wanted(s.modality, s.description, tcia.modality, tcia.structural_only)]
    known = set(context.instance.get_dynamic_partitions(tcia_series_partitions.name))
    new = {s.series_uid: s for s in changed if s.series_uid not in known}
    span = f"since {since:%Y-%m-%d}" if since else "in the collection"
    if not new and not reruns:
        return dg.SensorResult(skip_reason=dg.SkipReason(f"no new series {span}"), cursor=today.isoformat())
    if new:
        context.log.info(f"{len(new)} new series {span}: {', '.join(sorted(new))}")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=uid, run_key=f"tcia-{uid}",
                                    run_config=TciaSeriesConfig.run_config(series),
                                    tags={"tcia/patient": series.patient_id})
                      for uid, series in sorted(new.items())] + reruns,
        dynamic_partitions_requests=_add_missing(context, sorted(new) + rerun_keys),
        cursor=today.isoformat(),
    )


def segmentation_reruns(tcia: TciaResource) -> tuple[list[dg.RunRequest], list[str]]:
    """One run for each landed patient whose NIfTI segmentation has been dropped since; the run key
    names the file and its time, so a new or replaced file asks again and an unchanged one never."""
    from pathlib import Path

    from radiomics_core.tcia.dicom_cases import segmentations_dropped

    if not (tcia.cohort_dir and tcia.segmentation_dir):
        return [], []
    dropped = segmentations_dropped(Path(tcia.landing_dir), Path(tcia.cohort_dir), Path(tcia.segmentation_dir))
    requests = [dg.RunRequest(partition_key=uid, run_key=f"tcia-seg-{patient}-{seg.name}-{seg.stat().st_mtime_ns}",
                              run_config=dg.RunConfig(ops={"tcia_series": TciaSeriesConfig(patient_id=patient)}),
                              tags={"tcia/patient": patient})
                for patient, uid, seg in dropped]
    return requests, [uid for _, uid, _ in dropped]


def _add_missing(context: dg.SensorEvaluationContext, keys: list[str]) -> list:
    """Add the partitions not known yet (series landed by ``tcia pull`` were never partitions)."""
    known = set(context.instance.get_dynamic_partitions(tcia_series_partitions.name))
    missing = sorted(set(keys) - known)
    return [tcia_series_partitions.build_add_request(missing)] if missing else []


@dg.sensor(minimum_interval_seconds=6 * 3600, default_status=dg.DefaultSensorStatus.STOPPED)
def tcia_release_sensor(context: dg.SensorEvaluationContext, tcia: TciaResource) -> dg.SensorResult:
    """A new version of the resource's ``release_collection`` in TCIA's public collections listing
    becomes an observation of ``tcia_collection_release`` (version, date updated, subjects), so users
    know a new release of a package-only collection exists. The cursor is the last version seen.
    Nothing is downloaded: such collections come as one large package. Off by default."""
    from radiomics_core.tcia.client import TciaError

    try:
        release = tcia.client(max_attempts=2, max_timeout_s=20).collection_release(tcia.release_collection,
                                                                                   tcia.listing_url)
    except TciaError as error:
        return dg.SensorResult(skip_reason=dg.SkipReason(f"TCIA's collections listing did not answer: {error}"))
    if not release.version:
        return dg.SensorResult(skip_reason=dg.SkipReason(f"{release.collection}: the listing gives no version"))
    if release.version == context.cursor:
        return dg.SensorResult(skip_reason=dg.SkipReason(f"{release.collection} is still version {release.version}"))
    context.log.info(f"{release.collection}: version {release.version} ({release.date_updated})")
    observation = dg.AssetObservation(
        asset_key=tcia_collection_release.key,
        description=f"{release.collection} version {release.version}, updated {release.date_updated}",
        metadata={"collection": release.collection, "version": release.version, "date_updated": release.date_updated,
                  "subjects": release.subjects, "previous_version": context.cursor or "none seen"})
    return dg.SensorResult(asset_events=[observation], cursor=release.version)
