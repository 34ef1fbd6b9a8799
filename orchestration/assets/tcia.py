"""TCIA series as assets: one dynamic partition per NBIA series, downloaded in its own run.

``tcia_sensor`` (orchestration/sensors.py) only lists what changed and adds partitions; the
download, its retries and its checks happen here, in a run, where a slow or failing series
fails its own partition and never stalls the sensor's tick.
"""

from pathlib import Path

import dagster as dg

from orchestration import pools
from orchestration.assets.tables import tables_written

from orchestration.resources import PipelineResource, TciaResource
from radiomics_core.tcia.dicom_cases import CaseOutcome, assemble_cases
from radiomics_core.cohorts.issues import CaseIssue, IssueKind, Severity
from radiomics_core.tcia.client import Series, TciaError
from warehouse import records

tcia_series_partitions = dg.DynamicPartitionsDefinition(name="tcia_series")

# A collection distributed as a package outside NBIA (UCSF-PDGM): not materialized here, only
# observed. tcia_release_sensor reports each new version as an observation with its number and date.
tcia_collection_release = dg.AssetSpec(
    "tcia_collection_release", group_name="tcia", kinds={"tcia"},
    description="The TCIA collection named by the tcia resource's release_collection, as TCIA's public "
                "collections listing states it; each new version is an observation (version, date updated, subjects).")


class TciaSeriesConfig(dg.Config):
    """What getSeries said about the series; the sensor fills it in from the listing it polled."""

    patient_id: str
    study_uid: str = ""
    modality: str = "MR"
    description: str = ""
    image_count: int = 0  # 0: not listed
    file_size: int = 0

    def series(self, series_uid: str) -> Series:
        return Series(series_uid, self.patient_id, self.modality, self.description,
                      self.image_count or None, self.file_size or None, self.study_uid)

    @classmethod
    def run_config(cls, series: Series) -> dg.RunConfig:
        return dg.RunConfig(ops={"tcia_series": cls(
            patient_id=series.patient_id, study_uid=series.study_uid, modality=series.modality,
            description=series.description, image_count=series.image_count or 0,
            file_size=series.file_size or 0)})


@dg.asset(partitions_def=tcia_series_partitions, group_name="tcia", kinds={"dicom"}, pool=pools.TCIA_DOWNLOADS,
          metadata={"warehouse_tables": "case_issues"})
def tcia_series(context: dg.AssetExecutionContext, config: TciaSeriesConfig, tcia: TciaResource,
                pipeline: PipelineResource) -> dg.MaterializeResult:
    """One NBIA series, verified (MD5, zip, image count, DICOM) and landed as
    ``<landing>/<patient>/<series uid>/``; a series already landed is not downloaded again.
    With the resource's cohort and segmentation folders set, a patient whose sequences and
    segmentation are all there becomes a row of the cohort's manifest.csv; a patient still
    waiting for its segmentation, or whose study cannot become a case, is a row of
    ``case_issues`` (severity ``waiting`` or ``error``), cleared once the case lands."""
    series = config.series(context.partition_key)
    try:
        folder = tcia.client().download_series(series, Path(tcia.landing_dir))
    except TciaError as error:
        raise dg.Failure(description=str(error),
                         metadata={"series": series.series_uid, "patient": series.patient_id}) from None
    metadata = {"patient": series.patient_id, "study": series.study_uid, "description": series.description,
                "images": len(list(folder.iterdir())), "folder": dg.MetadataValue.path(str(folder))}
    if tcia.cohort_dir and tcia.segmentation_dir:
        # The patient's last series to land completes the case; earlier ones report what is missing.
        [outcome] = assemble_cases(Path(tcia.landing_dir), Path(tcia.cohort_dir), Path(tcia.segmentation_dir),
                                   patients=[series.patient_id])
        line = outcome.line()
        if outcome.missing:  # other series of the patient may still be downloading in their runs
            line = f"{series.patient_id}: not complete yet, no series for {', '.join(outcome.missing)}"
        context.log.info(line)
        metadata["case"] = line
        record_outcome(pipeline, outcome, tcia.segmentation_dir)
    tables_written(context)
    return dg.MaterializeResult(metadata=metadata)


def record_outcome(pipeline: PipelineResource, outcome: CaseOutcome, segmentation_dir: str) -> None:
    """A waiting or failed TCIA case as its ``case_issues`` partition (``<patient>__tcia``).

    The patient's other series may still be downloading in their own runs, so an incomplete
    study (``missing``) is no issue yet; a landed case clears the partition.
    """
    warehouse = pipeline.warehouse()
    key = f"{outcome.patient_id}__tcia"
    if outcome.status == "waiting for segmentation":
        issue = CaseIssue(outcome.patient_id, IssueKind.MISSING_SEGMENTATION,
                          f"waiting for segmentation: {outcome.detail}", segmentation_dir, Severity.WAITING, "tcia")
    elif outcome.status == "failed" and not outcome.missing:
        issue = CaseIssue(outcome.patient_id, IssueKind.PROCESSING_ERROR, outcome.detail, stage="tcia")
    else:
        warehouse.delete_partition("case_issues", key)
        return
    warehouse.write_partition("case_issues", key, records.issue_rows([issue], "tcia"))
