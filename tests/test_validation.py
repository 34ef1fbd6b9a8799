"""Every bad input gets its own error kind for its own patient; the other cases still load."""

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from orchestration.cli import main
from radiomics_core.cohort import read_cohort
from radiomics_core.validation import validate_cohort
from tests.builders import write_ucsf_cohort, write_volume
from tests.corruptions import edit_clinical as _edit_clinical
from tests.corruptions import rewrite_volume as _rewrite

BAD = "UCSF-PDGM-0002"


@pytest.fixture()
def cohort_dir(tmp_path):
    return write_ucsf_cohort(tmp_path / "cohort", n=3)


def _file(cohort_dir: Path, role: str, patient: str = BAD) -> Path:
    return cohort_dir / f"{patient}_nifti" / f"{patient}_{role}.nii.gz"


def _report(cohort_dir):
    return validate_cohort(read_cohort(cohort_dir))


def _kinds(report, patient=BAD):
    return sorted({i.kind.value for r in report.cases if r.patient_id == patient for i in r.issues})


def _assert_only_bad_case_fails(report):
    assert report.usable == ["UCSF-PDGM-0001", "UCSF-PDGM-0003"]


def test_missing_sequence_file(cohort_dir):
    _file(cohort_dir, "FLAIR").unlink()
    report = _report(cohort_dir)
    assert _kinds(report) == ["missing_sequence"]
    issue = report.cases[1].issues[0]
    assert issue.patient_id == BAD and issue.path.endswith("UCSF-PDGM-0002_FLAIR.nii.gz")
    _assert_only_bad_case_fails(report)


def test_missing_segmentation(cohort_dir):
    _file(cohort_dir, "tumor_segmentation").unlink()
    report = _report(cohort_dir)
    assert _kinds(report) == ["missing_segmentation"]
    _assert_only_bad_case_fails(report)


def test_truncated_gzip_is_unreadable(cohort_dir):
    path = _file(cohort_dir, "T2")
    path.write_bytes(path.read_bytes()[:2000])
    report = _report(cohort_dir)
    assert _kinds(report) == ["unreadable_file"]
    assert "truncated or corrupt" in report.cases[1].issues[0].message
    _assert_only_bad_case_fails(report)


def test_zero_byte_file_is_unreadable(cohort_dir):
    _file(cohort_dir, "T1").write_bytes(b"")
    report = _report(cohort_dir)
    assert _kinds(report) == ["unreadable_file"]
    assert "0 bytes" in report.cases[1].issues[0].message
    _assert_only_bad_case_fails(report)


def test_nan_and_inf_voxels(cohort_dir):
    def poison(array, _):
        array = array.astype(np.float32)
        array[5, 5, 5], array[6, 6, 6] = np.nan, np.inf
        return array
    _rewrite(_file(cohort_dir, "T1c"), poison)
    report = _report(cohort_dir)
    assert _kinds(report) == ["non_finite_voxels"]
    assert "2 NaN/Inf voxels" in report.cases[1].issues[0].message
    _assert_only_bad_case_fails(report)


def test_image_with_another_size(cohort_dir):
    _rewrite(_file(cohort_dir, "T1"), lambda a, _: sitk.GetImageFromArray(a[:-2]))
    report = _report(cohort_dir)
    assert _kinds(report) == ["geometry_mismatch"]
    assert "size" in report.cases[1].issues[0].message
    _assert_only_bad_case_fails(report)


def test_image_with_shifted_origin(cohort_dir):
    def shift(array, image):
        out = sitk.GetImageFromArray(array)
        out.CopyInformation(image)
        out.SetOrigin(tuple(o + 2.0 for o in image.GetOrigin()))
        return out
    _rewrite(_file(cohort_dir, "T1"), shift)
    report = _report(cohort_dir)
    assert _kinds(report) == ["geometry_mismatch"]
    assert "origin" in report.cases[1].issues[0].message
    _assert_only_bad_case_fails(report)


def test_image_with_other_direction_cosines(cohort_dir):
    def flip(array, image):
        out = sitk.GetImageFromArray(array)
        out.CopyInformation(image)
        out.SetDirection((-1, 0, 0, 0, 1, 0, 0, 0, 1))
        return out
    _rewrite(_file(cohort_dir, "FLAIR"), flip)
    report = _report(cohort_dir)
    assert _kinds(report) == ["geometry_mismatch"]
    assert "direction" in report.cases[1].issues[0].message
    _assert_only_bad_case_fails(report)


def test_four_dimensional_image(cohort_dir):
    path = _file(cohort_dir, "T2")
    volume = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    sitk.WriteImage(sitk.JoinSeries([sitk.GetImageFromArray(volume)] * 2), str(path))
    report = _report(cohort_dir)
    assert _kinds(report) == ["not_3d"]
    _assert_only_bad_case_fails(report)


def test_empty_tumor_label(cohort_dir):
    _rewrite(_file(cohort_dir, "tumor_segmentation"), lambda a, _: np.zeros_like(a))
    report = _report(cohort_dir)
    assert _kinds(report) == ["empty_tumor_label"]
    _assert_only_bad_case_fails(report)


