"""Every metric in model_metrics has an interval; calibration bins carry their observed counts and
the model a calibration slope and intercept."""

import numpy as np
import pandas as pd
import pytest
from scipy import optimize
from sklearn.calibration import calibration_curve
from sklearn.metrics import accuracy_score, brier_score_loss, f1_score, recall_score

from radiomics_core.evaluation.metrics import (
    BOOTSTRAP_METRICS,
    BootstrapConfig,
    bootstrap_intervals,
    calibration_bins,
    calibration_intervals,
    calibration_slope_intercept,
    evaluate,
    threshold_metrics,
)
from radiomics_core.modeling.fitting import FittedModel
from warehouse.schema import TABLES


def _scores(n=120, seed=0, shift=1.0):
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 3 == 0).astype(int)  # unbalanced on purpose: 1 in 3
    logit = shift * (2 * y - 1) + rng.normal(size=n)
    return y, 1 / (1 + np.exp(-logit))


def _reference_bootstrap(y, score, threshold, resamples, seed):
    """The same stratified percentile bootstrap, written out case by case with sklearn's metrics."""
    rng = np.random.default_rng(seed)
    predicted = (score >= threshold).astype(int)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    draws = {name: [] for name in BOOTSTRAP_METRICS}
    # The same random stream: every positive resample first, then every negative one.
    pos_draws = pos[rng.integers(0, len(pos), (resamples, len(pos)))]
    neg_draws = neg[rng.integers(0, len(neg), (resamples, len(neg)))]
    for a, b in zip(pos_draws, neg_draws):
        idx = np.concatenate([a, b])
        yy, pp = y[idx], predicted[idx]
        draws["accuracy"].append(accuracy_score(yy, pp))
        draws["sensitivity"].append(recall_score(yy, pp))
        draws["specificity"].append(recall_score(yy, pp, pos_label=0))
        draws["f1"].append(f1_score(yy, pp, zero_division=0.0))
        draws["brier"].append(brier_score_loss(yy, score[idx]))
    return {name: np.percentile(values, [2.5, 97.5]) for name, values in draws.items()}


def test_bootstrap_agrees_with_a_case_by_case_reference_and_contains_the_point_estimate():
    y, score = _scores()
    cut = 0.5
    ours = bootstrap_intervals(y, score, cut, BootstrapConfig(resamples=400, seed=7))
    reference = _reference_bootstrap(y, score, cut, 400, seed=7)
    point = {**threshold_metrics(y, score, cut), "brier": brier_score_loss(y, score)}
    assert ours["bootstrap_resamples"] == 400
    for name in BOOTSTRAP_METRICS:
        assert (ours[f"{name}_low"], ours[f"{name}_high"]) == pytest.approx(tuple(reference[name]))
        assert ours[f"{name}_low"] <= point[name] <= ours[f"{name}_high"]
        assert ours[f"{name}_low"] < ours[f"{name}_high"]


def test_bootstrap_is_reproducible_with_its_seed():
    y, score = _scores(seed=2)
    first = bootstrap_intervals(y, score, 0.4, BootstrapConfig(seed=3))
    assert first == bootstrap_intervals(y, score, 0.4, BootstrapConfig(seed=3))
    assert first != bootstrap_intervals(y, score, 0.4, BootstrapConfig(seed=4))


def test_calibration_bins_match_sklearn_and_count_every_case():
    y, score = _scores(n=97, seed=5)
    bins = calibration_bins(y, score, n_bins=5)
    observed, predicted = calibration_curve(y, score, n_bins=5, strategy="quantile")
    assert bins.observed.to_numpy() == pytest.approx(observed)
    assert bins.predicted.to_numpy() == pytest.approx(predicted)
    assert bins["count"].sum() == 97
    edges = np.percentile(score, np.linspace(0, 100, 6))
    assert bins["count"].tolist() == np.bincount(np.searchsorted(edges[1:-1], score), minlength=5).tolist()


