"""A local HTTP server that answers like TCIA's NBIA REST API v4, with faults on demand.

Response shapes follow the real API as public client code records it:
- ``getSeries`` rows (SeriesInstanceUID, StudyInstanceUID, Modality, SeriesDescription,
  PatientID, Collection, ImageCount, FileSize, DateReleased, ...) and the rule that unknown query
  parameters get HTTP 400: tcia-utils 3.3.5 ``nbia.getSeries`` and ../shared/docs/data-formats.md.
- ``NewPatientsInCollection?Collection=&fromDate=MM-DD-YYYY`` rows with ``PatientId`` (lower-case
  d) and ``getUpdatedSeries?fromDate=MM-DD-YYYY``; an empty result is HTTP 200 with an empty body:
  tcia-utils 3.3.5 ``nbia.getNewPatientsInCollection`` / ``getUpdatedSeries``. The rows of
  getUpdatedSeries are served in getSeries' shape; the client reads only SeriesInstanceUID,
  PatientID and Collection from them, then asks getSeries again.
- ``getImageWithMD5Hash?SeriesInstanceUID=``: a zip of ``00000001.dcm``... plus ``md5hashes.csv``
  with the header ``Filename,MD5Hash``, as NBIA's own service writes it (the NBIA server's
  GetImageWithMD5Hash resource; MONAI's ``download_tcia_series_instance`` reads the same file).

The same server answers TCIA's public collections listing (``/api/v2/collections/``, the
WordPress API v2 that tcia-utils' ``wordpress.getCollections`` reads): ``{"results": [...],
"page", "total_pages"}`` with rows carrying ``collection_short_title``, ``slug``,
``version_number``, ``date_updated`` and ``subjects`` (../shared/docs/data-formats.md), two rows
a page so paging is exercised.

DICOM files are written by SimpleITK from a small phantom; a DICOM-SEG series (Modality ``SEG``,
one multi-frame file, as TCIA serves segmentations) is written by highdicom from the phantom's
tumor labels (``phantom_labels``) with the study's T1c series as its source images. Faults are queued per series UID and
consumed one per request: ``"429"``, ``"500"``, ``"truncate"`` (the stream stops two thirds in),
``"corrupt"`` (a flipped byte inside a deflated entry), ``"bad-md5"``, ``"slow"``.

Zips are built the way the real server builds them (CBIIT/NBIA-TCIA, ``V4_getImageWithMD5Hash``
and ``V4_getImage``): Java's ``ZipOutputStream`` (DEFLATED entries) streamed chunked without a
Content-Length; ``getImage`` puts a LICENSE entry first and names files as ``NewFileNames=Yes``
asks.
"""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
import threading
import time
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import SimpleITK as sitk

COLLECTION = "TCGA-GBM"
ROOT = "1.3.6.1.4.1.14519.5.2.1"


@lru_cache(maxsize=64)
def dicom_files(patient_id: str, study_uid: str, series_uid: str, description: str, slices: int = 4,
                size: int = 16, seed: int = 0) -> tuple[tuple[str, bytes], ...]:
    """One MR series of a tiny phantom (a bright ball) as DICOM files named like NBIA's zip."""
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[:slices, :size, :size]
    ball = ((z - slices / 2) ** 2 * 9 + (y - size / 2) ** 2 + (x - size / 2) ** 2) < (size / 3) ** 2
    volume = (200 + 400 * ball + rng.normal(0, 10, ball.shape)).astype(np.int16)
    image = sitk.GetImageFromArray(volume)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    files = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(slices):
            sl = image[:, :, k]
            tags = {"0010|0020": patient_id, "0020|000d": study_uid, "0020|000e": series_uid,
                    "0008|0018": f"{series_uid}.{k + 1}", "0008|0060": "MR", "0008|103e": description,
                    "0020|0013": str(k + 1), "0020|0032": f"0\\0\\{3.0 * k}", "0020|0037": "1\\0\\0\\0\\1\\0",
                    "0028|0030": "1\\1", "0018|0050": "3", "0020|0052": f"{study_uid}.0"}
            for tag, value in tags.items():
                sl.SetMetaData(tag, value)
            path = Path(tmp) / f"{k + 1:08d}.dcm"
            writer.SetFileName(str(path))
            writer.Execute(sl)
            files.append((path.name, path.read_bytes()))
    return tuple(files)


def phantom_labels(slices: int = 4, size: int = 16) -> np.ndarray:
    """The phantom's tumor in BraTS legacy labels: a necrotic core (1) in an enhancing shell (4)
    in edema (2), centred on the bright ball of ``dicom_files``."""
    z, y, x = np.mgrid[:slices, :size, :size]
    r2 = (z - slices / 2) ** 2 * 9 + (y - size / 2) ** 2 + (x - size / 2) ** 2
    labels = np.zeros(r2.shape, np.uint8)
    labels[r2 < 7 ** 2] = 2
    labels[r2 < (size / 3) ** 2] = 4
    labels[r2 < 3 ** 2] = 1
    return labels


