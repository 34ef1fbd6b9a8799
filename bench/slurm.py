"""Slurm benchmark: a patient's extraction as a Slurm job (Dagster Pipes, ``run_on_slurm``)
against the same extraction in the Dagster process, on the same patients in the same run.

Starts a single-node Slurm on this machine (tests/services.py: slurmctld, slurmd and munged on
127.0.0.1; ``make services`` installs them), writes an N-patient synthetic cohort, runs each
patient's graph locally once (normalized images, rings; this also warms the process), then per
patient times ``orchestration.slurm_entry.extract_patient`` in this process (the local path) and
one materialization of an asset calling ``run_on_slurm`` (submission, a fresh Python on the node,
the same extraction, Pipes messages back). Last line:
``slurm_to_local=<median ratio> overhead_s=<median Slurm - local> local_s=<median> slurm_s=<median>``.

    uv run python bench/slurm.py --patients 3
    uv run python bench/slurm.py --patients 2 --shape 240,240,155 --params default   # full size
"""


import argparse
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=3)
    parser.add_argument("--shape", default="96,96,64", help="x,y,z voxels of the synthetic scans")
    parser.add_argument("--params", default="demo")
    args = parser.parse_args()

    import dagster as dg

    from cli.launcher import run_patient
    from orchestration.partitions import patients_partitions
    from orchestration.resources import PipelineResource
    from orchestration.slurm import PipesSlurmClient, run_on_slurm
    from orchestration.slurm_entry import extract_patient
    from radiomics_core.cohorts.synthetic import DemoConfig, write_demo_cohort
    from tests.services import slurm_cluster

    @dg.asset(partitions_def=patients_partitions)
    def slurm_features(context: dg.AssetExecutionContext, pipeline: PipelineResource,
                       slurm: dg.ResourceParam[PipesSlurmClient]) -> dg.MaterializeResult:
        return run_on_slurm(context, slurm, pipeline, context.partition_key)

    root = Path(tempfile.mkdtemp(prefix="glioma-rings-bench-slurm-"))
    shape = tuple(int(v) for v in args.shape.split(","))
    patients = write_demo_cohort(root / "cohort", DemoConfig(patients=args.patients, shape=shape), progress=False)
    ids = [p.folder_id for p in patients]
    pipeline = PipelineResource(cohort_dir=str(root / "cohort"), data_dir=str(root / "data"), params=args.params,
                                tasks=[], slurm_memory_mb=3000, slurm_time_minutes=30)
    ids = [case.patient_id for case in pipeline.settings.cohort().cases]
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(patients_partitions.name, ids)
    for patient_id in ids:
        assert all(o.success for o in run_patient(pipeline, patient_id, instance)), patient_id
    log = logging.getLogger("bench")
    local, on_slurm = {}, {}
    for patient_id in ids:
        start = time.perf_counter()
        extract_patient(pipeline, patient_id, log)
        local[patient_id] = time.perf_counter() - start
    with slurm_cluster() as cluster:
        os.environ.update(cluster.env)
        client = PipesSlurmClient(poll_interval_s=0.5)
        for patient_id in ids:
            start = time.perf_counter()
            result = dg.materialize([slurm_features], instance=instance, partition_key=patient_id,
                                    resources={"pipeline": pipeline, "slurm": client})
            on_slurm[patient_id] = time.perf_counter() - start
            assert result.success, patient_id
    instance.dispose()
    shutil.rmtree(root, ignore_errors=True)
    for patient_id in ids:
        print(f"{patient_id}: local {local[patient_id]:.2f} s, Slurm job {on_slurm[patient_id]:.2f} s", flush=True)
    ratios = [on_slurm[p] / local[p] for p in ids]
    print(f"slurm_to_local={statistics.median(ratios):.2f} "
          f"overhead_s={statistics.median(on_slurm[p] - local[p] for p in ids):.2f} "
          f"local_s={statistics.median(local.values()):.2f} slurm_s={statistics.median(on_slurm.values()):.2f} "
          f"patients={len(ids)} shape={args.shape} params={args.params}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
