"""Rows for the warehouse tables, built from radiomics_core's objects."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pandas as pd

from radiomics_core.cohorts.clinical import ClinicalRecord
from radiomics_core.cohorts.layouts import Case
from radiomics_core.features.extraction import CaseFeatures
from radiomics_core.cohorts.issues import CaseIssue
from radiomics_core.imaging.rings import RingVolume
from warehouse.schema import TABLES


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def patient_rows(case: Case, usable: bool) -> pd.DataFrame:
    return pd.DataFrame([{"patient_id": case.patient_id, "source_id": case.source_id, "layout": case.layout,
                          "folder": str(case.folder), "usable": usable, "updated_at": _now()}])


def clinical_rows(case: Case) -> pd.DataFrame:
    """The case's ``clinical`` row (none when the cohort has no clinical row for it)."""
    return clinical_table({case.patient_id: case.clinical} if case.clinical is not None else {})


def clinical_table(records: dict[str, ClinicalRecord]) -> pd.DataFrame:
    """``clinical`` rows, one per patient_id -> record, typed as the warehouse stores them."""
    rows = [{
        "patient_id": patient_id, "sex": record.sex, "age": record.age, "who_grade": record.who_grade,
        "mgmt_methylated": record.mgmt_methylated, "idh": record.idh, "raw_json": json.dumps(record.raw),
        "diagnosis": record.diagnosis, "biopsy_prior_to_imaging": record.biopsy_prior_to_imaging,
        "brats21_id": record.brats21_id, "brats21_mgmt_cohort": record.brats21_mgmt_cohort,
    } for patient_id, record in records.items()]
    if not rows:
        return pd.DataFrame(columns=[name for name, _ in TABLES["clinical"]])
    return pd.DataFrame(rows).astype({"mgmt_methylated": "object", "biopsy_prior_to_imaging": "object",
                                      "who_grade": "Int64"})


def issue_rows(issues: list[CaseIssue], stage: str) -> pd.DataFrame:
    now = _now()
    return pd.DataFrame([{"patient_id": i.patient_id, "stage": stage, "path": i.path, "kind": i.kind.value,
                          "severity": i.severity.value, "message": i.message, "recorded_at": now} for i in issues],
                        columns=["patient_id", "stage", "path", "kind", "severity", "message", "recorded_at"])


def ring_volume_rows(patient_id: str, volume: RingVolume) -> pd.DataFrame:
    return pd.DataFrame([{"patient_id": patient_id, "ring_mm": volume.ring_mm, "voxels": volume.voxels,
                          "volume_mm3": volume.volume_mm3, "status": volume.status}])


def feature_rows(patient_id: str, result: CaseFeatures, identity: str) -> pd.DataFrame:
    """Long feature rows; ``identity`` (``Settings.feature_identity``) is stored as
    ``feature_identity`` and names every setting that produced the values."""
    return pd.DataFrame([{"patient_id": patient_id, "ring_mm": r.ring_mm, "sequence": r.sequence,
                          "feature": r.feature, "value": r.value, "feature_identity": identity,
                          "pyradiomics_version": result.pyradiomics_version} for r in result.rows],
                        columns=["patient_id", "ring_mm", "sequence", "feature", "value", "feature_identity",
                                 "pyradiomics_version"])


def perturbed_feature_rows(patient_id: str, frame: pd.DataFrame, identity: str) -> pd.DataFrame:
    """``perturbed_features`` rows of one patient from ``perturbed_case_features``' long rows."""
    rows = frame.assign(patient_id=patient_id, feature_identity=identity)
    return rows[[name for name, _ in TABLES["perturbed_features"]]]


def robustness_rows(table: pd.DataFrame, identity: str) -> pd.DataFrame:
    """``feature_robustness`` rows from ``robustness_table``, under the features' identity."""
    rows = table.assign(feature_identity=identity)
    return rows[[name for name, _ in TABLES["feature_robustness"]]]


def rater_rows(table: str, patient_id: str, frame: pd.DataFrame, identity: str | None = None) -> pd.DataFrame:
    """``rater_dice`` or ``rater_feature_cv`` rows of one patient from radiomics_core.robustness.raters."""
    rows = frame.assign(patient_id=patient_id, **({"feature_identity": identity} if identity else {}))
    return rows[[name for name, _ in TABLES[table]]]
