"""The thesis' feature-selection steps as scikit-learn selectors.

Each step learns on ``fit`` (attributes ending in ``_``) and only applies on ``transform``, so a
``Pipeline`` fitted on the training split cannot leak the test split. The two recipes are
``grade_pipeline`` (Levene/t-test -> |r| > 0.9 pruning -> mRMR top 10 -> LASSO) and
``mgmt_pipeline`` (LASSO -> |r| > 0.85 pruning), each ending in a logistic regression on the
selected features (the radiomics score).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import BaseEstimator
from sklearn.feature_selection import SelectorMixin, VarianceThreshold
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LassoCV, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data

from radiomics_core.tasks.config import CLASSIFIERS


class _Selector(SelectorMixin, BaseEstimator):
    def _get_support_mask(self) -> np.ndarray:
        check_is_fitted(self, "support_")
        return self.support_

    def _frame(self, X, y=None) -> tuple[pd.DataFrame, np.ndarray | None]:
        names = getattr(X, "columns", None)
        if y is None:
            array = validate_data(self, X, reset=True)
            target = None
        else:
            array, target = validate_data(self, X, y, reset=True)
        columns = list(names) if names is not None else [f"x{i}" for i in range(array.shape[1])]
        return pd.DataFrame(array, columns=columns), target


class TTestSelector(_Selector):
    """Keep features whose class means differ (p < alpha): Levene's test picks Student or Welch."""

    def __init__(self, alpha: float = 0.05, levene_alpha: float = 0.05):
        self.alpha = alpha
        self.levene_alpha = levene_alpha

    def fit(self, X, y):
        frame, y = self._frame(X, y)
        values = frame.values
        a, b = values[y == 1], values[y == 0]
        p_values = np.ones(values.shape[1])
        # Every column at once (scipy's axis=0); a constant column keeps p = 1.
        varying = np.flatnonzero(np.ptp(values, axis=0) != 0)
        if varying.size:
            with np.errstate(all="ignore"):
                equal_var = stats.levene(a[:, varying], b[:, varying], axis=0).pvalue >= self.levene_alpha
                student = stats.ttest_ind(a[:, varying], b[:, varying], equal_var=True, axis=0).pvalue
                welch = stats.ttest_ind(a[:, varying], b[:, varying], equal_var=False, axis=0).pvalue
            p_values[varying] = np.where(equal_var, student, welch)
        self.p_values_ = np.nan_to_num(p_values, nan=1.0)
        self.support_ = self.p_values_ < self.alpha
        if not self.support_.any():
            # No feature passes: keep the single most different one rather than an empty model.
            self.support_[np.argmin(self.p_values_)] = True
        return self


class CorrelationPruner(_Selector):
    """Drop one of each pair with |Pearson r| above ``threshold``, keeping the earlier column."""

    def __init__(self, threshold: float = 0.9):
        self.threshold = threshold

    def fit(self, X, y=None):
        frame, _ = self._frame(X, y)
        corr = np.abs(np.nan_to_num(np.corrcoef(frame.values, rowvar=False), nan=0.0))
        corr = np.atleast_2d(corr)
        # Greedy in column order: a column is kept unless an earlier kept one is too correlated.
        self.support_ = np.zeros(frame.shape[1], dtype=bool)
        blocked = np.zeros(frame.shape[1], dtype=bool)
        for j in range(frame.shape[1]):
            if not blocked[j]:
                self.support_[j] = True
                blocked |= corr[j] > self.threshold
        return self


class MRMRSelector(_Selector):
    """Minimum-redundancy maximum-relevance top ``k``: the ``mrmr-selection`` package's
    ``mrmr_classif`` with its defaults (F-test relevance, mean absolute Pearson correlation with the
    chosen features as redundancy, floored at 0.001), computed on arrays. The package scores one
    column at a time in pandas and keeps a features x features frame, minutes and gigabytes at the
    default parameters' 8,000 columns; the choices are the same (tests/test_modeling.py)."""

    def __init__(self, k: int = 10):
        self.k = k

    def fit(self, X, y):
        frame, y = self._frame(X, y)
        self.support_ = np.zeros(frame.shape[1], dtype=bool)
        self.support_[mrmr_order(frame.values, y, self.k)] = True
        return self


MRMR_FLOOR = 0.001  # the package's floor on a redundancy (mrmr.main.FLOOR)


def mrmr_order(values: np.ndarray, y: np.ndarray, k: int) -> list[int]:
    """The columns ``mrmr_classif(X, y, K=k)`` chooses, in its order."""
    from sklearn.feature_selection import f_classif

    # Identical columns get their first copy's scores: computed on the whole array their values
    # can differ in the last bit, which would break the package's tie (the earlier column wins).
    _, first, group = np.unique(values.T, axis=0, return_index=True, return_inverse=True)
    canonical = first[group.ravel()]
    with np.errstate(all="ignore"):
        relevance = np.nan_to_num(f_classif(values, y)[0], nan=0.0)[canonical]
    candidates = np.flatnonzero(relevance > 0)
    relevance, values = relevance[candidates], values[:, candidates]
    canonical = np.searchsorted(candidates, canonical[candidates])  # a first copy's place among them
    k = min(k, candidates.size)
    centered = values - values.mean(axis=0)
    norms = np.sqrt(np.einsum("ij,ij->j", centered, centered))
    redundancy = np.empty((candidates.size, k))
    open_ = np.ones(candidates.size, dtype=bool)
    chosen: list[int] = []
    for i in range(k):
        if i == 0:
            score = relevance.copy()
        else:
            redundancy[:, i - 1] = _abs_pearson(values, centered, norms, chosen[-1])[canonical]
            denominator = redundancy[:, :i].mean(axis=1)
            denominator[denominator == 1.0] = np.inf  # a copy of a chosen feature scores 0
            score = relevance / denominator
        score[~open_] = -np.inf
        best = int(np.argmax(score))
        chosen.append(best)
        open_[best] = False
    return [int(candidates[j]) for j in chosen]


