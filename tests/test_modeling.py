"""Selection steps, splits, thresholded metrics and the clinical table against references."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import accuracy_score, f1_score, recall_score, roc_auc_score

from radiomics_core.evaluation.clinical_table import clinical_characteristics
from radiomics_core.evaluation.metrics import net_benefit, threshold_metrics, youden_threshold
from radiomics_core.modeling.selectors import (
    CorrelationPruner,
    LassoSelector,
    MRMRSelector,
    TTestSelector,
    grade_pipeline,
    selected_coefficients,
)
from radiomics_core.tasks.config import preset, assign_splits


@pytest.fixture()
def data():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(120, 30)), columns=[f"f{i}" for i in range(30)])
    y = (X.f0 + 0.8 * X.f1 + rng.normal(size=120) > 0).astype(int)
    X["f0_copy"] = X.f0 * 2 + 0.01 * rng.normal(size=120)
    return X, y


def test_metrics_agree_with_sklearn():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    score = y * 0.5 + rng.random(200)
    cut = youden_threshold(y, score)
    predicted = (score >= cut).astype(int)
    ours = threshold_metrics(y, score, cut)
    assert ours["accuracy"] == pytest.approx(accuracy_score(y, predicted))
    assert ours["sensitivity"] == pytest.approx(recall_score(y, predicted))
    assert ours["specificity"] == pytest.approx(recall_score(y, predicted, pos_label=0))
    assert ours["f1"] == pytest.approx(f1_score(y, predicted))


def test_youden_threshold_maximizes_sensitivity_plus_specificity():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 150)
    score = y + rng.normal(size=150)
    best = youden_threshold(y, score)
    j = lambda t: threshold_metrics(y, score, t)["sensitivity"] + threshold_metrics(y, score, t)["specificity"]
    assert all(j(best) >= j(t) - 1e-12 for t in np.unique(score))


def test_net_benefit_of_treating_everyone_is_prevalence_minus_harm():
    y = np.array([1, 0, 0, 1, 0])
    assert net_benefit(y, np.ones(5), np.array([0.25]))[0] == pytest.approx(2 / 5 - 3 / 5 * (0.25 / 0.75))


def test_ttest_selector_chooses_welch_when_levene_rejects(data):
    X, y = data
    selector = TTestSelector().fit(X, y)
    a, b = X.f0[y == 1], X.f0[y == 0]
    equal = stats.levene(a, b).pvalue >= 0.05
    assert selector.p_values_[0] == pytest.approx(stats.ttest_ind(a, b, equal_var=equal).pvalue)
    assert "f0" in selector.get_feature_names_out()


def test_correlation_pruner_keeps_one_of_a_correlated_pair(data):
    X, _ = data
    kept = CorrelationPruner(0.9).fit(X).get_feature_names_out()
    assert "f0" in kept and "f0_copy" not in kept


def test_mrmr_keeps_k_features_including_the_signal(data):
    X, y = data
    kept = MRMRSelector(5).fit(X, y).get_feature_names_out()
    assert len(kept) == 5 and "f1" in kept


def _wide(seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """A radiomics-like table: correlated groups, exact and scaled copies, a constant column."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(90, 40))
    X = np.hstack([base, base[:, :10] * 3 + 0.05 * rng.normal(size=(90, 10)), base[:, :5], np.ones((90, 1))])
    y = (base[:, 0] - base[:, 3] + rng.normal(size=90) > 0).astype(int)
    return pd.DataFrame(X, columns=[f"c{i}" for i in range(X.shape[1])]), y


@pytest.mark.parametrize("seed", range(5))
def test_mrmr_chooses_what_the_mrmr_selection_package_chooses_in_its_order(seed):
    from mrmr import mrmr_classif

    from radiomics_core.modeling.selectors import mrmr_order

    X, y = _wide(seed)
    reference = mrmr_classif(X=X, y=pd.Series(y), K=12, show_progress=False, n_jobs=1)
    assert [X.columns[j] for j in mrmr_order(X.values, y, 12)] == reference


@pytest.mark.parametrize("seed", range(3))
def test_ttest_selector_p_values_equal_scipys_column_by_column(seed):
    X, y = _wide(seed)
    selector = TTestSelector().fit(X, y)
    for j, column in enumerate(X.columns):
        a, b = X[column][y == 1], X[column][y == 0]
        if np.ptp(X[column]) == 0:
            assert selector.p_values_[j] == 1.0
            continue
        equal = stats.levene(a, b).pvalue >= 0.05
        assert selector.p_values_[j] == pytest.approx(stats.ttest_ind(a, b, equal_var=equal).pvalue, rel=1e-12)


def test_correlation_pruner_keeps_a_column_unless_an_earlier_kept_one_exceeds_the_threshold():
    X, _ = _wide(0)
    corr = np.abs(np.nan_to_num(np.corrcoef(X.values, rowvar=False), nan=0.0))
    keep: list[int] = []
    for j in range(X.shape[1]):
        if all(corr[j, k] <= 0.9 for k in keep):
            keep.append(j)
    assert list(np.flatnonzero(CorrelationPruner(0.9).fit(X).support_)) == keep