SEGMENTS = ((1, "Necrosis"), (2, "Peritumoral edema"), (4, "Enhancing tumor"))


@lru_cache(maxsize=16)
def seg_files(patient_id: str, study_uid: str, source_uid: str, source_description: str, seg_uid: str,
              slices: int = 4, segments: tuple[tuple[int, str], ...] = SEGMENTS) -> tuple[tuple[str, bytes], ...]:
    """A DICOM-SEG of the phantom's labels drawn on the series ``source_uid``, one segment per label."""
    import highdicom as hd
    import pydicom
    from pydicom.sr.codedict import codes

    source = [pydicom.dcmread(io.BytesIO(data)) for _, data in
              dicom_files(patient_id, study_uid, source_uid, source_description, slices)]
    source.sort(key=lambda ds: float(ds.ImagePositionPatient[2]))
    labels = phantom_labels(slices)
    segment_array = np.zeros_like(labels)
    for number, (label, _) in enumerate(segments, start=1):
        segment_array[labels == label] = number
    descriptions = [hd.seg.SegmentDescription(number, name, codes.SCT.MorphologicallyAbnormalStructure,
                                              codes.SCT.Neoplasm, "MANUAL")
                    for number, (_, name) in enumerate(segments, start=1)]
    seg = hd.seg.Segmentation(source_images=source, pixel_array=segment_array, segmentation_type="BINARY",
                              segment_descriptions=descriptions, series_instance_uid=seg_uid, series_number=300,
                              sop_instance_uid=f"{seg_uid}.1", instance_number=1, manufacturer="fake_nbia",
                              manufacturer_model_name="phantom", software_versions="1", device_serial_number="1",
                              series_description="Segmentation")
    buffer = io.BytesIO()
    seg.save_as(buffer)
    return (("00000001.dcm", buffer.getvalue()),)


