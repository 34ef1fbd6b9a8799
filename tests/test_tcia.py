"""The TCIA client, the TCIA sensor and the ``tcia_series`` asset against a local server that
answers like the NBIA v4 API (tests/fake_nbia.py, which cites where each response shape comes from)."""

import io
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import pytest

from orchestration.assets.tcia import tcia_series
from orchestration.resources import PipelineResource, TciaResource
from orchestration.sensors import tcia_release_sensor, tcia_sensor
from radiomics_core.files.images import read_image
from radiomics_core.tcia.client import RetryPolicy, Series, TciaClient, TciaError
from tests.fake_nbia import ROOT, FakeNbiaServer, NbiaSeries, NbiaState
from warehouse import queries

PATIENT = "TCGA-02-0003"
STUDY = f"{ROOT}.2.100"
UID = f"{ROOT}.3.101"


def study(patient: str, study_uid: str, first_uid: int, released: date = date(2014, 6, 18)) -> list[NbiaSeries]:
    """A TCGA-GBM-like study: the four structural series under their usual descriptions."""
    descriptions = ["AX T1 POST GD", "AX T1", "AX T2 FSE", "AX FLAIR", "3-PLANE LOC"]
    return [NbiaSeries(patient, study_uid, f"{ROOT}.3.{first_uid + k}", d, released) for k, d in enumerate(descriptions)]


@pytest.fixture()
def nbia():
    state = NbiaState(series=study(PATIENT, STUDY, 101))
    with FakeNbiaServer(state) as base_url:
        yield state, base_url


@pytest.fixture()
def client(nbia):
    return TciaClient(base_url=nbia[1], timeout_s=5, retry=RetryPolicy(attempts=3, backoff_s=0.01))


def first_series(client) -> Series:
    return next(s for s in client.series("TCGA-GBM") if s.series_uid == UID)


def test_series_are_listed_with_extra_fields_tolerated(client, nbia):
    series = first_series(client)
    assert series == Series(UID, PATIENT, "MR", "AX T1 POST GD", 4, series.file_size, STUDY)
    assert nbia[0].requests[0].startswith("/nbia-api/services/v4/getSeries?Collection=TCGA-GBM")


def test_an_empty_body_means_no_new_patients(client, nbia):
    assert client.new_patients("TCGA-GBM", date(2026, 1, 31)) == []
    assert "fromDate=01-31-2026" in nbia[0].requests[0]


def test_changes_since_lists_only_new_and_updated_patients(client, nbia):
    nbia[0].series += study("TCGA-06-0001", f"{ROOT}.2.200", 201, released=date(2026, 3, 2))
    changed = client.changes_since("TCGA-GBM", date(2026, 3, 1), "MR")
    assert {s.patient_id for s in changed} == {"TCGA-06-0001"} and len(changed) == 5
    assert client.changes_since("TCGA-GBM", date(2026, 3, 3), "MR") == []
    assert len(client.changes_since("TCGA-GBM", None, "MR")) == 10  # a first poll: everything


def test_a_series_lands_as_a_readable_dicom_folder(client, tmp_path):
    folder = client.download_series(first_series(client), tmp_path)
    assert folder == tmp_path / PATIENT / UID
    assert sorted(p.name for p in folder.iterdir()) == [f"{k:08d}.dcm" for k in range(1, 5)]
    assert read_image(folder).GetSize() == (16, 16, 4)


def test_429_and_timeouts_are_retried_with_backoff(nbia, tmp_path):
    state, base_url = nbia
    waits = []
    client = TciaClient(base_url=base_url, timeout_s=0.3, retry=RetryPolicy(attempts=3, backoff_s=0.01),
                        sleep=waits.append)
    state.faults[UID] += ["429", "slow"]
    assert client.download_series(first_series(client), tmp_path).is_dir()
    assert len(state.downloads()) == 3 and waits == [0.01, 0.02]


def test_a_server_error_that_persists_names_the_series(client, nbia, tmp_path):
    nbia[0].faults[UID] += ["500"] * 3
    with pytest.raises(TciaError, match=f"series {UID}: getImageWithMD5Hash: HTTP 500 after 3 attempts"):
        client.download_series(first_series(client), tmp_path)
    assert not (tmp_path / PATIENT).exists() or list((tmp_path / PATIENT).iterdir()) == []


