"""Evaluating fitted models per split: ROC, AUC with DeLong CI, thresholded metrics, DeLong
comparisons, calibration and decision curves. Every function returns plain DataFrames whose
columns match the warehouse tables."""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, confusion_matrix, f1_score, roc_curve

from radiomics_core.modeling.fitting import FittedModel
from radiomics_core.evaluation.stats import auc_ci, delong_test

SPLITS = ("train", "test", "external")  # external: only when the task names an external set


def youden_threshold(y: np.ndarray, score: np.ndarray) -> float:
    """The score threshold maximizing sensitivity + specificity - 1."""
    fpr, tpr, thresholds = roc_curve(y, score)
    best = int(np.argmax(tpr - fpr))
    return float(min(thresholds[best], 1.0))


def threshold_metrics(y: np.ndarray, score: np.ndarray, threshold: float) -> dict[str, float]:
    predicted = (score >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(y, predicted, labels=[0, 1]).ravel()
    return {
        "accuracy": (tp + tn) / len(y),
        "sensitivity": tp / (tp + fn) if tp + fn else float("nan"),
        "specificity": tn / (tn + fp) if tn + fp else float("nan"),
        "f1": f1_score(y, predicted, zero_division=0.0),
    }


@dataclass(frozen=True)
class BootstrapConfig:
    """Percentile intervals for the thresholded metrics from a stratified bootstrap."""

    resamples: int = 1000
    seed: int = 0
    level: float = 0.95


THRESHOLD_METRICS = ("accuracy", "sensitivity", "specificity", "f1")
# The metrics whose interval comes from the bootstrap (AUC's comes from DeLong).
BOOTSTRAP_METRICS = (*THRESHOLD_METRICS, "brier")


def bootstrap_intervals(y: np.ndarray, score: np.ndarray, threshold: float,
                        config: BootstrapConfig = BootstrapConfig()) -> dict[str, float]:
    """``<metric>_low`` / ``<metric>_high`` for accuracy, sensitivity, specificity and F1 at a
    fixed threshold and for the Brier score, plus ``bootstrap_resamples``.

    Resampling is stratified (each class resampled within itself, keeping its size), so every
    resample has both classes and sensitivity and specificity are always defined. The threshold
    stays the one chosen on train: the interval is for this split's metrics at that threshold.
    """
    y = np.asarray(y).astype(int)
    score = np.asarray(score, dtype=float)
    predicted = (score >= threshold).astype(int)
    rng = np.random.default_rng(config.seed)
    positives, negatives = predicted[y == 1], predicted[y == 0]
    # Each resample's true positives and false positives: resampled predictions within a class.
    drawn_pos = rng.integers(0, len(positives), (config.resamples, len(positives)))
    drawn_neg = rng.integers(0, len(negatives), (config.resamples, len(negatives)))
    tp, fp = positives[drawn_pos].sum(axis=1), negatives[drawn_neg].sum(axis=1)
    fn, tn = len(positives) - tp, len(negatives) - fp
    # The same resampled cases' squared errors give the Brier score's interval.
    squared = (score - y) ** 2
    brier = (squared[y == 1][drawn_pos].sum(axis=1) + squared[y == 0][drawn_neg].sum(axis=1)) / len(y)
    with np.errstate(invalid="ignore", divide="ignore"):
        draws = {
            "accuracy": (tp + tn) / len(y),
            "sensitivity": tp / len(positives),
            "specificity": tn / len(negatives),
            "f1": np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0),
            "brier": brier,
        }
    tail = (1 - config.level) / 2 * 100
    out: dict[str, float] = {"bootstrap_resamples": config.resamples}
    for name, values in draws.items():
        out[f"{name}_low"], out[f"{name}_high"] = (float(v) for v in np.percentile(values, [tail, 100 - tail]))
    return out


def calibration_bins(y: np.ndarray, score: np.ndarray, n_bins: int = 5) -> pd.DataFrame:
    """Mean predicted probability, observed fraction of class 1 and the number of cases in each
    non-empty quantile bin (sklearn's ``calibration_curve(strategy="quantile")`` bins, with counts)."""
    y, score = np.asarray(y).astype(float), np.asarray(score, dtype=float)
    edges = np.percentile(score, np.linspace(0, 100, n_bins + 1))
    bins = np.searchsorted(edges[1:-1], score)
    count = np.bincount(bins, minlength=n_bins)
    kept = count > 0
    return pd.DataFrame({
        "predicted": np.bincount(bins, weights=score, minlength=n_bins)[kept] / count[kept],
        "observed": np.bincount(bins, weights=y, minlength=n_bins)[kept] / count[kept],
        "count": count[kept].astype(int),
    })


