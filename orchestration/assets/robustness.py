"""Ring-feature robustness under contour perturbation (on when the settings say ``robustness``).

``perturbed_features`` (per patient) redraws VOI_T in seeded ways, rebuilds every ring from each
outline and extracts their features in one pass over the patient's normalized images;
``feature_robustness`` (cohort-wide) is the ICC of every feature and VOI across patients x
perturbations. A task with ``min_icc`` drops the features below it before selection.
"""

import dagster as dg
import numpy as np

from orchestration.assets.imaging import case_paths, recorded, sequence_path
from orchestration.assets.tables import tables_written
from orchestration.automation import AFTER_CASES, ON_UPDATE
from orchestration.partitions import patients_partitions
from orchestration.resources import PipelineResource
from radiomics_core.files.images import read_image
from radiomics_core.robustness.icc import GOOD_ICC, ICC_FORM, robustness_table
from radiomics_core.robustness.perturbations import DEFAULT_PERTURBATIONS, perturbed_case_features
from radiomics_core.settings import Ring
from warehouse import queries, records


@dg.asset(partitions_def=patients_partitions, deps=[dg.AssetKey("normalized_images")], group_name="robustness",
          kinds={"duckdb"}, automation_condition=ON_UPDATE, metadata={"warehouse_tables": "perturbed_features"})
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


robustness_assets = [perturbed_features, feature_robustness]
