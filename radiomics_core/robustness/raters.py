"""Agreement between several segmentations of one case (raters, algorithms or their fusions).

Each segmentation's VOI_T (every non-zero label: core + edema, whatever the coding) is brought
onto the case's processing grid by the pipeline's shape-based interpolation, and every ring is
cut from its own brain-clipped distance map. Per case: the Dice coefficient of VOI_T and of every
ring between every pair of segmentations, and each feature's coefficient of variation across
the segmentations (all of them extracted in one pass, each filtered image computed once).

The coefficient of variation is SD / |mean| (sample SD); on z-scored intensities a feature whose
mean across segmentations is near 0 has no meaningful CV, so it is NaN where |mean| is below
``CV_MIN_MEAN`` times the SD.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
import SimpleITK as sitk

from radiomics_core.features.extraction import ExtractionParams
from radiomics_core.imaging.preprocessing import resample_labels
from radiomics_core.imaging.rings import brain_clipped_distance_mm, ring_from_distance
from radiomics_core.robustness.perturbations import extract_named_vois

CV_MIN_MEAN = 1e-3


@dataclass(frozen=True)
class RaterSegmentation:
    """One rater's (or algorithm's) segmentation of a case."""

    patient_id: str
    rater: str
    path: Path


def read_rater_manifest(path: str | Path) -> dict[str, list[RaterSegmentation]]:
    """patient_id -> its segmentations, from a CSV with columns ``patient_id``, ``rater`` and
    ``seg`` (a path relative to the CSV). A missing column, a repeated (patient, rater) or a
    missing file is an error naming the file, the row and the problem."""
    path = Path(path)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"patient_id", "rater", "seg"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: rater manifest lacks the columns {sorted(missing)} "
                             "(it needs patient_id, rater, seg)")
        cases: dict[str, list[RaterSegmentation]] = {}
        for line, row in enumerate(reader, start=2):
            patient, rater, seg = (row[c].strip() for c in ("patient_id", "rater", "seg"))
            file = (path.parent / seg).resolve()
            if not file.is_file():
                raise ValueError(f"{path}, line {line}: patient {patient}, rater {rater}: no file {file}")
            if any(s.rater == rater for s in cases.get(patient, [])):
                raise ValueError(f"{path}, line {line}: patient {patient} has rater {rater} twice")
            cases.setdefault(patient, []).append(RaterSegmentation(patient, rater, file))
    return cases


def rater_vois(segmentations: dict[str, sitk.Image], grid: sitk.Image, brain: sitk.Image | None,
               rings_mm: Iterable[float]) -> dict[tuple[str, float], sitk.Image]:
    """(rater, ring mm) -> VOI on ``grid``: each segmentation's VOI_T (ring 0) and its rings."""
    vois: dict[tuple[str, float], sitk.Image] = {}
    for rater, labels in segmentations.items():
        on_grid = resample_labels(labels, grid)
        voi_t = sitk.Cast(on_grid > 0, sitk.sitkUInt8)
        if not np.any(sitk.GetArrayViewFromImage(voi_t)):
            raise ValueError(f"rater {rater}: the segmentation has no tumor voxel")
        vois[(rater, 0.0)] = voi_t
        distance = brain_clipped_distance_mm(voi_t, brain)
        for ring_mm in sorted(float(r) for r in rings_mm):
            vois[(rater, ring_mm)] = ring_from_distance(distance, voi_t, 0.0, ring_mm)
    return vois


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """2 |A n B| / (|A| + |B|); 1 for two empty masks."""
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int(np.logical_and(a, b).sum()) / total


def dice_table(vois: dict[tuple[str, float], sitk.Image]) -> pd.DataFrame:
    """Rows (ring_mm, rater_a, rater_b, dice, voxels_a, voxels_b) for every pair of raters."""
    raters = list(dict.fromkeys(rater for rater, _ in vois))
    rings = sorted({ring for _, ring in vois})
    rows = []
    for ring in rings:
        masks = {r: sitk.GetArrayViewFromImage(vois[(r, ring)]).astype(bool) for r in raters}
        for a, b in combinations(raters, 2):
            rows.append((ring, a, b, dice(masks[a], masks[b]), int(masks[a].sum()), int(masks[b].sum())))
    return pd.DataFrame(rows, columns=["ring_mm", "rater_a", "rater_b", "dice", "voxels_a", "voxels_b"])


def rater_features(images: dict[str, sitk.Image], vois: dict[tuple[str, float], sitk.Image],
                   params: ExtractionParams) -> pd.DataFrame:
    """Long rows (rater, ring_mm, sequence, feature, value) of every rater's VOIs, in one pass."""
    return extract_named_vois(images, vois, params, "rater")


def feature_cv(long: pd.DataFrame) -> pd.DataFrame:
    """Per (ring_mm, sequence, feature): mean, SD (ddof 1) and CV = SD / |mean| across raters."""
    grouped = long.groupby(["ring_mm", "sequence", "feature"])["value"]
    table = grouped.agg(mean="mean", sd="std", n_raters="count").reset_index()
    table["sd"] = table["sd"].fillna(0.0)
    meaningful = table["mean"].abs() > CV_MIN_MEAN * table["sd"].clip(lower=1e-12)
    table["cv"] = np.where(meaningful, table["sd"] / table["mean"].abs().where(meaningful, 1.0), np.nan)
    return table[["ring_mm", "sequence", "feature", "mean", "sd", "cv", "n_raters"]]