def test_a_deflated_segmentation_far_smaller_than_its_dicom_file_lands(client, nbia, tmp_path):
    # NBIA deflates its zips, and a DICOM-SEG (bit-packed, mostly zero) shrinks most: a byte-count
    # check against FileSize (the DICOM files' sum) would call this healthy download truncated.
    import zipfile

    from tests.fake_nbia import series_zip

    seg = NbiaSeries(PATIENT, STUDY, f"{ROOT}.3.199", "tumor segmentation", modality="SEG",
                     source=(UID, "AX T1 POST GD"))
    nbia[0].series.append(seg)
    listed = next(s for s in client.series("TCGA-GBM") if s.series_uid == seg.series_uid)
    payload = series_zip(seg.files())
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        assert {m.compress_type for m in archive.infolist()} == {zipfile.ZIP_DEFLATED}
    assert len(payload) < 0.5 * listed.file_size
    assert len(list(client.download_series(listed, tmp_path).glob("*.dcm"))) == 1


def test_a_stream_cut_once_is_downloaded_again(client, nbia, tmp_path):
    nbia[0].faults[UID].append("truncate")
    assert len(list(client.download_series(first_series(client), tmp_path).glob("*.dcm"))) == 4
    assert len(nbia[0].downloads()) == 2


def test_a_stream_cut_every_time_fails_the_series_with_nothing_landed(client, nbia, tmp_path):
    nbia[0].faults[UID] += ["truncate"] * 3
    with pytest.raises(TciaError, match=f"series {UID}: .*truncated download.* after 3 attempts"):
        client.download_series(first_series(client), tmp_path)
    assert list(tmp_path.rglob("*.dcm")) == [] and list(tmp_path.rglob("*.zip")) == []


def test_a_zip_with_a_corrupted_entry_fails_the_series_by_uid_with_nothing_half_written(client, nbia, tmp_path):
    nbia[0].faults[UID].append("corrupt")
    with pytest.raises(TciaError, match=f"series {UID}: the zip has a corrupt member \\(00000001.dcm\\)"):
        client.download_series(first_series(client), tmp_path)
    assert list(tmp_path.rglob("*")) in ([], [tmp_path / PATIENT])  # no staging folder, no file


def test_a_get_image_zip_with_its_license_first_and_new_file_names_is_read(nbia, tmp_path):
    from radiomics_core.tcia.client import _extract_dicom_zip
    from tests.fake_nbia import series_zip

    archive = tmp_path / "getImage.zip"
    archive.write_bytes(series_zip(nbia[0].series[0].files(), license_first=True, new_file_names=True))
    (tmp_path / "out").mkdir()
    assert _extract_dicom_zip(archive, tmp_path / "out", UID) == 4
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"1-{k:02d}.dcm" for k in range(1, 5)]


def test_a_wrong_md5_is_refused(client, nbia, tmp_path):
    nbia[0].faults[UID].append("bad-md5")
    with pytest.raises(TciaError, match=f"series {UID}: 00000001.dcm has MD5 .*corrupted download"):
        client.download_series(first_series(client), tmp_path)
    assert list(tmp_path.rglob("*")) in ([], [tmp_path / PATIENT])  # the staging folder is gone


def test_a_missing_image_is_refused(client, tmp_path):
    listed = first_series(client)
    with pytest.raises(TciaError, match="4 DICOM files, the API listed 5"):
        client.download_series(Series(UID, PATIENT, "MR", "", 5, None), tmp_path)
    assert listed.image_count == 4


def test_ids_that_would_escape_the_landing_folder_are_refused(client, tmp_path):
    with pytest.raises(TciaError, match="safe folder name"):
        client.download_series(Series(UID, "../../etc", "MR", "", 4, None), tmp_path)


def test_http_errors_are_reported(client):
    with pytest.raises(TciaError, match="HTTP 400"):
        client._get("getSeries", Collection="X", Bogus="1")


# --- the sensor and the asset on a real instance -------------------------------------------------

def resources(tcia: TciaResource) -> dict:
    """The TCIA resource and the pipeline's, whose warehouse sits beside the landing folder."""
    data_dir = Path(tcia.landing_dir).parent / f"{Path(tcia.landing_dir).name}-data"
    return {"tcia": tcia, "pipeline": PipelineResource(cohort_dir=tcia.cohort_dir or str(data_dir), data_dir=str(data_dir))}


def poll(instance, tcia, cursor):
    """One sensor tick, applied as the daemon would: partitions added, runs materialized."""
    result = tcia_sensor(dg.build_sensor_context(instance=instance, cursor=cursor, resources={"tcia": tcia}))
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    runs = {}
    for request in result.run_requests or []:
        runs[request.partition_key] = dg.materialize(
            [tcia_series], instance=instance, partition_key=request.partition_key, resources=resources(tcia),
            run_config=request.run_config, raise_on_error=False)
    return result, runs


