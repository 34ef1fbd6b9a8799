"""Putting a case's volumes on one grid and one intensity scale before extraction.

Images are resampled (B-spline or linear) and labels (shape-based interpolation, see
``resample_labels``) onto the segmentation's grid at an isotropic spacing, optionally
bias-corrected (N4), then z-scored inside the brain with robust clipping.
``PreprocessedCase.metadata`` records everything needed to reproduce it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import SimpleITK as sitk

from radiomics_core.cohorts.layouts import Case
from radiomics_core.imaging.brain import case_brain
from radiomics_core.imaging.registration import REGISTRATIONS, register_rigid
from radiomics_core.files.images import read_image
from radiomics_core.cohorts.validation import GeometryTolerance, geometry_differences

_INTERPOLATORS = {"bspline": sitk.sitkBSpline, "linear": sitk.sitkLinear}


@dataclass(frozen=True)
class PreprocessConfig:
    """How volumes are brought onto one grid and intensity scale."""

    spacing_mm: float | None = 1.0  # None keeps the segmentation's own grid
    image_interpolator: str = "bspline"  # or "linear"
    n4_bias_correction: bool = False  # UCSF-PDGM and BraTS are already corrected
    normalization: str = "zscore"  # or "none"
    clip_percentiles: tuple[float, float] = (0.5, 99.5)  # robust clipping before the z-score
    # "rigid": each sequence registered onto the reference sequence before resampling (native-space
    # studies whose series the patient moved between); "none": taken as they lie in patient space.
    registration: str = "none"
    reference_sequence: str = "T1c"


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


# Zero tolerance: only a grid identical to the bit counts as "already there" for intensities.
_SAME_GRID = GeometryTolerance(spacing_mm=0.0, origin_mm=0.0, direction=0.0)


def image_on_grid(image: sitk.Image, grid: sitk.Image, interpolator: int) -> sitk.Image:
    """``image`` (float32) on ``grid``: itself when it is already exactly on that grid.

    Linear and ITK's B-spline interpolation are interpolating: at the source's own voxel centres
    they return the source's values, so resampling onto the identical grid is the identity. ITK
    still computes it (B-spline prefilter and evaluation: 1.6 s per 240 x 240 x 155 volume, the
    largest part of preprocessing a 1 mm case) and returns the values with its rounding, up to
    ~3e-8 away (measured on a full-size synthetic case). Any other grid, even 1e-6 mm away, is
    resampled.
    """
    if not geometry_differences(grid, image, _SAME_GRID):
        return sitk.Cast(image, sitk.sitkFloat32)
    return resample_like(image, grid, interpolator, sitk.sitkFloat32)


# Signed distance given to grid points outside the source volume: deep in the background.
_FAR_MM = 1e6


def resample_labels(labels: sitk.Image, grid: sitk.Image) -> sitk.Image:
    """``labels`` on ``grid`` (uint8) by shape-based interpolation; unchanged if already on it.

    Nearest-neighbour resampling turns every voxel of a thick-slice mask into a box: a 3 mm slice
    becomes three identical 1 mm slices, the tumour grows by up to half a slice at every terrace,
    and millimetre rings around it come out 4-12% too large (0.8 x 0.8 x 3 mm sphere phantom,
    tests/test_preprocessing.py). Instead each label's signed distance map (negative inside, zero
    half-way between an inside and an outside voxel centre) is interpolated linearly onto the grid
    and every grid voxel takes the label it lies deepest inside (Raya & Udupa's shape-based
    interpolation). On the phantom the rings then match the exact shell volume within 3%.
    """
    from scipy import ndimage

    if not geometry_differences(grid, labels, GeometryTolerance()):
        return sitk.Cast(labels, sitk.sitkUInt8)
    array = sitk.GetArrayViewFromImage(labels)
    values = np.unique(array)
    if values.size == 1:
        return resample_like(labels, grid, sitk.sitkNearestNeighbor, sitk.sitkUInt8)
    spacing = np.array(labels.GetSpacing()[::-1])  # (z, y, x) to match the array
    deepest: np.ndarray | None = None
    out: np.ndarray | None = None
    for value in values:
        inside = array == value
        signed = (ndimage.distance_transform_edt(~inside, sampling=spacing)
                  - ndimage.distance_transform_edt(inside, sampling=spacing)).astype(np.float32)
        signed_image = sitk.GetImageFromArray(signed)
        signed_image.CopyInformation(labels)
        beyond = -_FAR_MM if value == 0 else _FAR_MM
        depth = sitk.GetArrayFromImage(
            sitk.Resample(signed_image, grid, sitk.Transform(), sitk.sitkLinear, beyond, sitk.sitkFloat32))
        if deepest is None:
            deepest, out = depth, np.full(depth.shape, value, dtype=np.uint8)
        else:
            deeper = depth < deepest
            deepest[deeper] = depth[deeper]
            out[deeper] = value
    resampled = sitk.GetImageFromArray(out)
    resampled.CopyInformation(grid)
    return resampled


def zscore_in_mask(image: sitk.Image, mask: np.ndarray, clip: tuple[float, float]) -> sitk.Image:
    """Clip to the brain's percentiles, then subtract the brain's mean and divide by its SD."""
    array = sitk.GetArrayFromImage(image).astype(np.float32)
    inside = array[mask]
    if inside.size == 0:
        raise ValueError("brain mask is empty; cannot normalize intensities")
    # Python floats keep the array float32 (numpy scalars of float64 would promote it: twice the
    # bytes to write, compress and read back per sequence); the statistics accumulate in float64.
    low, high = (float(v) for v in np.percentile(inside, clip))
    array = np.clip(array, low, high)
    inside = array[mask]
    sd = float(inside.std(dtype=np.float64))
    if sd == 0.0:
        raise ValueError("image is constant inside the brain; its z-score is undefined")
    out = sitk.GetImageFromArray((array - float(inside.mean(dtype=np.float64))) / sd)
    out.CopyInformation(image)
    return out


def _registrations(raw: dict[str, sitk.Image], config: PreprocessConfig) -> dict:
    """Each non-reference sequence's rigid registration onto the reference (``registration: rigid``)."""
    if config.registration == "none":
        return {}
    if config.registration != "rigid":
        raise ValueError(f"registration {config.registration!r} is not one of {', '.join(REGISTRATIONS)}")
    if config.reference_sequence not in raw:
        raise ValueError(f"registration needs the reference sequence {config.reference_sequence}")
    fixed = raw[config.reference_sequence]
    return {sequence: register_rigid(fixed, image) for sequence, image in raw.items()
            if sequence != config.reference_sequence}


