"""The TCIA client against a local HTTP server that answers like the NBIA v4 API."""

import io
import json
import threading
import zipfile
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
import SimpleITK as sitk

from radiomics_core.imageio import read_image
from radiomics_core.tcia import Series, TciaClient, TciaError

UID = "1.3.6.1.4.1.14519.5.2.1.1"


def dicom_zip(slices: int = 4, corrupt_member: bool = False) -> bytes:
    buffer = io.BytesIO()
    image = sitk.GetImageFromArray(np.arange(slices * 16 * 16, dtype=np.int16).reshape(slices, 16, 16))
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    with zipfile.ZipFile(buffer, "w") as archive:
        import tempfile
        from pathlib import Path
        with tempfile.TemporaryDirectory() as tmp:
            for k in range(slices):
                sl = image[:, :, k]
                for tag, value in {"0020|000e": UID, "0020|0013": str(k + 1), "0008|0060": "MR",
                                   "0020|0032": f"0\\0\\{k}", "0020|0037": "1\\0\\0\\0\\1\\0"}.items():
                    sl.SetMetaData(tag, value)
                path = Path(tmp) / f"1-{k + 1:02d}.dcm"
                writer.SetFileName(str(path))
                writer.Execute(sl)
                archive.writestr(path.name, b"not dicom" if corrupt_member and k == 0 else path.read_bytes())
        archive.writestr("LICENSE", "CC BY 4.0")
    return buffer.getvalue()


class FakeNbia(BaseHTTPRequestHandler):
    """Answers getSeries, NewPatientsInCollection and getImage like the real API."""

    series = [{"SeriesInstanceUID": UID, "PatientID": "TCGA-02-0003", "Modality": "MR",
               "SeriesDescription": "AX T1 POST", "ImageCount": 4, "FileSize": 1000, "Extra": "ignored"}]
    payload = b""
    requests: list[str] = []

    def do_GET(self):  # noqa: N802 - http.server's name
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        FakeNbia.requests.append(self.path)
        endpoint = url.path.rsplit("/", 1)[-1]
        if endpoint == "getSeries":
            if set(query) - {"Collection", "PatientID", "Modality"}:
                return self._send(400, b"bad parameter")
            rows = [s for s in self.series if query.get("PatientID") in (None, s["PatientID"])]
            return self._send(200, json.dumps(rows).encode())
        if endpoint == "NewPatientsInCollection":
            return self._send(200, b"")  # the API's empty answer: 200 with an empty body
        if endpoint == "getImage" and query.get("SeriesInstanceUID") == UID:
            return self._send(200, FakeNbia.payload, "application/zip")
        return self._send(404, b"")

    def _send(self, status, body, kind="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture()
def client():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeNbia)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeNbia.payload = dicom_zip()
    FakeNbia.requests = []
    yield TciaClient(base_url=f"http://127.0.0.1:{server.server_port}/nbia-api/services/v4", timeout_s=5)
    server.shutdown()


def test_series_are_listed_with_extra_fields_tolerated(client):
    series = client.series("TCGA-GBM", modality="MR")
    assert series == [Series(UID, "TCGA-02-0003", "MR", "AX T1 POST", 4, 1000)]
    assert FakeNbia.requests[0].startswith("/nbia-api/services/v4/getSeries?Collection=TCGA-GBM")


def test_an_empty_body_means_no_new_patients(client):
    assert client.new_patients("TCGA-GBM", date(2026, 1, 31)) == []
    assert "fromDate=01-31-2026" in FakeNbia.requests[0]


def test_a_series_lands_as_a_readable_dicom_folder(client, tmp_path):
    folder = client.download_series(client.series("TCGA-GBM")[0], tmp_path)
    assert folder == tmp_path / "TCGA-02-0003" / UID
    assert sorted(p.name for p in folder.iterdir()) == [f"1-0{k}.dcm" for k in range(1, 5)]
    assert read_image(folder).GetSize() == (16, 16, 4)


def test_a_truncated_download_is_not_landed(client, tmp_path):
    FakeNbia.payload = dicom_zip()[:300]
    with pytest.raises(TciaError, match="not a valid zip|bytes"):
        client.download_series(client.series("TCGA-GBM")[0], tmp_path)
    assert list(tmp_path.rglob("*.dcm")) == []


def test_a_non_dicom_member_is_refused(client, tmp_path):
    FakeNbia.payload = dicom_zip(corrupt_member=True)
    with pytest.raises(TciaError, match="not readable DICOM"):
        client.download_series(client.series("TCGA-GBM")[0], tmp_path)
    assert list(tmp_path.rglob("*.dcm")) == []  # the staging folder is gone


def test_a_missing_image_is_refused(client, tmp_path):
    FakeNbia.payload = dicom_zip(slices=3)
    with pytest.raises(TciaError, match="3 DICOM files, the API listed 4"):
        client.download_series(client.series("TCGA-GBM")[0], tmp_path)


def test_ids_that_would_escape_the_landing_folder_are_refused(client, tmp_path):
    with pytest.raises(TciaError, match="safe folder name"):
        client.download_series(Series(UID, "../../etc", "MR", "", 4, None), tmp_path)


def test_http_errors_are_reported(client):
    with pytest.raises(TciaError, match="HTTP 400"):
        client._get("getSeries", Collection="X", Bogus="1")


def test_the_poller_sensor_lands_new_series_once(client, tmp_path):
    import dagster as dg

    from orchestration.resources import TciaResource
    from orchestration.sensors import tcia_poller

    tcia = TciaResource(base_url=client.base_url, collection="TCGA-GBM", landing_dir=str(tmp_path))
    with dg.DagsterInstance.ephemeral() as instance:
        first = tcia_poller(dg.build_sensor_context(instance=instance, resources={"tcia": tcia}))
        second = tcia_poller(dg.build_sensor_context(instance=instance, resources={"tcia": tcia}))
    assert "1 new series landed" in first.skip_message
    assert "0 new series landed" in second.skip_message
    assert len(list((tmp_path / "TCGA-02-0003" / UID).glob("*.dcm"))) == 4
