"""A synthetic glioma cohort in UCSF-PDGM layout with a planted, known answer.

Planted truth (what the pipeline must recover):

* Each patient has a binary outcome ``y`` (1 = WHO grade 4, 0 = WHO grade 2 or 3).
* **Peritumoral band (strong):** for y = 1, voxels 0 < d <= ``band_mm`` (default 4 mm) outside
  VOI_T (tumor core + edema) get extra fine-grained texture (white noise of standard deviation
  ``band_texture`` times the tissue texture's) and a FLAIR/T2 intensity rise. The effect fades
  linearly from ``band_mm`` to ``band_mm + 2`` mm and is exactly zero beyond that (~6 mm), so rings
  of 10-15 mm dilute it with pure background ("wide rings add noise").
* **Tumor (weak):** for y = 1, tumor and edema intensities rise by ``tumor_shift`` (3%), under half
  the class-independent between-patient spread (8%), so VOI_T alone predicts grade modestly.
* **Nuisance:** each patient's tissue noise level (+-25%) and tumor brightness vary independently
  of the class, so a ring's texture only separates classes while the band dominates it.
* **MGMT (grade 4 only):** methylated tumors get a T1c rise of ``mgmt_shift`` in the 0-3 mm band.
* Each patient's effect size is drawn around its class mean, so classes overlap (AUC < 1).
* Clinical: age = 45 + 6 y + N(0, 12) years; P(male) = 0.5 + 0.1 y: mildly associated.

Anatomy: an ellipsoidal brain (``brain_segmentation``), smooth tissue texture, an irregular
tumor core of overlapping spheres (label 1 necrosis inside, 4 enhancing rim) and irregular edema
(label 2) around it. Four sequences (T1, T1c, T2, FLAIR) with distinct contrasts, written as int16
NIfTI with a scale factor as UCSF-PDGM does, plus ``UCSF-PDGM-metadata_v5.csv`` with the real
column names and 3-digit ids.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from radiomics_core.cohorts.clinical import UCSF_COLUMNS

METADATA_HEADER = (
    "ID,Sex,Age at MRI,WHO CNS Grade,Final pathologic diagnosis (WHO 2021),MGMT status,MGMT index,"
    "1p/19q,IDH,1-dead 0-alive,OS,EOR,Biopsy prior to imaging,BraTS21 ID,BraTS21 Segmentation Cohort,"
    "BraTS21 MGMT Cohort"
).split(",")
METADATA_FILE = "UCSF-PDGM-metadata_v5.csv"

# Mean intensity of (background tissue, edema, tumor core) per sequence, in arbitrary units.
_CONTRAST = {
    "T1": (600.0, 500.0, 420.0),
    "T1c": (620.0, 520.0, 900.0),
    "T2": (500.0, 800.0, 750.0),
    "FLAIR": (450.0, 850.0, 650.0),
}


@dataclass(frozen=True)
class DemoConfig:
    """What the generator writes. Defaults keep ``make demo`` within minutes on 2 cores."""

    patients: int = 48
    seed: int = 0
    shape: tuple[int, int, int] = (96, 96, 64)  # x, y, z voxels
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)  # mm; e.g. (1, 1, 3) for anisotropic
    band_mm: float = 4.0
    band_texture: float = 0.6  # extra white noise in the band, in units of the tissue texture SD
    band_shift: float = 0.3  # FLAIR/T2 rise in the band, in units of the tissue texture SD
    tumor_shift: float = 0.03  # VOI_T rise, as a fraction of the tumor's mean intensity
    mgmt_shift: float = 0.6
    effect_spread: float = 0.35  # per-patient spread of the planted effect (fraction of its mean)
    # Class-independent differences between patients, which survive z-scoring: tissue noise
    # level (uniform, +-25%) and tumor/edema brightness (normal, 8% SD).
    noise_jitter: float = 0.25
    tumor_jitter: float = 0.08
    # Every patient WHO grade 4 with a balanced MGMT status: a cohort for the MGMT task, whose
    # glioblastomas are a subset (about 60% methylated) of the grading cohort otherwise.
    glioblastoma_only: bool = False


@dataclass(frozen=True)
class DemoPatient:
    source_id: str  # as in the clinical CSV (3 digits)
    folder_id: str  # as in the folder names (4 digits)
    outcome: int
    who_grade: int
    mgmt_methylated: bool | None
    age: int
    sex: str


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma_vox: np.ndarray) -> np.ndarray:
    field = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma_vox)
    return field / (field.std() + 1e-6)


def _patients(config: DemoConfig, rng: np.random.Generator) -> list[DemoPatient]:
    outcomes = np.array([i % 2 for i in range(config.patients)])
    rng.shuffle(outcomes)
    patients = []
    for index, y in enumerate(outcomes, start=1):
        if config.glioblastoma_only:
            grade, mgmt, y = 4, bool(y), 1
        else:
            grade = 4 if y else int(rng.choice([2, 3]))
            mgmt = bool(rng.random() < 0.6) if grade == 4 else None
        age = int(np.clip(round(45 + 6 * y + rng.normal(0, 12)), 18, 90))
        sex = "M" if rng.random() < 0.5 + 0.1 * y else "F"
        patients.append(DemoPatient(f"UCSF-PDGM-{index:03d}", f"UCSF-PDGM-{index:04d}", int(y), grade, mgmt, age, sex))
    return patients


def patient_volumes(config: DemoConfig, patient: DemoPatient, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Arrays (z, y, x) for the four sequences, 'tumor_segmentation' and 'brain_segmentation'."""
    nx, ny, nz = config.shape
    sx, sy, sz = config.spacing
    zz, yy, xx = np.meshgrid(
        (np.arange(nz) - nz / 2) * sz, (np.arange(ny) - ny / 2) * sy, (np.arange(nx) - nx / 2) * sx, indexing="ij"
    )
    semi = np.array([nx * sx, ny * sy, nz * sz]) * 0.44
    brain = (xx / semi[0]) ** 2 + (yy / semi[1]) ** 2 + (zz / semi[2]) ** 2 <= 1.0

    # Irregular tumor core: overlapping spheres around a center well inside the brain.
    center = rng.uniform(-0.25, 0.25, 3) * semi
    core = np.zeros(brain.shape, dtype=bool)
    base_radius = rng.uniform(8.0, 12.0)
    for k in range(4):
        offset = center + (rng.normal(0, base_radius * 0.35, 3) if k else 0)
        radius = base_radius * (1.0 if k == 0 else rng.uniform(0.5, 0.8))
        core |= (xx - offset[0]) ** 2 + (yy - offset[1]) ** 2 + (zz - offset[2]) ** 2 <= radius**2
    sampling = (sz, sy, sx)
    spacing_vox = np.array(sampling)
    depth_in_core = ndimage.distance_transform_edt(core, sampling=sampling)
    outside_core = ndimage.distance_transform_edt(~core, sampling=sampling)
    # Edema: 3-8 mm beyond the core, its edge made irregular by a smooth field.
    edema_width = rng.uniform(4.0, 7.0) + 2.0 * _smooth_noise(rng, brain.shape, 4.0 / spacing_vox)
    voi_t = (core | (outside_core <= np.clip(edema_width, 1.5, None))) & brain
    core &= brain

    seg = np.zeros(brain.shape, dtype=np.uint8)
    seg[voi_t] = 2
    seg[core] = 4
    seg[core & (depth_in_core > base_radius * 0.45)] = 1

    outside = ndimage.distance_transform_edt(~voi_t, sampling=sampling)
    band = np.clip((config.band_mm + 2.0 - outside) / 2.0, 0.0, 1.0) * (outside > 0) * brain

    tissue = _smooth_noise(rng, brain.shape, 3.0 / spacing_vox)
    strength = max(0.0, 1.0 + config.effect_spread * rng.standard_normal())
    noise_level = 0.6 * rng.uniform(1 - config.noise_jitter, 1 + config.noise_jitter)
    images: dict[str, np.ndarray] = {}
    for seq, (bg, edema_mean, core_mean) in _CONTRAST.items():
        texture_sd = 0.06 * bg
        brightness = rng.normal(1.0, config.tumor_jitter)
        edema_mean, core_mean = edema_mean * brightness, core_mean * brightness
        if patient.outcome:
            edema_mean *= 1 + config.tumor_shift * strength
            core_mean *= 1 + config.tumor_shift * strength
        image = bg + texture_sd * (1.5 * tissue + noise_level * rng.standard_normal(brain.shape))
        image = np.where(seg == 2, edema_mean + texture_sd * rng.standard_normal(brain.shape), image)
        image = np.where(core, core_mean + 1.5 * texture_sd * rng.standard_normal(brain.shape), image)
        image = np.where(seg == 1, 0.6 * core_mean + texture_sd * rng.standard_normal(brain.shape), image)
        if patient.outcome:
            fine = texture_sd * config.band_texture * strength * rng.standard_normal(brain.shape)
            image += band * fine
            if seq in ("FLAIR", "T2"):
                image += band * config.band_shift * strength * texture_sd
        if seq == "T1c" and patient.mgmt_methylated:
            mgmt_band = (outside > 0) & (outside <= 3.0) & brain
            image += mgmt_band * config.mgmt_shift * texture_sd * max(0.0, 1 + 0.4 * rng.standard_normal())
        images[seq] = np.where(brain, image, 0.0).astype(np.float32)
    images["tumor_segmentation"] = seg
    images["brain_segmentation"] = brain.astype(np.int16)
    return images