def preprocess_case(case: Case, config: PreprocessConfig = PreprocessConfig()) -> PreprocessedCase:
    """Read, resample, correct and normalize one case's volumes."""
    seg = read_image(case.segmentation)
    grid = reference_grid(seg, config.spacing_mm)
    labels = resample_labels(seg, grid)
    raw = {sequence: read_image(path, sitk.sitkFloat32) for sequence, path in case.images.items()}
    found = case_brain(read_image(case.brain_mask) if case.brain_mask is not None else None,
                       {s: image for s, image in raw.items() if image.GetSize() == seg.GetSize()}, seg)
    brain = resample_labels(found.mask, grid) if found.mask is not None else None
    interpolator = _INTERPOLATORS[config.image_interpolator]
    registrations = _registrations(raw, config)
    images: dict[str, sitk.Image] = {}
    for sequence, path in case.images.items():
        if sequence in registrations:
            image = sitk.Resample(raw.pop(sequence), grid, registrations[sequence].transform, interpolator, 0.0,
                                  sitk.sitkFloat32)
        else:
            image = image_on_grid(raw.pop(sequence), grid, interpolator)
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
        "label_interpolation": "shape-based: per-label signed distance, linear (resample_labels)",
        "files": {role: str(path) for role, path in case.files().items()},
        "brain": found.describe(),
        "registration": {sequence: r.describe() for sequence, r in registrations.items()},
    }
    return PreprocessedCase(case.patient_id, images, labels, brain, case.labels.tumor, metadata)
