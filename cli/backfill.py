"""``glioma-rings run``'s default path: what the UI's Materialize button does.

The cohort becomes one asset backfill, launched through Dagster's GraphQL API (the
``launchPartitionBackfill`` mutation the UI sends, executed by ``dagster-graphql`` on the
project's workspace, or by a running webserver). The daemon's backfill loop splits it into runs
by the assets' backfill policies, the run queue starts them (``max_concurrent_runs``), pools
limit their heavy steps, and each run executes in its own process: what a user sees in the UI is
exactly what ran. If no daemon is heartbeating on the instance (``glioma-rings dev`` runs one),
``run`` starts one for its duration.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg

from cli.launcher import PartitionOutcome, RunSummary, failure_line, patients_to_compute
from orchestration.assets.imaging import voi_extraction
from orchestration.assets.tcia import tcia_series_partitions
from orchestration.definitions import build_definitions
from orchestration.partitions import patients_partitions
from orchestration.resources import PipelineResource

ROOT = Path(__file__).resolve().parent.parent
WORKSPACE = ROOT / "workspace.yaml"
BACKFILL_TAG = "dagster/backfill"
TERMINAL = {"COMPLETED", "FAILED", "CANCELED", "COMPLETED_SUCCESS", "COMPLETED_FAILED"}
LAUNCH = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on InvalidSubsetError { message }
    ... on UnauthorizedError { message }
  }
}"""


@dataclass(frozen=True)
class CohortRequest:
    """What a run asks for, as the GraphQL API takes it: an asset selection and the partitions of
    its root assets; Dagster maps them down the graph (a patient to its ring keys, the rings to
    their feature tables, every task)."""

    assets: list[dg.AssetKey]
    partition_names: list[str]
    patients: list[str]  # the patients whose extraction runs

    @property
    def params(self) -> dict:
        return {"assetSelection": [{"path": key.path} for key in self.assets], "partitionNames": self.partition_names,
                "title": "glioma-rings run", "tags": [{"key": "glioma-rings/command", "value": "run"}]}


def cohort_request(pipeline: PipelineResource, patients: list[str], force: bool) -> CohortRequest:
    """Every materializable asset (TCIA downloads aside: their sensor requests them) for the
    patients that need work (``patients_to_compute``: a patient whose extraction alone is stale
    is read again too, since a backfill has one set of root partitions), then the cohort-wide
    assets; with every patient current, the cohort-wide assets alone (they are always refreshed).

    (Not ``partitionsByAssets``: Dagster 1.13 resolves its ranges without the instance, which
    dynamic partitions need, and refuses the backfill.)"""
    full, features_only = patients_to_compute(pipeline, patients, force)
    extracted = sorted(set(full) | set(features_only))
    graph = build_definitions(pipeline).resolve_asset_graph()
    assets = [key for key in graph.toposorted_asset_keys
              if graph.get(key).is_materializable and graph.get(key).partitions_def != tcia_series_partitions]
    if extracted:
        return CohortRequest(assets, extracted, extracted)
    cohort_wide = [key for key in assets if graph.get(key).partitions_def is not None
                   and patients_partitions.name not in _dimensions(graph.get(key).partitions_def)]
    roots = graph.get(cohort_wide[0]).partitions_def.get_partition_keys() if cohort_wide else []
    return CohortRequest(cohort_wide, roots, [])


def _dimensions(definition: dg.PartitionsDefinition) -> set[str]:
    if isinstance(definition, dg.MultiPartitionsDefinition):
        return {getattr(d.partitions_def, "name", "") or "" for d in definition.partitions_defs}
    return {getattr(definition, "name", "") or ""}