def _series_metadata(run) -> dict:
    """The tcia_series materialization's metadata (the run also reports the warehouse tables it wrote)."""
    [event] = [e for e in run.get_asset_materialization_events() if e.asset_key == dg.AssetKey("tcia_series")]
    return event.materialization.metadata


def failure_message(run) -> str:
    failures = [e for e in run.all_events if e.is_step_failure]
    data = failures[0].step_failure_data
    return data.user_failure_data.description if data.user_failure_data else data.error.message


def test_the_sensor_requests_new_series_once_and_runs_download_them(nbia, tmp_path):
    state, base_url = nbia
    tcia = TciaResource(base_url=base_url, collection="TCGA-GBM", landing_dir=str(tmp_path),
                        retry_attempts=2, backoff_s=0.01)
    today = datetime.now(timezone.utc).date()
    with dg.instance_for_test() as instance:
        first, runs = poll(instance, tcia, None)
        assert sorted(runs) == sorted(s.series_uid for s in state.series if s.description != "3-PLANE LOC")
        assert all(run.success for run in runs.values()) and first.cursor == today.isoformat()
        assert len(state.downloads()) == 4 and "NewPatientsInCollection" not in "".join(state.requests)

        # A new patient on the second poll; one of its series fails each way, once.
        state.series += study("TCGA-06-0001", f"{ROOT}.2.200", 201, released=today)
        uids = [f"{ROOT}.3.{k}" for k in range(201, 205)]
        state.faults[uids[0]].append("429")
        state.faults[uids[1]] += ["500", "500"]
        state.faults[uids[2]] += ["truncate", "truncate"]
        state.faults[uids[3]].append("bad-md5")
        state.requests.clear()
        second, runs = poll(instance, tcia, first.cursor)
        assert f"fromDate={today - timedelta(days=1):%m-%d-%Y}" in state.requests[0]
        assert sorted(runs) == uids and runs[uids[0]].success
        assert "HTTP 500 after 2 attempts" in failure_message(runs[uids[1]])
        assert "truncated download" in failure_message(runs[uids[2]])
        assert "has MD5" in failure_message(runs[uids[3]])
        for uid in uids[1:]:
            assert f"series {uid}" in failure_message(runs[uid])
            assert not (tmp_path / "TCGA-06-0001" / uid).exists()

        state.requests.clear()
        third, runs = poll(instance, tcia, second.cursor)
        assert runs == {} and not third.dynamic_partitions_requests and state.downloads() == []
        assert "no new series" in third.skip_reason.skip_message

        # Rerunning a failed partition (as from the UI) lands it; landed series are untouched.
        landed = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.dcm")}
        rerun = dg.materialize([tcia_series], instance=instance, partition_key=uids[3], resources=resources(tcia),
                               run_config=second.run_requests[3].run_config)
        assert rerun.success
        assert all(p.stat().st_mtime_ns == t for p, t in landed.items()) and len(landed) == 5 * 4
        assert len(list((tmp_path / "TCGA-06-0001" / uids[3]).glob("*.dcm"))) == 4
        assert not list(tmp_path.rglob(".download-*"))


def test_a_failed_poll_keeps_the_cursor(tmp_path):
    tcia = TciaResource(base_url="http://127.0.0.1:9/nbia-api/services/v4", landing_dir=str(tmp_path),
                        retry_attempts=1, timeout_s=1)
    with dg.instance_for_test() as instance:
        result = tcia_sensor(dg.build_sensor_context(instance=instance, cursor="2026-03-01", resources={"tcia": tcia}))
    assert result.cursor is None and "NBIA did not answer" in result.skip_reason.skip_message


