"""A DICOM-SEG series to a label map in the project's labels, on a case's grid.

Segments are named by their label and segmented property type (free text, as the annotators
wrote it), so they are mapped to BraTS' legacy labels (1 necrosis / non-enhancing core,
2 edema, 4 enhancing tumor; ``UCSF_LABELS`` in radiomics_core/cohorts/layouts.py) by keywords. A segment
the keywords do not name is refused rather than guessed. The SEG's frames are placed by their
own geometry and resampled with nearest neighbour onto the case's grid, so a SEG that stores
only the frames holding tumor still lands where it was drawn.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import SimpleITK as sitk

NECROSIS, EDEMA, ENHANCING = 1, 2, 4

# Tried in order: "non-enhancing" must be read before "enhancing".
SEGMENT_RULES: tuple[tuple[int, str], ...] = (
    (NECROSIS, r"non[- ]?enhanc|necro|\bcore\b|\bncr\b|\bnet\b"),
    (ENHANCING, r"enhanc|\bet\b"),
    (EDEMA, r"o?edema|\bed\b|peritumoral"),
)


class SegmentationError(Exception):
    """A DICOM-SEG cannot become a label map: unnamed segments, overlaps, or another grid."""


def project_label(text: str) -> int | None:
    """The project's label for a segment's label or property type text, or None."""
    lowered = text.strip().lower()
    return next((label for label, pattern in SEGMENT_RULES if re.search(pattern, lowered)), None)


def segment_labels(seg) -> dict[int, int]:
    """Segment number to project label, from the segment label first, then the property type."""
    mapping = {}
    for number in seg.segment_numbers:
        description = seg.get_segment_description(number)
        texts = [str(description.segment_label), str(description.segmented_property_type.meaning)]
        label = next((lab for lab in map(project_label, texts) if lab is not None), None)
        if label is None:
            raise SegmentationError(f"segment {number} ({' / '.join(texts)}) is not necrosis, edema or "
                                    "enhancing tumor")
        mapping[number] = label
    return mapping


def seg_label_map(path: Path, reference: sitk.Image) -> sitk.Image:
    """The DICOM-SEG file ``path`` as a UInt8 label map on ``reference``'s grid."""
    import highdicom as hd

    seg = hd.seg.segread(str(path))
    try:
        mapping = segment_labels(seg)
        volume = seg.get_volume(combine_segments=True)  # each voxel holds its segment number
    except (SegmentationError, ValueError, RuntimeError) as error:
        raise SegmentationError(f"{path}: {error}") from None
    lookup = np.zeros(max(mapping) + 1, np.uint8)
    for number, label in mapping.items():
        lookup[number] = label
    image = volume.with_array(lookup[np.asarray(volume.array, dtype=np.int64)]).to_simpleitk()
    resampled = sitk.Resample(image, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    if np.any(lookup[np.asarray(volume.array, dtype=np.int64)]) and not np.any(sitk.GetArrayViewFromImage(resampled)):
        raise SegmentationError(f"{path}: no segmented voxel falls inside the case's images (another frame "
                                "of reference?)")
    return resampled