def test_calibration_slope_and_intercept_are_the_maximum_likelihood_recalibration():
    y, score = _scores(n=300, seed=9, shift=0.7)
    slope, intercept = calibration_slope_intercept(y, score)
    logit = np.log(score / (1 - score))

    def negative_log_likelihood(params):
        eta = params[0] + params[1] * logit
        return np.sum(np.logaddexp(0, eta) - y * eta)

    reference = optimize.minimize(negative_log_likelihood, x0=[0.0, 1.0], method="BFGS").x
    assert (intercept, slope) == pytest.approx(tuple(reference), abs=1e-3)


def test_probabilities_drawn_from_themselves_are_calibrated():
    rng = np.random.default_rng(11)
    p = rng.uniform(0.05, 0.95, 20000)
    y = (rng.random(20000) < p).astype(int)
    slope, intercept = calibration_slope_intercept(y, p)
    assert slope == pytest.approx(1.0, abs=0.06) and intercept == pytest.approx(0.0, abs=0.06)


def test_calibration_intervals_come_from_the_numerical_hessian_of_the_recalibration():
    y, score = _scores(n=250, seed=4, shift=0.8)
    ours = calibration_intervals(y, score)
    logit = np.log(score / (1 - score))

    def log_likelihood(params):
        eta = params[0] + params[1] * logit
        return np.sum(y * eta - np.logaddexp(0, eta))

    estimate, h = np.array([ours["calibration_intercept"], ours["calibration_slope"]]), 1e-4
    hessian = np.empty((2, 2))
    for i in range(2):
        for j in range(2):
            ei, ej = np.eye(2)[i] * h, np.eye(2)[j] * h
            hessian[i, j] = (log_likelihood(estimate + ei + ej) - log_likelihood(estimate + ei - ej)
                             - log_likelihood(estimate - ei + ej) + log_likelihood(estimate - ei - ej)) / (4 * h * h)
    se = np.sqrt(np.diag(np.linalg.inv(-hessian)))
    for k, name in enumerate(("calibration_intercept", "calibration_slope")):
        assert ours[f"{name}_high"] - ours[name] == pytest.approx(1.959964 * se[k], rel=1e-3), name
        assert ours[name] - ours[f"{name}_low"] == pytest.approx(1.959964 * se[k], rel=1e-3), name


def test_calibrated_probabilities_have_slope_1_inside_the_interval_about_95_percent_of_the_time():
    rng = np.random.default_rng(12)
    inside = []
    for _ in range(300):
        p = rng.uniform(0.05, 0.95, 150)
        y = (rng.random(150) < p).astype(int)
        bounds = calibration_intervals(y, p)
        inside.append(bounds["calibration_slope_low"] <= 1.0 <= bounds["calibration_slope_high"])
    assert 0.90 <= np.mean(inside) <= 0.99, np.mean(inside)


def test_evaluate_gives_every_metric_an_interval_and_counts_that_sum_to_n():
    y, score = _scores(n=90, seed=1)
    ids = [f"p{i:02d}" for i in range(len(y))]
    labels = pd.Series(y, index=ids)
    splits = pd.Series(["test" if i % 4 == 0 else "train" for i in range(len(y))], index=ids)
    model = FittedModel("VOI_T", None, None, [], {}, pd.Series(score, index=ids))
    tables = evaluate("grade", [model], labels, splits)
    metrics = tables["model_metrics"]
    assert set(metrics.columns) >= {column for column, _ in TABLES["model_metrics"]}
    for name in ("auc", *BOOTSTRAP_METRICS, "calibration_slope", "calibration_intercept"):
        assert (metrics[f"{name}_low"] <= metrics[name] + 1e-12).all(), name
        assert (metrics[name] <= metrics[f"{name}_high"] + 1e-12).all(), name
    assert (metrics.bootstrap_resamples == BootstrapConfig().resamples).all()
    counts = tables["calibration"].groupby(["model", "split"])["count"].sum()
    assert counts.to_dict() == {("VOI_T", "test"): 23, ("VOI_T", "train"): 67}
    assert metrics.set_index("split").n.to_dict() == {"train": 67, "test": 23}