def test_the_last_series_of_a_segmented_patient_lands_the_case(nbia, tmp_path):
    import SimpleITK as sitk

    from radiomics_core.cohorts.layouts import read_cohort
    from radiomics_core.tcia.dicom_cases import series_volume

    state, base_url = nbia
    cohort, segs = tmp_path / "cohort", tmp_path / "segs"
    tcia = TciaResource(base_url=base_url, landing_dir=str(tmp_path / "landing"), cohort_dir=str(cohort),
                        segmentation_dir=str(segs), retry_attempts=1)
    with dg.instance_for_test() as instance:
        first, runs = poll(instance, tcia, None)
        case = {uid: _series_metadata(run)["case"].value for uid, run in runs.items()}
        assert case[UID] == f"{PATIENT}: not complete yet, no series for T1, T2, FLAIR"
        assert case[f"{ROOT}.3.104"].startswith(f"{PATIENT}: waiting for segmentation")
        # Waiting is a case issue of its own severity, not a failure.
        warehouse = resources(tcia)["pipeline"].warehouse()
        [waiting] = queries.table(warehouse.root, "case_issues").to_dict("records")
        assert (waiting["patient_id"], waiting["stage"], waiting["severity"], waiting["kind"]) == \
            (PATIENT, "tcia", "waiting", "missing_segmentation")
        assert waiting["message"].startswith("waiting for segmentation") and waiting["path"] == str(segs)
        segs.mkdir()
        sitk.WriteImage(sitk.Cast(series_volume(tmp_path / "landing" / PATIENT / UID) > 500, sitk.sitkUInt8) * 2,
                        str(segs / f"{PATIENT}.nii.gz"))
        # The next tick sees the dropped segmentation and reruns one landed series of the patient.
        second, runs = poll(instance, tcia, first.cursor)
        [rerun] = runs.values()
        assert second.run_requests[0].run_key.startswith(f"tcia-seg-{PATIENT}-{PATIENT}.nii.gz-")
        assert _series_metadata(rerun)["case"].value == \
            f"{PATIENT}: landed (4 sequences)"
        third, runs = poll(instance, tcia, second.cursor)  # landed: nothing more to ask
        assert runs == {} and "no new series" in third.skip_reason.skip_message
    assert [c.patient_id for c in read_cohort(cohort).cases] == [PATIENT]
    assert len(state.downloads()) == 4  # the rerun found the series landed
    assert queries.table(warehouse.root, "case_issues").empty  # landed: no longer waiting


# --- a package-only collection's versions (TCIA's collections listing) -----------------------

def listing_rows(version: str, updated: str) -> list[dict]:
    """Rows as the listing returns them; the search also matches other collections' rows."""
    return [{"id": 1, "slug": "ucsf-pdgm-v4", "collection_short_title": "UCSF-PDGM-v4", "version_number": "1",
             "date_updated": "2023-01-10", "subjects": 10},
            {"id": 2, "slug": "tcga-gbm", "collection_short_title": "TCGA-GBM", "version_number": "4",
             "date_updated": "2020-05-29", "subjects": 262, "collection_summary": "Glioblastoma; see also UCSF-PDGM."},
            {"id": 3, "slug": "ucsf-pdgm", "collection_short_title": "UCSF-PDGM", "version_number": version,
             "date_updated": updated, "subjects": "495"}]


def test_a_new_collection_version_is_reported_once_as_an_observation(nbia):
    state, base_url = nbia
    state.collections = listing_rows("4", "2023-09-20")
    tcia = TciaResource(listing_url=base_url.replace("/nbia-api/services/v4", "/api/v2"), release_collection="UCSF-PDGM",
                        retry_attempts=1)
    with dg.instance_for_test() as instance:
        def tick(cursor):
            result = tcia_release_sensor(dg.build_sensor_context(instance=instance, cursor=cursor, resources={"tcia": tcia}))
            for event in result.asset_events:  # as the daemon records them
                instance.report_runless_asset_event(event)
            return result

        first = tick(None)
        [seen] = first.asset_events
        assert isinstance(seen, dg.AssetObservation) and seen.asset_key == dg.AssetKey("tcia_collection_release")
        assert {k: v.value for k, v in seen.metadata.items()} == {
            "collection": "UCSF-PDGM", "version": "4", "date_updated": "2023-09-20", "subjects": 495,
            "previous_version": "none seen"}
        assert first.cursor == "4"
        assert sum("page=2" in r for r in state.requests) == 1  # the matching row is on the second page

        unchanged = tick(first.cursor)
        assert not unchanged.asset_events and unchanged.cursor is None
        assert "UCSF-PDGM is still version 4" in unchanged.skip_reason.skip_message

        state.collections = listing_rows("5", "2026-11-02")
        newer = tick(unchanged.cursor or first.cursor)
        assert newer.cursor == "5" and newer.asset_events[0].metadata["previous_version"].value == "4"
        records = instance.fetch_observations(dg.AssetKey("tcia_collection_release"), limit=10).records
        assert [r.asset_observation.metadata["version"].value for r in records] == ["5", "4"]


def test_a_collection_missing_from_the_listing_is_said_so(nbia):
    state, base_url = nbia
    state.collections = listing_rows("4", "2023-09-20")[:2]
    tcia = TciaResource(listing_url=base_url.replace("/nbia-api/services/v4", "/api/v2"), retry_attempts=1)
    with dg.instance_for_test() as instance:
        result = tcia_release_sensor(dg.build_sensor_context(instance=instance, resources={"tcia": tcia}))
    assert not result.asset_events and result.cursor is None
    assert "no collection named 'UCSF-PDGM'" in result.skip_reason.skip_message