def test_unknown_label_values(cohort_dir):
    def stray(array, _):
        array = array.copy()
        array[0, 0, 0] = 7
        return array
    _rewrite(_file(cohort_dir, "tumor_segmentation"), stray)
    report = _report(cohort_dir)
    assert _kinds(report) == ["unknown_label_values"]
    assert "[7]" in report.cases[1].issues[0].message
    _assert_only_bad_case_fails(report)


def test_images_without_clinical_row_are_a_warning(cohort_dir):
    _edit_clinical(cohort_dir, lambda rows: [r for r in rows if r["ID"] != "UCSF-PDGM-002"])
    report = _report(cohort_dir)
    assert _kinds(report) == ["images_without_clinical"]
    assert len(report.usable) == 3  # images are still processed; models skip the case


def test_clinical_row_without_images(cohort_dir):
    _edit_clinical(cohort_dir, lambda rows: rows + [{**rows[0], "ID": "UCSF-PDGM-099"}])
    report = _report(cohort_dir)
    assert [i.kind.value for i in report.cohort_issues] == ["clinical_without_images"]
    assert report.cohort_issues[0].patient_id == "UCSF-PDGM-0099"
    assert len(report.usable) == 3


def test_bad_clinical_values_become_unknown_with_a_warning(cohort_dir):
    def spoil(rows):
        rows[1]["Age at MRI"], rows[1]["MGMT status"] = "abc", "maybe"
        return rows
    _edit_clinical(cohort_dir, spoil)
    cohort = read_cohort(cohort_dir)
    record = cohort.case(BAD).clinical
    assert record.age is None and record.mgmt_methylated is None
    assert record.raw["Age at MRI"] == "abc"
    report = validate_cohort(cohort)
    assert _kinds(report) == ["bad_clinical_value"]
    assert len(report.usable) == 3


def test_duplicate_patient_ids_fail_both_cases(cohort_dir):
    # The same exam copied into a second package folder.
    import shutil
    shutil.copytree(cohort_dir / f"{BAD}_nifti", cohort_dir / "copy" / f"{BAD}_nifti")
    report = _report(cohort_dir)
    assert [r.patient_id for r in report.cases].count(BAD) == 2
    assert _kinds(report) == ["duplicate_patient_id"]
    _assert_only_bad_case_fails(report)


def test_symlink_outside_the_cohort(cohort_dir, tmp_path):
    outside = write_volume(np.zeros((4, 4, 4), np.float32), tmp_path / "elsewhere.nii.gz")
    target = _file(cohort_dir, "T1")
    target.unlink()
    target.symlink_to(outside)
    report = _report(cohort_dir)
    assert _kinds(report) == ["unsafe_path"]
    _assert_only_bad_case_fails(report)


def test_manifest_ids_that_partition_keys_reject_are_made_safe(tmp_path):
    from tests.builders import small_case_volumes, write_manifest
    rows = []
    for k, source_id in enumerate(["a|b", "c,d", "e f", "../g"]):
        volumes = small_case_volumes(k)
        write_volume(volumes["FLAIR"], tmp_path / f"c{k}" / "flair.nii.gz")
        write_volume(volumes["tumor_segmentation"], tmp_path / f"c{k}" / "seg.nii.gz")
        rows.append({"patient_id": source_id, "FLAIR": f"c{k}/flair.nii.gz", "seg": f"c{k}/seg.nii.gz"})
    write_manifest(tmp_path, rows)
    from radiomics_core.cohort import CohortConfig
    cohort = read_cohort(tmp_path, CohortConfig(sequences=("FLAIR",)))
    keys = [c.patient_id for c in cohort.cases]
    assert len(set(keys)) == 4
    assert all(set(k) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") for k in keys)
    assert sorted(c.source_id for c in cohort.cases) == ["../g", "a|b", "c,d", "e f"]
    assert len(validate_cohort(cohort).usable) == 4


def test_manifest_path_escaping_the_cohort_is_refused(tmp_path):
    from tests.builders import small_case_volumes, write_manifest
    volumes = small_case_volumes(0)
    write_volume(volumes["FLAIR"], tmp_path / "outside" / "flair.nii.gz")
    write_volume(volumes["tumor_segmentation"], tmp_path / "cohort" / "seg.nii.gz")
    write_manifest(tmp_path / "cohort", [{"patient_id": "p1", "FLAIR": "../outside/flair.nii.gz", "seg": "seg.nii.gz"}])
    from radiomics_core.cohort import CohortConfig
    report = validate_cohort(read_cohort(tmp_path / "cohort", CohortConfig(sequences=("FLAIR",))))
    assert _kinds(report, "p1") == ["unsafe_path"]
    assert report.usable == []


def test_ingest_cli_prints_json_and_exits_zero_while_a_case_is_usable(cohort_dir, capsys):
    _file(cohort_dir, "FLAIR").unlink()
    assert main(["ingest", str(cohort_dir), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert (payload["usable"], payload["total"]) == (2, 3)


def test_ingest_cli_exits_non_zero_when_no_case_is_usable(cohort_dir, capsys):
    for patient in ("UCSF-PDGM-0001", "UCSF-PDGM-0002", "UCSF-PDGM-0003"):
        _file(cohort_dir, "T1", patient).unlink()
    assert main(["ingest", str(cohort_dir), "--json"]) == 1
