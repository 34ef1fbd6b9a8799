"""A task's ``min_icc`` and ``harmonize`` through the real graph (run_cohort on an ephemeral
instance, a DuckDB warehouse on disk): a two-site cohort (UCSF-PDGM folders and manifest cases
beside them) with robustness on, and a task file asking for both. The fitted models are
recomputed from the warehouse's own tables with the core functions and compared."""

from __future__ import annotations

from importlib import resources

import dagster as dg
import joblib
import numpy as np
import pandas as pd
import pytest
import yaml

from radiomics_core.modeling.fitting import fit_task_models
from radiomics_core.modeling.harmonization import harmonize_matrices
from radiomics_core.settings import Ring
from tests.builders import write_manifest, write_ucsf_case, write_ucsf_cohort
from warehouse import queries

pytestmark = pytest.mark.slow

MIN_ICC = 0.75
N_SITE2 = 6  # manifest cases: ComBat needs two training exams of each site


def _task_file(path, **changes) -> str:
    """The grade preset with min_icc and harmonize on (and ``changes``) as a task file."""
    task = yaml.safe_load(resources.files("radiomics_core.tasks.presets").joinpath("grade.yaml").read_text())
    path.write_text(yaml.safe_dump({**task, "min_icc": MIN_ICC, "harmonize": "layout", **changes}))
    return str(path)


def _pipeline(cohort, data_dir, task_file: str):
    from orchestration.resources import PipelineResource

    return PipelineResource(cohort_dir=str(cohort), data_dir=str(data_dir), params="demo", rings_mm=[1.0],
                            tasks=["grade"], task_files=[task_file], classifiers=["logistic"], sequences=["FLAIR"],
                            robustness=True)


@pytest.fixture(scope="module")
def options_run(tmp_path_factory):
    from cli.launcher import run_cohort

    root = tmp_path_factory.mktemp("model-options")
    cohort = write_ucsf_cohort(root / "cohort", n=10)
    rows = []
    for i in range(N_SITE2):
        patient, outcome = f"SITE2-{i:03d}", i % 2
        folder = write_ucsf_case(cohort / "site2", patient, seed=200 + i, outcome=outcome).relative_to(cohort)
        rows.append({"patient_id": patient, "FLAIR": f"{folder}/{patient}_FLAIR.nii.gz",
                     "seg": f"{folder}/{patient}_tumor_segmentation.nii.gz",
                     "brain_mask": f"{folder}/{patient}_brain_segmentation.nii.gz",
                     "sex": "MF"[i % 2], "age": str(45 + i), "who_grade": "4" if outcome else "2",
                     "biopsy_prior_to_imaging": "No"})
    write_manifest(cohort, rows)
    pipeline = _pipeline(cohort, root / "data", _task_file(root / "grade-robust-harmonized.yaml"))
    instance = dg.DagsterInstance.ephemeral()
    summary = run_cohort(pipeline, instance, workers=1)
    yield pipeline, instance, summary
    instance.dispose()


def _models(pipeline) -> dict[tuple[str, float | None], object]:
    models = joblib.load(pipeline.settings.work_dir("models", "fitted_models", "grade.joblib"))
    return {(m.model, None if m.ring_mm is None or pd.isna(m.ring_mm) else float(m.ring_mm)): m for m in models}


def _metadata(instance) -> dict:
    [record] = instance.fetch_materializations(dg.AssetRecordsFilter(
        asset_key=dg.AssetKey("fitted_models"), asset_partitions=["grade"]), limit=1).records
    return {k: v.value for k, v in record.asset_materialization.metadata.items()}


def _stored_matrices(pipeline) -> dict[float, pd.DataFrame]:
    root, settings = pipeline.warehouse().root, pipeline.settings
    return {ring.mm: queries.feature_matrix(root, ring, settings.feature_identity, sequences=settings.stored_sequences)
            for ring in (Ring.voi_t(), Ring.of(1.0))}


def _icc_by_column(robustness: pd.DataFrame, ring_mm: float) -> pd.Series:
    """The VOI's ICC(2,1) keyed as the feature tables name their columns (sequence__feature)."""
    rows = robustness[robustness.ring_mm == ring_mm]
    return pd.Series(rows.icc.to_numpy(), index=rows.sequence + "__" + rows.feature)


def test_the_two_site_cohort_runs_to_the_reports(options_run):
    pipeline, _, summary = options_run
    assert not summary.failed, [(o.job, o.partition) for o in summary.failed]
    patients = queries.table(pipeline.warehouse().root, "patients")
    assert patients.groupby("layout").size().to_dict() == {"manifest": N_SITE2, "ucsf-pdgm": 10}
    splits = queries.table(pipeline.warehouse().root, "splits", {"task": "grade"}).merge(patients, on="patient_id")
    assert (splits[splits.split == "train"].groupby("layout").size() >= 2).all()