def test_lasso_keeps_the_informative_features(data):
    X, y = data
    kept = set(LassoSelector().fit(X, y).get_feature_names_out())
    assert {"f1"} <= kept and ({"f0", "f0_copy"} & kept)


def test_the_grade_pipeline_learns_on_train_only(data):
    X, y = data
    pipeline = grade_pipeline().fit(X.iloc[:80], y.iloc[:80])
    scaler = pipeline.named_steps["scale"]
    assert scaler.n_samples_seen_ == 80


def test_splits_are_stratified_and_stable_when_cases_arrive():
    labels = pd.Series([i % 2 for i in range(100)], index=[f"p{i:03d}" for i in range(100)])
    first = assign_splits(labels, preset("grade"))
    assert (first == "test").sum() == 30
    assert first[labels == 1].eq("test").sum() == 15
    more = pd.concat([labels, pd.Series([1, 0, 1], index=["n1", "n2", "n3"])])
    second = assign_splits(more, preset("grade"), existing=first)
    assert second.loc[first.index].equals(first)  # nobody moved
    assert assign_splits(more, preset("grade"), existing=first).equals(second)  # deterministic


def test_clinical_table_uses_fisher_for_small_counts_and_mann_whitney_for_skewed_ages():
    rng = np.random.default_rng(1)
    n = 40
    clinical = pd.DataFrame({"patient_id": [f"p{i}" for i in range(n)], "sex": ["F" if i % 10 == 0 else "M" for i in range(n)],
                             "age": np.exp(rng.normal(3.8, 0.6, n))})
    labels = pd.Series([i % 2 for i in range(n)], index=clinical.patient_id)
    splits = pd.Series(["train"] * 30 + ["test"] * 10, index=clinical.patient_id)
    table = clinical_characteristics("grade", clinical, labels, splits, ("low", "high"))
    train = table[table.comparison.str.startswith("train (")]
    assert set(train.loc[train.variable == "sex", "comparison"]) == {"train (Fisher exact)"}
    ages = clinical.set_index("patient_id").age
    train_ids = splits.index[splits == "train"]
    a, b = ages[train_ids][labels[train_ids] == 0], ages[train_ids][labels[train_ids] == 1]
    label = train.loc[train.variable == "age", "comparison"].iloc[0]
    normal = min(stats.shapiro(a).pvalue, stats.shapiro(b).pvalue) >= 0.05
    assert ("t-test" in label) if normal else label == "train (Mann-Whitney U)"


def test_table_one_has_an_external_column_and_compares_train_with_it_when_the_task_has_one():
    from reporting.table_one import class_counts, table_one

    n = 60
    ids = [f"p{i}" for i in range(n)]
    clinical = pd.DataFrame({"patient_id": ids, "sex": ["F", "M", "M"] * (n // 3), "age": 40.0 + np.arange(n) % 25})
    labels = pd.Series([i % 2 for i in range(n)], index=ids)
    splits = pd.Series(["train"] * 30 + ["test"] * 14 + ["external"] * 16, index=ids)
    rows = clinical_characteristics("grade", clinical, labels, splits, ("low", "high"))
    assert {"train (", "test (", "external (", "train vs test (", "train vs external ("} == {
        c.split("(")[0] + "(" for c in rows.comparison}
    # Train vs external compares the 30 training with the 16 external exams only.
    ages = clinical.set_index("patient_id").age
    versus = rows[(rows.variable == "age") & rows.comparison.str.startswith("train vs external")].iloc[0]
    test = {"train vs external (Mann-Whitney U)": stats.mannwhitneyu,
            "train vs external (t-test)": stats.ttest_ind}[versus.comparison]
    assert versus.p_value == pytest.approx(test(ages[splits == "train"], ages[splits == "external"]).pvalue)
    names = {0: "low", 1: "high"}
    counts = class_counts(pd.DataFrame({"split": splits.values, "label": labels.values}), names)
    table, footnote = table_one(rows, counts, names)
    assert list(table.columns) == ["Variable", "Train low (N=15)", "Train high (N=15)", "p (train)",
                                   "Test low (N=7)", "Test high (N=7)", "p (test)", "External low (N=8)",
                                   "External high (N=8)", "p (external)", "p (train vs test)",
                                   "p (train vs external)"]
    age = table.set_index("Variable").loc["Age (years), mean ± SD"]
    assert age["External low (N=8)"] and age["p (train vs external)"] and age["p (train)"] != age["p (train vs external)"]
    assert "train vs external compares all training with all external cases" in footnote
    # Without an external set the table is as before.
    internal = splits != "external"
    plain, _ = table_one(clinical_characteristics("grade", clinical[internal.values], labels[internal], splits[internal],
                                                  ("low", "high")), counts.drop("external"), names)
    assert not any("xternal" in c for c in plain.columns)


@pytest.mark.parametrize("classifier", ["logistic", "svm", "random_forest"])
def test_each_classifier_scores_the_selected_features(data, classifier):
    X, y = data
    pipeline = grade_pipeline(classifier=classifier).fit(X.iloc[:80], y.iloc[:80])
    weights = selected_coefficients(pipeline)
    assert weights and set(weights) <= set(X.columns)
    score = pipeline.predict_proba(X.iloc[80:])[:, 1]
    assert roc_auc_score(y.iloc[80:], score) > 0.6  # chance is 0.5; the signal lives in two features
