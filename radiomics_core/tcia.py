"""A client for TCIA's public NBIA REST API (v4), called directly with httpx.

Anonymous access works for public collections. Downloads are validated (size, zip integrity,
DICOM readability) in a temporary folder and only then moved into the landing folder, so a
truncated download never looks like a case. Series from NBIA have no tumor segmentation: they
wait in the landing folder until one is added (the sensor reports them as waiting).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import zipfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx

from radiomics_core.atomic_files import make_temp_dir

DEFAULT_BASE_URL = "https://services.cancerimagingarchive.net/nbia-api/services/v4"


class TciaError(Exception):
    """The API answered with an error or a download failed validation."""


@dataclass(frozen=True)
class Series:
    series_uid: str
    patient_id: str
    modality: str
    description: str
    image_count: int | None
    file_size: int | None

    @classmethod
    def from_json(cls, row: dict) -> "Series":
        def number(key: str) -> int | None:
            try:
                return int(row[key])
            except (KeyError, TypeError, ValueError):
                return None
        return cls(str(row["SeriesInstanceUID"]), str(row.get("PatientID", "")), str(row.get("Modality", "")),
                   str(row.get("SeriesDescription", "")), number("ImageCount"), number("FileSize"))


_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _safe_component(value: str, what: str) -> str:
    if not _SAFE.match(value) or ".." in value:
        raise TciaError(f"refusing {what} {value!r}: it is not a safe folder name")
    return value


@dataclass
class TciaClient:
    base_url: str = DEFAULT_BASE_URL
    timeout_s: float = 60.0

    def _get(self, endpoint: str, **params: str) -> httpx.Response:
        try:
            response = httpx.get(f"{self.base_url}/{endpoint}", params=params, timeout=self.timeout_s)
        except httpx.HTTPError as error:
            raise TciaError(f"{endpoint}: request failed ({type(error).__name__})") from None
        if response.status_code != 200:
            raise TciaError(f"{endpoint}: HTTP {response.status_code}")
        return response

    def _json_list(self, endpoint: str, **params: str) -> list[dict]:
        response = self._get(endpoint, **params)
        # An empty result is HTTP 200 with an empty body.
        return response.json() if response.content.strip() else []

    def series(self, collection: str, patient_id: str | None = None, modality: str | None = None) -> list[Series]:
        params = {"Collection": collection}
        if patient_id:
            params["PatientID"] = patient_id
        if modality:
            params["Modality"] = modality
        return [Series.from_json(row) for row in self._json_list("getSeries", **params)]

    def new_patients(self, collection: str, since: date) -> list[str]:
        rows = self._json_list("NewPatientsInCollection", Collection=collection, fromDate=since.strftime("%m-%d-%Y"))
        return [str(row.get("PatientId") or row.get("PatientID")) for row in rows]

    def download_series(self, series: Series, landing_dir: Path) -> Path:
        """Download, validate and land one series as ``landing/<patient>/<series uid>/``."""
        patient = _safe_component(series.patient_id, "patient id")
        uid = _safe_component(series.series_uid, "series UID")
        target = Path(landing_dir) / patient / uid
        if target.exists():
            return target
        content = self._get("getImage", NewFileNames="Yes", SeriesInstanceUID=series.series_uid).content
        if series.file_size and len(content) < 0.5 * series.file_size:
            raise TciaError(f"series {uid}: got {len(content):,} bytes, expected about {series.file_size:,}")
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = make_temp_dir(target.parent, prefix=".download-")  # group-readable like the cohort
        try:
            count = _extract_dicom_zip(content, staging, uid)
            if series.image_count and count != series.image_count:
                raise TciaError(f"series {uid}: {count} DICOM files, the API listed {series.image_count}")
            os.replace(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return target


def _extract_dicom_zip(content: bytes, folder: Path, uid: str) -> int:
    import pydicom

    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except zipfile.BadZipFile:
        raise TciaError(f"series {uid}: the download is not a valid zip (truncated?)") from None
    count = 0
    with archive:
        if archive.testzip() is not None:
            raise TciaError(f"series {uid}: the zip has a corrupt member")
        for member in archive.infolist():
            name = Path(member.filename).name
            if member.is_dir() or not name or name.upper().startswith("LICENSE"):
                continue
            data = archive.read(member)
            try:
                pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
            except Exception:  # noqa: BLE001 - pydicom raises several kinds for bad files
                raise TciaError(f"series {uid}: {name} is not readable DICOM") from None
            (folder / name).write_bytes(data)
            count += 1
    if count == 0:
        raise TciaError(f"series {uid}: the zip holds no DICOM files")
    return count
