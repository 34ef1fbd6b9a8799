"""Blocking asset checks stop what depends on them, and every warehouse table written is reported
on its own node of the lineage graph."""

import dagster as dg
import numpy as np
import pytest
import SimpleITK as sitk

from cli.launcher import run_patient
from orchestration.definitions import build_definitions
from orchestration.partitions import patients_partitions
from orchestration.resources import PipelineResource
from tests.builders import write_ucsf_cohort

pytestmark = pytest.mark.slow
PATIENT = "UCSF-PDGM-0001"


@pytest.fixture(scope="module")
def processed(tmp_path_factory):
    root = tmp_path_factory.mktemp("blocking")
    cohort = write_ucsf_cohort(root / "cohort", n=2)
    pipeline = PipelineResource(cohort_dir=str(cohort), data_dir=str(root / "data"), params="demo", rings_mm=[1.0],
                                tasks=["grade"])
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(patients_partitions.name, [PATIENT])
        assert all(outcome.success for outcome in run_patient(pipeline, PATIENT, instance))
        yield pipeline, instance


def test_an_empty_voi_t_fails_its_blocking_check_and_that_patients_features_are_not_extracted(processed):
    pipeline, instance = processed
    features = sorted((pipeline.warehouse().root / "tables" / "features").glob(f"{PATIENT}__*.parquet"))
    written = {path: path.stat().st_mtime_ns for path in features}
    voi_t = pipeline.settings.work_dir("normalized", PATIENT, "voi_t.nii.gz")
    image = sitk.ReadImage(str(voi_t))
    empty = sitk.GetImageFromArray(np.zeros(sitk.GetArrayFromImage(image).shape, np.uint8))
    empty.CopyInformation(image)
    sitk.WriteImage(empty, str(voi_t))  # replaced behind the pipeline's back
    job = build_definitions(pipeline).resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=instance, raise_on_error=False,
                                    asset_selection=[dg.AssetKey("voi_extraction")], partition_key=PATIENT)
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["voi_t_non_empty"] is False
    # A blocking check that fails fails its asset's step, so nothing downstream runs.
    failed = [e for e in result.all_events if e.is_step_failure]
    assert [e.step_key for e in failed] == ["voi_extraction"] and "blocking asset check failed" in str(
        failed[0].step_failure_data.error.message)
    assert written and {path: path.stat().st_mtime_ns for path in features} == written


def test_each_warehouse_table_written_gets_a_materialization_naming_its_writer(processed):
    _, instance = processed
    for table, writer in (("patients", "raw_scans"), ("preprocessing", "normalized_images"),
                          ("ring_volumes", "voi_extraction"), ("features", "voi_extraction")):
        event = instance.get_latest_materialization_event(dg.AssetKey(["warehouse", table]))
        assert event is not None, table
        assert event.asset_materialization.metadata["written_by"].value == writer
