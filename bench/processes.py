"""What the benchmarks that go through ``glioma-rings run`` measure: the CPU of a command and of
every process it starts (a daemon, code servers, one process per Dagster run), and each patient's
runs as the instance recorded them."""

from __future__ import annotations

import ctypes
import os
import resource
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Cost:
    cpu_s: float
    wall_s: float


def become_subreaper() -> None:
    """Descendants whose parent exits before them (a run worker outliving the code server that
    spawned it) are re-parented to this process instead of init, so their CPU is counted."""
    PR_SET_CHILD_SUBREAPER = 36  # Linux prctl(2)
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _reap_orphans() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.2)


def measured(command: list[str], stop_when: Callable[[], bool] | None = None, poll_s: float = 2.0, check: bool = True,
             **popen) -> Cost:
    """Run ``command`` to its end (raising if it fails and ``check``), or until ``stop_when()`` holds (then it
    is terminated), and wait for every orphan it left; the CPU of the whole process tree (needs
    ``become_subreaper`` first) and the wall time to its end or the stop."""
    cpu, started = children_cpu(), time.perf_counter()
    process = subprocess.Popen(command, **popen)
    while process.poll() is None:
        if stop_when is not None and stop_when():
            process.terminate()
            break
        time.sleep(poll_s)
    wall = time.perf_counter() - started
    code = process.wait()
    if code != 0 and check and stop_when is None:
        raise subprocess.CalledProcessError(code, command)
    _reap_orphans()
    return Cost(children_cpu() - cpu, wall)


def patient_runs(home: Path, patients: set[str]) -> tuple[dict[str, float], dict[str, int], dict[str, float]]:
    """From the instance at ``home``: each patient's summed run wall time, its number of runs,
    and the wall seconds of each asset step summed over the patients."""
    import dagster as dg

    pipeline: dict[str, float] = {}
    runs: dict[str, int] = {}
    steps: dict[str, float] = {}
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for record in instance.get_run_records():
            tags = record.dagster_run.tags
            key = tags.get("dagster/partition") or tags.get("dagster/asset_partition_range_start", "")
            patient = key.split("|")[0]
            if patient in patients and record.start_time and record.end_time:
                assert record.dagster_run.status == dg.DagsterRunStatus.SUCCESS, key
                pipeline[patient] = pipeline.get(patient, 0.0) + record.end_time - record.start_time
                runs[patient] = runs.get(patient, 0) + 1
                for entry in instance.all_logs(record.dagster_run.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS):
                    step = entry.dagster_event.step_key
                    steps[step] = steps.get(step, 0.0) + entry.dagster_event.event_specific_data.duration_ms / 1000
    return pipeline, runs, steps
