"""The warehouse schema: one place, versioned.

Each table is a folder of Parquet files, one file per partition (a patient, a patient x ring, a
task), written atomically by the pipeline. The DuckDB file holds views named after the tables
over those folders, so concurrent partitions never contend for DuckDB's single writer lock and
re-materializing a partition replaces exactly its file (idempotent). Bump ``SCHEMA_VERSION``
whenever a table's columns change.
"""

from __future__ import annotations

SCHEMA_VERSION = 6

# Columns renamed by a schema version, table -> {old name: new name}. ``Warehouse.initialize``
# rewrites each stored file that still has an old name once, keeping its rows.
RENAMED_COLUMNS: dict[str, dict[str, str]] = {
    # Version 4: the column holds the settings' feature identity (radiomics_core.settings), not
    # the parameters' hash.
    "features": {"params_hash": "feature_identity"},
}

# table -> ordered (column, DuckDB type)
TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "patients": (
        ("patient_id", "VARCHAR"), ("source_id", "VARCHAR"), ("layout", "VARCHAR"), ("folder", "VARCHAR"),
        ("usable", "BOOLEAN"), ("updated_at", "TIMESTAMP"),
    ),
    "clinical": (
        ("patient_id", "VARCHAR"), ("sex", "VARCHAR"), ("age", "DOUBLE"), ("who_grade", "INTEGER"),
        ("mgmt_methylated", "BOOLEAN"), ("idh", "VARCHAR"), ("raw_json", "VARCHAR"),
        # What the task rules read (radiomics_core.tasks.selection): WHO 2021 diagnosis as written,
        # a biopsy before this exam (not preoperative), the subject's BraTS 2021 case id, the BraTS
        # 2021 MGMT challenge set the exam is in (version 5; older partitions read it as NULL).
        ("diagnosis", "VARCHAR"), ("biopsy_prior_to_imaging", "BOOLEAN"), ("brats21_id", "VARCHAR"),
        ("brats21_mgmt_cohort", "VARCHAR"),
    ),
    "case_issues": (
        ("patient_id", "VARCHAR"), ("stage", "VARCHAR"), ("path", "VARCHAR"), ("kind", "VARCHAR"),
        ("severity", "VARCHAR"), ("message", "VARCHAR"), ("recorded_at", "TIMESTAMP"),
    ),
    "preprocessing": (("patient_id", "VARCHAR"), ("metadata_json", "VARCHAR")),
    "ring_volumes": (
        ("patient_id", "VARCHAR"), ("ring_mm", "DOUBLE"), ("voxels", "BIGINT"), ("volume_mm3", "DOUBLE"),
        ("status", "VARCHAR"),
    ),
    "features": (
        ("patient_id", "VARCHAR"), ("ring_mm", "DOUBLE"), ("sequence", "VARCHAR"), ("feature", "VARCHAR"),
        ("value", "DOUBLE"), ("feature_identity", "VARCHAR"), ("pyradiomics_version", "VARCHAR"),
    ),
    "splits": (("task", "VARCHAR"), ("patient_id", "VARCHAR"), ("label", "INTEGER"), ("split", "VARCHAR")),
    # Which exams entered the task and why the others did not, per step and class (CONSORT-style):
    # radiomics_core.tasks.selection.select_cases, the same call the labels come from. ``preset``
    # (version 5): the task definition the rules came from, a shipped preset's name (grade,
    # grade-who2021) or the path of the user's task file.
    "selection_flow": (
        ("task", "VARCHAR"), ("step", "INTEGER"), ("criterion", "VARCHAR"), ("reason", "VARCHAR"),
        ("label_class", "VARCHAR"), ("n_in", "INTEGER"), ("n_excluded", "INTEGER"), ("n_out", "INTEGER"),
        ("preset", "VARCHAR"),
    ),
    # Every model table has a row per classifier (radiomics_core.tasks.config.CLASSIFIERS): the same
    # model (task, model, ring_mm) and selected features, another final estimator.
    "model_metrics": (
        ("task", "VARCHAR"), ("model", "VARCHAR"), ("ring_mm", "DOUBLE"), ("classifier", "VARCHAR"),
        ("split", "VARCHAR"), ("n", "INTEGER"),
        ("auc", "DOUBLE"), ("auc_low", "DOUBLE"), ("auc_high", "DOUBLE"), ("accuracy", "DOUBLE"),
        ("sensitivity", "DOUBLE"), ("specificity", "DOUBLE"), ("f1", "DOUBLE"), ("threshold", "DOUBLE"),
        ("brier", "DOUBLE"),
        # Percentile intervals from a stratified bootstrap at the train threshold (evaluation.bootstrap_intervals).
        ("accuracy_low", "DOUBLE"), ("accuracy_high", "DOUBLE"), ("sensitivity_low", "DOUBLE"),
        ("sensitivity_high", "DOUBLE"), ("specificity_low", "DOUBLE"), ("specificity_high", "DOUBLE"),
        ("f1_low", "DOUBLE"), ("f1_high", "DOUBLE"), ("brier_low", "DOUBLE"), ("brier_high", "DOUBLE"),
        ("bootstrap_resamples", "INTEGER"),
        # Logistic recalibration on the logit of the predicted probability (1 and 0 when calibrated).
        ("calibration_slope", "DOUBLE"), ("calibration_intercept", "DOUBLE"),
        # Wald intervals from the recalibration's observed information (evaluation.calibration_intervals).
        ("calibration_slope_low", "DOUBLE"), ("calibration_slope_high", "DOUBLE"),
        ("calibration_intercept_low", "DOUBLE"), ("calibration_intercept_high", "DOUBLE"),
    ),
    "roc_points": (
        ("task", "VARCHAR"), ("model", "VARCHAR"), ("ring_mm", "DOUBLE"), ("classifier", "VARCHAR"),
        ("split", "VARCHAR"),
        ("fpr", "DOUBLE"), ("tpr", "DOUBLE"), ("threshold", "DOUBLE"),
    ),
    # Model a under ``classifier`` against model b under ``classifier_b``: two models of one
    # classifier, or one model under two classifiers (evaluation.evaluate).
    "delong_tests": (
        ("task", "VARCHAR"), ("split", "VARCHAR"), ("classifier", "VARCHAR"), ("classifier_b", "VARCHAR"),
        ("model_a", "VARCHAR"), ("ring_a", "DOUBLE"),
        ("model_b", "VARCHAR"), ("ring_b", "DOUBLE"), ("auc_a", "DOUBLE"), ("auc_b", "DOUBLE"),
        ("z", "DOUBLE"), ("p_value", "DOUBLE"),
    ),
    "clinical_characteristics": (
        ("task", "VARCHAR"), ("variable", "VARCHAR"), ("level", "VARCHAR"), ("group", "VARCHAR"),
        ("summary", "VARCHAR"), ("p_value", "DOUBLE"), ("comparison", "VARCHAR"),
    ),
    "selected_features": (
        ("task", "VARCHAR"), ("model", "VARCHAR"), ("ring_mm", "DOUBLE"), ("classifier", "VARCHAR"),
        ("feature", "VARCHAR"),
        ("coefficient", "DOUBLE"),
    ),
    "calibration": (
        ("task", "VARCHAR"), ("model", "VARCHAR"), ("ring_mm", "DOUBLE"), ("classifier", "VARCHAR"),
        ("split", "VARCHAR"),
        ("predicted", "DOUBLE"), ("observed", "DOUBLE"), ("count", "INTEGER"),
    ),
    "decision_curve": (
        ("task", "VARCHAR"), ("model", "VARCHAR"), ("ring_mm", "DOUBLE"), ("classifier", "VARCHAR"),
        ("split", "VARCHAR"),
        ("threshold", "DOUBLE"), ("net_benefit", "DOUBLE"),
        # The treat-all reference on the same cases (treat none is 0): evaluation.treat_all_net_benefit.
        ("treat_all", "DOUBLE"),
    ),
    "predictions": (
        ("task", "VARCHAR"), ("model", "VARCHAR"), ("ring_mm", "DOUBLE"), ("classifier", "VARCHAR"),
        ("split", "VARCHAR"),
        ("patient_id", "VARCHAR"), ("label", "INTEGER"), ("score", "DOUBLE"),
    ),
    # Model figures from the training data (radiomics_core.modeling.figures), written by fitted_models.
    "lasso_cv": (
        ("task", "VARCHAR"), ("model", "VARCHAR"), ("ring_mm", "DOUBLE"), ("alpha", "DOUBLE"),
        ("cv_mse", "DOUBLE"), ("cv_mse_sd", "DOUBLE"), ("chosen", "BOOLEAN"),
    ),
    "lasso_path": (
        ("task", "VARCHAR"), ("model", "VARCHAR"), ("ring_mm", "DOUBLE"), ("alpha", "DOUBLE"),
        ("feature", "VARCHAR"), ("coefficient", "DOUBLE"),
    ),
    "feature_correlation": (
        ("task", "VARCHAR"), ("model", "VARCHAR"), ("ring_mm", "DOUBLE"), ("feature_a", "VARCHAR"),
        ("feature_b", "VARCHAR"), ("r", "DOUBLE"),
    ),
    "nomogram": (
        ("task", "VARCHAR"), ("model", "VARCHAR"), ("ring_mm", "DOUBLE"), ("axis", "VARCHAR"),
        ("axis_order", "INTEGER"), ("value", "DOUBLE"), ("label", "VARCHAR"), ("points", "DOUBLE"),
        ("position", "DOUBLE"),
    ),
    # Version 6: feature robustness under contour perturbation (radiomics_core.robustness). A
    # patient's features under each perturbation of VOI_T (``perturbation`` = "original",
    # "dilate_1", "erode_1", "contour_<seed>"), every ring rebuilt from the perturbed outline.
    "perturbed_features": (
        ("patient_id", "VARCHAR"), ("perturbation", "VARCHAR"), ("ring_mm", "DOUBLE"), ("sequence", "VARCHAR"),
        ("feature", "VARCHAR"), ("value", "DOUBLE"), ("feature_identity", "VARCHAR"),
    ),
    # Per VOI and feature, across patients x perturbations: ICC(2,1) (absolute agreement, the
    # form ``min_icc`` thresholds) with its 95% interval, and ICC(3,1) (consistency).
    "feature_robustness": (
        ("ring_mm", "DOUBLE"), ("sequence", "VARCHAR"), ("feature", "VARCHAR"), ("icc", "DOUBLE"),
        ("icc_low", "DOUBLE"), ("icc_high", "DOUBLE"), ("icc_consistency", "DOUBLE"), ("n_patients", "INTEGER"),
        ("n_perturbations", "INTEGER"), ("feature_identity", "VARCHAR"),
    ),
    # Several segmentations of one case (settings ``rater_manifest``): Dice of VOI_T and every
    # ring between each pair, and each feature's coefficient of variation across them.
    "rater_dice": (
        ("patient_id", "VARCHAR"), ("ring_mm", "DOUBLE"), ("rater_a", "VARCHAR"), ("rater_b", "VARCHAR"),
        ("dice", "DOUBLE"), ("voxels_a", "BIGINT"), ("voxels_b", "BIGINT"),
    ),
    "rater_feature_cv": (
        ("patient_id", "VARCHAR"), ("ring_mm", "DOUBLE"), ("sequence", "VARCHAR"), ("feature", "VARCHAR"),
        ("mean", "DOUBLE"), ("sd", "DOUBLE"), ("cv", "DOUBLE"), ("n_raters", "INTEGER"),
        ("feature_identity", "VARCHAR"),
    ),
}
