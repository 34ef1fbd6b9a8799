"""A synthetic warehouse of any size, written with the warehouse's own writers: for the dashboard
benchmark (``bench/dashboard.py``) and the dashboard and browser tests, which need both tasks.

``build_warehouse`` writes every table the dashboard reads, partitioned as the pipeline partitions
them (one features file per patient x ring, one model file per task). Splits come from
``radiomics_core.tasks.config``, the evaluation tables from ``radiomics_core.evaluation.metrics.evaluate``
on synthetic scores and Table 1 from ``radiomics_core.evaluation.clinical_table``, so the rows have
the real shapes and counts.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from radiomics_core.evaluation.clinical_table import clinical_characteristics
from radiomics_core.tasks.selection import select_cases
from radiomics_core.evaluation.metrics import evaluate, selected_features_table
from radiomics_core.modeling.figures import describe, figure_tables
from radiomics_core.modeling.fitting import FittedModel
from radiomics_core.modeling.selectors import make_classifier, mgmt_pipeline, selected_coefficients
from radiomics_core.tasks.config import class_names, preset, assign_splits
from radiomics_core.settings import Ring
from warehouse.store import Warehouse

SEQUENCES = ("T1", "T1c", "T2", "FLAIR")
ISSUE_COLUMNS = ["patient_id", "stage", "path", "kind", "severity", "message", "recorded_at"]
# The demo parameter file's feature count per sequence (Original image type only), shape on the mask.
FAMILIES = {"firstorder": 18, "glcm": 24, "glrlm": 16, "glszm": 16, "gldm": 14, "ngtdm": 5}
SHAPE = 14
# The image types of the shipped default parameters (Original, LoG at 1 and 3 mm, 8 wavelets):
# 11 x 93 features per sequence + 14 shape = 4,106 per VOI, the 32,848 of a patient's 8 VOIs.
DEFAULT_IMAGE_TYPES = ("original", "log-sigma-1-0-mm-3D", "log-sigma-3-0-mm-3D",
                       *(f"wavelet-{band}" for band in ("LLH", "LHL", "LHH", "HLL", "HLH", "HHL", "HHH", "LLL")))
RINGS = (1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 15.0)
# The ring where the planted signal is strongest (the thesis found 3-5 mm rings best).
BEST_RING = 3.0


def feature_names(image_types: tuple[str, ...] = ("original",)) -> list[tuple[str, str]]:
    names = [(seq, f"{image_type}_{family}_Feature{k:02d}") for seq in SEQUENCES for image_type in image_types
             for family, n in FAMILIES.items() for k in range(n)]
    return names + [("mask", f"original_shape_Feature{k:02d}") for k in range(SHAPE)]


def _signal(ring_mm: float) -> float:
    """How strongly a ring's features separate the classes (peaks at BEST_RING)."""
    return 0.6 + 1.0 * np.exp(-abs(ring_mm - BEST_RING) / 3.0) if ring_mm else 0.9


