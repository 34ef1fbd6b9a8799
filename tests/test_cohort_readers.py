"""Each supported layout is found, read and matched to its clinical rows."""

import csv

import numpy as np
import pytest
import SimpleITK as sitk

from radiomics_core.cohorts.layouts import CohortConfig, detect_layout, read_cohort
from radiomics_core.cohorts.validation import validate_cohort
from tests.builders import write_brats_case, write_manifest, write_ucsf_cohort, write_ucsf_case


def test_ucsf_pdgm_folders_match_three_digit_clinical_ids(tmp_path):
    write_ucsf_cohort(tmp_path, n=3)
    cohort = read_cohort(tmp_path)
    assert cohort.layout == "ucsf-pdgm"
    assert [c.patient_id for c in cohort.cases] == ["UCSF-PDGM-0001", "UCSF-PDGM-0002", "UCSF-PDGM-0003"]
    first = cohort.cases[0]
    assert first.clinical.source_id == "UCSF-PDGM-001"
    assert first.clinical.who_grade == 4 and first.clinical.raw["WHO CNS Grade"] == "4"
    assert set(first.images) == {"T1", "T1c", "T2", "FLAIR"}
    assert first.brain_mask.name == "UCSF-PDGM-0001_brain_segmentation.nii.gz"
    assert validate_cohort(cohort).usable == [c.patient_id for c in cohort.cases]


def test_ucsf_pdgm_package_root_and_follow_up_exams_are_found(tmp_path):
    package = tmp_path / "PKG - UCSF-PDGM-v3-20230111" / "UCSF-PDGM-v3"
    write_ucsf_case(package, "UCSF-PDGM-0433")
    write_ucsf_case(package, "UCSF-PDGM-0433_FU007d", seed=1)
    cohort = read_cohort(tmp_path)
    assert [c.patient_id for c in cohort.cases] == ["UCSF-PDGM-0433", "UCSF-PDGM-0433_FU007d"]
    assert len(validate_cohort(cohort).usable) == 2


def test_brats2021_names_and_legacy_labels(tmp_path):
    names = {"T1": "t1", "T1c": "t1ce", "T2": "t2", "FLAIR": "flair"}
    write_brats_case(tmp_path, "BraTS2021_00000", names, "_", et_label=4)
    cohort = read_cohort(tmp_path)
    assert cohort.layout == "brats2021"
    assert cohort.cases[0].images["T1c"].name == "BraTS2021_00000_t1ce.nii.gz"
    assert validate_cohort(cohort).usable == ["BraTS2021_00000"]


def test_brats2023_names_and_enhancing_label_three(tmp_path):
    names = {"T1": "t1n", "T1c": "t1c", "T2": "t2w", "FLAIR": "t2f"}
    write_brats_case(tmp_path, "BraTS-GLI-00000-000", names, "-", et_label=3)
    cohort = read_cohort(tmp_path)
    assert cohort.layout == "brats2023"
    assert cohort.cases[0].labels.tumor == frozenset({1, 2, 3})
    assert validate_cohort(cohort).usable == ["BraTS-GLI-00000-000"]


def test_brats2023_rejects_the_legacy_enhancing_label(tmp_path):
    names = {"T1": "t1n", "T1c": "t1c", "T2": "t2w", "FLAIR": "t2f"}
    write_brats_case(tmp_path, "BraTS-GLI-00000-000", names, "-", et_label=4)
    report = validate_cohort(read_cohort(tmp_path))
    assert [i.kind.value for i in report.cases[0].issues] == ["unknown_label_values"]


def _manifest_row(patient: str, folder: str, case_id: str, sep: str, names: dict[str, str]) -> dict[str, str]:
    return {"patient_id": patient, "seg": f"{folder}/{case_id}{sep}seg.nii.gz",
            **{seq: f"{folder}/{case_id}{sep}{suffix}.nii.gz" for seq, suffix in names.items()}}


def test_a_manifest_beside_case_folders_adds_its_cases(tmp_path):
    # What a TCIA pull into a BraTS cohort leaves: case folders, plus manifest rows for the landed cases.
    names = {"T1": "t1", "T1c": "t1ce", "T2": "t2", "FLAIR": "flair"}
    write_brats_case(tmp_path, "BraTS2021_00000", names, "_", et_label=4)
    write_brats_case(tmp_path / "TCGA-06-0001", "TCGA-06-0001", names, "_", et_label=4, seed=1)
    write_manifest(tmp_path, [_manifest_row("TCGA-06-0001", "TCGA-06-0001/TCGA-06-0001", "TCGA-06-0001", "_", names)])
    cohort = read_cohort(tmp_path)
    assert detect_layout(tmp_path) == "brats2021" and cohort.layout == "brats2021"
    assert [(c.patient_id, c.layout) for c in cohort.cases] == [("BraTS2021_00000", "brats2021"),
                                                                 ("TCGA-06-0001", "manifest")]
    assert cohort.issues == []  # the manifest is not mistaken for the clinical CSV
    assert validate_cohort(cohort).usable == ["BraTS2021_00000", "TCGA-06-0001"]


