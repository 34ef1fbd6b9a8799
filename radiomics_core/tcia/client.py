"""A client for TCIA's public NBIA REST API (v4), called directly with httpx.

Anonymous access works for public collections. Requests are repeated with exponential backoff
when NBIA answers HTTP 429 or 5xx or does not answer in time. Downloads come from
``getImageWithMD5Hash`` (the zip carries ``md5hashes.csv``, columns ``Filename,MD5Hash``, as
NBIA's own download service writes it) and are validated in a temporary folder (zip integrity,
MD5 of every file, image count, DICOM readability), then renamed into the landing folder, so a
partial download never looks like a case; the staging folder a killed download leaves is removed
by the next download into the same patient folder. ``changes_since`` asks only for what changed after a
date (``NewPatientsInCollection`` and ``getUpdatedSeries``, dates as MM-DD-YYYY).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import shutil
import socket
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import httpx

from radiomics_core.files.atomic import make_temp_dir

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
    study_uid: str = ""

    @classmethod
    def from_json(cls, row: dict) -> "Series":
        def number(key: str) -> int | None:
            try:
                return int(row[key])
            except (KeyError, TypeError, ValueError):
                return None
        return cls(str(row["SeriesInstanceUID"]), str(row.get("PatientID", "")), str(row.get("Modality", "")),
                   str(row.get("SeriesDescription", "")), number("ImageCount"), number("FileSize"),
                   str(row.get("StudyInstanceUID", "")))


LISTING_URL = "https://cancerimagingarchive.net/api/v2"


@dataclass(frozen=True)
class CollectionRelease:
    """A collection's version as TCIA's collections listing states it (values as written there)."""

    collection: str
    version: str
    date_updated: str
    subjects: int | None

    @classmethod
    def from_json(cls, collection: str, row: dict) -> "CollectionRelease":
        try:
            subjects = int(row.get("subjects"))
        except (TypeError, ValueError):
            subjects = None
        return cls(collection, str(row.get("version_number") or "").strip(), str(row.get("date_updated") or ""), subjects)


_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _safe_component(value: str, what: str) -> str:
    if not _SAFE.match(value) or ".." in value:
        raise TciaError(f"refusing {what} {value!r}: it is not a safe folder name")
    return value


@dataclass(frozen=True)
class RetryPolicy:
    """How a request is repeated when NBIA is busy (429), briefly down (5xx) or slow (timeout).

    The delay doubles from ``backoff_s`` up to ``max_backoff_s``; a ``Retry-After`` header in
    seconds wins when it asks for longer.
    """

    attempts: int = 5
    backoff_s: float = 2.0
    max_backoff_s: float = 60.0

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        wait = min(self.backoff_s * 2 ** (attempt - 1), self.max_backoff_s)
        try:
            return max(wait, min(float(retry_after), self.max_backoff_s)) if retry_after else wait
        except ValueError:  # an HTTP date instead of seconds: keep our own delay
            return wait


_RETRIED_STATUS = {429, 500, 502, 503, 504}


@dataclass
class TciaClient:
    base_url: str = DEFAULT_BASE_URL
    timeout_s: float = 60.0
    retry: RetryPolicy = RetryPolicy()
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def _get(self, endpoint: str, about: str = "", **params: str) -> httpx.Response:
        return self._fetch(f"{self.base_url}/{endpoint}", f"{about}: {endpoint}" if about else endpoint, params)

    def _fetch(self, url: str, what: str, params: dict[str, str], sink: Path | None = None) -> httpx.Response:
        """GET ``url`` with retries on 429/5xx, timeouts and cut connections. With ``sink`` the body
        is streamed to that file (NBIA streams zips chunked, without a Content-Length)."""
        problem = ""
        for attempt in range(1, self.retry.attempts + 1):
            retry_after = None
            try:
                with httpx.stream("GET", url, params=params, timeout=self.timeout_s) as response:
                    if response.status_code == 200:
                        if sink is None:
                            response.read()
                        else:
                            with open(sink, "wb") as out:
                                for chunk in response.iter_bytes(1 << 20):
                                    out.write(chunk)
                        return response
                    problem = f"HTTP {response.status_code}"
                    if response.status_code not in _RETRIED_STATUS:
                        raise TciaError(f"{what}: {problem}")
                    retry_after = response.headers.get("Retry-After")
            except httpx.TimeoutException:
                problem = "timed out"
            except httpx.RemoteProtocolError:
                # The server closed the connection before the body's end (an incomplete chunked
                # stream or fewer bytes than a Content-Length said).
                problem = "the connection closed before the download's end (truncated download)"
            except httpx.HTTPError as error:
                problem = f"request failed ({type(error).__name__})"
            if attempt < self.retry.attempts:
                self.sleep(self.retry.delay(attempt, retry_after))
        attempts = self.retry.attempts
        raise TciaError(f"{what}: {problem} after {attempts} attempt{'s' if attempts > 1 else ''}")

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
        rows = self._json_list("NewPatientsInCollection", Collection=collection, fromDate=nbia_date(since))
        return [str(row.get("PatientId") or row.get("PatientID")) for row in rows
                if row.get("PatientId") or row.get("PatientID")]

    def updated_series(self, collection: str, since: date) -> list[Series]:
        """Series of ``collection`` updated since ``since`` (getUpdatedSeries spans every collection)."""
        rows = self._json_list("getUpdatedSeries", fromDate=nbia_date(since))
        return [Series.from_json(row) for row in rows if row.get("Collection", collection) == collection]

    def changes_since(self, collection: str, since: date | None, modality: str | None = None) -> list[Series]:
        """The series of every patient that is new or has an updated series since ``since``.

        ``None`` lists the whole collection (a first poll). Patients are listed again in full
        with getSeries, because getUpdatedSeries' rows carry fewer fields than getSeries'.
        """
        if since is None:
            return self.series(collection, modality=modality)
        patients = set(self.new_patients(collection, since))
        patients |= {s.patient_id for s in self.updated_series(collection, since) if s.patient_id}
        return [s for patient in sorted(patients) for s in self.series(collection, patient, modality)]

    def collection_release(self, collection: str, listing_url: str = LISTING_URL) -> "CollectionRelease":
        """The current version of ``collection`` in TCIA's public collections listing.

        The listing (TCIA's WordPress API v2, ``/collections/``) answers
        ``{"results": [...], "page": n, "total_pages": m}``; rows carry ``collection_short_title``,
        ``slug``, ``version_number``, ``date_updated`` and ``subjects`` (tcia-utils'
        ``wordpress.getCollections``, ../shared/docs/data-formats.md).
        """
        rows, page = [], 1
        fields = "collection_short_title,slug,version_number,date_updated,subjects"
        while True:
            response = self._fetch(f"{listing_url.rstrip('/')}/collections/", "collections listing",
                                   {"search": collection, "fields": fields, "per_page": "100", "page": str(page)})
            try:
                body = response.json()
            except ValueError:
                raise TciaError("collections listing: the answer is not JSON") from None
            if isinstance(body, list):  # the v1 listing: a bare list
                rows += body
                break
            rows += body.get("results") or []
            if page >= min(int(body.get("total_pages") or 1), 20):  # a search matches a few rows
                break
            page += 1
        wanted = collection.strip().lower()
        for row in rows:
            if wanted in (str(row.get("collection_short_title", "")).lower(), str(row.get("slug", "")).lower()):
                return CollectionRelease.from_json(collection, row)
        raise TciaError(f"collections listing: no collection named {collection!r}")

    def download_series(self, series: Series, landing_dir: Path) -> Path:
        """Download, validate and land one series as ``landing/<patient>/<series uid>/``."""
        patient = _safe_component(series.patient_id, "patient id")
        uid = _safe_component(series.series_uid, "series UID")
        target = Path(landing_dir) / patient / uid
        if target.exists():
            return target
        clean_stale_downloads(target.parent)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = make_temp_dir(target.parent, prefix=staging_prefix())  # group-readable like the cohort
        try:
            # Validated by what the real server guarantees: every entry's CRC, the MD5 of every file
            # (md5hashes.csv) and the image count; a byte count cannot tell, since NBIA deflates.
            archive = staging / ZIP_NAME
            self._fetch(f"{self.base_url}/getImageWithMD5Hash", f"series {uid}: getImageWithMD5Hash",
                        {"SeriesInstanceUID": series.series_uid}, sink=archive)
            count = _extract_dicom_zip(archive, staging, uid)
            archive.unlink()
            if series.image_count and count != series.image_count:
                raise TciaError(f"series {uid}: {count} DICOM files, the API listed {series.image_count}")
            os.replace(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return target


STAGING_PREFIX = ".download-"
# A staging folder lives only while one downloaded zip is extracted (seconds): one this old was
# left by a killed pull or run. Younger ones may belong to a run landing another series now,
# unless their name says they belong to a process of this machine that is gone.
STALE_AFTER_S = 600.0


def staging_prefix() -> str:
    """``.download-<pid>@<host>-``: which process is extracting into the folder."""
    return f"{STAGING_PREFIX}{os.getpid()}@{socket.gethostname()}-"


def _owner_is_gone(folder: Path) -> bool:
    owner = folder.name[len(STAGING_PREFIX):].rsplit("-", 1)[0]
    pid, _, host = owner.partition("@")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's, or an unnamed one: only its age tells
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def clean_stale_downloads(patient_dir: Path, older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """Remove the staging folders of ``patient_dir`` that a killed download left behind: those
    of a process of this machine that no longer runs, and any untouched for ``older_than_s``."""
    if not Path(patient_dir).is_dir():
        return []
    now = time.time()
    removed = []
    for folder in Path(patient_dir).glob(f"{STAGING_PREFIX}*"):
        try:
            newest = max([folder.stat().st_mtime, *(p.stat().st_mtime for p in folder.iterdir())])
        except FileNotFoundError:  # renamed or removed meanwhile by its own run
            continue
        if _owner_is_gone(folder) or now - newest > older_than_s:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def nbia_date(day: date) -> str:
    """NBIA's fromDate format: MM-DD-YYYY."""
    return day.strftime("%m-%d-%Y")


MD5_FILE = "md5hashes.csv"


def _expected_md5(archive: zipfile.ZipFile) -> dict[str, str]:
    if MD5_FILE not in archive.namelist():
        return {}
    text = archive.read(MD5_FILE).decode("utf-8-sig")
    return {row["Filename"]: row["MD5Hash"].strip().lower() for row in csv.DictReader(io.StringIO(text))
            if row.get("Filename") and row.get("MD5Hash")}


ZIP_NAME = "series.zip"  # the download while it is validated, inside the staging folder


def _extract_dicom_zip(path: Path, folder: Path, uid: str) -> int:
    import pydicom

    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise TciaError(f"series {uid}: the download is not a valid zip (truncated download)") from None
    count = 0
    with archive:
        try:
            bad = archive.testzip()
        except (zipfile.BadZipFile, EOFError, OSError):
            bad = "?"
        if bad is not None:
            raise TciaError(f"series {uid}: the zip has a corrupt member ({bad})")
        expected = _expected_md5(archive)
        for member in archive.infolist():
            name = Path(member.filename).name
            if member.is_dir() or not name or name.upper().startswith("LICENSE") or name in (MD5_FILE, ZIP_NAME):
                continue
            data = archive.read(member)
            if expected:
                digest = hashlib.md5(data).hexdigest()
                if member.filename not in expected and name not in expected:
                    raise TciaError(f"series {uid}: {name} is not listed in {MD5_FILE}")
                if digest != expected.get(member.filename, expected.get(name)):
                    raise TciaError(f"series {uid}: {name} has MD5 {digest}, {MD5_FILE} says "
                                    f"{expected.get(member.filename, expected.get(name))} (corrupted download)")
            try:
                pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
            except Exception:  # noqa: BLE001 - pydicom raises several kinds for bad files
                raise TciaError(f"series {uid}: {name} is not readable DICOM") from None
            (folder / name).write_bytes(data)
            count += 1
    if count == 0:
        raise TciaError(f"series {uid}: the zip holds no DICOM files")
    return count
