"""Per-patient and per-ring assets: raw scans, normalized images, ring masks, ring features."""


import json
from contextlib import contextmanager
from pathlib import Path

import warnings

import dagster as dg
import numpy as np
import SimpleITK as sitk

from orchestration.partitions import (
    VOI_T_KEY,
    patient_ring_partitions,
    patients_partitions,
    ring_mm,
)
from orchestration.resources import PipelineResource
from radiomics_core.features import extract_case_features
from radiomics_core.imageio import read_image, write_image_atomic
from radiomics_core.issues import CaseError, CaseIssue, IssueKind
from radiomics_core.preprocessing import preprocess_case
from radiomics_core.rings import distance_outside_mm, mask_volume, ring_from_distance, voi_t_mask
from radiomics_core.validation import geometry_differences, validate_case, GeometryTolerance
from warehouse import records

OUTSIDE_BRAIN_MM = 1e6
with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.BetaWarning)  # stable in practice; beta only in name
    PATIENT_OF_RING = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="patient")


@contextmanager
def recorded(pipeline: PipelineResource, patient_id: str, stage: str):
    """Record a failure of ``stage`` for ``patient_id`` in case_issues, then let it fail the partition.

    A success clears that stage's earlier issues, so the table always shows the current state.
    """
    warehouse = pipeline.warehouse()
    key = f"{patient_id}__{stage}"
    try:
        yield
    except CaseError as error:
        warehouse.write_partition("case_issues", key, records.issue_rows(error.issues, stage))
        raise dg.Failure(description=str(error), metadata={"patient": patient_id, "stage": stage}) from None
    except Exception as error:  # noqa: BLE001 - any crash of one case is that case's issue
        issue = CaseIssue(patient_id, IssueKind.PROCESSING_ERROR, f"{type(error).__name__}: {error}", stage=stage)
        warehouse.write_partition("case_issues", key, records.issue_rows([issue], stage))
        raise
    else:
        if stage != "ingest":
            warehouse.delete_partition("case_issues", key)


def _case_paths(pipeline: PipelineResource, patient_id: str) -> dict[str, Path]:
    folder = pipeline.work_dir("normalized", patient_id)
    return {"folder": folder, "labels": folder / "labels.nii.gz", "brain": folder / "brain.nii.gz",
            "distance": folder / "distance_mm.nii.gz", "voi_t": folder / "voi_t.nii.gz"}


def _sequence_path(pipeline: PipelineResource, patient_id: str, sequence: str) -> Path:
    return pipeline.work_dir("normalized", patient_id) / f"{sequence}.nii.gz"


def _ring_path(pipeline: PipelineResource, patient_id: str, ring: str) -> Path:
    return pipeline.work_dir("rings", patient_id) / f"ring_{ring}.nii.gz"


@dg.asset(partitions_def=patients_partitions, group_name="ingest", kinds={"nifti"})
def raw_scans(context: dg.AssetExecutionContext, pipeline: PipelineResource) -> dg.MaterializeResult:
    """One patient's scans found in the cohort folder and validated (files, voxels, geometry, labels)."""
    patient_id = context.partition_key
    warehouse = pipeline.warehouse()
    cohort = pipeline.cohort()
    try:
        case = cohort.case(patient_id)
    except KeyError:
        issue = CaseIssue(patient_id, IssueKind.MISSING_FILE, f"no case folder for {patient_id} under {pipeline.cohort_dir}")
        warehouse.write_partition("case_issues", f"{patient_id}__ingest", records.issue_rows([issue], "ingest"))
        raise dg.Failure(description=str(issue))
    report = validate_case(case, cohort.issues_for(patient_id), pipeline.validation_config())
    warehouse.write_partition("patients", patient_id, records.patient_rows(case, report.usable))
    warehouse.write_partition("clinical", patient_id, records.clinical_rows(case))
    warehouse.write_partition("case_issues", f"{patient_id}__ingest", records.issue_rows(report.issues, "ingest"))
    for issue in report.issues:
        context.log.warning(str(issue))
    if not report.usable:
        raise dg.Failure(description="; ".join(str(i) for i in report.issues), metadata={"patient": patient_id})
    return dg.MaterializeResult(metadata={
        "source_id": case.source_id, "layout": case.layout, "folder": str(case.folder),
        "sequences": ", ".join(case.images), "warnings": len(report.issues),
    })


