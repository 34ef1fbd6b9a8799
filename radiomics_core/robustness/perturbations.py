"""Contour perturbations of VOI_T and the ring features they give (Zwanenburg et al. 2019).

A ring is defined by VOI_T's boundary alone, so a ring feature is only as reproducible as the
edema outline. Following the image-perturbation approach of Zwanenburg et al. ("Assessing
robustness of radiomic features by image perturbation", Sci Rep 9:614, 2019; MIRP), each
patient's VOI_T is perturbed in seeded, reproducible ways:

- ``dilate`` / ``erode``: by one voxel (a face-connected structuring element: every voxel
  sharing a face with the outline moves), the "growing/shrinking by ~1 voxel" of the literature;
- ``contour``: contour randomization. MIRP adds or drops supervoxels of the outline's band at
  random; here the signed distance to the outline is shifted by a seeded, spatially smooth
  random field (Gaussian-smoothed white noise, standard deviation one voxel, correlation length
  ``CONTOUR_SMOOTHING_VOXELS``), so the outline moves in and out in patches by about a voxel,
  as a second rater's would.

Perturbed outlines stay inside the brain (or the original VOI_T). Every ring is rebuilt from
each perturbed VOI_T with the pipeline's own distance map (``brain_clipped_distance_mm``), and
all VOIs of all perturbations go through one ``extract_case_features`` call, so each filtered
image is computed once per patient and sequence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pandas as pd
import SimpleITK as sitk
from scipy import ndimage

from radiomics_core.features.extraction import ExtractionParams, extract_case_features
from radiomics_core.imaging.rings import brain_clipped_distance_mm, ring_from_distance

KINDS = ("none", "dilate", "erode", "contour")
# Correlation length of the contour field, in voxels: patches a few voxels wide move together.
CONTOUR_SMOOTHING_VOXELS = 3.0


@dataclass(frozen=True)
class Perturbation:
    """One way of redrawing VOI_T: its name (a warehouse value), its kind and its seed."""

    name: str
    kind: str
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"perturbation {self.name!r}: kind {self.kind!r} is not one of {', '.join(KINDS)}")


ORIGINAL = Perturbation("original", "none")
# The original outline, one voxel larger and smaller, and three randomized outlines: 6 conditions.
DEFAULT_PERTURBATIONS = (ORIGINAL, Perturbation("dilate_1", "dilate"), Perturbation("erode_1", "erode"),
                         *(Perturbation(f"contour_{seed}", "contour", seed) for seed in (1, 2, 3)))


def perturb_voi_t(voi_t: sitk.Image, perturbation: Perturbation, brain: sitk.Image | None = None,
                  patient_id: str = "") -> sitk.Image:
    """VOI_T redrawn by ``perturbation`` (uint8 on VOI_T's grid). The contour field's seed mixes
    ``patient_id`` in, so patients do not share one field."""
    inside = sitk.GetArrayViewFromImage(voi_t).astype(bool)
    cross = ndimage.generate_binary_structure(3, 1)
    if perturbation.kind == "none":
        out = inside.copy()
    elif perturbation.kind == "dilate":
        out = ndimage.binary_dilation(inside, cross)
    elif perturbation.kind == "erode":
        out = ndimage.binary_erosion(inside, cross)
    else:
        out = _randomized_contour(inside, voi_t.GetSpacing()[::-1], _seed(perturbation.seed, patient_id))
    if brain is not None:
        out &= sitk.GetArrayViewFromImage(brain).astype(bool) | inside
    image = sitk.GetImageFromArray(out.astype(np.uint8))
    image.CopyInformation(voi_t)
    return image


def _seed(seed: int, patient_id: str) -> int:
    return int.from_bytes(f"{seed}:{patient_id}".encode(), "little") % 2**63


def _randomized_contour(inside: np.ndarray, spacing_zyx, seed: int) -> np.ndarray:
    """Voxels whose signed distance to the outline (in voxels: negative inside, the outline at 0
    half-way between the centres of the last voxel in and the first out) plus a smooth random
    field of SD 1 voxel is negative."""
    spacing = np.asarray(spacing_zyx, dtype=float)
    step = spacing.min()
    outside_d = ndimage.distance_transform_edt(~inside, sampling=spacing) / step
    inside_d = ndimage.distance_transform_edt(inside, sampling=spacing) / step
    signed = np.where(inside, 0.5 - inside_d, outside_d - 0.5)
    # Only the band near the outline can move; the field is drawn on its bounding box.
    band = np.abs(signed) < 4
    if not band.any():
        return inside.copy()
    low = np.maximum(np.array([a.min() for a in np.nonzero(band)]) - 8, 0)
    high = np.array([a.max() + 1 for a in np.nonzero(band)]) + 8
    box = tuple(slice(int(a), int(b)) for a, b in zip(low, high))
    noise = np.random.default_rng(seed).normal(size=signed[box].shape)
    field = ndimage.gaussian_filter(noise, CONTOUR_SMOOTHING_VOXELS * step / spacing)
    field /= field.std() or 1.0
    out = inside.copy()
    out[box] = (signed[box] + field) < 0
    return out


def perturbed_vois(voi_t: sitk.Image, brain: sitk.Image | None, rings_mm: Iterable[float],
                   perturbations: Iterable[Perturbation] = DEFAULT_PERTURBATIONS, patient_id: str = ""
                   ) -> dict[tuple[str, float], sitk.Image]:
    """(perturbation name, ring mm) -> VOI: each perturbed VOI_T (ring 0) and every ring rebuilt
    from it, clipped to the brain as the pipeline's rings are."""
    vois: dict[tuple[str, float], sitk.Image] = {}
    for perturbation in perturbations:
        perturbed = perturb_voi_t(voi_t, perturbation, brain, patient_id)
        vois[(perturbation.name, 0.0)] = perturbed
        if not np.any(sitk.GetArrayViewFromImage(perturbed)):
            continue  # erosion removed a tiny tumor: no VOI_T, no rings (its features are missing)
        distance = brain_clipped_distance_mm(perturbed, brain)
        for ring_mm in sorted(float(r) for r in rings_mm):
            vois[(perturbation.name, ring_mm)] = ring_from_distance(distance, perturbed, 0.0, ring_mm)
    return vois


PERTURBED_COLUMNS = ["perturbation", "ring_mm", "sequence", "feature", "value"]


def perturbed_case_features(images: dict[str, sitk.Image], voi_t: sitk.Image, brain: sitk.Image | None,
                            rings_mm: Iterable[float], params: ExtractionParams,
                            perturbations: Iterable[Perturbation] = DEFAULT_PERTURBATIONS,
                            patient_id: str = "") -> pd.DataFrame:
    """Long rows (perturbation, ring_mm, sequence, feature, value) of every VOI under every
    perturbation: one extraction pass, so each filtered image is computed once."""
    vois = perturbed_vois(voi_t, brain, rings_mm, perturbations, patient_id)
    return extract_named_vois(images, vois, params, "perturbation")[PERTURBED_COLUMNS]


def extract_named_vois(images: dict[str, sitk.Image], vois: dict[tuple[str, float], sitk.Image],
                       params: ExtractionParams, name: str) -> pd.DataFrame:
    """Long rows (``name``, ring_mm, sequence, feature, value) of VOIs keyed (name, ring mm), in one
    ``extract_case_features`` pass (each filtered image computed once)."""
    keys = list(vois)
    # extract_case_features keys VOIs by one float; key each (name, ring) by its position.
    result = extract_case_features(images, {float(i): vois[key] for i, key in enumerate(keys)}, params)
    rows = [(*keys[int(r.ring_mm)], r.sequence, r.feature, r.value) for r in result.rows]
    return pd.DataFrame(rows, columns=[name, "ring_mm", "sequence", "feature", "value"])
