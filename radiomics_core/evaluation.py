"""Evaluating fitted models per split: ROC, AUC with DeLong CI, thresholded metrics, DeLong
comparisons, calibration and decision curves. Every function returns plain DataFrames whose
columns match the warehouse tables."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, confusion_matrix, f1_score, roc_curve

from radiomics_core.modeling import FittedModel
from radiomics_core.stats import auc_ci, delong_test

SPLITS = ("train", "test")


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


def evaluate(task: str, models: list[FittedModel], labels: pd.Series, splits: pd.Series) -> dict[str, pd.DataFrame]:
    """All evaluation tables for one task's models."""
    metrics, roc, calib, decision, predictions, delong = [], [], [], [], [], []
    thresholds_dc = np.round(np.arange(0.05, 0.96, 0.05), 2)
    for model in models:
        scores = model.scores
        train = scores.index[splits.loc[scores.index] == "train"]
        cut = youden_threshold(labels.loc[train].values, scores.loc[train].values)
        for split in SPLITS:
            idx = scores.index[splits.loc[scores.index] == split]
            y, s = labels.loc[idx].values, scores.loc[idx].values
            key = {"task": task, "model": model.model, "ring_mm": model.ring_mm, "split": split}
            predictions.extend({**key, "patient_id": p, "label": int(l), "score": float(v)}
                               for p, l, v in zip(idx, y, s))
            if len(np.unique(y)) < 2:
                continue
            auc, low, high = auc_ci(y, s)
            metrics.append({**key, "n": len(y), "auc": auc, "auc_low": low, "auc_high": high, "threshold": cut,
                            "brier": brier_score_loss(y, s), **threshold_metrics(y, s, cut)})
            fpr, tpr, thr = roc_curve(y, s)
            roc.extend({**key, "fpr": f, "tpr": t, "threshold": min(float(h), 1.0)} for f, t, h in zip(fpr, tpr, thr))
            observed, predicted = calibration_curve(y, s, n_bins=5, strategy="quantile")
            counts = np.full(len(observed), len(y) // max(len(observed), 1))
            calib.extend({**key, "predicted": p, "observed": o, "count": int(c)}
                         for p, o, c in zip(predicted, observed, counts))
            decision.extend({**key, "threshold": t, "net_benefit": nb}
                            for t, nb in zip(thresholds_dc, net_benefit(y, s, thresholds_dc)))
    for split in SPLITS:
        for a, b in itertools.combinations(models, 2):
            idx = a.scores.index.intersection(b.scores.index)
            idx = idx[splits.loc[idx] == split]
            y = labels.loc[idx].values
            if len(np.unique(y)) < 2:
                continue
            result = delong_test(y, a.scores.loc[idx].values, b.scores.loc[idx].values)
            delong.append({"task": task, "split": split, "model_a": a.model, "ring_a": a.ring_mm,
                           "model_b": b.model, "ring_b": b.ring_mm, "auc_a": result.auc_a,
                           "auc_b": result.auc_b, "z": result.z, "p_value": result.p_value})
    return {
        "model_metrics": pd.DataFrame(metrics), "roc_points": pd.DataFrame(roc),
        "delong_tests": pd.DataFrame(delong), "calibration": pd.DataFrame(calib),
        "decision_curve": pd.DataFrame(decision), "predictions": pd.DataFrame(predictions),
    }


def selected_features_table(task: str, models: list[FittedModel]) -> pd.DataFrame:
    return pd.DataFrame([
        {"task": task, "model": m.model, "ring_mm": m.ring_mm, "feature": f, "coefficient": c}
        for m in models for f, c in m.coefficients.items()
    ])
