"""The path users take through the Dagster UI, with the real ``glioma-rings dev``: its daemon picks
up a case dropped into the cohort, and a patient that the TCIA sensor (started like the UI's
toggle, pointed at a local NBIA-like server, tests/fake_nbia.py) finds on its second poll, and
materializes both through to the models without any call from the test; a later poll downloads
nothing; a backfill launched through the webserver's GraphQL API (what the UI's Materialize
button sends) brings a patient's rings up to date; SIGTERM stops every child and frees the ports.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import httpx
import pytest

from orchestration.resources import PipelineResource, settings_path
from radiomics_core.cohorts.synthetic import DemoPatient, write_metadata_csv
from tests.builders import demo_patient, write_ucsf_case, write_ucsf_cohort
from tests.fake_nbia import ROOT, FakeNbiaServer, NbiaSeries, NbiaState
from warehouse import queries

pytestmark = pytest.mark.slow
NEW = "UCSF-PDGM-0011"
TCIA_PATIENT = "TCGA-06-0001"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, timeout_s: float, what: str, every_s: float = 2.0):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def webserver_up(url: str) -> bool:
    """Whether the Dagster webserver at ``url`` answers."""
    try:
        return httpx.get(f"{url}/server_info", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def stop_dev(process: subprocess.Popen) -> None:
    """SIGTERM ``glioma-rings dev``; its process group is killed if it has not stopped within a minute."""
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def tcia_study(patient: str, number: int, released=None) -> list[NbiaSeries]:
    """The four structural series, a localizer and a DICOM-SEG drawn on the T1c series."""
    from datetime import date

    released = released or date(2014, 6, 18)
    study = f"{ROOT}.2.{number}"
    series = [NbiaSeries(patient, study, f"{ROOT}.3.{number}{k}", d, released)
              for k, d in enumerate(["AX T1 POST GD", "AX T1", "AX T2 FSE", "AX FLAIR", "3-PLANE LOC"])]
    return [*series, NbiaSeries(patient, study, f"{ROOT}.4.{number}", "Segmentation", released, modality="SEG",
                                source=(series[0].series_uid, series[0].description))]


@pytest.fixture(scope="module")
def nbia():
    state = NbiaState()  # the collection is empty until the test adds a patient
    with FakeNbiaServer(state) as base_url:
        yield state, base_url


@pytest.fixture(scope="module")
def dev(tmp_path_factory, nbia):
    root = tmp_path_factory.mktemp("ui")
    cohort, data, home = write_ucsf_cohort(root / "cohort", n=10), root / "data", root / "home"
    # The TCIA sensor (stopped until a test starts it) polls the local server every few seconds
    # and lands complete cases where it does by default: manifest rows of the pipeline's cohort.
    env = {**os.environ, "DAGSTER_HOME": str(home), "GLIOMA_RINGS_TCIA_BASE_URL": nbia[1],
           "GLIOMA_RINGS_TCIA_POLL_SECONDS": "5"}
    for name in ("GLIOMA_RINGS_TCIA_COHORT", "GLIOMA_RINGS_TCIA_SEGMENTATIONS"):
        env.pop(name, None)
    cli = [sys.executable, "-m", "cli"]
    subprocess.run([*cli, "run", str(cohort), "--data-dir", str(data), "--params", "demo", "--rings", "1",
                    "--task", "grade", "--workers", "2", "--in-process"], env=env, check=True, capture_output=True, timeout=600)
    ports = {"dagster": _free_port(), "dashboard": _free_port()}
    log = open(root / "dev.log", "w", encoding="utf-8")
    # The dashboard on every interface (--no-auth accepts the risk); the Dagster UI must stay on loopback.
    process = subprocess.Popen([*cli, "dev", str(cohort), "--data-dir", str(data), "--host", "0.0.0.0", "--no-auth",
                                "--dagster-port", str(ports["dagster"]), "--dashboard-port", str(ports["dashboard"])],
                               env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{ports['dagster']}"
    try:
        _wait(lambda: webserver_up(url), 180, "the Dagster webserver")
        yield {"process": process, "ports": ports, "url": url, "cohort": cohort, "data": data, "home": home,
               "pipeline": PipelineResource.load(settings_path(data))}
    finally:
        if process.poll() is None:  # a test failed before the SIGTERM test: stop dev and its children
            stop_dev(process)
        log.close()


def _instance(home: Path) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(str(home))


def _latest(instance: dg.DagsterInstance, asset: str) -> float:
    event = instance.get_latest_materialization_event(dg.AssetKey(asset))
    return event.timestamp if event else 0.0


def _max_concurrent_runs(instance: dg.DagsterInstance) -> int:
    spans = [(r.start_time, r.end_time or time.time()) for r in instance.get_run_records() if r.start_time]
    return max((sum(1 for s, e in spans if s <= start < e) for start, _ in spans), default=0)


def _ring_features_at(instance: dg.DagsterInstance, patient: str) -> float:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("ring_features"), asset_partitions=[f"{patient}|1"]), limit=1).records
    return records[0].timestamp if records else 0.0


def test_new_cases_reach_the_models_on_their_own(dev, nbia):
    """A case dropped into the cohort folder and a TCIA patient that appears on the sensor's
    second poll both go through rings, feature tables and the refit into the models without a
    call from the test (together, so the suite pays for one refit)."""
    from datetime import datetime, timezone

    state, _ = nbia
    _start_sensor(dev["url"], "tcia_sensor")
    # First poll: the whole (still empty) collection; its cursor is today.
    _wait(lambda: any("getSeries" in r for r in state.requests), 120, "the first poll")
    time.sleep(2)  # the tick ends after its one request
    # A patient released today appears; the next poll asks for what changed since the cursor,
    # and one run per series (its four structural series and its SEG) lands the case.
    # Both come with their row in the cohort's one clinical sheet (a WHO 4 and a WHO 2 exam keep
    # the grade classes balanced, so both are selected).
    [sheet] = dev["cohort"].glob("UCSF-PDGM-metadata*.csv")
    write_metadata_csv(sheet, [*(demo_patient(i, i % 2) for i in range(1, 11)), demo_patient(11, 1),
                               DemoPatient(TCIA_PATIENT, TCIA_PATIENT, 0, 2, None, 55, "M")])
    state.series += tcia_study(TCIA_PATIENT, 200, released=datetime.now(timezone.utc).date())
    write_ucsf_case(dev["cohort"], NEW, seed=11)
    root = dev["pipeline"].warehouse().root
    with _instance(dev["home"]) as instance:
        def refit_after_both():
            rings = [_ring_features_at(instance, p) for p in (NEW, TCIA_PATIENT)]
            if not (min(rings) > 0 and _latest(instance, "evaluation_reports") > _latest(instance, "feature_tables")
                    > max(rings)):
                return False
            # Both are in the refit models' predictions (an earlier refit's report may end later).
            predictions = queries.table(root, "predictions", {"task": "grade", "model": "VOI_T"})
            return {NEW, TCIA_PATIENT} <= set(predictions.patient_id)
        _wait(refit_after_both, 900, "both new cases' features, then the feature tables and the models")
        assert _manifest_patients(dev["cohort"]) == [TCIA_PATIENT]
        assert (dev["cohort"] / TCIA_PATIENT / f"{TCIA_PATIENT}_seg.nii.gz").is_file()  # from the DICOM-SEG
        features = queries.table(root, "features")
        for patient in (NEW, TCIA_PATIENT):
            mine = features[features.patient_id == patient]
            assert set(mine.ring_mm) == {0.0, 1.0}
            # The case got the project's settings: the same identity and sequences as the others.
            assert set(mine.feature_identity) == {dev["pipeline"].settings.feature_identity}
            assert set(mine.sequence) == set(dev["pipeline"].settings.stored_sequences)
            runs = [r for r in instance.get_runs() if patient in (r.tags.get("dagster/partition", "")
                                                                 + r.tags.get("dagster/asset_partition_range_start", ""))]
            assert len(runs) == 1, patient  # the patient's assets, every ring extracted in the same run
        tcia_runs = [r for r in instance.get_runs() if "tcia/patient" in r.tags]
        assert len(tcia_runs) == 5 and all(r.is_success for r in tcia_runs)
        assert _max_concurrent_runs(instance) <= 2
    assert len(state.downloads()) == 5 and any("NewPatientsInCollection" in r for r in state.requests)


def test_a_backfill_launched_like_the_ui_brings_the_rings_up_to_date(dev):
    patient = "UCSF-PDGM-0001"
    launched = time.time()
    mutation = """
    mutation($params: LaunchBackfillParams!) {
      launchPartitionBackfill(backfillParams: $params) {
        __typename
        ... on LaunchBackfillSuccess { backfillId }
        ... on PythonError { message }
      }
    }"""
    params = {"partitionNames": [patient], "assetSelection": [{"path": ["normalized_images"]}]}
    response = httpx.post(f"{dev['url']}/graphql", json={"query": mutation, "variables": {"params": params}},
                          timeout=60).json()
    result = response["data"]["launchPartitionBackfill"]
    assert result["__typename"] == "LaunchBackfillSuccess", result
    with _instance(dev["home"]) as instance:
        def rings_refreshed():
            event = instance.get_latest_materialization_event(dg.AssetKey("ring_features"))
            records = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey("ring_features"), asset_partitions=[f"{patient}|1"],
                                      after_timestamp=launched), limit=1).records
            return event is not None and bool(records)
        _wait(rings_refreshed, 420, f"{patient}'s rings after its normalized images were rematerialized")
        backfill = instance.get_backfill(result["backfillId"])
        assert backfill.status.value == "COMPLETED_SUCCESS"


def _graphql(url: str, query: str, variables: dict | None = None) -> dict:
    response = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables or {}}, timeout=60).json()
    assert "errors" not in response, response
    return response["data"]


def _start_sensor(url: str, name: str) -> None:
    """What the UI's sensor toggle sends."""
    nodes = _graphql(url, "{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }")
    [repository] = nodes["repositoriesOrError"]["nodes"]
    selector = {"repositoryLocationName": repository["location"]["name"], "repositoryName": repository["name"],
                "sensorName": name}
    started = _graphql(url, """
    mutation($selector: SensorSelector!) {
      startSensor(sensorSelector: $selector) {
        __typename
        ... on Sensor { sensorState { status } }
        ... on PythonError { message }
      }
    }""", {"selector": selector})["startSensor"]
    assert started.get("sensorState", {}).get("status") == "RUNNING", started


