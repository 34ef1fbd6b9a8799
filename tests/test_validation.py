"""Every bad input gets its own error kind for its own patient; the other cases still load."""

import json

import pytest

from cli.main import main
from radiomics_core.cohorts.layouts import read_cohort
from radiomics_core.cohorts.validation import validate_cohort
from tests.builders import write_ucsf_cohort, write_volume
from tests.corruptions import CORRUPTIONS, case_file, edit_clinical

BAD = "UCSF-PDGM-0002"


@pytest.fixture()
def cohort_dir(tmp_path):
    return write_ucsf_cohort(tmp_path / "cohort", n=3)


def _report(cohort_dir):
    return validate_cohort(read_cohort(cohort_dir))


def _kinds(report, patient=BAD):
    return sorted({i.kind.value for r in report.cases if r.patient_id == patient for i in r.issues})


def _assert_only_bad_case_fails(report):
    assert report.usable == ["UCSF-PDGM-0001", "UCSF-PDGM-0003"]


# What the message must say for each entry of the bad-input corpus (tests/corruptions.py).
MESSAGE_FRAGMENTS = {
    "truncated_gzip": "truncated or corrupt", "zero_byte_file": "0 bytes", "size_mismatch": "size",
    "shifted_origin": "origin", "other_direction": "direction", "four_dimensional": "3D scalar volume",
    "nan_inf_voxels": "2 NaN/Inf voxels", "empty_label": "no tumor voxels", "unexpected_label": "[7]",
    "missing_sequence": "FLAIR file is missing", "missing_clinical_row": "no row for UCSF-PDGM-0002",
    "bad_clinical_values": "'Age at MRI'", "symlink_outside": "outside the cohort folder",
}


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_each_bad_input_is_reported_for_its_own_patient(cohort_dir, name):
    damage, kind, still_usable = CORRUPTIONS[name]
    damage(cohort_dir, BAD)
    report = _report(cohort_dir)
    issues = [i for r in report.cases if r.patient_id == BAD for i in r.issues]
    assert {i.kind.value for i in issues} == {kind}
    assert any(MESSAGE_FRAGMENTS[name] in i.message for i in issues), [i.message for i in issues]
    assert all(i.patient_id == BAD for i in report.all_issues())
    if still_usable:
        assert len(report.usable) == 3
    else:
        _assert_only_bad_case_fails(report)


def test_missing_segmentation(cohort_dir):
    case_file(cohort_dir, BAD, "tumor_segmentation").unlink()
    report = _report(cohort_dir)
    assert _kinds(report) == ["missing_segmentation"]
    _assert_only_bad_case_fails(report)


def test_clinical_row_without_images(cohort_dir):
    edit_clinical(cohort_dir, lambda rows: rows + [{**rows[0], "ID": "UCSF-PDGM-099"}])
    report = _report(cohort_dir)
    assert [i.kind.value for i in report.cohort_issues] == ["clinical_without_images"]
    assert report.cohort_issues[0].patient_id == "UCSF-PDGM-0099"
    assert len(report.usable) == 3


def test_bad_clinical_values_become_unknown_and_the_raw_text_is_kept(cohort_dir):
    CORRUPTIONS["bad_clinical_values"][0](cohort_dir, BAD)
    record = read_cohort(cohort_dir).case(BAD).clinical
    assert record.age is None and record.mgmt_methylated is None
    assert record.raw["Age at MRI"] == "abc"


def test_duplicate_patient_ids_fail_both_cases(cohort_dir):
    # The same exam copied into a second package folder.
    import shutil
    shutil.copytree(cohort_dir / f"{BAD}_nifti", cohort_dir / "copy" / f"{BAD}_nifti")
    report = _report(cohort_dir)
    assert [r.patient_id for r in report.cases].count(BAD) == 2
    assert _kinds(report) == ["duplicate_patient_id"]
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
    from radiomics_core.cohorts.layouts import CohortConfig
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
    from radiomics_core.cohorts.layouts import CohortConfig
    report = validate_cohort(read_cohort(tmp_path / "cohort", CohortConfig(sequences=("FLAIR",))))
    assert _kinds(report, "p1") == ["unsafe_path"]
    assert report.usable == []


def test_ingest_cli_prints_json_and_exits_zero_while_a_case_is_usable(cohort_dir, capsys):
    case_file(cohort_dir, BAD, "FLAIR").unlink()
    assert main(["ingest", str(cohort_dir), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert (payload["usable"], payload["total"]) == (2, 3)


def test_ingest_cli_exits_non_zero_when_no_case_is_usable(cohort_dir, capsys):
    for patient in ("UCSF-PDGM-0001", "UCSF-PDGM-0002", "UCSF-PDGM-0003"):
        case_file(cohort_dir, patient, "T1").unlink()
    assert main(["ingest", str(cohort_dir), "--json"]) == 1


def test_run_refuses_a_ring_that_is_not_a_positive_distance(cohort_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    assert main(["run", str(cohort_dir), "--rings", "1,-2", "--data-dir", str(tmp_path / "data")]) == 2
    assert "rings_mm: ring '-2' mm: a ring's distance must be a positive number of mm" in capsys.readouterr().err