def calibration_slope_intercept(y: np.ndarray, score: np.ndarray) -> tuple[float, float]:
    """Logistic recalibration: y ~ intercept + slope * logit(score), unpenalized. A calibrated
    model has slope 1 and intercept 0; slope < 1 means overfitted (too extreme) probabilities.
    On separable data the maximum-likelihood slope is unbounded; the solver's last iterate is
    returned (very large), which reads correctly as "far from calibrated"."""
    p = np.clip(np.asarray(score, dtype=float), 1e-6, 1 - 1e-6)
    logit = np.log(p / (1 - p)).reshape(-1, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = LogisticRegression(C=np.inf, max_iter=1000).fit(logit, np.asarray(y).astype(int))
    return float(model.coef_[0, 0]), float(model.intercept_[0])


def calibration_intervals(y: np.ndarray, score: np.ndarray, level: float = 0.95) -> dict[str, float]:
    """The calibration slope and intercept (``calibration_slope_intercept``) with Wald intervals
    from the recalibration's observed information (the inverse Hessian of its log-likelihood).
    On separable data the estimates run off and the intervals are as wide as they say."""
    from scipy import stats

    slope, intercept = calibration_slope_intercept(y, score)
    p = np.clip(np.asarray(score, dtype=float), 1e-6, 1 - 1e-6)
    design = np.column_stack([np.ones_like(p), np.log(p / (1 - p))])
    fitted = 1 / (1 + np.exp(-(intercept + slope * design[:, 1])))
    information = design.T @ (design * (fitted * (1 - fitted))[:, None])
    with np.errstate(invalid="ignore"):
        se = np.sqrt(np.diag(np.linalg.pinv(information)))
    z = float(stats.norm.ppf(0.5 + level / 2))
    out = {"calibration_slope": slope, "calibration_intercept": intercept}
    for name, estimate, error in (("calibration_intercept", intercept, se[0]), ("calibration_slope", slope, se[1])):
        ok = np.isfinite(error) and error > 0
        out[f"{name}_low"] = estimate - z * error if ok else -np.inf
        out[f"{name}_high"] = estimate + z * error if ok else np.inf
    return out


def net_benefit(y: np.ndarray, score: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Decision-curve net benefit: TP/n - FP/n * pt / (1 - pt) at each threshold probability pt."""
    n = len(y)
    out = []
    for pt in thresholds:
        predicted = score >= pt
        tp = np.sum(predicted & (y == 1))
        fp = np.sum(predicted & (y == 0))
        out.append(tp / n - fp / n * pt / (1 - pt))
    return np.array(out)


def treat_all_net_benefit(y: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """The decision curve's treat-all reference: prevalence - (1 - prevalence) * pt / (1 - pt).
    (Treat none is 0 at every threshold.)"""
    prevalence = float(np.mean(np.asarray(y) == 1))
    pt = np.asarray(thresholds, dtype=float)
    return prevalence - (1 - prevalence) * pt / (1 - pt)


def evaluate(task: str, models: list[FittedModel], labels: pd.Series, splits: pd.Series,
             bootstrap: BootstrapConfig = BootstrapConfig()) -> dict[str, pd.DataFrame]:
    """All evaluation tables for one task's models; every row names its model's classifier.

    DeLong tests compare every pair of models of one classifier, and each model with itself
    under another classifier (``classifier`` vs ``classifier_b``: the same selected features,
    another final estimator)."""
    metrics, roc, calib, decision, predictions, delong = [], [], [], [], [], []
    thresholds_dc = np.round(np.arange(0.05, 0.96, 0.05), 2)
    for model in models:
        scores = model.scores
        train = scores.index[splits.loc[scores.index] == "train"]
        cut = youden_threshold(labels.loc[train].values, scores.loc[train].values)
        for split in SPLITS:
            idx = scores.index[splits.loc[scores.index] == split]
            y, s = labels.loc[idx].values, scores.loc[idx].values
            key = {"task": task, "model": model.model, "ring_mm": model.ring_mm, "classifier": model.classifier,
                   "split": split}
            predictions.extend({**key, "patient_id": p, "label": int(l), "score": float(v)}
                               for p, l, v in zip(idx, y, s))
            if len(np.unique(y)) < 2:
                continue
            auc, low, high = auc_ci(y, s)
            metrics.append({**key, "n": len(y), "auc": auc, "auc_low": low, "auc_high": high, "threshold": cut,
                            "brier": brier_score_loss(y, s), **threshold_metrics(y, s, cut),
                            **bootstrap_intervals(y, s, cut, bootstrap),
                            **calibration_intervals(y, s)})
            fpr, tpr, thr = roc_curve(y, s)
            roc.extend({**key, "fpr": f, "tpr": t, "threshold": min(float(h), 1.0)} for f, t, h in zip(fpr, tpr, thr))
            calib.extend({**key, **row} for row in calibration_bins(y, s).to_dict("records"))
            decision.extend({**key, "threshold": t, "net_benefit": nb, "treat_all": everyone}
                            for t, nb, everyone in zip(thresholds_dc, net_benefit(y, s, thresholds_dc),
                                                       treat_all_net_benefit(y, thresholds_dc)))
    for split in SPLITS:
        for a, b in itertools.combinations(models, 2):
            same_model = (a.model, a.ring_mm) == (b.model, b.ring_mm)
            if (a.classifier == b.classifier) == same_model:
                continue  # neither two models of one classifier nor one model under two classifiers
            idx = a.scores.index.intersection(b.scores.index)
            idx = idx[splits.loc[idx] == split]
            y = labels.loc[idx].values
            if len(np.unique(y)) < 2:
                continue
            result = delong_test(y, a.scores.loc[idx].values, b.scores.loc[idx].values)
            delong.append({"task": task, "split": split, "classifier": a.classifier, "classifier_b": b.classifier,
                           "model_a": a.model, "ring_a": a.ring_mm,
                           "model_b": b.model, "ring_b": b.ring_mm, "auc_a": result.auc_a,
                           "auc_b": result.auc_b, "z": result.z, "p_value": result.p_value})
    return {
        "model_metrics": pd.DataFrame(metrics), "roc_points": pd.DataFrame(roc),
        "delong_tests": pd.DataFrame(delong), "calibration": pd.DataFrame(calib),
        "decision_curve": pd.DataFrame(decision), "predictions": pd.DataFrame(predictions),
    }


def selected_features_table(task: str, models: list[FittedModel]) -> pd.DataFrame:
    return pd.DataFrame([
        {"task": task, "model": m.model, "ring_mm": m.ring_mm, "classifier": m.classifier, "feature": f,
         "coefficient": c}
        for m in models for f, c in m.coefficients.items()
    ])