def test_min_icc_drops_exactly_the_features_under_it_in_feature_robustness(options_run):
    pipeline, instance, _ = options_run
    robustness = queries.feature_robustness(pipeline.warehouse().root, pipeline.settings.feature_identity)
    models = _models(pipeline)
    kept = {}
    for ring_mm, matrix in _stored_matrices(pipeline).items():
        icc = _icc_by_column(robustness, ring_mm)
        robust = {column for column in matrix.columns if icc.get(column, np.nan) >= MIN_ICC}
        assert 0 < len(robust) < matrix.shape[1]  # the threshold bites, and leaves something
        model = models[("VOI_T", None) if ring_mm == 0 else ("VOI_P", ring_mm)]
        # What entered the model's selection: exactly the features at or above the threshold.
        assert set(model.columns) == robust
        assert set(model.coefficients) <= robust
        kept[ring_mm] = robust
    combined = models[("Combined", 1.0)]
    assert set(combined.columns) == ({Ring.voi_t().column_prefix + c for c in kept[0.0]}
                                     | {Ring.of(1.0).column_prefix + c for c in kept[1.0]})
    metadata = _metadata(instance)
    assert metadata["min_icc"] == MIN_ICC
    assert metadata["features_kept_by_min_icc"] == {"VOI_T": len(kept[0.0]), "1 mm": len(kept[1.0])}


def _refit(pipeline, combat_rows: str):
    """The task's models recomputed from the warehouse: the robust features, ComBat fitted on the
    ``combat_rows`` ("train" or "all" labelled exams, or "none": no harmonization), then the fit."""
    root, settings = pipeline.warehouse().root, pipeline.settings
    task = settings.task("grade")
    splits = queries.table(root, "splits", {"task": "grade"}).set_index("patient_id")
    robustness = queries.feature_robustness(root, settings.feature_identity)
    matrices = {}
    for ring_mm, matrix in _stored_matrices(pipeline).items():
        icc = _icc_by_column(robustness, ring_mm)
        matrices[ring_mm] = matrix[[c for c in matrix.columns if icc.get(c, np.nan) >= MIN_ICC]]
    if combat_rows != "none":
        sites = queries.table(root, "patients").set_index("patient_id")["layout"]
        fit_rows = splits.index[splits.split == "train"] if combat_rows == "train" else splits.index
        matrices = harmonize_matrices({r: m.loc[m.index.intersection(splits.index)] for r, m in matrices.items()},
                                      sites, fit_rows)
    usable = queries.table(root, "patients", {"usable": True}).patient_id
    clinical = queries.table(root, "clinical")
    models = fit_task_models(task, splits.label, splits.split, matrices, clinical[clinical.patient_id.isin(usable)])
    return {(m.model, None if m.ring_mm is None or pd.isna(m.ring_mm) else float(m.ring_mm)): m for m in models}


def test_harmonize_fits_combat_on_the_training_split_and_the_models_on_its_output(options_run):
    pipeline, instance, _ = options_run
    fitted = _models(pipeline)
    radiomics = [("VOI_T", None), ("VOI_P", 1.0), ("Combined", 1.0)]
    train_only = _refit(pipeline, "train")
    for key in radiomics:
        assert fitted[key].coefficients == pytest.approx(train_only[key].coefficients, abs=1e-9), key
        pd.testing.assert_series_equal(fitted[key].scores, train_only[key].scores, atol=1e-9)
    # The same models with ComBat fitted on every labelled exam (test included), or without
    # ComBat, score the exams otherwise: the pipeline's are neither.
    for other in (_refit(pipeline, "all"), _refit(pipeline, "none")):
        assert any(not np.allclose(fitted[key].scores, other[key].scores.reindex(fitted[key].scores.index), atol=1e-6)
                   for key in radiomics)
    metadata = _metadata(instance)
    assert metadata["harmonized_by"] == "layout" and metadata["harmonized_sites"] == "manifest, ucsf-pdgm"
    assert metadata["sites_not_harmonized"] == {}



def test_a_harmonized_task_whose_external_set_is_the_only_other_site_fails_saying_how_to_proceed(options_run, tmp_path):
    import shutil

    from orchestration.definitions import build_definitions

    pipeline, _, _ = options_run
    # A copy of the run's data folder (the warehouse and the feature tables), so the run's stays as it is.
    data = shutil.copytree(pipeline.settings.data_dir, tmp_path / "data")
    external = _pipeline(pipeline.cohort_dir, data, _task_file(tmp_path / "grade.yaml", external={"layout": ["manifest"]}))
    defs = build_definitions(external)
    instance = dg.DagsterInstance.ephemeral()
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance, asset_selection=[dg.AssetKey("splits"), dg.AssetKey("fitted_models")],
        partition_key="grade", raise_on_error=False)
    assert not result.success
    splits = queries.table(external.warehouse().root, "splits", {"task": "grade"})
    assert splits[splits.split == "external"].patient_id.str.startswith("SITE2-").sum() == N_SITE2
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_key == "fitted_models"
    assert failure.step_failure_data.user_failure_data.description == (
        "task grade: harmonize: layout, but every training exam is of ucsf-pdgm: one site has nothing to "
        "harmonize; set harmonize: null in the task file")
    instance.dispose()
