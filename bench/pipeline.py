"""Pipeline benchmark: the demo cohort end to end, and the cost of adding one case.

Materializes an N-case synthetic cohort through Dagster (persistent instance in a temporary
DAGSTER_HOME, 2 worker processes), then adds one case the incremental way (its patient and ring
partitions only, then the feature tables and the models) and compares with a full rerun of all
N + 1 cases measured in the same run. Prints, as the last line:
``full_s=<t> add_case_s=<t> add_case_ratio=<r> target=<2/N> refit_s=<t>``.

    uv run python bench/pipeline.py --patients 20

``--full-size`` instead compares the path users run with the core on the same cases: N full-size
synthetic patients (240 x 240 x 155, ``default`` parameters, VOI_T + 7 rings), each side in its own
child process pinned to core 0: ``glioma-rings run --workers 1`` (the real CLI, persistent
instance) against ``radiomics_core.features.cohort.case_feature_frame`` per case. The pipeline's
time per patient is the wall time of that patient's runs (from the instance's run records,
preprocessing included, as in the core). Last line: ``pipeline_to_core=<r> ...``.

    uv run python bench/pipeline.py --full-size --patients 2

``--full-size --engine slurm`` compares the Slurm path with the local path instead: a single-node
Slurm started here as the tests start it (tests/services.py; ``make services`` installs it), then
``glioma-rings run --engine local`` and ``--engine slurm`` on the same N full-size patients, the
whole process tree (Slurm's daemons and jobs included) pinned to core 0. Per patient, the wall
time of its runs on each. Last line:
``slurm_to_local=<r> slurm_s_per_patient=<t> local_s_per_patient=<t> patients=<N>``.

    uv run python bench/pipeline.py --full-size --engine slurm --patients 2
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.processes import children_cpu, patient_runs


def _pinned(command: list[str]) -> list[str]:
    return ["taskset", "-c", "0", *command] if shutil.which("taskset") else command


def _core_child(cohort: Path, out: Path) -> None:
    """Per-case seconds of the notebook path (preprocessing, rings, extraction) on one core."""
    import json

    from radiomics_core.cohorts.layouts import read_cohort
    from radiomics_core.features.cohort import case_feature_frame
    from radiomics_core.features.extraction import ExtractionParams
    from radiomics_core.imaging.rings import DEFAULT_RINGS_MM

    params = ExtractionParams.load("default")
    seconds, cpu = {}, {}
    for case in read_cohort(cohort).cases:
        start, start_cpu = time.perf_counter(), time.process_time()
        frame = case_feature_frame(case, tuple(DEFAULT_RINGS_MM), params)
        seconds[case.patient_id] = time.perf_counter() - start
        cpu[case.patient_id] = time.process_time() - start_cpu
        print(f"core {case.patient_id}: {seconds[case.patient_id]:.1f} s ({cpu[case.patient_id]:.1f} s CPU), "
              f"{len(frame)} values", flush=True)
    out.write_text(json.dumps({"wall": seconds, "cpu": cpu}), encoding="utf-8")


def _full_size(patients: int) -> None:
    import json

    from radiomics_core.cohorts.synthetic import DemoConfig, write_demo_cohort

    work = Path(tempfile.mkdtemp(prefix="glioma-rings-bench-full-"))
    cohort = work / "cohort"
    write_demo_cohort(cohort, DemoConfig(patients=patients, shape=(240, 240, 155)), progress=False)
    core_out = work / "core.json"
    subprocess.run(_pinned([sys.executable, __file__, "--core-child", str(cohort), str(core_out)]), check=True)
    core_times = json.loads(core_out.read_text(encoding="utf-8"))
    core, core_cpu = core_times["wall"], core_times["cpu"]

    home = work / "dagster_home"
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    start, cpu_before = time.perf_counter(), children_cpu()
    # Both tasks fail for lack of cases on 2 patients; the per-patient runs are what is measured.
    subprocess.run(_pinned([sys.executable, "-m", "cli", "run", str(cohort), "--data-dir",
                            str(work / "data"), "--params", "default", "--workers", "1"]), env=env, check=False,
                   stdout=subprocess.DEVNULL)
    cli_s, cli_cpu = time.perf_counter() - start, children_cpu() - cpu_before
    pipeline, runs, steps = patient_runs(home, set(core))
    shutil.rmtree(work, ignore_errors=True)
    for patient in sorted(core):
        print(f"{patient}: pipeline {pipeline[patient]:.1f} s in {runs[patient]} runs, core {core[patient]:.1f} s")
    mean_pipeline = sum(pipeline.values()) / len(pipeline)
    mean_core = sum(core.values()) / len(core)
    print(f"core CPU per patient: {sum(core_cpu.values()) / len(core_cpu):.1f} s")
    print("pipeline steps, wall per patient: " + ", ".join(f"{step} {total / len(core):.1f} s"
                                                          for step, total in steps.items()))
    print(f"glioma-rings run (CLI, {patients} patients, every stage): {cli_s:.1f} s wall, {cli_cpu:.1f} s CPU "
          "(its processes, Dagster start-up and the failing model tasks included)")
    print(f"pipeline_to_core={mean_pipeline / mean_core:.2f} pipeline_s_per_patient={mean_pipeline:.1f} "
          f"core_s_per_patient={mean_core:.1f} runs_per_patient={max(runs.values())} target=1.25")


def _full_size_slurm(patients: int) -> None:
    """The path users run, ``glioma-rings run``, with each engine on the same full-size cases in
    the same process tree pinned to core 0 (the single-node Slurm too, so its jobs share that
    core): per patient, the wall time of its runs with ``--engine local`` and ``--engine slurm``."""
    from radiomics_core.cohorts.layouts import read_cohort
    from radiomics_core.cohorts.synthetic import DemoConfig, write_demo_cohort
    from radiomics_core.settings import Settings
    from tests.services import slurm_cluster

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    work = Path(tempfile.mkdtemp(prefix="glioma-rings-bench-full-slurm-"))
    cohort = work / "cohort"
    write_demo_cohort(cohort, DemoConfig(patients=patients, shape=(240, 240, 155)), progress=False)
    ids = [case.patient_id for case in read_cohort(cohort).cases]
    per_patient, cli = {}, {}
    with slurm_cluster() as cluster:
        for engine in ("local", "slurm"):
            data, home = work / f"data-{engine}", work / f"home-{engine}"
            # A full-size extraction holds up to ~3 GiB; the test node offers 4000 MB.
            Settings(cohort_dir=str(cohort), data_dir=str(data), params="default", engine=engine,
                     slurm_memory_mb=3000, slurm_time_minutes=60).save()
            env = {**os.environ, "DAGSTER_HOME": str(home), **cluster.env}
            start, cpu_before = time.perf_counter(), children_cpu()
            # Both tasks fail for lack of cases on 2 patients; the per-patient runs are what is measured.
            subprocess.run([sys.executable, "-m", "cli", "run", str(cohort), "--data-dir", str(data)], env=env,
                           check=False, stdout=subprocess.DEVNULL)
            cli[engine] = (time.perf_counter() - start, children_cpu() - cpu_before)
            per_patient[engine], runs, steps = patient_runs(home, set(ids))
            assert set(per_patient[engine]) == set(ids), f"{engine}: runs of {sorted(per_patient[engine])} only"
            print(f"--engine {engine} steps, wall per patient: " + ", ".join(
                f"{step} {total / len(ids):.1f} s" for step, total in steps.items()), flush=True)
    shutil.rmtree(work, ignore_errors=True)
    for patient in ids:
        print(f"{patient}: --engine local {per_patient['local'][patient]:.1f} s, "
              f"--engine slurm {per_patient['slurm'][patient]:.1f} s")
    for engine, (wall, cpu) in cli.items():
        print(f"glioma-rings run --engine {engine} (CLI, {patients} patients, every stage): {wall:.1f} s wall, "
              f"{cpu:.1f} s CPU of its processes (a Slurm job's are slurmd's, not counted)")
    local = sum(per_patient["local"].values()) / len(ids)
    on_slurm = sum(per_patient["slurm"].values()) / len(ids)
    print(f"slurm_to_local={on_slurm / local:.2f} slurm_s_per_patient={on_slurm:.1f} "
          f"local_s_per_patient={local:.1f} patients={len(ids)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=None, help="default: 20 (2 with --full-size)")
    parser.add_argument("--shape", default="96,96,64")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--full-size", action="store_true",
                        help="pipeline versus core per patient at 240x240x155 with the default parameters")
    parser.add_argument("--engine", choices=["local", "slurm"], default="local",
                        help="with --full-size: slurm compares glioma-rings run --engine slurm with --engine local "
                             "on a single-node Slurm started here (tests/services.py) instead of the core")
    parser.add_argument("--core-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.core_child:
        _core_child(Path(args.core_child[0]), Path(args.core_child[1]))
        return
    if args.full_size and args.engine == "slurm":
        _full_size_slurm(args.patients or 2)
        return
    if args.full_size:
        _full_size(args.patients or 2)
        return
    args.patients = args.patients or 20
    work = Path(tempfile.mkdtemp(prefix="glioma-rings-bench-"))
    os.environ["DAGSTER_HOME"] = str(work / "dagster_home")
    (work / "dagster_home").mkdir()
    (work / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")

    import dagster as dg

    from orchestration.resources import PipelineResource
    from cli.launcher import run_cohort, run_patient
    from radiomics_core.cohorts.synthetic import DemoConfig, write_demo_cohort

    shape = tuple(int(v) for v in args.shape.split(","))
    all_cases = work / "all"
    write_demo_cohort(all_cases, DemoConfig(patients=args.patients + 1, shape=shape), progress=False)
    cohort = work / "cohort"
    cohort.mkdir()
    folders = sorted(all_cases.glob("*_nifti"))
    for folder in folders[:-1]:
        shutil.copytree(folder, cohort / folder.name)
    shutil.copy(all_cases / "UCSF-PDGM-metadata_v5.csv", cohort)

    def pipeline(data: str, source: Path) -> PipelineResource:
        return PipelineResource(cohort_dir=str(source), data_dir=str(work / data), params="demo")

    instance = dg.DagsterInstance.get()
    start = time.perf_counter()
    run_cohort(pipeline("incremental", cohort), instance, workers=args.workers)
    first_s = time.perf_counter() - start

    # One new case arrives: only its partitions run, then tables and models are refit.
    shutil.copytree(folders[-1], cohort / folders[-1].name)
    new_id = folders[-1].name.removesuffix("_nifti")
    incremental = pipeline("incremental", cohort)
    instance.add_dynamic_partitions("patients", [new_id])
    start = time.perf_counter()
    outcomes = run_patient(incremental, new_id, instance)
    add_case_s = time.perf_counter() - start
    assert all(o.success for o in outcomes), outcomes
    start = time.perf_counter()
    run_cohort(incremental, instance, workers=args.workers, patients=[])
    refit_s = time.perf_counter() - start

    start = time.perf_counter()
    summary = run_cohort(pipeline("full", all_cases), instance, workers=args.workers)
    full_s = time.perf_counter() - start
    assert not summary.failed, summary.failed
    n = args.patients
    print(f"{n} cases, shape {shape}, demo params, {args.workers} workers")
    print(f"first run of {n} cases: {first_s:.1f} s; full rerun of {n + 1} cases: {full_s:.1f} s")
    print(f"adding case {new_id}: its partitions {add_case_s:.1f} s, then tables + models {refit_s:.1f} s")
    shutil.rmtree(work, ignore_errors=True)
    print(f"full_s={full_s:.1f} add_case_s={add_case_s:.1f} add_case_ratio={add_case_s / full_s:.3f} "
          f"target={2 / n:.3f} refit_s={refit_s:.1f}")


if __name__ == "__main__":
    main()
