"""Landed DICOM series to cohort cases: sequences named by SeriesDescription, NIfTI by SimpleITK,
a manifest row once the case's segmentation exists.

A study's segmentation is a NIfTI named for the patient (``<patient id>*.nii.gz``) in the
segmentation folder or, failing that, a DICOM-SEG series of the same study (converted by
radiomics_core/tcia/dicom_seg.py onto the T1c grid). A file dropped in the folder wins, so a user can
replace a SEG they disagree with. Without either, the study is reported as waiting, never as failed.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from radiomics_core.files.atomic import atomic_write, atomic_write_text
from radiomics_core.cohorts.layouts import MANIFEST
from radiomics_core.tcia.dicom_seg import SegmentationError, seg_label_map
from radiomics_core.files.images import write_image_atomic

SEQUENCES = ("T1", "T1c", "T2", "FLAIR")

# TCGA-GBM / TCGA-LGG descriptions vary by site: "AX T1 POST GD", "T1 AX +C", "AXIAL T1 GD",
# "SAG T1 MPRAGE POST", "AX T1", "T1 AXIAL SE", "AX T2 FSE", "AXIAL T2", "AX FLAIR",
# "T2 FLAIR AXIAL". Rules are tried in order and the first match names the series, so contrast
# T1 comes before T1 and FLAIR before T2.
DEFAULT_RULES: tuple[tuple[str, str], ...] = (
    ("T1c", r"t1.*(post|\+ ?c\b|\bgd\b|gad|contrast|\bc\+)|(post|gad|\bgd\b|contrast).*t1"),
    ("FLAIR", r"flair"),
    ("T2", r"t2"),
    ("T1", r"t1"),
)
DEFAULT_IGNORE = r"localizer|scout|\bloc\b|\bcal\b|dwi|adc|dti|diffusion|perfusion|perf\b|swi|gre|t2\*|\bfa\b|\bmap\b"
SEG_MODALITY = "SEG"
# The grid a DICOM-SEG is resampled onto: tumor segmentations are drawn on the contrast T1.
SEG_REFERENCE = "T1c"


@dataclass(frozen=True)
class SequenceRule:
    """Which sequence a SeriesDescription names (regular expressions, case-insensitive)."""

    rules: tuple[tuple[str, str], ...] = DEFAULT_RULES
    ignore: str = DEFAULT_IGNORE

    def sequence(self, description: str) -> str | None:
        text = description.strip().lower()
        if not text or re.search(self.ignore, text):
            return None
        return next((name for name, pattern in self.rules if re.search(pattern, text)), None)

    def wanted(self, modality: str, description: str, image_modality: str = "MR", structural_only: bool = True) -> bool:
        """Whether a listed series is worth downloading: a DICOM-SEG always (it may be the
        study's segmentation), an image series of ``image_modality`` when the rule names it."""
        if modality == SEG_MODALITY:
            return True
        return modality == image_modality and (not structural_only or self.sequence(description) is not None)


@dataclass(frozen=True)
class LandedSeries:
    folder: Path
    patient_id: str
    study_uid: str
    description: str
    files: int
    modality: str = "MR"


@dataclass
class CaseOutcome:
    patient_id: str
    status: str  # "landed", "waiting for segmentation", "failed"
    detail: str = ""
    sequences: dict[str, Path] = field(default_factory=dict)
    missing: tuple[str, ...] = ()  # sequences no landed series names

    def line(self) -> str:
        return f"{self.patient_id}: {self.status}" + (f" ({self.detail})" if self.detail else "")


class DicomCaseError(Exception):
    """A series cannot become a volume: its slices are inconsistent or missing."""


def landed_series(landing_dir: Path) -> list[LandedSeries]:
    """Every series folder under ``landing/<patient>/<series uid>/`` (hidden staging folders skipped)."""
    import pydicom

    found = []
    for folder in sorted(Path(landing_dir).glob("*/*")):
        if not folder.is_dir() or folder.name.startswith(".") or folder.parent.name.startswith("."):
            continue
        files = sorted(p for p in folder.iterdir() if p.is_file())
        if not files:
            continue
        header = pydicom.dcmread(files[0], stop_before_pixels=True)
        found.append(LandedSeries(folder, folder.parent.name, str(header.get("StudyInstanceUID", "")),
                                  str(header.get("SeriesDescription", "")), len(files),
                                  str(header.get("Modality", ""))))
    return found


def series_volume(folder: Path, tolerance: float = 0.01) -> sitk.Image:
    """Read one DICOM series after checking orientation, slice spacing and missing slices.

    SimpleITK would stack slices of different orientations or with a gap without complaint
    and report the first gap's spacing, so the geometry is checked from the headers first.
    """
    import pydicom

    files = sorted(p for p in Path(folder).iterdir() if p.is_file())
    headers = [pydicom.dcmread(p, stop_before_pixels=True) for p in files]
    orientations = {tuple(round(float(v), 4) for v in h.ImageOrientationPatient) for h in headers}
    if len(orientations) != 1:
        raise DicomCaseError(f"{folder}: slices have {len(orientations)} different orientations")
    row, col = np.array(next(iter(orientations))).reshape(2, 3)
    normal = np.cross(row, col)
    positions = sorted((float(np.dot(normal, [float(v) for v in h.ImagePositionPatient])), p)
                       for h, p in zip(headers, files))
    if len(positions) > 1:
        steps = np.diff([z for z, _ in positions])
        # A missing slice only lengthens a step, so the shortest step is the nominal spacing.
        spacing = float(np.min(steps))
        if spacing <= 0:
            raise DicomCaseError(f"{folder}: two slices share one position")
        gaps = np.flatnonzero(np.abs(steps - spacing) > tolerance * max(spacing, 1.0))
        if gaps.size:
            k = int(gaps[0])
            missing = round(steps[k] / spacing) - 1
            what = f"about {missing} missing slice(s)" if missing >= 1 else "uneven slice spacing"
            raise DicomCaseError(f"{folder}: {what} between slices at {positions[k][0]:.2f} and "
                                 f"{positions[k + 1][0]:.2f} mm (spacing {spacing:.2f} mm elsewhere)")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(p) for _, p in positions])
    return reader.Execute()


