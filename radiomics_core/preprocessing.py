"""Putting a case's volumes on one grid and one intensity scale before extraction.

Images are resampled (B-spline or linear) and labels (nearest neighbour) onto the segmentation's
grid at an isotropic spacing, optionally bias-corrected (N4), then z-scored inside the brain with
robust clipping. ``PreprocessedCase.metadata`` records everything needed to reproduce it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import SimpleITK as sitk

from radiomics_core.cohort import Case
from radiomics_core.imageio import read_image

_INTERPOLATORS = {"bspline": sitk.sitkBSpline, "linear": sitk.sitkLinear}


@dataclass(frozen=True)
class PreprocessConfig:
    """How volumes are brought onto one grid and intensity scale."""

    spacing_mm: float | None = 1.0  # None keeps the segmentation's own grid
    image_interpolator: str = "bspline"  # or "linear"
    n4_bias_correction: bool = False  # UCSF-PDGM and BraTS are already corrected
    normalization: str = "zscore"  # or "none"
    clip_percentiles: tuple[float, float] = (0.5, 99.5)  # robust clipping before the z-score


@dataclass
class PreprocessedCase:
    """A case's volumes on one grid: float32 images, uint8 tumor labels and brain mask."""

    patient_id: str
    images: dict[str, sitk.Image]
    labels: sitk.Image
    brain: sitk.Image | None
    tumor_labels: frozenset[int]
    metadata: dict = field(default_factory=dict)


def reference_grid(image: sitk.Image, spacing_mm: float | None) -> sitk.Image:
    """An empty image with ``image``'s extent and direction at the requested isotropic spacing."""
    if spacing_mm is None:
        return image
    old_spacing = np.array(image.GetSpacing())
    new_spacing = np.full(3, float(spacing_mm))
    size = np.maximum(1, np.round(np.array(image.GetSize()) * old_spacing / new_spacing)).astype(int)
    # Keep the physical extent centred: the first voxel centre moves by half the spacing change.
    direction = np.array(image.GetDirection()).reshape(3, 3)
    origin = np.array(image.GetOrigin()) + direction @ ((new_spacing - old_spacing) / 2.0)
    grid = sitk.Image([int(s) for s in size], sitk.sitkUInt8)
    grid.SetSpacing(tuple(new_spacing))
    grid.SetOrigin(tuple(origin))
    grid.SetDirection(image.GetDirection())
    return grid


def resample_like(image: sitk.Image, grid: sitk.Image, interpolator: int, pixel_type: int) -> sitk.Image:
    return sitk.Resample(image, grid, sitk.Transform(), interpolator, 0.0, pixel_type)


def zscore_in_mask(image: sitk.Image, mask: np.ndarray, clip: tuple[float, float]) -> sitk.Image:
    """Clip to the brain's percentiles, then subtract the brain's mean and divide by its SD."""
    array = sitk.GetArrayFromImage(image).astype(np.float32)
    inside = array[mask]
    if inside.size == 0:
        raise ValueError("brain mask is empty; cannot normalize intensities")
    low, high = np.percentile(inside, clip)
    array = np.clip(array, low, high)
    inside = array[mask]
    sd = float(inside.std())
    if sd == 0.0:
        raise ValueError("image is constant inside the brain; its z-score is undefined")
    out = sitk.GetImageFromArray((array - float(inside.mean())) / sd)
    out.CopyInformation(image)
    return out


def preprocess_case(case: Case, config: PreprocessConfig = PreprocessConfig()) -> PreprocessedCase:
    """Read, resample, correct and normalize one case's volumes."""
    seg = read_image(case.segmentation)
    grid = reference_grid(seg, config.spacing_mm)
    labels = resample_like(seg, grid, sitk.sitkNearestNeighbor, sitk.sitkUInt8)
    brain = None
    if case.brain_mask is not None:
        brain = resample_like(read_image(case.brain_mask) > 0, grid, sitk.sitkNearestNeighbor, sitk.sitkUInt8)
    interpolator = _INTERPOLATORS[config.image_interpolator]
    images: dict[str, sitk.Image] = {}
    for sequence, path in case.images.items():
        image = resample_like(read_image(path, sitk.sitkFloat32), grid, interpolator, sitk.sitkFloat32)
        if config.n4_bias_correction:
            image = sitk.N4BiasFieldCorrection(image, brain if brain is not None else sitk.OtsuThreshold(image, 0, 1))
        if config.normalization == "zscore":
            mask = sitk.GetArrayViewFromImage(brain).astype(bool) if brain is not None else (
                sitk.GetArrayViewFromImage(image) != 0)
            try:
                image = zscore_in_mask(image, mask, config.clip_percentiles)
            except ValueError as error:
                raise ValueError(f"{case.patient_id} [{path}]: {error}") from None
        images[sequence] = image
    metadata = {
        "config": asdict(config),
        "grid": {"size": list(grid.GetSize()), "spacing": list(grid.GetSpacing()),
                 "origin": list(grid.GetOrigin()), "direction": list(grid.GetDirection())},
        "source_spacing": list(seg.GetSpacing()),
        "files": {role: str(path) for role, path in case.files().items()},
    }
    return PreprocessedCase(case.patient_id, images, labels, brain, case.labels.tumor, metadata)
