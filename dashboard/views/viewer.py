"""Patient viewer: a slice of a normalized sequence with VOI_T and rings drawn as outlines.

Rings are nested shells, so filled overlays would blend into one another; each VOI is drawn as
its outline in its own colour, and the legend gives each colour's VOI and volume.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk
import streamlit as st
from scipy import ndimage

from dashboard import data, state
from radiomics_core.settings import Ring

COLORS = {Ring(mm).key: rgb for mm, rgb in [
    (0, (255, 64, 64)), (1, (255, 200, 0)), (2, (160, 255, 0)), (3, (0, 255, 160)), (4, (0, 200, 255)),
    (5, (64, 96, 255)), (10, (200, 64, 255)), (15, (255, 64, 200))]}
VOI_T = Ring.voi_t().key


# A resource, not data: volumes are only read, and copying tens of MB on every rerun (what
# st.cache_data does to protect its values) would cost more than the slider move itself.
@st.cache_resource(ttl=data.TTL_SECONDS, show_spinner=False, max_entries=8)
def _volume(path: str) -> np.ndarray:
    volume = sitk.GetArrayFromImage(sitk.ReadImage(path))
    volume.flags.writeable = False
    return volume


def _mask(work: Path, patient: str, ring: str) -> np.ndarray | None:
    path = work / "rings" / patient / Ring.from_key(ring).mask_file
    return _volume(str(path)).astype(bool) if path.exists() else None


def tumour_centre(mask: np.ndarray | None, depth: int) -> int:
    """The axial slice through VOI_T's centre of mass (the middle slice without a tumour)."""
    if mask is None or not mask.any():
        return depth // 2
    return int(round(ndimage.center_of_mass(mask)[0]))


def outline(mask2d: np.ndarray) -> np.ndarray:
    """The mask's boundary pixels (in the mask, next to a pixel outside it)."""
    return mask2d & ~ndimage.binary_erosion(mask2d, border_value=0)


def overlay(plane: np.ndarray, masks: dict[str, np.ndarray]) -> np.ndarray:
    """An RGB slice, windowed at the 1st-99th percentile, with each mask's outline in its colour."""
    low, high = np.percentile(plane, (1, 99))
    gray = (np.clip((plane - low) / max(high - low, 1e-6), 0, 1) * 255).astype(np.uint8)
    rgb = np.stack([gray] * 3, axis=-1)
    for ring, mask in masks.items():
        rgb[outline(mask)] = COLORS[ring]
    # Enlarge by whole pixels here: the browser's smooth scaling would blur one-pixel outlines.
    factor = max(1, 520 // max(rgb.shape[:2]))
    return rgb.repeat(factor, axis=0).repeat(factor, axis=1)


def _legend(rings: list[str], volumes: dict[float, float], shown: set[str]) -> str:
    items = []
    for ring in rings:
        name = "VOI_T (tumour)" if ring == VOI_T else f"ring {Ring.from_key(ring).label}"
        volume = volumes.get(Ring.from_key(ring).mm)
        size = f"{volume:,.0f} mm³" if volume is not None else "volume not stored"
        missing = "" if ring in shown else " (no mask file)"
        r, g, b = COLORS[ring]
        items.append(f"<span style='display:inline-block;width:14px;height:14px;border:3px solid rgb({r},{g},{b});"
                     f"margin:0 4px -2px 0'></span>{name}: {size}{missing}")
    return "<div style='line-height:1.9'>" + "<br>".join(items) + "</div>"


def brain_caption(preprocessing: pd.DataFrame) -> str:
    """Where the rings' brain came from (the layout's mask, derived, or none: rings not clipped)."""
    if preprocessing.empty:
        return "Brain: not recorded (normalized before brains were recorded)"
    brain = json.loads(preprocessing["metadata_json"].iloc[0]).get("brain") or {}
    source = brain.get("source", "not recorded")
    if source == "none":
        return f"Brain: none could be told ({brain.get('reason', '')}); the rings are not clipped"
    return f"Brain: {source}, {brain.get('voxels', 0):,} voxels; rings are clipped to it"


def render(root: str, work: Path) -> None:
    st.header("Patient viewer")
    patients = data.table(root, "patients")
    usable = sorted(patients.loc[patients["usable"].astype(bool), "patient_id"])
    if not usable:
        st.info("No usable patient yet.")
        return
    patient = state.select("Patient", usable, "patient")
    folder = work / "normalized" / patient
    sequences = sorted(p.name.removesuffix(".nii.gz") for p in folder.glob("*.nii.gz")
                       if p.name.removesuffix(".nii.gz") in {"T1", "T1c", "T2", "FLAIR"}) if folder.exists() else []
    if not sequences:
        st.info(f"{patient} has no normalized images yet: materialize `normalized_images`.")
        return
    left, right = st.columns([3, 2])
    with right:
        sequence = state.select("Sequence", sequences, "view_sequence", default="T1c")
        rings = st.multiselect("Overlays", list(COLORS), default=[VOI_T, Ring(3).key, Ring(10).key], key="view_rings",
                               format_func=lambda r: Ring.from_key(r).label)
    image = _volume(str(folder / f"{sequence}.nii.gz"))
    masks = {ring: m for ring in rings if (m := _mask(work, patient, ring)) is not None}
    # On a new patient the slice moves to the tumour's centre; afterwards the slider is the user's.
    if st.session_state.get("_view_slice_patient") != patient or st.session_state.get("view_slice", 0) >= len(image):
        st.session_state["_view_slice_patient"] = patient
        st.session_state["view_slice"] = tumour_centre(_mask(work, patient, VOI_T), image.shape[0])
    with right:
        z = st.slider("Axial slice", 0, image.shape[0] - 1, key="view_slice")
        volumes = data.ring_volumes(root, patient)
        st.markdown(_legend(rings, dict(zip(volumes["ring_mm"], volumes["volume_mm3"])), set(masks)),
                    unsafe_allow_html=True)
        st.caption(brain_caption(data.table(root, "preprocessing", (("patient_id", patient),))))
    with left:
        plane_masks = {ring: mask[z] for ring, mask in masks.items()}
        st.image(overlay(image[z], plane_masks), caption=f"{patient} {sequence}, axial slice {z}", width=520)
