"""Per-patient work as Slurm jobs, through Dagster Pipes on Dagster's public API.

``PipesSlurmClient`` submits a command with ``sbatch`` (the job's CPUs, memory, time and partition
from the settings), follows it with ``scontrol`` until it ends, and streams back what the job
reports through ``dagster_pipes``: its logs, its stdout and stderr, its materialization metadata.
The Pipes messages and the job's output file live in the data folder, which every node shares,
not in a local temporary folder. A job that fails, is cancelled (``scancel``), times out or runs
out of memory raises ``dg.Failure`` naming the job id and its Slurm state, so only its patient's
partition fails and a rerun submits it again. A run terminated from the UI cancels its job.

``run_on_slurm`` is the per-patient extraction on Slurm: the job runs
``orchestration.slurm_entry``, which extracts the patient's features with the run's settings.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from orchestration.resources import PipelineResource
from radiomics_core.settings import Settings

# Slurm's job states (squeue(1) "JOB STATE CODES") from which a job still moves on.
ACTIVE_STATES = frozenset({"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED",
                           "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED"})
JOB_ID_KEY = "slurm_job_id"


@dataclass(frozen=True)
class SlurmJobResources:
    """What one job asks Slurm for."""

    cpus: int = 1
    memory_mb: int = 4096
    time_minutes: int = 60
    partition: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> "SlurmJobResources":
        return cls(cpus=settings.slurm_cpus, memory_mb=settings.slurm_memory_mb,
                   time_minutes=settings.slurm_time_minutes, partition=settings.slurm_partition)

    def sbatch_options(self) -> list[str]:
        options = [f"--cpus-per-task={self.cpus}", f"--mem={self.memory_mb}M", f"--time={self.time_minutes}"]
        return options + ([f"--partition={self.partition}"] if self.partition else [])


@dataclass(frozen=True)
class SlurmJobEnd:
    job_id: str
    state: str  # COMPLETED, FAILED, CANCELLED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, ...
    exit_code: str  # "code:signal", as Slurm prints it


class SlurmError(RuntimeError):
    """Slurm refused a command (sbatch, scontrol): its message, for the step's failure."""