def _segmentation_for(patient_id: str, seg_dir: Path | None) -> Path | None:
    if seg_dir is None or not Path(seg_dir).is_dir():
        return None
    matches = sorted(Path(seg_dir).glob(f"{patient_id}*.nii.gz")) + sorted(Path(seg_dir).glob(f"{patient_id}*.nii"))
    return matches[0] if matches else None


def segmentations_dropped(landing_dir: Path, cohort_dir: Path, seg_dir: Path) -> list[tuple[str, str, Path]]:
    """Landed patients not in the manifest yet whose NIfTI segmentation is now in ``seg_dir``, as
    (patient id, one of its landed series UIDs, the segmentation file). Only folders are listed,
    no DICOM is read, so a sensor tick can afford it."""
    existing = {row["patient_id"] for row in _manifest_rows(cohort_dir)}
    found = []
    for patient in sorted(Path(landing_dir).glob("*")) if Path(landing_dir).is_dir() else []:
        if not patient.is_dir() or patient.name.startswith(".") or patient.name in existing:
            continue
        series = sorted(p.name for p in patient.iterdir() if p.is_dir() and not p.name.startswith("."))
        segmentation = _segmentation_for(patient.name, seg_dir)
        if series and segmentation is not None:
            found.append((patient.name, series[0], segmentation))
    return found


def assemble_cases(landing_dir: Path, cohort_dir: Path, seg_dir: Path | None,
                   rule: SequenceRule = SequenceRule(), patients: list[str] | None = None) -> list[CaseOutcome]:
    """Turn each landed patient's study into a case of ``cohort_dir/manifest.csv``.

    One study per patient: the study with the most recognized sequences. Of several series
    naming one sequence, the one with the most slices wins. A case already in the manifest is
    left as it is, so nothing landed is converted twice.
    """
    by_patient: dict[str, list[LandedSeries]] = {}
    for series in landed_series(landing_dir):
        if patients is None or series.patient_id in patients:
            by_patient.setdefault(series.patient_id, []).append(series)
    cohort_dir = Path(cohort_dir)
    existing = {row["patient_id"] for row in _manifest_rows(cohort_dir)}
    outcomes = []
    for patient_id, series in sorted(by_patient.items()):
        if patient_id in existing:
            outcomes.append(CaseOutcome(patient_id, "landed", "already in the manifest"))
            continue
        outcomes.append(_assemble_one(patient_id, series, cohort_dir, seg_dir, rule))
    return outcomes