def build_warehouse(root: Path, patients: int, seed: int = 0, rings: tuple[float, ...] = RINGS,
                    tasks: tuple[str, ...] = ("grade", "mgmt"), zero_auc: tuple[str, float] | None = None,
                    feature_identity: str = "bench", image_types: tuple[str, ...] = ("original",)) -> Path:
    """Write a complete warehouse for ``patients`` synthetic cases; return its root.

    ``zero_auc`` names a (model, ring) whose scores rank every case backwards (AUC 0), so a test
    can check that an AUC of 0 is drawn at 0. ``feature_identity`` is the feature identity the features
    are stored under (a pipeline's ``feature_identity()`` lets its modeling assets read them);
    ``image_types`` sets the feature count (``DEFAULT_IMAGE_TYPES``: the default parameters').
    """
    rng = np.random.default_rng(seed)
    warehouse = Warehouse(Path(root)).initialize()
    ids = [f"SYN-{i:04d}" for i in range(1, patients + 1)]
    grade = rng.choice([2, 3, 4], size=patients, p=[0.2, 0.2, 0.6])
    mgmt = np.where(rng.random(patients) < 0.1, None, rng.random(patients) < 0.5)
    clinical = pd.DataFrame({
        "patient_id": ids, "sex": rng.choice(["F", "M"], size=patients), "age": rng.normal(55, 14, patients).round(),
        "who_grade": grade, "mgmt_methylated": mgmt, "idh": np.where(grade == 4, "wildtype", "mutant"),
        "raw_json": "{}",
        # What the task presets select on (radiomics_core/tasks/presets): adult preoperative diffuse
        # gliomas, the grade-4 ones in the BraTS 2021 MGMT training set (the thesis' MGMT cohort).
        "diagnosis": np.where(grade == 4, "Glioblastoma, IDH-wildtype", "Astrocytoma, IDH-mutant"),
        "biopsy_prior_to_imaging": False, "brats21_id": None,
        "brats21_mgmt_cohort": np.where(grade == 4, "Training", None)})
    now = datetime(2026, 1, 1)
    names = feature_names(image_types)
    for k, patient in enumerate(ids):
        row = clinical.iloc[[k]].astype({"mgmt_methylated": "object", "who_grade": "Int64"})
        warehouse.write_partition("patients", patient, pd.DataFrame([{
            "patient_id": patient, "source_id": patient, "layout": "ucsf-pdgm", "folder": f"/cohort/{patient}",
            "usable": True, "updated_at": now}]))
        warehouse.write_partition("clinical", patient, row)
        # The pipeline writes every case's ingest issues, most of them none: one file per patient.
        warehouse.write_partition("case_issues", f"{patient}__ingest", pd.DataFrame(columns=ISSUE_COLUMNS))
        high = int(grade[k] == 4)
        for ring in (0.0, *rings):
            key = Ring(ring).warehouse_key(patient)
            volume = 30_000.0 if ring == 0 else 4_000.0 * ring ** 0.8
            warehouse.write_partition("ring_volumes", key, pd.DataFrame([{
                "patient_id": patient, "ring_mm": ring, "voxels": int(volume), "volume_mm3": volume, "status": "ok"}]))
            values = rng.normal(0, 1, len(names)) + 0.8 * high * _signal(ring)
            warehouse.write_partition("features", key, pd.DataFrame({
                "patient_id": patient, "ring_mm": ring, "sequence": [s for s, _ in names],
                "feature": [f for _, f in names], "value": values, "feature_identity": feature_identity,
                "pyradiomics_version": "3.1.0"}))
    warehouse.write_partition("case_issues", "SYN-0001__ingest", pd.DataFrame([{
        "patient_id": "SYN-0001", "stage": "ingest", "path": "/cohort/SYN-0001/clinical.csv",
        "kind": "bad_clinical_value", "severity": "warning", "message": "age 'abc' is not a number",
        "recorded_at": now}]))
    for task_name in tasks:
        _write_task(warehouse, preset(task_name), clinical, rings, rng, zero_auc)
    return warehouse.root


