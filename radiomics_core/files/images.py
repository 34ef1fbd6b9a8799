"""Reading volumes (NIfTI, NRRD or a DICOM series folder) with errors that name the file."""

from __future__ import annotations

from pathlib import Path

import SimpleITK as sitk

from radiomics_core.files.atomic import atomic_write


class ImageReadError(Exception):
    """A volume could not be read; the message names the file and the reason."""


def read_image(path: Path, pixel_type: int = sitk.sitkUnknown) -> sitk.Image:
    """Read a volume file, or a folder holding one DICOM series, applying scl_slope/inter."""
    path = Path(path)
    if not path.exists():
        raise ImageReadError(f"{path}: file does not exist")
    if path.is_dir():
        return _read_dicom_series(path, pixel_type)
    if path.stat().st_size == 0:
        raise ImageReadError(f"{path}: file is empty (0 bytes); re-download or re-export it")
    try:
        return sitk.ReadImage(str(path), pixel_type)
    except RuntimeError as error:
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else "unknown error"
        raise ImageReadError(f"{path}: cannot be read as an image ({reason}); the file may be truncated or corrupt") from None


def read_geometry(path: Path) -> sitk.ImageFileReader:
    """A volume file's grid (GetSize, GetSpacing, GetOrigin, GetDirection) from its header only.

    For checks that compare grids: decompressing a 240 x 240 x 155 float volume to read four
    tuples costs ~0.15 s.
    """
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as error:
        raise ImageReadError(f"{path}: cannot be read as an image ({error})") from None
    return reader


def _read_dicom_series(folder: Path, pixel_type: int) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    series = reader.GetGDCMSeriesIDs(str(folder))
    if not series:
        raise ImageReadError(f"{folder}: folder holds no DICOM series")
    if len(series) > 1:
        raise ImageReadError(f"{folder}: folder holds {len(series)} DICOM series; keep one series per folder")
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder), series[0]))
    reader.SetOutputPixelType(pixel_type)
    try:
        return reader.Execute()
    except RuntimeError as error:
        raise ImageReadError(f"{folder}: DICOM series cannot be read ({error})") from None


_NIFTI_FLOAT_TYPES = {16: "f4", 64: "f8"}
_NIFTI_BYTES = {2: 1, 4: 2, 8: 4, 16: 4, 64: 8, 256: 1, 512: 2, 768: 4, 1024: 8, 1280: 8}


def nonfinite_voxels(path: Path, image: sitk.Image) -> int:
    """Count NaN/Inf voxels of ``image``, read from ``path`` (raw bytes for NIfTI, see below)."""
    import numpy as np

    if str(path).lower().endswith((".nii", ".nii.gz")):
        return _nifti_nonfinite_voxels(path)
    array = sitk.GetArrayViewFromImage(image)
    return int(np.count_nonzero(~np.isfinite(array))) if np.issubdtype(array.dtype, np.floating) else 0


def _nifti_nonfinite_voxels(path: Path) -> int:
    """Count NaN/Inf voxels straight from a NIfTI file's bytes.

    ITK's NIfTI reader silently turns NaN and Inf into finite numbers, and reads a truncated
    .nii.gz without complaint, so both checks need the raw bytes. Raises ImageReadError for a
    file whose data ends early.
    """
    import gzip
    import zlib

    import numpy as np

    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if str(path).lower().endswith(".gz") else path.read_bytes()
    except (EOFError, OSError, zlib.error) as error:
        raise ImageReadError(f"{path}: compressed data is truncated or corrupt ({error}); re-download the file") from None
    if len(raw) < 352:
        raise ImageReadError(f"{path}: shorter than a NIfTI header; the file is truncated")
    endian = "<" if np.frombuffer(raw[:4], "<i4")[0] == 348 else ">"
    dims = np.frombuffer(raw[40:56], f"{endian}i2")
    datatype = int(np.frombuffer(raw[70:72], f"{endian}i2")[0])
    offset = int(np.frombuffer(raw[108:112], f"{endian}f4")[0])
    count = int(np.prod(dims[1 : 1 + max(int(dims[0]), 1)].astype(np.int64)))
    expected = offset + count * _NIFTI_BYTES.get(datatype, 0)
    if len(raw) < expected:
        raise ImageReadError(f"{path}: voxel data ends after {len(raw):,} of {expected:,} bytes; the file is truncated")
    if datatype not in _NIFTI_FLOAT_TYPES:
        return 0
    data = np.frombuffer(raw, f"{endian}{_NIFTI_FLOAT_TYPES[datatype]}", count=count, offset=offset)
    return int(count - np.count_nonzero(np.isfinite(data)))


def write_image_atomic(image: sitk.Image, path: Path) -> Path:
    """Write ``image`` next to ``path`` and rename it into place: no reader sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # SimpleITK picks the writer from the extension, so the temporary name keeps it.
    return atomic_write(path, lambda temp: sitk.WriteImage(image, str(temp), useCompression=True),
                        temp_suffix="".join(path.suffixes))
