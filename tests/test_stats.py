"""DeLong statistics against an independent O(n^2) implementation and scikit-learn."""

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from radiomics_core.evaluation.stats import auc_ci, delong_test


def pairwise_delong(y, scores):
    """DeLong, DeLong & Clarke-Pearson (1988) written from the paper: the Mann-Whitney kernel
    psi(x, z) = 1 if x > z, 1/2 if equal, 0 otherwise, over every positive/negative pair."""
    y = np.asarray(y)
    pos, neg = [np.asarray(s)[y == 1] for s in scores], [np.asarray(s)[y == 0] for s in scores]
    m, n = len(pos[0]), len(neg[0])
    v10, v01, aucs = [], [], []
    for x, z in zip(pos, neg):
        psi = (x[:, None] > z[None, :]).astype(float) + 0.5 * (x[:, None] == z[None, :])
        aucs.append(psi.mean())
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
    s = np.cov(np.array(v10)) / m + np.cov(np.array(v01)) / n
    return np.array(aucs), np.atleast_2d(s)


@pytest.fixture()
def data():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 120)
    a = y * 1.0 + rng.normal(size=120)
    b = np.round(y * 0.6 + rng.normal(size=120), 1)  # ties, as real scores have
    return y, a, b


def test_auc_matches_sklearn(data):
    y, a, b = data
    assert auc_ci(y, a)[0] == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert auc_ci(y, b)[0] == pytest.approx(roc_auc_score(y, b), abs=1e-12)


def test_auc_interval_matches_the_pairwise_variance(data):
    y, a, _ = data
    aucs, cov = pairwise_delong(y, [a])
    half = stats.norm.ppf(0.975) * np.sqrt(cov[0, 0])
    auc, low, high = auc_ci(y, a)
    assert (low, high) == pytest.approx((aucs[0] - half, aucs[0] + half), abs=1e-6)


def test_paired_test_matches_the_pairwise_implementation(data):
    y, a, b = data
    aucs, cov = pairwise_delong(y, [a, b])
    z = (aucs[0] - aucs[1]) / np.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    result = delong_test(y, a, b)
    assert (result.auc_a, result.auc_b) == pytest.approx(tuple(aucs), abs=1e-12)
    assert result.z == pytest.approx(z, abs=1e-6)
    assert result.p_value == pytest.approx(2 * stats.norm.sf(abs(z)), abs=1e-6)


def test_identical_scores_do_not_differ(data):
    y, a, _ = data
    result = delong_test(y, a, a)
    assert (result.z, result.p_value) == (0.0, 1.0)


def test_a_clearly_better_score_is_significant(data):
    y, _, _ = data
    rng = np.random.default_rng(2)
    good, noise = y * 3.0 + rng.normal(size=y.size), rng.normal(size=y.size)
    assert delong_test(y, good, noise).p_value < 1e-6


def test_one_class_only_is_refused():
    with pytest.raises(ValueError, match="both classes"):
        auc_ci([1, 1, 1], [0.1, 0.2, 0.3])


def test_a_difference_without_variance_is_undefined_not_infinitely_significant():
    y = [0, 0, 1, 1]
    result = delong_test(y, [0.1, 0.2, 0.8, 0.9], [0.8, 0.9, 0.1, 0.2])  # perfect and perfectly wrong
    assert (result.auc_a, result.auc_b) == (1.0, 0.0)
    assert np.isnan(result.z) and np.isnan(result.p_value)


def test_a_single_case_in_a_class_has_no_interval():
    auc, low, high = auc_ci([0, 1, 1, 1], [0.1, 0.5, 0.8, 0.9])
    assert auc == 1.0 and np.isnan(low) and np.isnan(high)