def _write(array: np.ndarray, path: Path, config: DemoConfig, scaled: bool) -> None:
    if scaled:
        # UCSF-PDGM stores int16 with a scale factor; 0.1 keeps the demo's precision.
        image = sitk.Cast(sitk.GetImageFromArray(np.round(array / 0.1).astype(np.int16)), sitk.sitkInt16)
    else:
        image = sitk.GetImageFromArray(array)
    image.SetSpacing(config.spacing)
    image.SetOrigin(tuple(-s * n / 2 for s, n in zip(config.spacing, config.shape)))
    sitk.WriteImage(image, str(path), useCompression=True)
    if scaled:
        _set_nifti_scale(path, 0.1)


def _set_nifti_scale(path: Path, slope: float) -> None:
    """Write scl_slope into a .nii.gz header (SimpleITK applies it on read, as for UCSF-PDGM)."""
    import gzip
    import struct

    data = bytearray(gzip.decompress(path.read_bytes()))
    data[112:120] = struct.pack("<ff", slope, 0.0)  # scl_slope, scl_inter in the NIfTI-1 header
    path.write_bytes(gzip.compress(bytes(data), compresslevel=1))


def write_demo_cohort(out_dir: Path, config: DemoConfig = DemoConfig(), progress: bool = True) -> list[DemoPatient]:
    """Write ``config.patients`` cases and the clinical CSV under ``out_dir``; return the truth."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(config.seed)
    patients = _patients(config, rng)
    iterator = patients
    if progress:
        from tqdm import tqdm
        iterator = tqdm(patients, desc="demo cohort", unit="case")
    for patient in iterator:
        folder = out_dir / f"{patient.folder_id}_nifti"
        folder.mkdir(exist_ok=True)
        volumes = patient_volumes(config, patient, np.random.default_rng(rng.integers(2**32)))
        for role, array in volumes.items():
            _write(array, folder / f"{patient.folder_id}_{role}.nii.gz", config, scaled=array.dtype == np.float32)
    write_metadata_csv(out_dir / METADATA_FILE, patients)
    return patients


def write_metadata_csv(path: Path, patients: list[DemoPatient]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=METADATA_HEADER)
        writer.writeheader()
        for p in patients:
            mgmt = "unknown" if p.mgmt_methylated is None else ("positive" if p.mgmt_methylated else "negative")
            writer.writerow({
                UCSF_COLUMNS["id"]: p.source_id, UCSF_COLUMNS["sex"]: p.sex, UCSF_COLUMNS["age"]: p.age,
                UCSF_COLUMNS["who_grade"]: p.who_grade,
                "Final pathologic diagnosis (WHO 2021)": "Glioblastoma, IDH-wildtype" if p.who_grade == 4 else "Astrocytoma, IDH-mutant",
                UCSF_COLUMNS["mgmt"]: mgmt, "MGMT index": "unknown",
                "1p/19q": "unknown", UCSF_COLUMNS["idh"]: "wildtype" if p.who_grade == 4 else "IDH1 p.R132H",
                "1-dead 0-alive": 0, "OS": "", "EOR": "GTR", "Biopsy prior to imaging": "No",
                # The grade-4 exams with a known status are the MGMT task's (the thesis' cohort:
                # UCSF-PDGM's exams in the BraTS 2021 MGMT training set, all with a known status).
                "BraTS21 ID": "", "BraTS21 Segmentation Cohort": "",
                "BraTS21 MGMT Cohort": "Training" if p.who_grade == 4 and p.mgmt_methylated is not None else "",
            })
