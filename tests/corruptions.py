"""The bad-input corpus: each entry damages one patient's files the way real downloads go wrong."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Callable

import numpy as np
import SimpleITK as sitk


def case_file(cohort: Path, patient: str, role: str) -> Path:
    return cohort / f"{patient}_nifti" / f"{patient}_{role}.nii.gz"


def rewrite_volume(path: Path, change: Callable) -> None:
    """Replace a volume by ``change(array, image)``: an array (same grid) or a new image."""
    image = sitk.ReadImage(str(path))
    result = change(sitk.GetArrayFromImage(image), image)
    if not isinstance(result, sitk.Image):
        result = _with_info(result, image)
    sitk.WriteImage(result, str(path))


def _with_info(array, image, **changes) -> sitk.Image:
    out = sitk.GetImageFromArray(array)
    out.CopyInformation(image)
    for name, value in changes.items():
        getattr(out, f"Set{name}")(value)
    return out


def _nan(array, _):
    array = array.astype(np.float32)
    array[5, 5, 5], array[6, 6, 6] = np.nan, np.inf
    return array


def _stray_label(array, _):
    array = array.copy()
    array[0, 0, 0] = 7
    return array


def edit_clinical(cohort: Path, edit: Callable[[list[dict]], list[dict]]) -> None:
    path = cohort / "UCSF-PDGM-metadata_v5.csv"
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows, fields = list(reader), reader.fieldnames
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(edit(rows))


def _csv_id(patient: str) -> str:
    return f"UCSF-PDGM-{int(patient.rsplit('-', 1)[1]):03d}"


def _four_d(cohort, patient):
    path = case_file(cohort, patient, "T2")
    volume = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    sitk.WriteImage(sitk.JoinSeries([sitk.GetImageFromArray(volume)] * 2), str(path))


def _symlink_outside(cohort, patient):
    outside = cohort.parent / f"outside-{patient}.nii.gz"
    sitk.WriteImage(sitk.Image(4, 4, 4, sitk.sitkFloat32), str(outside))
    target = case_file(cohort, patient, "T1")
    target.unlink()
    target.symlink_to(outside)


# name -> (damage(cohort, patient), expected issue kind, whether the case still runs)
CORRUPTIONS: dict[str, tuple[Callable[[Path, str], None], str, bool]] = {
    "truncated_gzip": (lambda c, p: case_file(c, p, "T2").write_bytes(case_file(c, p, "T2").read_bytes()[:2000]),
                       "unreadable_file", False),
    "zero_byte_file": (lambda c, p: case_file(c, p, "T1").write_bytes(b""), "unreadable_file", False),
    "size_mismatch": (lambda c, p: rewrite_volume(case_file(c, p, "T1"), lambda a, _: sitk.GetImageFromArray(a[:-2])),
                      "geometry_mismatch", False),
    "shifted_origin": (lambda c, p: rewrite_volume(case_file(c, p, "T1"), lambda a, i: _with_info(
        a, i, Origin=tuple(o + 2.0 for o in i.GetOrigin()))), "geometry_mismatch", False),
    "other_direction": (lambda c, p: rewrite_volume(case_file(c, p, "FLAIR"), lambda a, i: _with_info(
        a, i, Direction=(-1, 0, 0, 0, 1, 0, 0, 0, 1))), "geometry_mismatch", False),
    "four_dimensional": (_four_d, "not_3d", False),
    "nan_inf_voxels": (lambda c, p: rewrite_volume(case_file(c, p, "T1c"), _nan), "non_finite_voxels", False),
    "empty_label": (lambda c, p: rewrite_volume(case_file(c, p, "tumor_segmentation"), lambda a, _: np.zeros_like(a)),
                    "empty_tumor_label", False),
    "unexpected_label": (lambda c, p: rewrite_volume(case_file(c, p, "tumor_segmentation"), _stray_label),
                         "unknown_label_values", False),
    "missing_sequence": (lambda c, p: case_file(c, p, "FLAIR").unlink(), "missing_sequence", False),
    "missing_clinical_row": (lambda c, p: edit_clinical(c, lambda rows: [r for r in rows if r["ID"] != _csv_id(p)]),
                             "images_without_clinical", True),
    "bad_clinical_values": (lambda c, p: edit_clinical(c, lambda rows: [
        {**r, "Age at MRI": "abc", "MGMT status": "maybe"} if r["ID"] == _csv_id(p) else r for r in rows]),
        "bad_clinical_value", True),
    "symlink_outside": (_symlink_outside, "unsafe_path", False),
}
