"""Fitting the thesis' models for one task: VOI_T, VOI_P(d), Combined(d), Clinical, Clinical-Omics."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from radiomics_core.model_figures import ModelFigures, describe
from radiomics_core.selection import RECIPES, make_classifier, selected_coefficients
from radiomics_core.tasks import TaskConfig, TooFewCases, too_few_cases_reason

CLINICAL_VARIABLES = ("age", "sex_male")


@dataclass
class FittedModel:
    """One fitted model with what it selected and its scores per patient."""

    model: str  # VOI_T, VOI_P, Combined, Clinical, Clinical-Omics
    ring_mm: float | None
    pipeline: Pipeline
    columns: list[str]
    coefficients: dict[str, float]
    scores: pd.Series = field(default_factory=pd.Series)  # probability of class 1, all patients
    cv_auc: float = float("nan")
    figures: ModelFigures | None = None  # LASSO curves, feature correlation, nomogram (training data)


def combined_matrix(voi_t: pd.DataFrame, ring: pd.DataFrame, ring_mm: float) -> pd.DataFrame:
    """VOI_T and ring features side by side, prefixed so the two never share a name."""
    left = voi_t.add_prefix("T:")
    right = ring.add_prefix(f"P{ring_mm:g}:")
    return left.join(right, how="inner")


def clinical_design(clinical: pd.DataFrame) -> pd.DataFrame:
    frame = clinical.set_index("patient_id")
    return pd.DataFrame({"age": frame["age"].astype(float), "sex_male": (frame["sex"] == "M").astype(float)},
                        index=frame.index)


def significant_clinical(design: pd.DataFrame, y: pd.Series, alpha: float = 0.05) -> list[str]:
    """Clinical variables that differ between classes on the training set (the most different one
    if none reaches ``alpha``)."""
    p_values = {}
    for column in design.columns:
        values = design.loc[y.index, column]
        ok = values.notna()
        a, b = values[ok & (y == 1)], values[ok & (y == 0)]
        if column == "sex_male":
            table = pd.crosstab(values[ok], y[ok])
            p_values[column] = stats.chi2_contingency(table)[1] if table.shape == (2, 2) else 1.0
        else:
            p_values[column] = stats.mannwhitneyu(a, b).pvalue if len(a) and len(b) else 1.0
    chosen = [c for c, p in p_values.items() if p < alpha]
    return chosen or [min(p_values, key=p_values.get)]


def _fit(name: str, ring: float | None, X: pd.DataFrame, y: pd.Series, train: pd.Index,
         pipeline: Pipeline) -> FittedModel:
    pipeline.fit(X.loc[train], y.loc[train])
    scores = pd.Series(pipeline.predict_proba(X)[:, 1], index=X.index)
    figures = describe(pipeline, X.loc[train], y.loc[train], with_nomogram=name == "Clinical-Omics")
    return FittedModel(name, ring, pipeline, list(X.columns), selected_coefficients(pipeline), scores,
                       figures=figures)


def _cv_scores(pipeline_factory, X: pd.DataFrame, y: pd.Series, seed: int) -> pd.Series:
    folds = max(2, min(5, int(y.value_counts().min())))
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return pd.Series(cross_val_predict(pipeline_factory(), X, y, cv=cv, method="predict_proba")[:, 1], index=X.index)


def fit_task_models(task: TaskConfig, labels: pd.Series, splits: pd.Series, matrices: dict[float, pd.DataFrame],
                    clinical: pd.DataFrame) -> list[FittedModel]:
    """Every model of one task. ``matrices`` maps ring mm (0 = VOI_T) to wide feature tables.

    Raises TooFewCases (a one-line reason) before any fitting when the patients with labels and
    features in every matrix are too few per class (``radiomics_core.tasks.MIN_TRAIN_PER_CLASS``).
    """
    def radiomics_pipeline() -> Pipeline:
        return RECIPES[task.name](task.seed, task.classifier)

    patients = labels.index
    for matrix in matrices.values():
        patients = patients.intersection(matrix.index)
    y = labels.loc[patients]
    reason = too_few_cases_reason(task, y, splits.reindex(patients))
    if reason:
        raise TooFewCases(reason)
    train = patients[splits.loc[patients] == "train"]

    models: list[FittedModel] = []
    voi_t = matrices[0.0].loc[patients]
    models.append(_fit("VOI_T", None, voi_t, y, train, radiomics_pipeline()))
    best: FittedModel | None = None
    for ring_mm in sorted(r for r in matrices if r > 0):
        ring = matrices[ring_mm].loc[patients]
        models.append(_fit("VOI_P", ring_mm, ring, y, train, radiomics_pipeline()))
        combined = combined_matrix(voi_t, ring, ring_mm)
        model = _fit("Combined", ring_mm, combined, y, train, radiomics_pipeline())
        # The best radscore for Clinical-Omics is chosen on the training split only (cross-validated).
        cv = _cv_scores(radiomics_pipeline, combined.loc[train], y.loc[train], task.seed)
        model.cv_auc = float(roc_auc_score(y.loc[train], cv))
        models.append(model)
        if best is None or model.cv_auc > best.cv_auc:
            best, best_cv = model, cv

    design = clinical_design(clinical).reindex(patients)
    design = design.fillna(design.loc[train].median())
    chosen = significant_clinical(design.loc[train], y.loc[train])
    models.append(_fit("Clinical", None, design[chosen], y, train, _logistic(task.seed)))
    if best is not None:
        # Out-of-fold radscores on train (in-sample ones would flatter the stacked model).
        radscore = best.scores.copy()
        radscore.loc[train] = best_cv
        stacked = design[chosen].assign(radscore=_logit(radscore))
        fitted = _fit("Clinical-Omics", best.ring_mm, stacked, y, train, _logistic(task.seed))
        models.append(fitted)
    return models


def _logit(p: pd.Series) -> pd.Series:
    p = p.clip(1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _logistic(seed: int) -> Pipeline:
    return Pipeline([("scale", StandardScaler()), ("classifier", make_classifier("logistic", seed))]
                    ).set_output(transform="pandas")