def test_the_cohorts_clinical_csv_covers_the_manifests_cases_too(tmp_path):
    write_ucsf_cohort(tmp_path, n=2)
    names = {"T1": "T1", "T1c": "T1c", "T2": "T2", "FLAIR": "FLAIR"}
    write_brats_case(tmp_path / "TCGA-06-0001", "TCGA-06-0001", names, "_", et_label=4)
    write_manifest(tmp_path, [_manifest_row("TCGA-06-0001", "TCGA-06-0001/TCGA-06-0001", "TCGA-06-0001", "_", names)])
    [clinical_csv] = tmp_path.glob("UCSF-PDGM-metadata*.csv")
    with open(clinical_csv, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    rows.append({**rows[0], "ID": "TCGA-06-0001", "WHO CNS Grade": "2"})
    with open(clinical_csv, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    cohort = read_cohort(tmp_path)
    assert cohort.case("TCGA-06-0001").clinical.who_grade == 2
    assert cohort.issues == []  # the row has its images: no "clinical row without images"


def test_a_manifest_row_naming_a_case_folder_replaces_that_folder_case(tmp_path):
    names = {"T1": "t1", "T1c": "t1ce", "T2": "t2", "FLAIR": "flair"}
    write_brats_case(tmp_path, "BraTS2021_00000", names, "_", et_label=4)
    write_brats_case(tmp_path, "BraTS2021_00001", names, "_", et_label=4, seed=1)
    write_manifest(tmp_path, [{**_manifest_row("BraTS2021_00001", "BraTS2021_00001", "BraTS2021_00001", "_", names),
                               "who_grade": "4"}])
    cohort = read_cohort(tmp_path)
    assert [(c.patient_id, c.layout) for c in cohort.cases] == [("BraTS2021_00000", "brats2021"),
                                                                 ("BraTS2021_00001", "manifest")]
    assert cohort.case("BraTS2021_00001").clinical.who_grade == 4
    assert not [i for i in cohort.issues if i.kind.value == "duplicate_patient_id"]


def test_a_folder_with_only_a_manifest_is_a_manifest_cohort(tmp_path):
    names = {"T1": "t1", "T1c": "t1ce", "T2": "t2", "FLAIR": "flair"}
    write_brats_case(tmp_path / "cases", "case1", names, "_", et_label=4)
    write_manifest(tmp_path, [_manifest_row("case1", "cases/case1", "case1", "_", names)])
    assert detect_layout(tmp_path) == "manifest"
    assert [c.patient_id for c in read_cohort(tmp_path).cases] == ["case1"]


def test_layout_can_be_forced(tmp_path):
    names = {"T1": "t1", "T1c": "t1ce", "T2": "t2", "FLAIR": "flair"}
    write_brats_case(tmp_path, "BraTS2021_00001", names, "_", et_label=4)
    assert read_cohort(tmp_path, CohortConfig(layout="ucsf-pdgm")).cases == []


def test_an_empty_folder_names_what_was_expected(tmp_path):
    with pytest.raises(ValueError, match="no cases found"):
        detect_layout(tmp_path)


def test_manifest_reads_the_real_pyradiomics_scan_and_clinical_columns(tmp_path, pyradiomics_data):
    for name in ("brain1_image.nrrd", "brain1_label.nrrd"):
        (tmp_path / name).write_bytes((pyradiomics_data / name).read_bytes())
    write_manifest(tmp_path, [{"patient_id": "TCGA-02-0003", "T1c": "brain1_image.nrrd", "seg": "brain1_label.nrrd",
                               "sex": "male", "age": "50", "who_grade": "IV", "mgmt_methylated": "unmethylated",
                               "idh": "wildtype"}])
    cohort = read_cohort(tmp_path, CohortConfig(sequences=("T1c",)))
    case = cohort.cases[0]
    assert cohort.layout == "manifest"
    assert (case.clinical.sex, case.clinical.age, case.clinical.who_grade, case.clinical.mgmt_methylated) == ("M", 50.0, 4, False)
    assert validate_cohort(cohort).usable == ["TCGA-02-0003"]


def test_manifest_reads_a_dicom_series_folder(tmp_path, pyradiomics_data):
    image = sitk.Cast(sitk.ReadImage(str(pyradiomics_data / "brain2_image.nrrd")), sitk.sitkInt16)
    series = tmp_path / "dicom_t1c"
    series.mkdir()
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for k in range(image.GetDepth()):
        sl = image[:, :, k]
        for tag, value in {"0020|000e": "1.2.826.0.1.3680043.2.1125.1", "0020|0013": str(k + 1),
                           "0020|0032": "\\".join(map(str, image.TransformIndexToPhysicalPoint((0, 0, k)))),
                           "0020|0037": "1\\0\\0\\0\\1\\0", "0008|0060": "MR"}.items():
            sl.SetMetaData(tag, value)
        writer.SetFileName(str(series / f"{k:03d}.dcm"))
        writer.Execute(sl)
    (tmp_path / "label.nrrd").write_bytes((pyradiomics_data / "brain2_label.nrrd").read_bytes())
    write_manifest(tmp_path, [{"patient_id": "brain2", "T1c": "dicom_t1c", "seg": "label.nrrd"}])
    cohort = read_cohort(tmp_path, CohortConfig(sequences=("T1c",)))
    from radiomics_core.files.images import read_image
    dicom = read_image(cohort.cases[0].images["T1c"])
    assert dicom.GetSize() == image.GetSize()
    assert np.array_equal(sitk.GetArrayFromImage(dicom), sitk.GetArrayFromImage(image))
