"""A brain for every case: the layout's brain mask, or one derived from skull-stripped sequences.

Rings must never leave the brain, and the z-score is computed inside it. UCSF-PDGM ships a brain
mask; BraTS 2021/2023 (and most manifests) do not, but their sequences are skull-stripped: every
voxel outside the brain holds one constant background value (0 in BraTS; a negative constant
in publisher-normalized sets such as BraTS 2013). Such a brain is derived here: the voxels that
differ from the background in any sequence, plus the tumor labels, with enclosed holes filled.
Where no constant background can be told (a scan with its skull, where the border is noisy air),
no brain is derived and the case is processed unclipped with a warning saying what to supply.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

LAYOUT_MASK = "brain mask file"
DERIVED = "derived from the sequences' non-background voxels"
NONE = "none"
# A background is "constant" when this share of a volume's outer faces holds one value.
CONSTANT_BORDER_SHARE = 0.95


@dataclass(frozen=True)
class Brain:
    """The case's brain on its segmentation's grid (None: no brain could be told) and where it came from."""

    mask: sitk.Image | None
    source: str
    background: dict[str, float]  # per sequence, the constant background found (derived brains)
    reason: str = ""  # why no brain could be derived

    def describe(self) -> dict:
        voxels = int(np.count_nonzero(sitk.GetArrayViewFromImage(self.mask))) if self.mask is not None else 0
        return {"source": self.source, "voxels": voxels, "background": self.background,
                **({"reason": self.reason} if self.reason else {})}


def border_background(array: np.ndarray) -> float | None:
    """The value filling at least ``CONSTANT_BORDER_SHARE`` of the volume's six outer faces, or None."""
    faces = np.concatenate([array[0].ravel(), array[-1].ravel(), array[:, 0].ravel(), array[:, -1].ravel(),
                            array[:, :, 0].ravel(), array[:, :, -1].ravel()])
    values, counts = np.unique(faces, return_counts=True)
    best = int(np.argmax(counts))
    return float(values[best]) if counts[best] >= CONSTANT_BORDER_SHARE * faces.size else None


def derive_brain(images: dict[str, sitk.Image], labels: sitk.Image) -> Brain:
    """The brain of skull-stripped ``images`` (all on ``labels``' grid), or ``Brain(None, NONE)``
    when a sequence has no constant background."""
    foreground = sitk.GetArrayViewFromImage(labels) > 0
    background: dict[str, float] = {}
    for name, image in images.items():
        array = sitk.GetArrayViewFromImage(image)
        value = border_background(array)
        if value is None:
            return Brain(None, NONE, {}, f"{name} has no constant background (a scan with its skull?)")
        background[name] = value
        foreground = foreground | (array != value)
    from scipy import ndimage

    # Dark structures inside the brain (CSF, necrosis) may equal the background in every sequence.
    filled = ndimage.binary_fill_holes(foreground)
    mask = sitk.GetImageFromArray(filled.astype(np.uint8))
    mask.CopyInformation(labels)
    return Brain(mask, DERIVED, background)


def case_brain(brain_mask: sitk.Image | None, images: dict[str, sitk.Image], labels: sitk.Image) -> Brain:
    """The layout's brain mask when the case has one, else the derived brain."""
    if brain_mask is not None:
        mask = sitk.Cast(brain_mask > 0, sitk.sitkUInt8)
        return Brain(mask, LAYOUT_MASK, {})
    return derive_brain(images, labels)