def write_viewer_images(work: Path, patient: str, shape: tuple[int, int, int] = (155, 240, 240),
                        rings: tuple[float, ...] = RINGS, seed: int = 0) -> None:
    """One patient's normalized sequences and ring masks at BraTS size (1 mm, 240 x 240 x 155), laid
    out as the pipeline lays them out, so the viewer's timing includes reading real volumes."""
    import SimpleITK as sitk

    rng = np.random.default_rng(seed)
    z, y, x = np.ogrid[:shape[0], :shape[1], :shape[2]]
    distance = np.sqrt((z - shape[0] / 2) ** 2 + (y - shape[1] / 2) ** 2 + (x - shape[2] / 2) ** 2) - 20.0
    tumour = distance <= 0

    def write(array: np.ndarray, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        sitk.WriteImage(sitk.GetImageFromArray(array), str(path), useCompression=True)

    for k, sequence in enumerate(SEQUENCES):
        image = (rng.normal(100 + 10 * k, 15, shape) + 60 * tumour).astype(np.float32)
        write(image, work / "normalized" / patient / f"{sequence}.nii.gz")
    write(tumour.astype(np.uint8), work / "rings" / patient / Ring.voi_t().mask_file)
    for ring in rings:
        write(((distance > 0) & (distance <= ring)).astype(np.uint8), work / "rings" / patient / Ring.of(ring).mask_file)


def _figures(model: str, names: list[str], y: np.ndarray, strength: float, rng):
    """The model's recipe fitted on synthetic training values of its candidate features (the
    thesis' MGMT recipe for radiomics models, a logistic regression for the clinical ones), so the
    figure tables (LASSO curves, correlation, nomogram) come from radiomics_core with real shapes.
    Returns the pipeline, the features it kept with their coefficients, and its figures."""
    values = rng.normal(0, 1, (len(y), len(names))) + strength * 0.5 * (y[:, None] - 0.5) * rng.uniform(
        0.2, 1.5, len(names))
    if len(names) > 1:
        values[:, 1] += 0.7 * values[:, 0]  # one correlated pair, as radiomic features have
    X = pd.DataFrame(values, columns=names)
    if "age" in names:
        X["age"] = (55 + 10 * X["age"]).round()
    target = pd.Series(y)
    clinical = model in ("Clinical", "Clinical-Omics")
    logistic = Pipeline([("scale", StandardScaler()), ("classifier", make_classifier("logistic", 0))])
    pipeline = (logistic.set_output(transform="pandas") if clinical else mgmt_pipeline(0)).fit(X, target)
    figures = describe(pipeline, X, target, with_nomogram=model == "Clinical-Omics")
    return pipeline, selected_coefficients(pipeline), figures


CLASSIFIER_SHIFTS = {"svm": 0.3, "random_forest": -0.3}  # logit shift towards the true class


def _shifted(scores: pd.Series, y: np.ndarray, shift: float) -> pd.Series:
    """``scores`` moved by ``shift`` on the logit scale towards each case's class (an AUC of 0 stays 0)."""
    logit = np.log(scores / (1 - scores)) + shift * (2 * y - 1)
    return 1 / (1 + np.exp(-logit))


def _write_task(warehouse: Warehouse, task, clinical: pd.DataFrame, rings, rng, zero_auc) -> None:
    selection = select_cases(task, clinical)
    warehouse.write_partition("selection_flow", task.name, selection.flow)
    labels = selection.labels
    split = assign_splits(labels, task)
    warehouse.write_partition("splits", task.name, pd.DataFrame({
        "task": task.name, "patient_id": labels.index, "label": labels.values, "split": split.values}))
    y = labels.to_numpy()

    def fitted(model: str, ring: float | None, strength: float, features: dict[str, float]) -> FittedModel:
        scores = 1 / (1 + np.exp(-(strength * (y - 0.5) + rng.normal(0, 1.0, len(y)))))
        if zero_auc == (model, ring):
            scores = np.where(y == 1, 0.2, 0.8) + rng.uniform(-0.05, 0.05, len(y))
        pipeline, features, figures = _figures(model, list(features), y, strength, rng)
        return FittedModel(model, ring, pipeline, list(features), features, pd.Series(scores, index=labels.index),
                           figures=figures)

    def coefficients(prefix: str, n: int) -> dict[str, float]:
        picked = rng.choice(len(SEQUENCES) * 5, size=n, replace=False)
        return {f"{prefix}{SEQUENCES[i % 4]}__original_firstorder_Feature{i // 4:02d}": float(rng.normal(0, 1))
                for i in picked}

    models = [fitted("VOI_T", None, _signal(0), coefficients("", 4))]
    for ring in rings:
        models.append(fitted("VOI_P", ring, _signal(ring), coefficients("", 4)))
        both = {**coefficients(Ring.voi_t().column_prefix, 2), **coefficients(Ring.of(ring).column_prefix, 3)}
        models.append(fitted("Combined", ring, _signal(ring) + 0.2, both))
    models.append(fitted("Clinical", None, 0.3, {"age": 0.4}))
    models.append(fitted("Clinical-Omics", BEST_RING, _signal(BEST_RING) + 0.3, {"age": 0.2, "radscore": 1.1}))
    # The same models and selected features under the other classifiers, their scores pushed a
    # little apart by class (SVM) or together (random forest), so each classifier's numbers differ.
    models += [replace(m, classifier=kind, scores=_shifted(m.scores, y, shift))
               for kind, shift in CLASSIFIER_SHIFTS.items() for m in list(models)]
    tables = evaluate(task.name, models, labels, split)
    tables["clinical_characteristics"] = clinical_characteristics(
        task.name, clinical[clinical.patient_id.isin(labels.index)], labels, split, class_names(task.name))
    tables["selected_features"] = selected_features_table(task.name, models)
    tables.update(figure_tables(task.name, models))
    for table, frame in tables.items():
        warehouse.write_partition(table, task.name, frame)
