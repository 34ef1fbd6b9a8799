"""The per-patient extraction inside a Slurm job (``orchestration.slurm.run_on_slurm`` submits it):

    python -m orchestration.slurm_entry --patient UCSF-PDGM-0004 --settings <job dir>/settings.yaml

It reads the patient's normalized images and ring masks from the data folder, extracts the
features of every VOI of the settings in one pass (``extract_case_features``, as the local
extraction does), stores them as the patient's warehouse partitions, and reports the
materialization through ``dagster_pipes``. A failure is recorded in ``case_issues`` for the
patient and ends the job with a non-zero exit code, which fails the patient's partition.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from dagster_pipes import open_dagster_pipes

from orchestration.assets.imaging import extract_patient_features
from orchestration.resources import PipelineResource


def extract_patient(pipeline: PipelineResource, patient_id: str, log) -> dict:
    """Every VOI of the settings for one patient: its features stored; returns the metadata."""
    settings = pipeline.settings
    rows, _ = extract_patient_features(pipeline, patient_id)
    log.info(f"{patient_id}: {len(rows)} features for {', '.join(r.label for r in settings.rings)}")
    return {"features": len(rows), "feature_identity": settings.feature_identity,
            "params": settings.extraction_params.name, "rings": ", ".join(r.key for r in settings.rings)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestration.slurm_entry", description=__doc__.splitlines()[0])
    parser.add_argument("--patient", required=True)
    parser.add_argument("--settings", required=True, help="the run's settings file")
    args = parser.parse_args(argv)
    with open_dagster_pipes() as pipes:
        pipes.log.info(f"{args.patient}: Slurm job {os.environ.get('SLURM_JOB_ID', '?')} "
                       f"on {os.environ.get('SLURMD_NODENAME', os.uname().nodename)}")
        metadata = extract_patient(PipelineResource.load(args.settings), args.patient, pipes.log)
        metadata["slurm_node"] = os.environ.get("SLURMD_NODENAME", os.uname().nodename)
        pipes.report_asset_materialization(metadata=metadata)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