def _slurm(command: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    done = subprocess.run(list(command), capture_output=True, text=True, env=dict(env) if env else None)
    if done.returncode != 0:
        raise SlurmError(f"{' '.join(command[:2])}: {(done.stderr or done.stdout).strip()}")
    return done.stdout


def job_state(job_id: str) -> SlurmJobEnd:
    """The job's state and exit code: from the controller while it remembers the job
    (``MinJobAge``), else from accounting (``sacct``)."""
    try:
        fields = dict(field.split("=", 1) for field in _slurm(["scontrol", "show", "job", "-o", job_id]).split()
                      if "=" in field)
        return SlurmJobEnd(job_id, fields.get("JobState", "UNKNOWN"), fields.get("ExitCode", ""))
    except SlurmError:
        line = _slurm(["sacct", "-j", job_id, "-X", "-n", "-P", "-o", "State,ExitCode"]).strip().splitlines()
        if not line:
            raise SlurmError(f"Slurm knows no job {job_id}") from None
        state, _, exit_code = line[0].partition("|")
        return SlurmJobEnd(job_id, state.split()[0], exit_code)  # "CANCELLED by 0": the state alone


class PipesSlurmClient(dg.PipesClient):
    """Runs a command as a Slurm batch job inside a Pipes session.

    Use it as a resource with ``dg.ResourceParam[PipesSlurmClient]``. ``poll_interval_s`` is how
    often the job's state is read.
    """

    def __init__(self, poll_interval_s: float = 2.0):
        self.poll_interval_s = poll_interval_s

    def run(self, *, context: dg.AssetExecutionContext, command: Sequence[str], job_dir: Path,  # type: ignore[override]
            resources: SlurmJobResources = SlurmJobResources(), job_name: str = "glioma-rings",
            extras: Mapping | None = None) -> dg.PipesClientCompletedInvocation:
        """Submit ``command`` and wait for its end. ``job_dir`` (on the shared filesystem) is the
        job's working directory and holds the Pipes messages and its output ``slurm-<job id>.out``."""
        job_dir = job_dir.resolve()
        job_dir.mkdir(parents=True, exist_ok=True)
        messages = dg.PipesFileMessageReader(str(job_dir / "pipes-messages.jsonl"), include_stdio_in_messages=True)
        with dg.open_pipes_session(context=context, context_injector=dg.PipesEnvContextInjector(),
                                   message_reader=messages, extras=extras) as session:
            # sbatch exports its own environment to the job (--export=ALL): the Pipes bootstrap
            # variables travel that way, not on a command line.
            env = {**os.environ, **session.get_bootstrap_env_vars()}
            job_id = _slurm(["sbatch", "--parsable", "--export=ALL", f"--job-name={job_name}",
                             f"--chdir={job_dir}", f"--output={job_dir / 'slurm-%j.out'}",
                             *resources.sbatch_options(), "--wrap", shlex.join(command)],
                            env).strip().split(";")[0]
            context.log.info(f"Slurm job {job_id} submitted ({job_name}; {' '.join(resources.sbatch_options())})")
            try:
                end = self._wait(job_id)
            except BaseException:  # the run was terminated: its job must not run on unseen
                subprocess.run(["scancel", job_id], capture_output=True)
                context.log.warning(f"Slurm job {job_id} cancelled: the run stopped")
                raise
            log = job_dir / f"slurm-{job_id}.out"
            metadata = {JOB_ID_KEY: job_id, "slurm_state": end.state, "slurm_log": dg.MetadataValue.path(str(log))}
            if end.state != "COMPLETED":
                raise dg.Failure(description=f"Slurm job {job_id} ({job_name}) ended {end.state}, exit code "
                                             f"{end.exit_code}{_last_line(log)}", metadata=metadata)
            context.log.info(f"Slurm job {job_id} {end.state}")
        return dg.PipesClientCompletedInvocation(session, metadata=metadata)

    def _wait(self, job_id: str) -> SlurmJobEnd:
        while True:
            end = job_state(job_id)
            if end.state not in ACTIVE_STATES:
                return end
            time.sleep(self.poll_interval_s)


def _last_line(log: Path) -> str:
    """The job output's last line (Slurm writes its own reason there, as "slurmstepd: error: ...")."""
    lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines() if log.exists() else []
    return f": {lines[-1]}" if lines else ""


def run_on_slurm(context: dg.AssetExecutionContext, client: PipesSlurmClient, pipeline: PipelineResource,
                 patient_id: str) -> dg.MaterializeResult:
    """Extract ``patient_id``'s features (every VOI of the settings) in a Slurm job and return its
    materialization, with the job id in the metadata (``slurm_job_id``). The job reads the run's
    own settings (saved in its job folder), so launchpad overrides reach it."""
    settings = pipeline.settings
    # The job starts in its folder on a node whose working directory is not this one's: every
    # folder it reads is given absolute (the shared filesystem has the same paths on every node).
    settings = settings.updated(cohort_dir=str(Path(settings.cohort_dir).resolve()),
                                data_dir=str(Path(settings.data_dir).resolve()),
                                warehouse_dir=str(settings.warehouse_root.resolve()))
    job_dir = settings.work_dir("slurm", context.run.run_id, patient_id)
    settings_file = settings.save(job_dir / "settings.yaml")
    command = [sys.executable, "-m", "orchestration.slurm_entry", "--patient", patient_id,
               "--settings", str(settings_file.resolve())]
    invocation = client.run(context=context, command=command, job_dir=job_dir,
                            resources=SlurmJobResources.from_settings(settings),
                            job_name=f"glioma-rings-{patient_id}")
    return invocation.get_materialize_result()
