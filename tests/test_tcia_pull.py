"""``glioma-rings tcia pull`` against the local NBIA-like server (tests/fake_nbia.py)."""

import SimpleITK as sitk

from cli.main import main
from radiomics_core.cohorts.layouts import read_cohort
from radiomics_core.tcia.dicom_cases import series_volume
from tests.fake_nbia import ROOT, FakeNbiaServer, NbiaSeries, NbiaState

DESCRIPTIONS = ["AX T1 POST GD", "AX T1", "AX T2 FSE", "AX FLAIR", "3-PLANE LOC"]  # the localizer is skipped


def study(patient: str, number: int) -> list[NbiaSeries]:
    return [NbiaSeries(patient, f"{ROOT}.2.{number}", f"{ROOT}.3.{number}{k}", d) for k, d in enumerate(DESCRIPTIONS)]


def test_pull_lands_waits_and_fails_per_patient_and_resumes_without_downloading_again(tmp_path, capsys):
    state = NbiaState(series=study("TCGA-02-0003", 100) + study("TCGA-06-0001", 200) + study("TCGA-08-0002", 300))
    broken = f"{ROOT}.3.3003"
    state.faults[broken].append("500")
    cohort = tmp_path / "cohort"
    with FakeNbiaServer(state) as base_url:
        args = ["tcia", "pull", "TCGA-GBM", "--cohort", str(cohort), "--base-url", base_url, "--retries", "1"]
        assert main(args) == 1  # one patient failed
        lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
        assert lines[0].startswith("TCGA-02-0003: waiting for segmentation")
        assert lines[1].startswith("TCGA-06-0001: waiting for segmentation")
        assert lines[2] == f"TCGA-08-0002: failed (series {broken}: getImageWithMD5Hash: HTTP 500 after 1 attempt)"
        assert len(state.downloads()) == 12

        # A segmentation arrives for one patient; the broken series is served again.
        folder = cohort / "tcia-landing" / "TCGA-02-0003" / f"{ROOT}.3.1000"
        (cohort / "segmentations").mkdir()
        sitk.WriteImage(sitk.Cast(series_volume(folder) > 500, sitk.sitkUInt8) * 2,
                        str(cohort / "segmentations" / "TCGA-02-0003.nii.gz"))
        state.requests.clear()
        assert main(args) == 0
        lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert lines == ["TCGA-02-0003: landed (4 sequences)", "TCGA-06-0001: waiting for segmentation "
                     f"(put TCGA-06-0001.nii.gz in {cohort / 'segmentations'})", "TCGA-08-0002: waiting for segmentation "
                     f"(put TCGA-08-0002.nii.gz in {cohort / 'segmentations'})"]
    assert state.downloads() == [f"/nbia-api/services/v4/getImageWithMD5Hash?SeriesInstanceUID={broken}"]
    assert [c.patient_id for c in read_cohort(cohort).cases] == ["TCGA-02-0003"]


def test_a_study_served_with_a_dicom_seg_lands_as_a_complete_case(tmp_path, capsys):
    """The fake server lists the SEG with Modality SEG; the pull downloads it with the MR series."""
    import numpy as np

    from tests.fake_nbia import phantom_labels

    series = study("TCGA-02-0003", 100)
    seg = NbiaSeries("TCGA-02-0003", f"{ROOT}.2.100", f"{ROOT}.4.100", "Segmentation", modality="SEG",
                     source=(series[0].series_uid, series[0].description))
    state = NbiaState(series=[*series, seg])
    cohort = tmp_path / "cohort"
    with FakeNbiaServer(state) as base_url:
        assert main(["tcia", "pull", "TCGA-GBM", "--cohort", str(cohort), "--base-url", base_url]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert lines == ["TCGA-02-0003: landed (4 sequences, segmentation from DICOM-SEG)"]
    assert len(state.downloads()) == 5  # four MR series and the SEG, not the localizer
    [case] = read_cohort(cohort).cases
    assert np.array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(case.segmentation))), phantom_labels())


def test_a_killed_pull_leaves_no_staging_folder_behind_the_next_one(tmp_path, capsys):
    """A pull killed while extracting a series leaves ``.download-<pid>@<host>-*``; the next pull
    removes it (its process is gone), downloads only that series, and keeps a staging folder that
    another machine's run may still be filling."""
    import os
    import shutil
    import subprocess
    import sys
    import time

    state = NbiaState(series=study("TCGA-02-0003", 100))
    cohort = tmp_path / "cohort"
    patient = cohort / "tcia-landing" / "TCGA-02-0003"
    with FakeNbiaServer(state) as base_url:
        args = ["tcia", "pull", "TCGA-GBM", "--cohort", str(cohort), "--base-url", base_url]
        assert main(args) == 0
        # The kill: the FLAIR series had not been renamed into place, its process is gone.
        flair = f"{ROOT}.3.1003"
        shutil.rmtree(patient / flair)
        subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; "
                        "from radiomics_core.files.atomic import make_temp_dir; from radiomics_core.tcia.client import staging_prefix; "
                        "(make_temp_dir(sys.argv[1], staging_prefix()) / '00000001.dcm').write_bytes(b'half')",
                        str(patient)], check=True)
        old = patient / ".download-0123456789abcdef"  # unnamed, untouched for an hour
        old.mkdir()
        os.utime(old, (time.time() - 3600, time.time() - 3600))
        elsewhere = patient / ".download-17@worker-2-0123456789abcdef"  # another machine's, fresh
        elsewhere.mkdir()
        killed = [p for p in patient.glob(".download-*") if p not in (old, elsewhere)]
        assert len(killed) == 1
        state.requests.clear()
        assert main(args) == 0
    assert state.downloads() == [f"/nbia-api/services/v4/getImageWithMD5Hash?SeriesInstanceUID={flair}"]
    assert sorted(patient.glob(".download-*")) == [elsewhere]
    assert len(list((patient / flair).glob("*.dcm"))) == 4
    capsys.readouterr()
