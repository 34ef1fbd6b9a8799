"""Pipeline benchmark: the demo cohort end to end, and the cost of adding one case.

Materializes an N-case synthetic cohort through Dagster (persistent instance in a temporary
DAGSTER_HOME, 2 worker processes), then adds one case the incremental way (its patient and ring
partitions only, then the feature tables and the models) and compares with a full rerun of all
N + 1 cases measured in the same run. Prints, as the last line:
``full_s=<t> add_case_s=<t> add_case_ratio=<r> target=<2/N> refit_s=<t>``.

    uv run python bench/pipeline.py --patients 20
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=20)
    parser.add_argument("--shape", default="96,96,64")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="glioma-rings-bench-"))
    os.environ["DAGSTER_HOME"] = str(work / "dagster_home")
    (work / "dagster_home").mkdir()
    (work / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")

    import dagster as dg

    from orchestration.resources import PipelineResource
    from orchestration.runner import run_cohort, run_patient
    from radiomics_core.synthetic import DemoConfig, write_demo_cohort

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
