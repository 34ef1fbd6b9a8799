"""VOI_T and peritumoral rings measured in physical millimetres.

One signed Maurer distance map per patient (with the image spacing, so anisotropic voxels are
exact) gives every ring: VOI_P(d) = voxels with 0 < distance <= d mm outside VOI_T, clipped to
the brain when a brain mask is given. ``mode="annulus"`` gives d_prev < distance <= d instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
import SimpleITK as sitk

DEFAULT_RINGS_MM = (1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 15.0)


def voi_t_mask(labels: sitk.Image, tumor_labels: Iterable[int]) -> sitk.Image:
    """VOI_T: the union of the tumor labels (core + edema) as a uint8 {0,1} image."""
    array = np.isin(sitk.GetArrayViewFromImage(labels), list(tumor_labels)).astype(np.uint8)
    mask = sitk.GetImageFromArray(array)
    mask.CopyInformation(labels)
    return mask


# Fraction of a voxel (along the direction to the nearest VOI_T voxel) by which a centre-to-centre
# distance overstates the distance to VOI_T's surface. Calibrated on sphere phantoms of radius
# 10-30 mm at 1, 0.5 x 0.5 x 2, 0.8 x 0.8 x 3 and 1 x 1 x 3 mm voxels (tests/test_rings.py):
# 0 leaves 3-5 mm rings 4-10% too small, 0.5 (a half voxel) makes them 5-8% too large.
SURFACE_OFFSET_VOXELS = 0.2


def distance_outside_mm(voi_t: sitk.Image) -> np.ndarray:
    """Distance in mm from each voxel centre outside VOI_T to VOI_T's surface (0 inside), (z, y, x).

    A centre-to-centre distance map (SimpleITK's Maurer map, or a plain EDT) measures to the
    nearest VOI_T voxel *centre*, which lies inside the surface the mask stands for. One
    Euclidean transform in physical units also returns each voxel's nearest VOI_T voxel; the
    distance is shortened by ``SURFACE_OFFSET_VOXELS`` of that voxel's extent along the
    connecting direction (exact on anisotropic voxels).
    """
    from scipy import ndimage

    spacing = np.array(voi_t.GetSpacing()[::-1])  # (z, y, x) to match the array
    inside = sitk.GetArrayViewFromImage(voi_t).astype(bool)
    distance, nearest = ndimage.distance_transform_edt(~inside, sampling=spacing, return_indices=True)
    distance = distance.astype(np.float32)
    safe = np.where(distance > 0, distance, 1.0).astype(np.float32)
    extent_sq = np.zeros(inside.shape, dtype=np.float32)
    for axis in range(3):
        grid = np.arange(inside.shape[axis], dtype=np.float32).reshape([-1 if a == axis else 1 for a in range(3)])
        step = (grid - nearest[axis].astype(np.float32)) * spacing[axis]
        extent_sq += np.square(step / safe * spacing[axis])
    del nearest
    distance -= SURFACE_OFFSET_VOXELS * np.sqrt(extent_sq)
    distance[inside] = 0.0
    # A voxel next to VOI_T must stay in the first ring however small the offset makes it.
    distance[~inside] = np.maximum(distance[~inside], np.float32(1e-6))
    return distance


# Where a brain-clipped distance map puts every voxel outside the brain: beyond any ring. Finite
# on purpose: ITK's NIfTI reader silently rewrites Inf (see image_io.nonfinite_voxels).
OUTSIDE_BRAIN_MM = 1e6


def brain_clipped_distance_mm(voi_t: sitk.Image, brain: sitk.Image | None) -> np.ndarray:
    """``distance_outside_mm`` with every voxel outside ``brain`` (when given) moved beyond any
    ring, so no ring cut from it leaves the brain. The pipeline stores this map; ``ring_masks``
    (the notebook path) cuts its rings from it too."""
    distance = distance_outside_mm(voi_t)
    if brain is not None:
        distance[~sitk.GetArrayViewFromImage(brain).astype(bool)] = OUTSIDE_BRAIN_MM
    return distance


def ring_from_distance(distance: np.ndarray, reference: sitk.Image, low_mm: float, high_mm: float) -> sitk.Image:
    """The uint8 mask of low < distance <= high on ``reference``'s grid."""
    ring = sitk.GetImageFromArray(((distance > low_mm) & (distance <= high_mm)).astype(np.uint8))
    ring.CopyInformation(reference)
    return ring


def ring_masks(voi_t: sitk.Image, distances_mm: Iterable[float], brain: sitk.Image | None = None,
               mode: str = "shell") -> dict[float, sitk.Image]:
    """Rings around ``voi_t`` on its grid: {distance_mm: uint8 image}.

    ``mode="shell"``: 0 < distance <= d (rings are nested). ``mode="annulus"``: the previous
    distance < distance <= d. An empty ring is returned as an all-zero image, not an error.
    """
    if mode not in ("shell", "annulus"):
        raise ValueError(f"ring mode {mode!r} is not 'shell' or 'annulus'")
    if not np.any(sitk.GetArrayViewFromImage(voi_t)):
        raise ValueError("VOI_T is empty: rings around it are undefined")
    distance = brain_clipped_distance_mm(voi_t, brain)
    rings: dict[float, sitk.Image] = {}
    previous = 0.0
    for d in sorted(float(v) for v in distances_mm):
        if d <= 0:
            raise ValueError(f"ring distance {d} mm must be positive")
        low = previous if mode == "annulus" else 0.0
        rings[d] = ring_from_distance(distance, voi_t, low, d)
        previous = d
    return rings


@dataclass(frozen=True)
class RingVolume:
    ring_mm: float  # 0 = VOI_T
    voxels: int
    volume_mm3: float
    status: str  # "ok" or "empty"


def mask_volume(mask: sitk.Image, ring_mm: float) -> RingVolume:
    voxels = int(np.count_nonzero(sitk.GetArrayViewFromImage(mask)))
    volume = voxels * float(np.prod(mask.GetSpacing()))
    return RingVolume(ring_mm, voxels, volume, "ok" if voxels else "empty")


def case_vois(labels: sitk.Image, tumor_labels: Iterable[int], distances_mm: Iterable[float],
              brain: sitk.Image | None = None, mode: str = "shell") -> dict[float, sitk.Image]:
    """VOI_T under key 0.0 followed by its rings."""
    voi_t = voi_t_mask(labels, tumor_labels)
    return {0.0: voi_t, **ring_masks(voi_t, distances_mm, brain, mode)}
