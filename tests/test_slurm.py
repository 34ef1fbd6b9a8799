"""Per-patient work as jobs of a real single-node Slurm (tests/services.py) through Dagster Pipes:
the job's id is in the materialization, its features are the local run's, and a job that dies
or is cancelled fails its partition naming the job and its Slurm state."""

import subprocess
import sys
import threading
import time

import dagster as dg
import pytest

from cli.launcher import run_patient
from orchestration.partitions import patients_partitions
from orchestration.resources import PipelineResource
from orchestration.slurm import JOB_ID_KEY, PipesSlurmClient, SlurmJobResources, job_state, run_on_slurm
from tests.builders import write_ucsf_cohort
from warehouse import queries

pytestmark = pytest.mark.slow
PATIENT = "UCSF-PDGM-0001"
SMALL_JOB = SlurmJobResources(cpus=1, memory_mb=500, time_minutes=5)


@dg.asset(partitions_def=patients_partitions)
def slurm_features(context: dg.AssetExecutionContext, pipeline: PipelineResource,
                   slurm: dg.ResourceParam[PipesSlurmClient]) -> dg.MaterializeResult:
    return run_on_slurm(context, slurm, pipeline, context.partition_key)


def _command_asset(command: list[str], name: str, job_dir) -> dg.AssetsDefinition:
    """An asset whose materialization is ``command`` run as the Slurm job ``name``."""
    @dg.asset(name=name)
    def job(context: dg.AssetExecutionContext, slurm: dg.ResourceParam[PipesSlurmClient]):
        return slurm.run(context=context, command=command, job_dir=job_dir, resources=SMALL_JOB,
                         job_name=name).get_materialize_result()
    return job


@pytest.fixture(scope="module")
def extracted_locally(tmp_path_factory):
    """One patient through the whole per-patient graph on this machine (no Slurm)."""
    root = tmp_path_factory.mktemp("slurm")
    cohort = write_ucsf_cohort(root / "cohort", n=1, clinical=False)
    pipeline = PipelineResource(cohort_dir=str(cohort), data_dir=str(root / "data"), params="demo",
                                rings_mm=[3.0], tasks=[], slurm_memory_mb=500, slurm_time_minutes=5)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(patients_partitions.name, [PATIENT])
    assert all(o.success for o in run_patient(pipeline, PATIENT, instance))
    local = queries.table(pipeline.warehouse().root, "features").sort_values(["ring_mm", "sequence", "feature"])
    yield pipeline, instance, local.reset_index(drop=True)
    instance.dispose()


def test_a_patients_extraction_runs_as_a_slurm_job_whose_id_is_in_the_materialization(slurm, extracted_locally):
    pipeline, instance, local = extracted_locally
    result = dg.materialize([slurm_features], instance=instance, partition_key=PATIENT,
                            resources={"pipeline": pipeline, "slurm": PipesSlurmClient(poll_interval_s=0.5)})
    assert result.success
    [materialization] = result.asset_materializations_for_node("slurm_features")
    job_id = materialization.metadata[JOB_ID_KEY].value
    # Slurm's own record of that job: ours, finished.
    show = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True, check=True).stdout
    assert f"JobName=glioma-rings-{PATIENT}" in show and job_state(job_id).state == "COMPLETED"
    # Reported from inside the job, through dagster_pipes: its metadata and its log lines.
    assert materialization.metadata["slurm_node"].value == slurm.node
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert any(m.startswith(f"{PATIENT}: Slurm job {job_id} on {slurm.node}") for m in messages)
    assert materialization.metadata["features"].value == len(local)
    on_slurm = queries.table(pipeline.warehouse().root, "features").sort_values(["ring_mm", "sequence", "feature"])
    assert on_slurm.reset_index(drop=True)[["ring_mm", "sequence", "feature", "value"]].equals(
        local[["ring_mm", "sequence", "feature", "value"]])


