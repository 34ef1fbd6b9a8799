"""Fitting the thesis' models for one task: VOI_T, VOI_P(d), Combined(d), Clinical, Clinical-Omics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from radiomics_core.settings import Ring
from radiomics_core.modeling.figures import ModelFigures, describe
from radiomics_core.modeling.selectors import RECIPES, make_classifier, selected_coefficients
from radiomics_core.tasks.config import (TaskConfig, TooFewCases, classifier_order, classifiers_lacking_cases,
                                         too_few_cases_reason)

CLINICAL_VARIABLES = ("age", "sex_male")
# Whose train-CV AUC picks the Combined ring behind the Clinical-Omics radscore: the thesis'
# logistic radscore, whatever the task's classifiers, so every classifier stacks the same ring.
RADSCORE_CHOOSER = "logistic"


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
    classifier: str = "logistic"  # the final estimator (radiomics_core.tasks.config.CLASSIFIERS)


def combined_matrix(voi_t: pd.DataFrame, ring: pd.DataFrame, ring_mm: float) -> pd.DataFrame:
    """VOI_T and ring features side by side, prefixed so the two never share a name."""
    left = voi_t.add_prefix(Ring.voi_t().column_prefix)
    right = ring.add_prefix(Ring.of(ring_mm).column_prefix)
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
         selection: Pipeline, classifiers: Sequence[str], seed: int) -> list[FittedModel]:
    """One model per classifier on the same selected features: ``selection`` (the steps before the
    classifier) is fitted once on train and shared; only the final estimator differs."""
    selection.fit(X.loc[train], y.loc[train])
    design = selection.transform(X)
    models = []
    for kind in classifiers:
        classifier = make_classifier(kind, seed).fit(design.loc[train], y.loc[train])
        pipeline = Pipeline([*selection.steps, ("classifier", classifier)]).set_output(transform="pandas")
        scores = pd.Series(classifier.predict_proba(design)[:, 1], index=X.index)
        models.append(FittedModel(name, ring, pipeline, list(X.columns), selected_coefficients(pipeline), scores,
                                  classifier=kind))
    # The figures follow the selection, so they are the same for every classifier (the nomogram
    # draws a logistic regression only).
    figures = describe(models[0].pipeline, X.loc[train], y.loc[train],
                       with_nomogram=name == "Clinical-Omics" and models[0].classifier == "logistic")
    for model in models:
        model.figures = figures
    return models


def _cv_scores(selection: Callable[[], Pipeline], classifiers: Sequence[str], X: pd.DataFrame, y: pd.Series,
               seed: int) -> dict[str, pd.Series]:
    """Out-of-fold probabilities per classifier (sklearn's ``cross_val_predict`` folds), each
    fold's selection fitted once and shared by the classifiers."""
    folds = max(2, min(5, int(y.value_counts().min())))
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    scores = {kind: pd.Series(np.nan, index=X.index) for kind in classifiers}
    for fit_rows, held_rows in cv.split(X, y):
        steps = selection()
        design = steps.fit_transform(X.iloc[fit_rows], y.iloc[fit_rows])
        held = steps.transform(X.iloc[held_rows])
        for kind in classifiers:
            classifier = make_classifier(kind, seed).fit(design, y.iloc[fit_rows])
            scores[kind].iloc[held_rows] = classifier.predict_proba(held)[:, 1]
    return scores


def fit_task_models(task: TaskConfig, labels: pd.Series, splits: pd.Series, matrices: dict[float, pd.DataFrame],
                    clinical: pd.DataFrame) -> list[FittedModel]:
    """Every model of one task, once per classifier of ``task.classifiers`` that the cases allow.
    ``matrices`` maps ring mm (0 = VOI_T) to wide feature tables.

    A model's feature selection (and the Clinical-Omics radscore's ring) is the same for every
    classifier: selection is fitted once per model and only the final estimator is fitted per
    classifier. Raises TooFewCases (a one-line reason) before any fitting when the patients with
    labels and features in every matrix are too few per class for every classifier
    (``radiomics_core.tasks.config.MIN_TRAIN_PER_CLASS``); a classifier that needs more cases than
    there are is left out (``classifiers_lacking_cases`` says why).
    """
    def radiomics_selection() -> Pipeline:
        return RECIPES[task.name](task.seed)[:-1]

    patients = labels.index
    for matrix in matrices.values():
        patients = patients.intersection(matrix.index)
    y = labels.loc[patients]
    lacking = classifiers_lacking_cases(task, y, splits.reindex(patients))
    classifiers = [c for c in classifier_order(task.classifiers) if c not in lacking]
    if not classifiers:
        raise TooFewCases(too_few_cases_reason(task, y, splits.reindex(patients)))
    train = patients[splits.loc[patients] == "train"]

    def fit(name: str, ring: float | None, X: pd.DataFrame, selection: Pipeline, kinds=classifiers) -> list:
        return _fit(name, ring, X, y, train, selection, kinds, task.seed)

    models: list[FittedModel] = []
    voi_t = matrices[0.0].loc[patients]
    models += fit("VOI_T", None, voi_t, radiomics_selection())
    best: list[FittedModel] = []
    best_cv: dict[str, pd.Series] = {}
    best_auc = -np.inf
    for ring_mm in sorted(r for r in matrices if r > 0):
        ring = matrices[ring_mm].loc[patients]
        models += fit("VOI_P", ring_mm, ring, radiomics_selection())
        combined = combined_matrix(voi_t, ring, ring_mm)
        fitted = fit("Combined", ring_mm, combined, radiomics_selection())
        # The best radscore for Clinical-Omics is chosen on the training split only (cross-validated).
        cv = _cv_scores(radiomics_selection, classifier_order({*classifiers, RADSCORE_CHOOSER}),
                        combined.loc[train], y.loc[train], task.seed)
        for model in fitted:
            model.cv_auc = float(roc_auc_score(y.loc[train], cv[model.classifier]))
        models += fitted
        chooser_auc = float(roc_auc_score(y.loc[train], cv[RADSCORE_CHOOSER]))
        if not best or chooser_auc > best_auc:
            best, best_cv, best_auc = fitted, cv, chooser_auc

    design = clinical_design(clinical).reindex(patients)
    design = design.fillna(design.loc[train].median())
    chosen = significant_clinical(design.loc[train], y.loc[train])
    models += fit("Clinical", None, design[chosen], _scaler())
    for radiomics in best:
        # Out-of-fold radscores on train (in-sample ones would flatter the stacked model).
        radscore = radiomics.scores.copy()
        radscore.loc[train] = best_cv[radiomics.classifier]
        stacked = design[chosen].assign(radscore=_logit(radscore))
        models += fit("Clinical-Omics", radiomics.ring_mm, stacked, _scaler(), [radiomics.classifier])
    return models


def _logit(p: pd.Series) -> pd.Series:
    p = p.clip(1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _scaler() -> Pipeline:
    """The clinical models' only step before the classifier."""
    return Pipeline([("scale", StandardScaler())]).set_output(transform="pandas")
