"""Ring-feature robustness under contour perturbation (on when the settings say ``robustness``)
and agreement between several segmentations of a case (on when they name a ``rater_manifest``).

``perturbed_features`` (per patient) redraws VOI_T in seeded ways, rebuilds every ring from each
outline and extracts their features in one pass over the patient's normalized images;
``feature_robustness`` (cohort-wide) is the ICC of every feature and VOI across patients x
perturbations. A task with ``min_icc`` drops the features below it before selection.
"""

import dagster as dg
import numpy as np

from orchestration import pools
from orchestration.assets.imaging import case_paths, recorded, sequence_path
from orchestration.assets.tables import tables_written
from orchestration.automation import AFTER_CASES, ON_UPDATE
from orchestration.partitions import patients_partitions
from orchestration.resources import PipelineResource
from radiomics_core.files.images import read_image
from radiomics_core.robustness.icc import GOOD_ICC, ICC_FORM, robustness_table
from radiomics_core.robustness.perturbations import DEFAULT_PERTURBATIONS, perturbed_case_features
from radiomics_core.robustness.raters import dice_table, feature_cv, rater_features, rater_vois, read_rater_manifest
from radiomics_core.settings import Ring
from warehouse import queries, records


@dg.asset(partitions_def=patients_partitions, deps=[dg.AssetKey("normalized_images")], group_name="robustness",
          kinds={"duckdb"}, automation_condition=ON_UPDATE, pool=pools.EXTRACTION,
          metadata={"warehouse_tables": "perturbed_features"})
def perturbed_features(context: dg.AssetExecutionContext, pipeline: PipelineResource) -> dg.MaterializeResult:
    """The patient's features under each perturbation of VOI_T (the original outline, one voxel
    dilated and eroded, three randomized contours), every ring rebuilt from each outline."""
    patient_id = context.partition_key
    settings = pipeline.settings
    warehouse = pipeline.warehouse()
    paths = case_paths(pipeline, patient_id)
    with recorded(warehouse, patient_id, "robustness"):
        voi_t = read_image(paths["voi_t"])
        brain = read_image(paths["brain"]) if settings.brain_clip and paths["brain"].exists() else None
        images = {s: read_image(sequence_path(pipeline, patient_id, s)) for s in settings.sequences}
        frame = perturbed_case_features(images, voi_t, brain, settings.rings_mm, settings.extraction_params,
                                        DEFAULT_PERTURBATIONS, patient_id)
        rows = records.perturbed_feature_rows(patient_id, frame, settings.feature_identity)
        warehouse.write_partition("perturbed_features", patient_id, rows)
    context.log.info(f"{patient_id}: {len(rows)} features under {len(DEFAULT_PERTURBATIONS)} outlines")
    tables_written(context)
    return dg.MaterializeResult(metadata={"features": len(rows), "perturbations": ", ".join(
        p.name for p in DEFAULT_PERTURBATIONS)})


@dg.asset(deps=[dg.AssetDep(perturbed_features, partition_mapping=dg.AllPartitionMapping())],
          group_name="robustness", kinds={"duckdb"}, automation_condition=AFTER_CASES,
          metadata={"warehouse_tables": "feature_robustness"})
def feature_robustness(context: dg.AssetExecutionContext, pipeline: PipelineResource) -> dg.MaterializeResult:
    """ICC(2,1) (and ICC(3,1)) of every feature and VOI across patients x perturbations."""
    settings = pipeline.settings
    warehouse = pipeline.warehouse()
    long = queries.perturbed_features(warehouse.root, settings.feature_identity)
    if long.empty:
        raise dg.Failure(description="no perturbed features under the current settings; "
                                     "materialize perturbed_features first", allow_retries=False)
    table = robustness_table(long, [p.name for p in DEFAULT_PERTURBATIONS])
    warehouse.write_partition("feature_robustness", "all", records.robustness_rows(table, settings.feature_identity))
    share = {Ring(r).label: float(np.mean(g.icc >= GOOD_ICC)) for r, g in table.groupby("ring_mm")}
    tables_written(context)
    return dg.MaterializeResult(metadata={
        "icc_form": ICC_FORM, "patients": int(long.patient_id.nunique()), "features": len(table),
        f"share_icc_at_least_{GOOD_ICC:g}": dg.MetadataValue.json({k: round(v, 3) for k, v in share.items()}),
    })


@dg.asset(partitions_def=patients_partitions, deps=[dg.AssetKey("normalized_images")], group_name="robustness",
          kinds={"duckdb"}, automation_condition=ON_UPDATE, pool=pools.EXTRACTION,
          metadata={"warehouse_tables": "rater_dice, rater_feature_cv"})
def rater_agreement(context: dg.AssetExecutionContext, pipeline: PipelineResource) -> dg.MaterializeResult:
    """For a patient with several segmentations in the settings' rater manifest: the Dice of VOI_T
    and every ring between each pair, and each feature's coefficient of variation across them."""
    patient_id = context.partition_key
    settings = pipeline.settings
    warehouse = pipeline.warehouse()
    segmentations = read_rater_manifest(settings.rater_manifest).get(patient_id, [])
    if len(segmentations) < 2:
        for table in ("rater_dice", "rater_feature_cv"):
            warehouse.delete_partition(table, patient_id)
        context.log.info(f"{patient_id}: fewer than two segmentations in {settings.rater_manifest}")
        return dg.MaterializeResult(metadata={"raters": len(segmentations)})
    paths = case_paths(pipeline, patient_id)
    with recorded(warehouse, patient_id, "raters"):
        grid = read_image(paths["labels"])
        brain = read_image(paths["brain"]) if settings.brain_clip and paths["brain"].exists() else None
        vois = rater_vois({s.rater: read_image(s.path) for s in segmentations}, grid, brain, settings.rings_mm)
        images = {s: read_image(sequence_path(pipeline, patient_id, s)) for s in settings.sequences}
        dice = dice_table(vois)
        cv = feature_cv(rater_features(images, vois, settings.extraction_params))
        warehouse.write_partition("rater_dice", patient_id, records.rater_rows("rater_dice", patient_id, dice))
        warehouse.write_partition("rater_feature_cv", patient_id, records.rater_rows(
            "rater_feature_cv", patient_id, cv, settings.feature_identity))
    tables_written(context)
    return dg.MaterializeResult(metadata={
        "raters": ", ".join(s.rater for s in segmentations),
        "median_dice": dg.MetadataValue.json({Ring(r).label: round(float(g.dice.median()), 3)
                                              for r, g in dice.groupby("ring_mm")}),
        "median_cv": dg.MetadataValue.json({Ring(r).label: round(float(g.cv.median()), 3)
                                            for r, g in cv.groupby("ring_mm")}),
    })


def robustness_assets(settings) -> list[dg.AssetsDefinition]:
    """The assets these settings turn on: perturbation robustness, inter-rater agreement."""
    return ([perturbed_features, feature_robustness] if settings.robustness else []) + (
        [rater_agreement] if settings.rater_manifest else [])