def _abs_pearson(values: np.ndarray, centered: np.ndarray, norms: np.ndarray, j: int) -> np.ndarray:
    """|Pearson r| of every column with column ``j``, floored as the package floors it (0 for a
    constant column). Values within 1e-9 of 1 are recomputed with ``np.corrcoef``, as pandas'
    ``corrwith`` computes them, since whether a mean redundancy is exactly 1 changes a choice."""
    with np.errstate(all="ignore"):
        r = (centered.T @ centered[:, j]) / norms / norms[j]
    r = np.nan_to_num(r, nan=0.0, posinf=0.0, neginf=0.0)
    for near in np.flatnonzero(np.abs(np.abs(r) - 1.0) < 1e-9):
        r[near] = np.corrcoef(values[:, near], values[:, j])[0, 1]
    return np.clip(np.abs(r), MRMR_FLOOR, None)


class LassoSelector(_Selector):
    """Keep features with a non-zero LASSO coefficient at the cross-validated alpha."""

    def __init__(self, cv: int = 5, random_state: int = 0):
        self.cv = cv
        self.random_state = random_state

    def fit(self, X, y):
        frame, y = self._frame(X, y)
        folds = max(2, min(self.cv, int(np.bincount(y.astype(int)).min())))
        lasso = LassoCV(cv=folds, random_state=self.random_state, max_iter=20000, n_jobs=1)
        lasso.fit(frame.values, y.astype(float))
        self.alpha_ = float(lasso.alpha_)
        self.coef_ = lasso.coef_
        # The cross-validation curve (alpha grid, high to low, and each fold's error), for the figures.
        self.alphas_ = lasso.alphas_
        self.mse_path_ = lasso.mse_path_
        self.support_ = np.abs(lasso.coef_) > 1e-10
        if not self.support_.any():
            corr = [abs(np.corrcoef(frame.values[:, j], y)[0, 1]) if np.ptp(frame.values[:, j]) else 0.0
                    for j in range(frame.shape[1])]
            self.support_[int(np.nanargmax(corr))] = True
        return self


def _start() -> list[tuple[str, object]]:
    return [
        ("impute", SimpleImputer(strategy="median")),
        ("constant", VarianceThreshold(0.0)),
        ("scale", StandardScaler()),
    ]


def make_classifier(kind: str, seed: int):
    """The model on the selected features: logistic regression (the thesis' radscore), a linear
    SVM with Platt-scaled probabilities, or a random forest."""
    if kind == "logistic":
        return LogisticRegression(max_iter=5000, random_state=seed)
    if kind == "svm":
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.svm import SVC
        # scikit-learn 1.9 deprecates SVC(probability=True) for this equivalent.
        return CalibratedClassifierCV(SVC(kernel="linear", random_state=seed), ensemble=False)
    if kind == "random_forest":
        from sklearn.ensemble import RandomForestClassifier
        return RandomForestClassifier(n_estimators=300, min_samples_leaf=2, random_state=seed, n_jobs=1)
    raise ValueError(f"unknown classifier {kind!r}; choose one of {', '.join(CLASSIFIERS)}")


def grade_pipeline(seed: int = 0, classifier: str = "logistic") -> Pipeline:
    """Part I: Levene + t-test, Pearson |r| > 0.9 pruning, mRMR top 10, LASSO, logistic radscore."""
    return Pipeline([
        *_start(),
        ("ttest", TTestSelector(0.05)),
        ("pearson", CorrelationPruner(0.9)),
        ("mrmr", MRMRSelector(10)),
        ("lasso", LassoSelector(random_state=seed)),
        ("classifier", make_classifier(classifier, seed)),
    ]).set_output(transform="pandas")


def mgmt_pipeline(seed: int = 0, classifier: str = "logistic") -> Pipeline:
    """Part II: LASSO non-zero, then Pearson |r| > 0.85 pruning, logistic radscore."""
    return Pipeline([
        *_start(),
        ("lasso", LassoSelector(random_state=seed)),
        ("pearson", CorrelationPruner(0.85)),
        ("classifier", make_classifier(classifier, seed)),
    ]).set_output(transform="pandas")


RECIPES = {"grade": grade_pipeline, "mgmt": mgmt_pipeline}


def selected_coefficients(pipeline: Pipeline) -> dict[str, float]:
    """The features a fitted pipeline's classifier uses, with their coefficients (linear models)
    or impurity importances (random forest)."""
    names = pipeline[:-1].get_feature_names_out()
    model = pipeline[-1]
    if hasattr(model, "calibrated_classifiers_"):  # the SVM inside its probability calibration
        model = model.calibrated_classifiers_[0].estimator
    weights = model.coef_ if hasattr(model, "coef_") else model.feature_importances_
    return dict(zip(names, np.ravel(weights).tolist()))