def launch_backfill(request: CohortRequest, env: dict[str, str], webserver: str | None = None) -> str:
    """The backfill's id. ``webserver``: a running Dagster webserver's URL, else the workspace."""
    where = ["-r", webserver] if webserver else ["-w", str(WORKSPACE)]
    with tempfile.TemporaryDirectory() as folder:
        response = Path(folder, "response.json")
        completed = subprocess.run([str(Path(sys.executable).with_name("dagster-graphql")), *where, "-t", LAUNCH,
                                    "-v", json.dumps({"params": request.params}), "-o", str(response)],
                                   env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
        try:
            result = json.loads(response.read_text(encoding="utf-8"))["data"]["launchPartitionBackfill"]
        except (OSError, KeyError, TypeError, json.JSONDecodeError):
            raise RuntimeError(f"the backfill could not be launched: {completed.stderr.strip()[-2000:]}") from None
    if result["__typename"] != "LaunchBackfillSuccess":
        raise RuntimeError(f"the backfill was refused ({result['__typename']}): {result.get('message', '')}"
                           + "".join(result.get("stack") or [])[-3000:])
    return result["backfillId"]


def daemon_alive(instance: dg.DagsterInstance, within_s: float = 60.0) -> bool:
    """Whether a daemon (``dev``'s, or one left running) heartbeats on this instance."""
    beats = instance.get_daemon_heartbeats()
    return any(time.time() - beat.timestamp < within_s for beat in beats.values())


def start_daemon(env: dict[str, str], log: Path) -> subprocess.Popen:
    """``dagster-daemon run`` on the project's workspace, in its own process group, told to stop
    when ``run`` dies (a killed ``run`` must not leave a daemon behind on the instance)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as handle:
        return subprocess.Popen([str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w", str(WORKSPACE)],
                                env=env, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_terminate_with_parent)


def _terminate_with_parent() -> None:
    import ctypes

    PR_SET_PDEATHSIG = 1  # Linux prctl(2)
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def wait_for_backfill(instance: dg.DagsterInstance, backfill_id: str, patients: list[str],
                      on_patient: Callable[[str], None] | None = None, poll_s: float = 1.0) -> RunSummary:
    """Poll until the backfill and its runs have ended; ``on_patient`` once per patient whose
    extraction run ended (succeeded or not). Each poll reads only the runs updated since the one
    before: re-reading every run of a 500-patient backfill each second made the wait quadratic."""
    seen: set[str] = set()
    wanted = set(patients)
    runs: dict[str, dg.DagsterRun] = {}
    since = None
    while True:
        backfill = instance.get_backfill(backfill_id)
        polled = datetime.now(UTC) - timedelta(seconds=5)  # clock skew between run writers
        for run in instance.get_runs(dg.RunsFilter(tags={BACKFILL_TAG: backfill_id}, updated_after=since)):
            runs[run.run_id] = run
            patient = run.tags.get("dagster/partition")
            if (run.is_finished and patient in wanted and patient not in seen
                    and voi_extraction.key in (run.asset_selection or set())):
                seen.add(patient)
                if on_patient:
                    on_patient(patient)
        since = polled
        if (backfill is not None and backfill.status.value in TERMINAL
                and all(run.is_finished for run in runs.values())):
            ordered = instance.get_runs(dg.RunsFilter(tags={BACKFILL_TAG: backfill_id}))  # newest first
            if all(run.is_finished for run in ordered):
                return RunSummary([_outcome(instance, run) for run in reversed(ordered)])
        time.sleep(poll_s)


def _outcome(instance: dg.DagsterInstance, run: dg.DagsterRun) -> PartitionOutcome:
    job = "+".join(sorted(key.to_user_string() for key in run.asset_selection or ()))
    tags = run.tags
    partition = tags.get("dagster/partition") or (
        f"{tags['dagster/asset_partition_range_start']}...{tags['dagster/asset_partition_range_end']}"
        if "dagster/asset_partition_range_start" in tags else "")
    success = run.status == dg.DagsterRunStatus.SUCCESS
    error = ""
    if not success:
        failures = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
        error = failure_line(failures[0].dagster_event.step_failure_data) if failures else f"run {run.status.value.lower()}"
    return PartitionOutcome(job, partition, success, error, run_id=run.run_id)


def daemon_env(pipeline: PipelineResource, settings_file: Path) -> dict[str, str]:
    return {**os.environ, "GLIOMA_RINGS_SETTINGS": str(settings_file), "GLIOMA_RINGS_DATA": pipeline.data_dir}
