"""Patient viewer: a slice of a normalized sequence with VOI_T and rings overlaid."""

from pathlib import Path

import numpy as np
import SimpleITK as sitk
import streamlit as st

from dashboard import data

COLORS = {"T": (255, 64, 64), "1": (255, 200, 0), "2": (160, 255, 0), "3": (0, 255, 160), "4": (0, 200, 255),
          "5": (64, 96, 255), "10": (200, 64, 255), "15": (255, 64, 200)}


def _slices(work: Path, patient: str, sequence: str, rings: list[str]):
    image = sitk.GetArrayFromImage(sitk.ReadImage(str(work / "normalized" / patient / f"{sequence}.nii.gz")))
    masks = {}
    for ring in rings:
        path = work / "rings" / patient / f"ring_{ring}.nii.gz"
        if path.exists():
            masks[ring] = sitk.GetArrayFromImage(sitk.ReadImage(str(path))).astype(bool)
    return image, masks


def render(root: str, work: Path) -> None:
    st.header("Patient viewer")
    patients = data.table(root, "patients")
    usable = sorted(patients.loc[patients["usable"], "patient_id"])
    if not usable:
        st.info("No usable patient yet.")
        return
    patient = st.selectbox("Patient", usable, key="view_patient")
    folder = work / "normalized" / patient
    sequences = sorted(p.name.removesuffix(".nii.gz") for p in folder.glob("*.nii.gz")
                       if p.name.removesuffix(".nii.gz") in {"T1", "T1c", "T2", "FLAIR"}) if folder.exists() else []
    if not sequences:
        st.info(f"{patient} has no normalized images yet: materialize `normalized_images`.")
        return
    sequence = st.selectbox("Sequence", sequences, key="view_sequence")
    rings = st.multiselect("Overlays", list(COLORS), default=["T", "5"], key="view_rings")
    image, masks = _slices(work, patient, sequence, rings)
    voi = masks.get("T")
    middle = int(np.argmax(voi.sum(axis=(1, 2)))) if voi is not None and voi.any() else image.shape[0] // 2
    z = st.slider("Slice", 0, image.shape[0] - 1, middle, key="view_slice")
    plane = image[z]
    low, high = np.percentile(plane, (1, 99))
    gray = (np.clip((plane - low) / max(high - low, 1e-6), 0, 1) * 255).astype(np.uint8)
    rgb = np.stack([gray] * 3, axis=-1).astype(float)
    for ring in rings[::-1]:
        if ring in masks:
            edge = masks[ring][z]
            rgb[edge] = 0.55 * rgb[edge] + 0.45 * np.array(COLORS[ring])
    st.image(rgb.astype(np.uint8), caption=f"{patient} {sequence}, slice {z}", width=480)
    st.caption("Overlay colours: " + ", ".join(f"{r} {'mm' if r != 'T' else '(VOI_T)'}" for r in rings))
