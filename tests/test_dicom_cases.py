"""Landed DICOM series (written by SimpleITK from tests/fake_nbia.py's phantom) become cases."""

from pathlib import Path

import pytest
import SimpleITK as sitk

from radiomics_core.cohorts.layouts import read_cohort
from radiomics_core.tcia.dicom_cases import SequenceRule, assemble_cases, series_volume
from tests.fake_nbia import ROOT, dicom_files

DESCRIPTIONS = {"AX T1 POST GD": "T1c", "AX T1": "T1", "AX T2 FSE": "T2", "AX FLAIR": "FLAIR"}


def land(landing: Path, patient: str, descriptions=DESCRIPTIONS, skip_slice: str | None = None) -> None:
    study = f"{ROOT}.2.{abs(hash(patient)) % 1000}"
    for k, description in enumerate(descriptions):
        uid = f"{study}.{k}"
        folder = landing / patient / uid
        folder.mkdir(parents=True)
        for name, data in dicom_files(patient, study, uid, description):
            if not (description == skip_slice and name == "00000002.dcm"):
                (folder / name).write_bytes(data)


def segmentation_for(landing: Path, patient: str, seg_dir: Path) -> None:
    image = series_volume(sorted((landing / patient).iterdir())[0])  # the T1c series, never the broken one
    seg = sitk.Cast(image > 500, sitk.sitkUInt8) * 2  # edema label of the BraTS legacy scheme
    seg_dir.mkdir(exist_ok=True)
    sitk.WriteImage(seg, str(seg_dir / f"{patient}.nii.gz"))


@pytest.mark.parametrize("description, sequence", [
    ("AX T1 POST GD", "T1c"), ("T1 AX +C", "T1c"), ("SAG T1 MPRAGE POST", "T1c"), ("AXIAL T1 GD", "T1c"),
    ("AX T1", "T1"), ("T1 AXIAL SE", "T1"), ("AX T2 FSE", "T2"), ("AXIAL T2", "T2"),
    ("AX FLAIR", "FLAIR"), ("T2 FLAIR AXIAL", "FLAIR"), ("3-PLANE LOC", None), ("AX DWI", None),
    ("AX T2* GRE", None), ("", None)])
def test_the_default_rule_names_tcga_descriptions(description, sequence):
    assert SequenceRule().sequence(description) == sequence


def test_a_study_waits_for_its_segmentation_then_lands_as_a_manifest_row(tmp_path):
    landing, cohort, segs = tmp_path / "landing", tmp_path / "cohort", tmp_path / "segs"
    land(landing, "TCGA-02-0003")
    [waiting] = assemble_cases(landing, cohort, segs)
    assert waiting.status == "waiting for segmentation" and "TCGA-02-0003.nii.gz" in waiting.detail
    assert not (cohort / "manifest.csv").exists()

    segmentation_for(landing, "TCGA-02-0003", segs)
    [landed] = assemble_cases(landing, cohort, segs)
    assert landed.status == "landed"
    image = sitk.ReadImage(str(cohort / "TCGA-02-0003" / "TCGA-02-0003_FLAIR.nii.gz"))
    assert image.GetSize() == (16, 16, 4) and image.GetSpacing()[2] == pytest.approx(3.0)
    read = read_cohort(cohort)
    assert [c.patient_id for c in read.cases] == ["TCGA-02-0003"] and read.layout == "manifest"
    assert not [i for i in read.issues if i.severity.name == "ERROR"]

    # A second patient adds a row; the first case is neither lost nor converted again.
    before = (cohort / "TCGA-02-0003" / "TCGA-02-0003_T1.nii.gz").stat().st_mtime_ns
    land(landing, "TCGA-06-0001")
    segmentation_for(landing, "TCGA-06-0001", segs)
    outcomes = {o.patient_id: o for o in assemble_cases(landing, cohort, segs)}
    assert outcomes["TCGA-02-0003"].detail == "already in the manifest" and outcomes["TCGA-06-0001"].status == "landed"
    assert (cohort / "TCGA-02-0003" / "TCGA-02-0003_T1.nii.gz").stat().st_mtime_ns == before
    assert [c.patient_id for c in read_cohort(cohort).cases] == ["TCGA-02-0003", "TCGA-06-0001"]


