from __future__ import annotations

import pytest

from tests.builders import BAD, DATA, RINGS, write_ucsf_cohort


@pytest.fixture(scope="session")
def pyradiomics_data():
    """The real PyRadiomics MR samples (brain1, brain2) and their baselines, shipped in tests/data."""
    return DATA / "pyradiomics"


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory):
    """The real graph materialized once on a 10-case cohort (one corrupt) on an ephemeral instance."""
    import dagster as dg

    from orchestration.resources import PipelineResource
    from cli.launcher import run_cohort

    root = tmp_path_factory.mktemp("pipeline")
    cohort = write_ucsf_cohort(root / "cohort", n=10)
    flair = cohort / f"{BAD}_nifti" / f"{BAD}_FLAIR.nii.gz"
    flair.write_bytes(flair.read_bytes()[:1500])
    pipeline = PipelineResource(cohort_dir=str(cohort), data_dir=str(root / "data"), params="demo", rings_mm=RINGS,
                                tasks=["grade"])  # 10 small cases hold too few MGMT-known GBMs
    instance = dg.DagsterInstance.ephemeral()
    summary = run_cohort(pipeline, instance, workers=1)
    yield pipeline, instance, summary
    instance.dispose()


@pytest.fixture(scope="session")
def postgres_url():
    """A real PostgreSQL server (tests/services.py) for the session: the URL of an empty database."""
    from tests.services import postgres_server

    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def slurm():
    """A real single-node Slurm (tests/services.py) for the session; its SLURM_CONF is exported
    so Slurm's client commands (sbatch, scontrol, scancel) reach it."""
    import os

    from tests.services import slurm_cluster

    with slurm_cluster() as cluster:
        before = os.environ.get("SLURM_CONF")
        os.environ.update(cluster.env)
        try:
            yield cluster
        finally:
            if before is None:
                os.environ.pop("SLURM_CONF", None)
            else:
                os.environ["SLURM_CONF"] = before


@pytest.fixture(scope="session")
def tcga_raters_run(tmp_path_factory):
    """The shared TCGA-LGG cases (tests/builders.py ``write_tcga_rater_cohort``) through
    raw_scans, normalized_images and rater_agreement on an ephemeral instance: seven
    segmentations per case, every default ring (1-5, 10, 15 mm), T1c and FLAIR, the demo
    parameters (all texture classes, no filters, no shape: about 35 s of extraction a case)."""
    import dagster as dg

    from orchestration.definitions import assets
    from orchestration.partitions import patients_partitions
    from orchestration.resources import PipelineResource
    from tests.builders import write_tcga_rater_cohort

    root = tmp_path_factory.mktemp("tcga-raters")
    manifest, raters = write_tcga_rater_cohort(root)
    pipeline = PipelineResource(cohort_dir=str(manifest.parent), data_dir=str(root / "data"), params="demo",
                                tasks=[], sequences=["T1c", "FLAIR"], rater_manifest=str(raters))
    graph = {a.key.to_user_string(): a for a in assets(pipeline)}
    instance = dg.DagsterInstance.ephemeral()
    patients = [case.patient_id for case in pipeline.settings.cohort().cases]
    instance.add_dynamic_partitions(patients_partitions.name, patients)
    results = {patient: dg.materialize([graph["raw_scans"], graph["normalized_images"], graph["rater_agreement"]],
                                       partition_key=patient, instance=instance, resources={"pipeline": pipeline})
               for patient in patients}
    yield pipeline, results
    instance.dispose()