@dg.asset(partitions_def=patients_partitions, deps=[raw_scans], group_name="imaging", kinds={"nifti"},
          check_specs=[dg.AssetCheckSpec("geometry_consistent", asset="normalized_images")])
def normalized_images(context: dg.AssetExecutionContext, pipeline: PipelineResource) -> dg.MaterializeResult:
    """Every sequence and mask on one isotropic grid, z-scored in the brain; plus VOI_T and its
    physical distance map (one per patient, from which every ring is cut)."""
    patient_id = context.partition_key
    with recorded(pipeline, patient_id, "preprocess"):
        case = pipeline.cohort().case(patient_id)
        prepared = preprocess_case(case, pipeline.preprocess_config())
        paths = _case_paths(pipeline, patient_id)
        for sequence, image in prepared.images.items():
            write_image_atomic(image, _sequence_path(pipeline, patient_id, sequence))
        write_image_atomic(prepared.labels, paths["labels"])
        voi_t = voi_t_mask(prepared.labels, prepared.tumor_labels)
        if not np.any(sitk.GetArrayViewFromImage(voi_t)):
            raise CaseError([CaseIssue(patient_id, IssueKind.EMPTY_TUMOR_LABEL,
                                       "VOI_T is empty after resampling; the tumor is smaller than one voxel",
                                       str(case.segmentation), stage="preprocess")])
        write_image_atomic(voi_t, paths["voi_t"])
        distance = distance_outside_mm(voi_t)
        if prepared.brain is not None and pipeline.brain_clip:
            write_image_atomic(prepared.brain, paths["brain"])
            # Outside the brain no ring may reach. Finite on purpose: ITK's NIfTI reader
            # silently rewrites Inf (see imageio.nonfinite_voxels).
            distance[~sitk.GetArrayViewFromImage(prepared.brain).astype(bool)] = OUTSIDE_BRAIN_MM
        distance_image = sitk.GetImageFromArray(distance)
        distance_image.CopyInformation(voi_t)
        write_image_atomic(distance_image, paths["distance"])
        pipeline.warehouse().write_partition("preprocessing", patient_id, _preprocessing_row(patient_id, prepared.metadata))
        mismatched = [seq for seq, image in prepared.images.items()
                      if geometry_differences(prepared.labels, image, GeometryTolerance())]
    context.log.info(f"{patient_id}: {len(prepared.images)} sequences on grid {prepared.metadata['grid']['size']}")
    return dg.MaterializeResult(
        metadata={"grid_size": str(prepared.metadata["grid"]["size"]), "spacing_mm": pipeline.spacing_mm,
                  "voi_t_voxels": int(np.count_nonzero(sitk.GetArrayViewFromImage(voi_t)))},
        check_results=[dg.AssetCheckResult(check_name="geometry_consistent", passed=not mismatched,
                                           metadata={"mismatched": ", ".join(mismatched) or "none"})],
    )


def _preprocessing_row(patient_id: str, metadata: dict):
    import pandas as pd
    return pd.DataFrame([{"patient_id": patient_id, "metadata_json": json.dumps(metadata)}])


@dg.asset(partitions_def=patient_ring_partitions, group_name="rings", kinds={"nifti"},
          deps=[dg.AssetDep(normalized_images, partition_mapping=PATIENT_OF_RING)],
          check_specs=[dg.AssetCheckSpec("voi_t_non_empty", asset="ring_masks"),
                       dg.AssetCheckSpec("ring_volumes_increase", asset="ring_masks")])