def _failure(asset: dg.AssetsDefinition) -> str:
    result = dg.materialize([asset], resources={"slurm": PipesSlurmClient(poll_interval_s=0.5)}, raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    return failure.step_failure_data.user_failure_data.description


def _job_id(name: str) -> str:
    ids = subprocess.run(["squeue", "-h", "-n", name, "-o", "%i"], capture_output=True, text=True).stdout.split()
    return ids[0] if ids else ""


def test_a_job_that_dies_fails_naming_its_id_and_state(slurm, tmp_path):
    description = _failure(_command_asset([sys.executable, "-c", "import sys; sys.exit(3)"], "dies", tmp_path))
    assert "Slurm job " in description and "ended FAILED, exit code 3:0" in description


def test_a_cancelled_job_fails_naming_its_id_and_state(slurm, tmp_path):
    cancelled: list[str] = []

    def cancel_once_running():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not cancelled:
            job_id = _job_id("sleeps")
            if job_id and job_state(job_id).state == "RUNNING":
                subprocess.run(["scancel", job_id], check=True)
                cancelled.append(job_id)
            time.sleep(0.2)

    canceller = threading.Thread(target=cancel_once_running)
    canceller.start()
    description = _failure(_command_asset([sys.executable, "-c", "import time; time.sleep(120)"], "sleeps",
                                          tmp_path))
    canceller.join()
    assert cancelled and f"Slurm job {cancelled[0]} (sleeps) ended CANCELLED" in description


def test_a_patient_whose_job_cannot_read_its_images_fails_alone_naming_job_and_file(slurm, extracted_locally):
    pipeline, instance, _ = extracted_locally
    missing = "UCSF-PDGM-0099"  # never normalized: no images, no rings
    instance.add_dynamic_partitions(patients_partitions.name, [missing])
    result = dg.materialize([slurm_features], instance=instance, partition_key=missing, raise_on_error=False,
                            resources={"pipeline": pipeline, "slurm": PipesSlurmClient(poll_interval_s=0.5)})
    [failure] = [e for e in result.all_events if e.is_step_failure]
    description = failure.step_failure_data.user_failure_data.description
    assert f"(glioma-rings-{missing}) ended FAILED, exit code 1:0" in description
    assert f"{missing}/ring_T.nii.gz" in description  # the job's own last word: the file it could not read
    issues = queries.table(pipeline.warehouse().root, "case_issues", {"patient_id": missing})
    assert issues.stage.tolist() == ["features"]


STOPPED_RUN = """
import sys
from pathlib import Path
import dagster as dg
from orchestration.slurm import PipesSlurmClient, SlurmJobResources

@dg.asset
def stopped(context: dg.AssetExecutionContext, slurm: dg.ResourceParam[PipesSlurmClient]):
    return slurm.run(context=context, command=[sys.executable, "-c", "import time; time.sleep(120)"],
                     job_dir=Path(sys.argv[1]), resources=SlurmJobResources(memory_mb=500, time_minutes=5),
                     job_name="stopped-run").get_materialize_result()

dg.materialize([stopped], resources={"slurm": PipesSlurmClient(poll_interval_s=0.5)}, raise_on_error=False)
"""


def test_a_run_stopped_while_its_job_runs_cancels_the_job(slurm, tmp_path):
    import signal

    # The run in its own process, as a run worker is; Dagster turns the signal its termination
    # sends into an interrupt inside the step.
    run = subprocess.Popen([sys.executable, "-c", STOPPED_RUN, str(tmp_path)])
    try:
        deadline, job_id = time.monotonic() + 90, ""
        while time.monotonic() < deadline and not (job_id and job_state(job_id).state == "RUNNING"):
            job_id = _job_id("stopped-run")
            time.sleep(0.2)
        assert job_id, "the run submitted no job"
        run.send_signal(signal.SIGINT)
        run.wait(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    assert job_state(job_id).state == "CANCELLED"


def test_with_the_slurm_engine_voi_extraction_runs_each_patients_extraction_as_a_job(slurm, extracted_locally):
    from orchestration.definitions import build_definitions

    pipeline, instance, local = extracted_locally
    on_slurm = PipelineResource.from_settings(pipeline.settings.updated(engine="slurm"))
    job = build_definitions(on_slurm).resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey("voi_extraction")],
                                    partition_key=PATIENT, raise_on_error=False)
    assert result.success
    [materialization] = [m for m in result.asset_materializations_for_node("voi_extraction")
                         if m.asset_key == dg.AssetKey("voi_extraction")]
    job_id = materialization.metadata[JOB_ID_KEY].value
    assert job_state(job_id).state == "COMPLETED" and materialization.metadata["engine"].value == "slurm"
    assert materialization.metadata["vois"].value == 2  # VOI_T and the 3 mm ring, in the one job
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["finite_features"] and checks["feature_count"]  # judged on the rows the job stored
    stored = queries.table(pipeline.warehouse().root, "features").sort_values(["ring_mm", "sequence", "feature"])
    assert stored.reset_index(drop=True)[["ring_mm", "sequence", "feature", "value"]].equals(
        local[["ring_mm", "sequence", "feature", "value"]])