def _manifest_patients(cohort: Path) -> list[str]:
    manifest = cohort / "manifest.csv"
    return sorted(line.split(",")[0] for line in manifest.read_text().splitlines()[1:]) if manifest.exists() else []


def test_a_later_tcia_poll_downloads_nothing_again(dev, nbia):
    state, _ = nbia
    downloads = len(state.downloads())
    assert downloads == 5  # the patient of test_new_cases_reach_the_models_on_their_own
    polls = sum("getUpdatedSeries" in r for r in state.requests)
    _wait(lambda: sum("getUpdatedSeries" in r for r in state.requests) > polls, 60, "another poll")
    time.sleep(5)  # a run that poll requested would have started downloading by now
    assert len(state.downloads()) == downloads
    with _instance(dev["home"]) as instance:
        assert len(instance.get_dynamic_partitions("tcia_series")) == 5
        assert len([r for r in instance.get_runs() if "tcia/patient" in r.tags]) == 5


def _descendants(pid: int) -> set[int]:
    table = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout.split()
    children: dict[int, list[int]] = {}
    for child, parent in zip(map(int, table[::2]), map(int, table[1::2])):
        children.setdefault(parent, []).append(child)
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "zombie" in status.read_text())


def _listening_addresses(port: int) -> set[str]:
    """IPv4 addresses listening on ``port``, from the kernel's socket table."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


def test_a_public_dashboard_host_leaves_the_dagster_ui_on_loopback(dev):
    ports = dev["ports"]
    _wait(lambda: _listening_addresses(ports["dashboard"]), 60, "the dashboard to listen")
    assert _listening_addresses(ports["dagster"]) == {"127.0.0.1"}
    assert _listening_addresses(ports["dashboard"]) == {"0.0.0.0"}


def test_a_public_dashboard_host_without_login_is_refused(tmp_path):
    result = subprocess.run([sys.executable, "-m", "cli", "dev", str(tmp_path / "cohort"),
                             "--data-dir", str(tmp_path / "data"), "--host", "0.0.0.0"],
                            env={**os.environ, "DAGSTER_HOME": str(tmp_path / "home")}, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2
    assert "login" in result.stderr.lower()


def test_sigterm_stops_every_child_and_frees_both_ports(dev):
    process, ports = dev["process"], dev["ports"]
    assert _port_open(ports["dagster"]) and _wait(lambda: _port_open(ports["dashboard"]), 60, "the dashboard")
    children = _descendants(process.pid)
    assert len(children) >= 3  # dagster dev (webserver, daemon) and streamlit
    os.kill(process.pid, signal.SIGTERM)
    process.wait(timeout=60)
    _wait(lambda: not _port_open(ports["dagster"]) and not _port_open(ports["dashboard"]), 30, "both ports freed")
    _wait(lambda: not any(_alive(pid) for pid in children), 30, "every child process to exit")