def test_a_missing_slice_fails_the_case_and_names_the_series(tmp_path):
    landing, segs = tmp_path / "landing", tmp_path / "segs"
    land(landing, "TCGA-02-0003", skip_slice="AX T2 FSE")
    segmentation_for(landing, "TCGA-02-0003", segs)
    [failed] = assemble_cases(landing, tmp_path / "cohort", segs)
    assert failed.status == "failed" and "missing slice" in failed.detail
    assert not (tmp_path / "cohort" / "manifest.csv").exists()


def test_a_study_without_flair_says_what_it_saw(tmp_path):
    land(tmp_path / "landing", "TCGA-02-0003", descriptions=["AX T1 POST GD", "AX T1", "AX T2 FSE"])
    [failed] = assemble_cases(tmp_path / "landing", tmp_path / "cohort", tmp_path / "segs")
    assert failed.status == "failed" and "no series for FLAIR" in failed.detail and "AX T2 FSE" in failed.detail


def test_slices_of_two_orientations_are_refused(tmp_path):
    import pydicom

    from radiomics_core.tcia.dicom_cases import DicomCaseError

    land(tmp_path, "TCGA-02-0003", descriptions=["AX T1"])
    folder = next((tmp_path / "TCGA-02-0003").iterdir())
    header = pydicom.dcmread(folder / "00000003.dcm")
    header.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]  # a coronal slice among axial ones
    header.save_as(folder / "00000003.dcm")
    with pytest.raises(DicomCaseError, match=f"{folder}: slices have 2 different orientations"):
        series_volume(folder)


def land_seg(landing: Path, patient: str, segments=None) -> None:
    """The study's DICOM-SEG (written by highdicom, drawn on its T1c series) beside its series."""
    from tests.fake_nbia import SEGMENTS, seg_files

    study = f"{ROOT}.2.{abs(hash(patient)) % 1000}"
    folder = landing / patient / f"{study}.99"
    folder.mkdir(parents=True)
    for name, data in seg_files(patient, study, f"{study}.0", "AX T1 POST GD", f"{study}.99",
                                segments=segments or SEGMENTS):
        (folder / name).write_bytes(data)


def test_a_study_with_a_dicom_seg_lands_with_its_labels_on_the_case_grid(tmp_path):
    import numpy as np

    from tests.fake_nbia import phantom_labels

    landing, cohort = tmp_path / "landing", tmp_path / "cohort"
    land(landing, "TCGA-02-0003")
    land_seg(landing, "TCGA-02-0003")
    [landed] = assemble_cases(landing, cohort, tmp_path / "no-segs")
    assert landed.line() == "TCGA-02-0003: landed (4 sequences, segmentation from DICOM-SEG)"
    [case] = read_cohort(cohort).cases
    seg = sitk.ReadImage(str(case.segmentation))
    t1c = sitk.ReadImage(str(case.images["T1c"]))
    # The SEG stores only frames holding tumor, flipped along z by highdicom; on the case grid
    # every voxel carries the label the phantom was drawn with.
    assert seg.GetSize() == t1c.GetSize() and seg.GetOrigin() == t1c.GetOrigin()
    assert np.array_equal(sitk.GetArrayFromImage(seg), phantom_labels())
    assert set(np.unique(sitk.GetArrayFromImage(seg))) == {0, 1, 2, 4}
    assert not [i for i in read_cohort(cohort).issues if i.severity.name == "ERROR"]


def test_a_dicom_seg_segment_that_names_no_tumor_region_fails_the_case(tmp_path):
    landing = tmp_path / "landing"
    land(landing, "TCGA-02-0003")
    land_seg(landing, "TCGA-02-0003", segments=((1, "Necrosis"), (2, "Brain"), (4, "Enhancing tumor")))
    [failed] = assemble_cases(landing, tmp_path / "cohort", None)
    assert failed.status == "failed" and "segment 2 (Brain / Neoplasm) is not necrosis, edema or enhancing" in failed.detail
    assert not (tmp_path / "cohort" / "manifest.csv").exists()


@pytest.mark.parametrize("text, label", [
    ("Necrosis", 1), ("Necrotic core", 1), ("Non-enhancing tumor", 1), ("NCR/NET", 1), ("Tumor core", 1),
    ("Peritumoral edema", 2), ("Oedema", 2), ("ED", 2), ("Enhancing tumor", 4), ("ET", 4), ("Brain", None)])
def test_segment_texts_map_to_brats_legacy_labels(text, label):
    from radiomics_core.tcia.dicom_seg import project_label

    assert project_label(text) == label