def ring_masks(context: dg.AssetExecutionContext, pipeline: PipelineResource) -> dg.MaterializeResult:
    """VOI_T (ring T) or the band 0 < distance <= d mm outside it, clipped to the brain."""
    keys = context.partition_key.keys_by_dimension
    patient_id, ring = keys["patient"], keys["ring"]
    distance_mm = ring_mm(ring)
    with recorded(pipeline, patient_id, f"ring_{ring}"):
        paths = _case_paths(pipeline, patient_id)
        voi_t = read_image(paths["voi_t"])
        if ring == VOI_T_KEY:
            mask = voi_t
        else:
            # The stored map already places everything outside the brain beyond any ring.
            mask = ring_from_distance(sitk.GetArrayFromImage(read_image(paths["distance"])), voi_t, 0.0, distance_mm)
        write_image_atomic(mask, _ring_path(pipeline, patient_id, ring))
        volume = mask_volume(mask, distance_mm)
        warehouse = pipeline.warehouse()
        warehouse.write_partition("ring_volumes", f"{patient_id}__{ring}", records.ring_volume_rows(patient_id, volume))
    from warehouse import queries
    volumes = queries.table(warehouse.root, "ring_volumes", {"patient_id": patient_id})
    rings = volumes[volumes.ring_mm > 0].sort_values("ring_mm")
    increasing = bool(np.all(np.diff(rings.voxels.values) >= 0))
    return dg.MaterializeResult(
        metadata={"voxels": volume.voxels, "volume_mm3": round(volume.volume_mm3, 1), "status": volume.status},
        check_results=[
            dg.AssetCheckResult(check_name="voi_t_non_empty", passed=bool(voi_t_volume_ok(volumes)),
                                metadata={"voi_t_voxels": int(volumes.loc[volumes.ring_mm == 0, "voxels"].sum())}),
            dg.AssetCheckResult(check_name="ring_volumes_increase", passed=increasing,
                                metadata={"voxels_by_ring": str(dict(zip(rings.ring_mm, rings.voxels)))}),
        ],
    )


def voi_t_volume_ok(volumes) -> bool:
    voi = volumes[volumes.ring_mm == 0]
    return voi.empty or bool((voi.voxels > 0).all())


@dg.asset(partitions_def=patient_ring_partitions, deps=[ring_masks], group_name="features", kinds={"duckdb"},
          check_specs=[dg.AssetCheckSpec("finite_features", asset="ring_features"),
                       dg.AssetCheckSpec("feature_count", asset="ring_features")])
def ring_features(context: dg.AssetExecutionContext, pipeline: PipelineResource) -> dg.MaterializeResult:
    """PyRadiomics features of one VOI on every sequence, stored in the warehouse's features table."""
    keys = context.partition_key.keys_by_dimension
    patient_id, ring = keys["patient"], keys["ring"]
    params = pipeline.extraction_params()
    with recorded(pipeline, patient_id, f"features_{ring}"):
        mask = read_image(_ring_path(pipeline, patient_id, ring))
        images = {seq: read_image(_sequence_path(pipeline, patient_id, seq)) for seq in pipeline.sequences}
        result = extract_case_features(images, {ring_mm(ring): mask}, params)
        rows = records.feature_rows(patient_id, result)
        pipeline.warehouse().write_partition("features", f"{patient_id}__{ring}", rows)
    status = result.statuses[0].status
    values = rows["value"].to_numpy()
    non_finite = float(np.mean(~np.isfinite(values))) if len(values) else 0.0
    per_sequence = rows[rows.sequence != "mask"].groupby("sequence").size()
    expected = params.expected_feature_count()
    context.log.info(f"{patient_id} ring {ring}: {len(rows)} features ({status})")
    return dg.MaterializeResult(
        metadata={"features": len(rows), "status": status, "params_hash": result.params_hash},
        check_results=[
            dg.AssetCheckResult(check_name="finite_features", passed=non_finite <= 0.01,
                                metadata={"non_finite_fraction": non_finite}),
            dg.AssetCheckResult(check_name="feature_count",
                                passed=status != "ok" or bool((per_sequence == expected).all()),
                                severity=dg.AssetCheckSeverity.WARN,
                                metadata={"expected_per_sequence": expected,
                                          "got": str(per_sequence.to_dict())}),
        ],
    )