def series_zip(files, corrupt_member: bool = False, bad_md5: bool = False, md5: bool = True,
               license_first: bool = False, new_file_names: bool = False) -> bytes:
    """A series zip as NBIA's ``ZipOutputStream`` writes it: every entry DEFLATED (Java's
    default), ``md5hashes.csv`` last. ``getImage`` puts a LICENSE entry first and, with
    ``NewFileNames=Yes``, names files by ``getNewFilename`` ("1-01.dcm") instead of "%08d.dcm".
    ``corrupt_member`` flips a byte inside the first file's compressed data (its CRC then fails)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        if license_first:
            archive.writestr("LICENSE", "Creative Commons Attribution 3.0 Unported License")
        lines = ["Filename,MD5Hash"]
        for k, (name, data) in enumerate(files):
            name = f"1-{k + 1:02d}.dcm" if new_file_names else name
            archive.writestr(name, data)
            digest = hashlib.md5(data).hexdigest()
            lines.append(f"{name},{'0' * 32 if bad_md5 and k == 0 else digest}")
        if md5:
            archive.writestr("md5hashes.csv", "\n".join(lines) + "\n")
    payload = buffer.getvalue()
    if corrupt_member:
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            first = archive.infolist()[1 if license_first else 0]
        # The local header is 30 bytes plus the name and extra field; the data follows.
        start = first.header_offset + 30 + len(first.filename.encode()) + len(first.extra)
        middle = start + first.compress_size // 2
        payload = payload[:middle] + bytes([payload[middle] ^ 0xFF]) + payload[middle + 1:]
    return payload


@dataclass
class NbiaSeries:
    patient_id: str
    study_uid: str
    series_uid: str
    description: str
    released: date = date(2014, 6, 18)
    slices: int = 4
    modality: str = "MR"
    source: tuple[str, str] = ()  # a SEG's source series: (series UID, description)

    def files(self):
        if self.modality == "SEG":
            return seg_files(self.patient_id, self.study_uid, *self.source, self.series_uid, self.slices)
        return dicom_files(self.patient_id, self.study_uid, self.series_uid, self.description, self.slices)

    def row(self) -> dict:
        return {"SeriesInstanceUID": self.series_uid, "StudyInstanceUID": self.study_uid, "Modality": self.modality,
                "ProtocolName": self.description, "SeriesDate": "1997-06-19", "SeriesDescription": self.description,
                "BodyPartExamined": "BRAIN", "SeriesNumber": "5", "Collection": COLLECTION, "PatientID": self.patient_id,
                "Manufacturer": "GE MEDICAL SYSTEMS", "ImageCount": len(self.files()),
                "TimeStamp": f"{self.released:%Y-%m-%d} 00:00:00.0", "LicenseName": "Creative Commons Attribution 3.0 Unported License",
                "FileSize": sum(len(d) for _, d in self.files()), "DateReleased": f"{self.released:%Y-%m-%d} 00:00:00.0"}


@dataclass
class NbiaState:
    series: list[NbiaSeries] = field(default_factory=list)
    faults: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    requests: list[str] = field(default_factory=list)
    collections: list[dict] = field(default_factory=list)  # rows of the collections listing

    def downloads(self) -> list[str]:
        return [r for r in self.requests if "getImage" in r]


def _from_date(query: dict) -> date:
    return datetime.strptime(query["fromDate"], "%m-%d-%Y").date()


def handler_for(state: NbiaState):
    class FakeNbia(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # chunked transfer encoding, as the real server streams zips

        def do_GET(self):  # noqa: N802 - http.server's name
            url = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            state.requests.append(self.path)
            endpoint = url.path.rsplit("/", 1)[-1]
            if url.path.rstrip("/").endswith("/api/v2/collections"):
                return self._listing(query)
            if endpoint == "getSeries":
                if set(query) - {"Collection", "PatientID", "StudyInstanceUID", "Modality"}:
                    return self._send(400, b"bad parameter")
                rows = [s.row() for s in state.series if query.get("PatientID") in (None, s.patient_id)
                        and query.get("Modality") in (None, s.modality)]
                return self._json(rows)
            if endpoint == "NewPatientsInCollection":
                since = _from_date(query)
                first = {}
                for s in state.series:
                    first[s.patient_id] = min(first.get(s.patient_id, s.released), s.released)
                return self._json([{"PatientId": p, "PatientName": p, "PatientSex": "M", "Collection": COLLECTION}
                                   for p, day in sorted(first.items()) if day >= since])
            if endpoint == "getUpdatedSeries":
                since = _from_date(query)
                return self._json([s.row() for s in state.series if s.released >= since])
            if endpoint in ("getImage", "getImageWithMD5Hash"):
                match = [s for s in state.series if s.series_uid == query.get("SeriesInstanceUID")]
                if not match:
                    return self._send(404, b"")
                fault = state.faults[match[0].series_uid].pop(0) if state.faults[match[0].series_uid] else ""
                if fault in ("429", "500"):
                    return self._send(int(fault), b"", headers={"Retry-After": "0"} if fault == "429" else {})
                if fault == "slow":
                    time.sleep(1.0)
                md5 = endpoint == "getImageWithMD5Hash" or query.get("IncludeMD5", "").lower() == "yes"
                payload = series_zip(match[0].files(), bad_md5=fault == "bad-md5", md5=md5,
                                     corrupt_member=fault == "corrupt", license_first=endpoint == "getImage",
                                     new_file_names=query.get("NewFileNames", "").lower() == "yes")
                return self._stream(payload, stop_at=len(payload) * 2 // 3 if fault == "truncate" else None)
            return self._send(404, b"")

        def _listing(self, query, per_page=2):
            words = query.get("search", "").lower()
            rows = [r for r in state.collections if words in json.dumps(r).lower()]
            page = int(query.get("page", "1"))
            pages = max(1, -(-len(rows) // per_page))
            body = {"results": rows[(page - 1) * per_page: page * per_page], "page": page,
                    "total_pages": pages, "total": len(rows)}
            return self._send(200, json.dumps(body).encode())

        def _json(self, rows):
            # The API's empty answer is HTTP 200 with an empty body, not "[]".
            return self._send(200, json.dumps(rows).encode() if rows else b"")

        def _stream(self, payload: bytes, stop_at: int | None = None, chunk: int = 8192):
            """The zip as NBIA's StreamingOutput sends it: chunked, no Content-Length. ``stop_at``:
            the connection closes after that many bytes, without the final chunk."""
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                end = len(payload) if stop_at is None else stop_at
                for start in range(0, end, chunk):
                    part = payload[start:min(start + chunk, end)]
                    self.wfile.write(f"{len(part):X}\r\n".encode() + part + b"\r\n")
                if stop_at is None:
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.close_connection = True
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass

        def _send(self, status, body, kind="application/json", headers=None):
            try:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                pass

        def log_message(self, *args):
            pass

    return FakeNbia


class FakeNbiaServer:
    """``with FakeNbiaServer(state) as base_url:`` serves on 127.0.0.1 only."""

    def __init__(self, state: NbiaState):
        self.state = state
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(state))

    def __enter__(self) -> str:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_port}/nbia-api/services/v4"

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
