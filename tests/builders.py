"""Small cohorts in each real layout, written as real NIfTI files with SimpleITK."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from radiomics_core.cohorts.synthetic import DemoConfig, DemoPatient, patient_volumes, write_metadata_csv

BAD = "UCSF-PDGM-0003"  # its FLAIR is truncated in the pipeline fixture (tests/conftest.py)
RINGS = [1.0, 3.0, 10.0]  # the rings the pipeline fixture materializes
SMALL = DemoConfig(shape=(48, 48, 36))
DATA = Path(__file__).parent / "data"


def write_volume(array: np.ndarray, path: Path, spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0),
                 direction=None) -> Path:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    if direction is not None:
        image.SetDirection(direction)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path), useCompression=True)
    return path


def small_case_volumes(seed: int, outcome: int = 1, config: DemoConfig = SMALL) -> dict[str, np.ndarray]:
    patient = DemoPatient("X", "X", outcome, 4 if outcome else 2, None, 50, "M")
    return patient_volumes(config, patient, np.random.default_rng(seed))


def demo_patient(index: int, outcome: int = 1) -> DemoPatient:
    return DemoPatient(f"UCSF-PDGM-{index:03d}", f"UCSF-PDGM-{index:04d}", outcome,
                       4 if outcome else 2, True if outcome else None, 40 + index, "F")


def write_ucsf_cohort(root: Path, n: int = 3, clinical: bool = True) -> Path:
    patients = [demo_patient(i, i % 2) for i in range(1, n + 1)]
    for p in patients:
        write_ucsf_case(root, p.folder_id, seed=int(p.folder_id[-4:]), outcome=p.outcome)
    if clinical:
        write_metadata_csv(root / "UCSF-PDGM-metadata_v5.csv", patients)
    return root


def write_ucsf_case(root: Path, folder_id: str, seed: int = 0, outcome: int = 1) -> Path:
    folder = root / f"{folder_id}_nifti"
    for role, array in small_case_volumes(seed, outcome).items():
        write_volume(array, folder / f"{folder_id}_{role}.nii.gz")
    return folder


def write_brats_case(root: Path, case_id: str, names: dict[str, str], sep: str, et_label: int, seed: int = 0) -> Path:
    volumes = small_case_volumes(seed)
    seg = volumes["tumor_segmentation"].copy()
    seg[seg == 4] = et_label
    folder = root / case_id
    for seq, suffix in names.items():
        write_volume(volumes[seq], folder / f"{case_id}{sep}{suffix}.nii.gz")
    write_volume(seg, folder / f"{case_id}{sep}seg.nii.gz")
    return folder


def write_manifest(root: Path, rows: list[dict[str, str]]) -> Path:
    fields = sorted({key for row in rows for key in row}, key=lambda k: (k != "patient_id", k))
    path = root / "manifest.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


TCGA_LGG = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "tcga-lgg"
TCGA_RATERS = ("fusion-mav", "fusion-simple", "hnfnetv1-20", "isen-20", "sanet0-20", "scan-20", "yixinmpl-20")


def write_tcga_rater_cohort(root: Path) -> tuple[Path, Path]:
    """The shared TCGA-LGG cases as a manifest cohort (co-registered sequences, the majority-vote
    fusion as the case's segmentation) and a rater manifest listing all seven segmentations of
    each (five algorithms, two fusions). Returns (manifest, rater manifest)."""
    import shutil

    cases, raters = [], []
    suffixes = {"T1": "t1", "T1c": "t1c", "T2": "t2", "FLAIR": "fla"}
    for folder in sorted(p for p in TCGA_LGG.iterdir() if p.is_dir()):
        # Copied: a manifest may not point outside its cohort folder.
        case_dir = root / "cohort" / folder.name
        case_dir.mkdir(parents=True, exist_ok=True)
        case = {"patient_id": folder.name, "labels": "brats2021", "seg": f"{folder.name}/seg.nii.gz"}
        shutil.copyfile(folder / "segmentations" / "fusion-mav.nii.gz", case_dir / "seg.nii.gz")
        for sequence, tail in suffixes.items():
            shutil.copyfile(next((folder / "coregistered").glob(f"*_{tail}_bet.nii.gz")), case_dir / f"{sequence}.nii.gz")
            case[sequence] = f"{folder.name}/{sequence}.nii.gz"
        cases.append(case)
        raters += [{"patient_id": folder.name, "rater": r, "seg": str(folder / "segmentations" / f"{r}.nii.gz")}
                   for r in TCGA_RATERS]
    manifest = write_manifest(root / "cohort", cases)
    rater_manifest = root / "raters.csv"
    with rater_manifest.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["patient_id", "rater", "seg"])
        writer.writeheader()
        writer.writerows(raters)
    return manifest, rater_manifest