def _assemble_one(patient_id, series, cohort_dir, seg_dir, rule) -> CaseOutcome:
    studies: dict[str, dict[str, LandedSeries]] = {}
    segs = {s.study_uid: s for s in series if s.modality == SEG_MODALITY}
    for s in series:
        name = None if s.modality == SEG_MODALITY else rule.sequence(s.description)
        if name is None:
            continue
        chosen = studies.setdefault(s.study_uid, {})
        if name not in chosen or s.files > chosen[name].files:
            chosen[name] = s
    if not studies:
        seen = ", ".join(sorted({s.description for s in series})) or "none"
        return CaseOutcome(patient_id, "failed", f"no series description names a sequence (seen: {seen})")
    study = max(studies.values(), key=len)
    missing = [name for name in SEQUENCES if name not in study]
    if missing:
        seen = ", ".join(sorted({s.description for s in series}))
        return CaseOutcome(patient_id, "failed", f"no series for {', '.join(missing)} (descriptions seen: {seen}); "
                           "adjust the sequence rule", missing=tuple(missing))
    segmentation = _segmentation_for(patient_id, seg_dir)
    dicom_seg = segs.get(next(iter(study.values())).study_uid)
    if segmentation is None and dicom_seg is None:
        return CaseOutcome(patient_id, "waiting for segmentation",
                           f"put {patient_id}.nii.gz in {seg_dir}" if seg_dir else "no segmentation folder given")
    case_dir = cohort_dir / patient_id
    paths: dict[str, Path] = {}
    seg_path = case_dir / f"{patient_id}_seg.nii.gz"
    try:
        volumes = {name: series_volume(study[name].folder) for name in SEQUENCES}
        if segmentation is None:  # the study's DICOM-SEG, on the case's grid
            seg_file = min(p for p in dicom_seg.folder.iterdir() if p.is_file())
            write_image_atomic(seg_label_map(seg_file, volumes[SEG_REFERENCE]), seg_path)
        for name in SEQUENCES:
            paths[name] = write_image_atomic(volumes[name], case_dir / f"{patient_id}_{name}.nii.gz")
    except (DicomCaseError, SegmentationError, RuntimeError) as error:
        return CaseOutcome(patient_id, "failed", str(error).strip().splitlines()[-1])
    if segmentation is not None:
        atomic_write(seg_path, lambda temp: shutil.copyfile(segmentation, temp), temp_suffix=".nii.gz")
    row = {"patient_id": patient_id, **{n: str(p.relative_to(cohort_dir)) for n, p in paths.items()},
           "seg": str(seg_path.relative_to(cohort_dir))}
    _add_manifest_row(cohort_dir, row)
    source = "" if segmentation is not None else ", segmentation from DICOM-SEG"
    return CaseOutcome(patient_id, "landed", f"{len(paths)} sequences{source}", paths)


def _manifest_rows(cohort_dir: Path) -> list[dict]:
    manifest = Path(cohort_dir) / MANIFEST
    if not manifest.is_file():
        return []
    with open(manifest, newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def _add_manifest_row(cohort_dir: Path, row: dict) -> None:
    """Rewrite manifest.csv with ``row`` added, keeping every other row and column (atomic).

    Runs landing different patients at once would each read the manifest and the last rename
    would drop the other's row, so the read-modify-write holds a lock file beside it.
    """
    import fcntl

    with open(Path(cohort_dir) / ".manifest.lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _rewrite_manifest(cohort_dir, row)


def _rewrite_manifest(cohort_dir: Path, row: dict) -> None:
    rows = [r for r in _manifest_rows(cohort_dir) if r.get("patient_id") != row["patient_id"]] + [row]
    columns = ["patient_id", *SEQUENCES, "seg"]
    for r in rows:  # clinical and other columns users added stay
        columns += [c for c in r if c not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(Path(cohort_dir) / MANIFEST, buffer.getvalue())
