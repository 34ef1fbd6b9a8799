"""Each bad input fails its own partition with a recorded reason; nothing stored is lost."""

import dagster as dg
import pytest

from orchestration.resources import PipelineResource
from cli.launcher import run_patient
from tests.builders import write_ucsf_cohort
from tests.corruptions import CORRUPTIONS
from warehouse import queries

pytestmark = pytest.mark.slow
GOOD = ["UCSF-PDGM-0001", "UCSF-PDGM-0002"]


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """Two good cases fully processed (VOI_T only), before anything goes wrong."""
    root = tmp_path_factory.mktemp("reliability")
    cohort = write_ucsf_cohort(root / "cohort", n=2 + len(CORRUPTIONS))
    pipeline = PipelineResource(cohort_dir=str(cohort), data_dir=str(root / "data"), params="demo", rings_mm=[],
                                tasks=["grade"])
    instance = dg.DagsterInstance.ephemeral()
    patients = [case.patient_id for case in pipeline.settings.cohort().cases]
    instance.add_dynamic_partitions("patients", patients)
    for patient in GOOD:
        assert all(o.success for o in run_patient(pipeline, patient, instance))
    yield pipeline, instance, dict(zip(CORRUPTIONS, patients[2:]))
    instance.dispose()


def _good_rows(pipeline) -> dict[str, int]:
    root = pipeline.warehouse().root
    return {table: int(queries.table(root, table).patient_id.isin(GOOD).sum())
            for table in ("patients", "clinical", "features", "ring_volumes")}


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_a_bad_case_fails_alone_with_its_reason_and_loses_nothing(stored, name):
    pipeline, instance, victims = stored
    patient = victims[name]
    damage, kind, still_runs = CORRUPTIONS[name]
    before = _good_rows(pipeline)
    damage(pipeline.settings.cohort().root, patient)
    outcomes = run_patient(pipeline, patient, instance)
    issues = queries.table(pipeline.warehouse().root, "case_issues", {"patient_id": patient})
    assert kind in issues.kind.tolist()
    assert issues.message.str.len().min() > 20  # a sentence a user can act on, not a code
    assert all(o.success for o in outcomes) == still_runs
    if not still_runs:
        assert [o.job for o in outcomes] == ["raw_scans+normalized_images+voi_extraction"]  # one run, failed before its rings
        assert patient in outcomes[0].error
    assert _good_rows(pipeline) == before


def test_a_duplicated_patient_fails_both_copies_and_loses_nothing(stored):
    pipeline, instance, victims = stored
    import shutil
    patient = victims["missing_clinical_row"]  # a case that otherwise runs
    cohort = pipeline.settings.cohort().root
    before = _good_rows(pipeline)
    shutil.copytree(cohort / f"{patient}_nifti", cohort / "second-copy" / f"{patient}_nifti")
    try:
        outcomes = run_patient(pipeline, patient, instance)
    finally:
        shutil.rmtree(cohort / "second-copy")
    assert not outcomes[0].success and "duplicate_patient_id" in outcomes[0].error
    issues = queries.table(pipeline.warehouse().root, "case_issues", {"patient_id": patient})
    assert "duplicate_patient_id" in issues.kind.tolist()
    assert _good_rows(pipeline) == before


def test_ids_dagster_would_reject_become_safe_partitions_end_to_end(tmp_path):
    from cli.launcher import run_cohort
    from tests.builders import small_case_volumes, write_manifest, write_volume

    rows = []
    for k, source_id in enumerate(["a|b", "../g", "e f,h"]):
        volumes = small_case_volumes(k)
        for role in ("FLAIR", "tumor_segmentation"):
            write_volume(volumes[role], tmp_path / "cohort" / f"c{k}" / f"{role}.nii.gz")
        rows.append({"patient_id": source_id, "FLAIR": f"c{k}/FLAIR.nii.gz", "seg": f"c{k}/tumor_segmentation.nii.gz"})
    write_manifest(tmp_path / "cohort", rows)
    pipeline = PipelineResource(cohort_dir=str(tmp_path / "cohort"), data_dir=str(tmp_path / "data"),
                                params="demo", rings_mm=[1.0], sequences=["FLAIR"], tasks=[])
    with dg.DagsterInstance.ephemeral() as instance:
        summary = run_cohort(pipeline, instance, workers=1)
    assert not summary.failed, summary.failed
    patients = queries.table(pipeline.warehouse().root, "patients")
    assert sorted(patients.source_id) == ["../g", "a|b", "e f,h"]
    assert not patients.patient_id.str.contains(r"[|,/ ]").any()
    features = queries.table(pipeline.warehouse().root, "features")
    assert set(features.patient_id) == set(patients.patient_id)
