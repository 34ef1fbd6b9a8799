"""180 real patients on 2 cores, projected from real cases run through ``glioma-rings run``.

A cohort of real cases (a folder in BraTS 2021 or 2023 naming), the ``default`` parameters and
every ring, through ``glioma-rings run`` (one GraphQL backfill executed by the daemon ``run``
starts; each patient a run in its own process). Two ``run``s on one instance: the first extracts
every patient, the second (every patient current) runs the cohort-wide part alone. Every process
of both is counted (``bench.processes``), so the CPU per patient is
(first - second) / patients: preprocessing, work files, extraction and Dagster's per-run cost.
Projection for 180 such patients on 2 cores: 180 x that / 2 + the second run's wall time. Prints,
as the last line: ``cpu_per_patient_s=<s> projection_min=<m>``.

    uv run python bench/projection.py /tmp/real/brats2021

The shared real cases (../shared/data/real) are arranged as a BraTS 2021 folder by the real-scan
tests' own helper (the TCGA-LGG cases with their ``fusion-mav`` segmentation):

    uv run python -c "from pathlib import Path; from tests.test_real_scans import _brats2021; \
        _brats2021(Path('/tmp/real/brats2021'))"
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.processes import Cost, become_subreaper, measured, patient_runs

PATIENTS_PROJECTED = 180
CORES = 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cohort", type=Path)
    args = parser.parse_args()
    from radiomics_core.cohorts.layouts import read_cohort

    patients = {case.patient_id for case in read_cohort(args.cohort).cases}
    become_subreaper()
    with tempfile.TemporaryDirectory(prefix="glioma-rings-projection-") as folder:
        home = Path(folder, "home")
        command = [sys.executable, "-m", "cli", "run", str(args.cohort.resolve()), "--data-dir",
                   str(Path(folder, "data")), "--params", "default"]
        popen = {"env": {**os.environ, "DAGSTER_HOME": str(home)}, "cwd": ROOT, "stdout": subprocess.DEVNULL}
        # The cohorts have no clinical sheet: the tasks end for lack of cases, the same in both runs.
        first: Cost = measured(command, check=False, **popen)
        runs, counts, _ = patient_runs(home, patients)
        second: Cost = measured(command, check=False, **popen)
        assert patient_runs(home, patients)[1] == counts, "the second run extracted a patient again"
    per_patient = (first.cpu_s - second.cpu_s) / len(runs)
    for patient, seconds in sorted(runs.items()):
        print(f"{patient}: its run {seconds:.1f} s of wall")
    print(f"first run ({len(runs)} patients and the cohort-wide part): {first.wall_s:.0f} s wall, {first.cpu_s:.0f} s CPU; "
          f"second run (the cohort-wide part): {second.wall_s:.0f} s wall, {second.cpu_s:.0f} s CPU")
    projection = PATIENTS_PROJECTED * per_patient / CORES + second.wall_s
    print(f"{PATIENTS_PROJECTED} such patients on {CORES} cores: {PATIENTS_PROJECTED} x {per_patient:.1f} s / {CORES} "
          f"+ {second.wall_s:.0f} s = {projection / 60:.1f} min")
    print(f"cpu_per_patient_s={per_patient:.1f} projection_min={projection / 60:.1f}")


if __name__ == "__main__":
    main()
