"""Validating a case's voxels: readability, finiteness, geometry and labels.

``validate_cohort`` never raises for a bad case: each problem is a ``CaseIssue`` for that patient
and the report says which cases are usable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from radiomics_core.cohorts.layouts import Case, Cohort
from radiomics_core.files.images import ImageReadError, nonfinite_voxels, read_image
from radiomics_core.cohorts.issues import CaseIssue, IssueKind, Severity


@dataclass(frozen=True)
class GeometryTolerance:
    """How far two volumes' grids may differ and still count as the same grid."""

    spacing_mm: float = 1e-3
    origin_mm: float = 1e-2
    direction: float = 1e-4


@dataclass(frozen=True)
class ValidationConfig:
    tolerance: GeometryTolerance = GeometryTolerance()
    max_voxels: int = 400_000_000  # about 1.6 GB as float32; larger volumes need a coarser grid


def geometry_differences(reference: sitk.Image | sitk.ImageFileReader, other: sitk.Image | sitk.ImageFileReader,
                         tol: GeometryTolerance) -> list[str]:
    """Describe each way ``other``'s grid differs from ``reference``'s (empty when they agree).
    Images or readers that read only the header (``imageio.read_geometry``)."""
    diffs: list[str] = []
    if reference.GetSize() != other.GetSize():
        diffs.append(f"size {other.GetSize()} != {reference.GetSize()}")
    if not np.allclose(reference.GetSpacing(), other.GetSpacing(), atol=tol.spacing_mm, rtol=0):
        diffs.append(f"spacing {_fmt(other.GetSpacing())} != {_fmt(reference.GetSpacing())} mm")
    if not np.allclose(reference.GetOrigin(), other.GetOrigin(), atol=tol.origin_mm, rtol=0):
        diffs.append(f"origin {_fmt(other.GetOrigin())} != {_fmt(reference.GetOrigin())} mm")
    if not np.allclose(reference.GetDirection(), other.GetDirection(), atol=tol.direction, rtol=0):
        diffs.append(f"direction {_fmt(other.GetDirection())} != {_fmt(reference.GetDirection())}")
    return diffs


def _fmt(values: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"


@dataclass
class CaseReport:
    patient_id: str
    source_id: str
    issues: list[CaseIssue] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return not any(issue.severity == Severity.ERROR for issue in self.issues)


@dataclass
class ValidationReport:
    layout: str
    cases: list[CaseReport]
    cohort_issues: list[CaseIssue] = field(default_factory=list)  # rows without a case folder

    @property
    def usable(self) -> list[str]:
        return [report.patient_id for report in self.cases if report.usable]

    def all_issues(self) -> list[CaseIssue]:
        return [issue for report in self.cases for issue in report.issues] + self.cohort_issues

    def to_json(self) -> str:
        return json.dumps({
            "layout": self.layout,
            "cases": [
                {"patient_id": r.patient_id, "source_id": r.source_id, "usable": r.usable,
                 "issues": [issue.as_dict() for issue in r.issues]}
                for r in self.cases
            ],
            "cohort_issues": [issue.as_dict() for issue in self.cohort_issues],
            "usable": len(self.usable),
            "total": len(self.cases),
        }, indent=2)


def _read_checked(case: Case, role: str, config: ValidationConfig, issues: list[CaseIssue],
                  pixel_type: int = sitk.sitkUnknown) -> sitk.Image | None:
    path = case.files()[role]
    try:
        image = read_image(path, pixel_type)
        nonfinite = nonfinite_voxels(path, image)
    except ImageReadError as error:
        issues.append(CaseIssue(case.patient_id, IssueKind.UNREADABLE_FILE, str(error), str(path)))
        return None
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        issues.append(CaseIssue(case.patient_id, IssueKind.NOT_3D,
                                f"{role} has {image.GetDimension()} dimensions and {image.GetNumberOfComponentsPerPixel()} "
                                "components; a single 3D scalar volume is needed (split 4D series first)", str(path)))
        return None
    voxels = int(np.prod(image.GetSize()))
    if voxels > config.max_voxels:
        issues.append(CaseIssue(case.patient_id, IssueKind.TOO_LARGE,
                                f"{role} has {voxels:,} voxels, above the limit of {config.max_voxels:,}; "
                                "resample it or raise ValidationConfig.max_voxels", str(path)))
        return None
    if nonfinite:
        issues.append(CaseIssue(case.patient_id, IssueKind.NON_FINITE_VOXELS,
                                f"{role} has {nonfinite:,} NaN/Inf voxels; re-export the volume", str(path)))
        return None
    return image


def _tumor_inside(seg: sitk.Image, tumor: frozenset[int], image: sitk.Image) -> bool:
    """Whether the corners of the tumor's bounding box (physical points) lie inside ``image``."""
    inside = np.argwhere(np.isin(sitk.GetArrayViewFromImage(seg), list(tumor)))
    if not len(inside):
        return False
    low, high = inside.min(axis=0)[::-1], inside.max(axis=0)[::-1]  # (x, y, z) indices
    size = np.array(image.GetSize())
    for corner in np.array(np.meshgrid(*zip(low, high), indexing="ij")).reshape(3, -1).T:
        point = seg.TransformIndexToPhysicalPoint([int(v) for v in corner])
        index = np.array(image.TransformPhysicalPointToContinuousIndex(point))
        if np.any(index < -0.5) or np.any(index > size - 0.5):
            return False
    return True


def validate_case(case: Case, known: list[CaseIssue] = (), config: ValidationConfig = ValidationConfig()) -> CaseReport:
    """Read every volume of ``case`` and report what is wrong; files already reported are skipped."""
    issues: list[CaseIssue] = list(known)
    reported = {issue.path for issue in known}
    seg = None
    if case.segmentation is not None and str(case.segmentation) not in reported:
        seg = _read_checked(case, "segmentation", config, issues)
    if seg is not None:
        labels = sitk.GetArrayViewFromImage(seg)
        values = set(np.unique(labels).tolist())
        unknown = sorted(values - set(case.labels.allowed))
        if unknown:
            issues.append(CaseIssue(case.patient_id, IssueKind.UNKNOWN_LABEL_VALUES,
                                    f"segmentation holds label values {unknown} not in the {case.labels.name} "
                                    f"scheme {sorted(case.labels.allowed)}; fix the labels or choose another layout",
                                    str(case.segmentation)))
        elif not values & set(case.labels.tumor):
            issues.append(CaseIssue(case.patient_id, IssueKind.EMPTY_TUMOR_LABEL,
                                    "segmentation has no tumor voxels; the case has no VOI_T", str(case.segmentation)))
    for role in [*case.images, *(["brain_mask"] if case.brain_mask else [])]:
        path = case.files()[role]
        if str(path) in reported:
            continue
        image = _read_checked(case, role, config, issues)
        if image is None:
            continue
        if seg is not None:
            diffs = geometry_differences(seg, image, config.tolerance)
            if diffs and case.layout == "manifest" and _tumor_inside(seg, case.labels.tumor, image):
                # A native-space study (a manifest's DICOM series, TCIA's cases): each series on its
                # own grid in one patient space, resampled onto the segmentation's grid by physical
                # coordinates. UCSF-PDGM and BraTS ship every file co-registered on one grid, so
                # there a mismatch means a damaged or mixed-up file, and is refused.
                issues.append(CaseIssue(case.patient_id, IssueKind.RESAMPLED, f"{role} is on another grid "
                                        f"({'; '.join(diffs)}); it is resampled onto the segmentation's grid by "
                                        "physical coordinates (check the alignment, or set registration: rigid)",
                                        str(path), Severity.WARNING))
            elif diffs:
                issues.append(CaseIssue(case.patient_id, IssueKind.GEOMETRY_MISMATCH,
                                        f"{role} is not on the segmentation's grid and the tumor lies outside its "
                                        f"extent: {'; '.join(diffs)}; resample it onto the segmentation first",
                                        str(path)))
    return CaseReport(case.patient_id, case.source_id, issues)


def validate_cohort(cohort: Cohort, config: ValidationConfig = ValidationConfig(), progress: bool = False) -> ValidationReport:
    """Validate every case; one bad case never stops the others."""
    case_ids = {case.patient_id for case in cohort.cases}
    cases = cohort.cases
    if progress:
        from tqdm import tqdm
        cases = tqdm(cases, desc="validating", unit="case")
    reports = [validate_case(case, cohort.issues_for(case.patient_id), config) for case in cases]
    orphans = [issue for issue in cohort.issues if issue.patient_id not in case_ids]
    return ValidationReport(cohort.layout, reports, orphans)
