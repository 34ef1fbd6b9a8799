"""The numbers behind the model figures, each against an independent reference: decision-curve
references by hand, the LASSO curve and path against scikit-learn's own LassoCV, the correlation
heatmap against numpy, and the nomogram against the model's predict_proba."""

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_selection import VarianceThreshold
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LassoCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from radiomics_core.evaluation.metrics import evaluate, net_benefit, treat_all_net_benefit
from radiomics_core.modeling.figures import (
    PATH_FEATURES,
    feature_correlation,
    figure_tables,
    lasso_coefficient_path,
    lasso_cv_curve,
    nomogram,
    nomogram_rows,
    selected_design,
)
from radiomics_core.modeling.fitting import FittedModel, fit_task_models
from radiomics_core.modeling.selectors import grade_pipeline, make_classifier, mgmt_pipeline
from radiomics_core.tasks.config import preset, assign_splits
from warehouse.schema import TABLES


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(90, 40)), columns=[f"T1c__f{i:02d}" for i in range(40)])
    y = pd.Series((X["T1c__f00"] + 0.8 * X["T1c__f01"] - 0.6 * X["T1c__f02"] + rng.normal(size=90) > 0).astype(int))
    X["T1c__f00_twin"] = X["T1c__f00"] * 3 + 0.3 * rng.normal(size=90)  # correlated with f00, not a copy
    return X, y


def test_treat_all_is_prevalence_minus_the_harm_of_treating_the_negatives():
    y = np.array([1, 1, 0, 0, 0])
    thresholds = np.array([0.1, 0.2, 0.5])
    by_hand = [0.4 - 0.6 * 0.1 / 0.9, 0.4 - 0.6 * 0.25, 0.4 - 0.6]
    assert treat_all_net_benefit(y, thresholds) == pytest.approx(by_hand, abs=1e-12)
    # Treating everyone is a model whose score is 1 for all.
    assert treat_all_net_benefit(y, thresholds) == pytest.approx(net_benefit(y, np.ones(5), thresholds))


def test_decision_curve_rows_carry_the_treat_all_reference_of_their_split():
    rng = np.random.default_rng(1)
    ids = pd.Index([f"P{i}" for i in range(60)])
    labels = pd.Series((np.arange(60) % 3 == 0).astype(int), index=ids)
    splits = pd.Series(np.where(np.arange(60) < 40, "train", "test"), index=ids)
    model = FittedModel("VOI_T", None, None, [], {}, pd.Series(rng.random(60), index=ids))
    decision = evaluate("grade", [model], labels, splits)["decision_curve"]
    assert "treat_all" in dict(TABLES["decision_curve"])
    for split, rows in decision.groupby("split"):
        prevalence = labels[splits == split].mean()
        expected = prevalence - (1 - prevalence) * rows["threshold"] / (1 - rows["threshold"])
        assert rows["treat_all"].to_numpy() == pytest.approx(expected.to_numpy())


def _logistic():
    """The clinical models' recipe: standardize, then a logistic regression."""
    return Pipeline([("scale", StandardScaler()), ("classifier", make_classifier("logistic", 0))]
                    ).set_output(transform="pandas")


def _standardized(X):
    return Pipeline([("impute", SimpleImputer(strategy="median")), ("constant", VarianceThreshold(0.0)),
                     ("scale", StandardScaler())]).set_output(transform="pandas").fit_transform(X)


def test_lasso_cv_curve_and_path_are_lasso_cvs_own(data):
    X, y = data
    pipeline = mgmt_pipeline(seed=0).fit(X, y)  # LASSO right after standardizing
    reference = LassoCV(cv=5, random_state=0, max_iter=20000, n_jobs=1).fit(_standardized(X).values, y.astype(float))

    curve = lasso_cv_curve(pipeline)
    assert curve["alpha"].to_numpy() == pytest.approx(reference.alphas_, rel=1e-12)
    assert curve["cv_mse"].to_numpy() == pytest.approx(reference.mse_path_.mean(axis=1))
    assert curve["cv_mse_sd"].to_numpy() == pytest.approx(reference.mse_path_.std(axis=1, ddof=1))
    assert curve.loc[curve["chosen"], "alpha"].tolist() == pytest.approx([reference.alpha_])
    # LassoCV picks the alpha of least mean CV error.
    assert curve.loc[curve["chosen"], "cv_mse"].iloc[0] == curve["cv_mse"].min()

    path = lasso_coefficient_path(pipeline, X, y)
    assert np.unique(path["alpha"]) == pytest.approx(np.sort(reference.alphas_), rel=1e-12)
    at_chosen = path[np.isclose(path["alpha"], reference.alpha_)].set_index("feature")["coefficient"]
    names = list(_standardized(X).columns)
    expected = pd.Series(reference.coef_, index=names)
    assert at_chosen.to_numpy() == pytest.approx(expected.loc[at_chosen.index].to_numpy(), abs=1e-4)
    # Every feature LassoCV keeps is on the path, and the path is capped.
    assert set(expected.index[np.abs(expected) > 1e-10]) <= set(at_chosen.index)
    assert path["feature"].nunique() <= max(PATH_FEATURES, int((np.abs(expected) > 1e-10).sum()))
    # The path starts where every coefficient is zero (LassoCV's largest alpha).
    assert path[path["alpha"] == path["alpha"].max()]["coefficient"].abs().max() < 1e-12


def test_lasso_after_the_filters_is_traced_on_the_filters_output(data):
    X, y = data
    pipeline = grade_pipeline(seed=0).fit(X, y)  # t-test, pruning and mRMR before the LASSO
    path = lasso_coefficient_path(pipeline, X, y)
    lasso = pipeline.named_steps["lasso"]
    assert set(path["feature"]) <= set(pipeline.named_steps["mrmr"].get_feature_names_out())
    assert np.unique(path["alpha"]) == pytest.approx(np.sort(lasso.alphas_), rel=1e-12)
    at_chosen = path[np.isclose(path["alpha"], lasso.alpha_)].set_index("feature")["coefficient"]
    kept = pd.Series(lasso.coef_, index=pipeline.named_steps["mrmr"].get_feature_names_out())
    assert at_chosen.to_numpy() == pytest.approx(kept.loc[at_chosen.index].to_numpy(), abs=1e-4)


def test_a_pipeline_without_lasso_has_no_curve(data):
    X, y = data
    pipeline = _logistic().fit(X[["T1c__f00", "T1c__f01"]], y)
    assert lasso_cv_curve(pipeline).empty
    assert lasso_coefficient_path(pipeline, X[["T1c__f00", "T1c__f01"]], y).empty


def test_correlation_is_numpys_pearson_on_the_selected_training_features(data):
    X, y = data
    pipeline = mgmt_pipeline(seed=0).fit(X, y)
    design = selected_design(pipeline, X)
    names = list(design.columns)
    assert names == list(pipeline[:-1].get_feature_names_out())
    rows = feature_correlation(design)
    matrix = rows.pivot(index="feature_a", columns="feature_b", values="r").loc[names, names]
    # Pearson r does not change under standardization: the raw training columns give the same.
    assert matrix.to_numpy() == pytest.approx(np.corrcoef(X[names].to_numpy(), rowvar=False), abs=1e-12)


def test_nomogram_points_give_back_the_models_probability():
    rng = np.random.default_rng(5)
    n = 120
    design = pd.DataFrame({"age": rng.normal(55, 14, n).round(), "sex_male": rng.integers(0, 2, n).astype(float),
                           "radscore": rng.normal(0, 2, n)})
    y = pd.Series((0.03 * (design.age - 55) + 0.3 * design.sex_male + design.radscore + rng.normal(size=n) > 0)
                  .astype(int))
    train, test = design.iloc[:90], design.iloc[90:]
    pipeline = _logistic().fit(train, y.iloc[:90])
    chart = nomogram(pipeline, train)
    for frame in (train, test):  # test cases may fall outside the training range: still exact
        expected = pipeline.predict_proba(frame)[:, 1]
        assert chart.probability(chart.total_points(frame)) == pytest.approx(expected, abs=1e-9, rel=0)
    points = chart.points(train)
    assert points.min().min() == pytest.approx(0.0, abs=1e-9)
    assert points.max().max() == pytest.approx(100.0)  # the widest variable spans 0-100
    assert (points.max() <= 100 + 1e-9).all()

    rows = nomogram_rows(chart)
    probability = rows[rows["axis"] == "Probability"]
    assert len(probability) and chart.probability(probability["points"]) == pytest.approx(probability["value"])
    sex = rows[rows["axis"] == "sex_male"]
    assert sex["label"].tolist() == ["female", "male"]
    total = rows[rows["axis"] == "Total points"]
    most = points.max().sum()  # every variable at its highest-scoring training value
    assert total["points"].min() == 0 and total["points"].max() <= most
    assert total["position"].to_numpy() == pytest.approx(total["points"].to_numpy() * 100 / most)


def test_fitted_models_carry_their_figures_and_the_tables_match_the_schema(data):
    X, y = data
    ids = pd.Index([f"UCSF-PDGM-{i:04d}" for i in range(len(X))])
    labels = pd.Series(y.to_numpy(), index=ids)
    task = preset("mgmt")
    splits = assign_splits(labels, task)
    matrices = {0.0: X.set_axis(ids), 3.0: (X + np.random.default_rng(2).normal(size=X.shape)).set_axis(ids)}
    clinical = pd.DataFrame({"patient_id": ids, "age": 50 + 10 * y.to_numpy() + np.arange(len(ids)) % 7,
                             "sex": np.where(np.arange(len(ids)) % 2, "M", "F")})
    models = fit_task_models(task, labels, splits, matrices, clinical)
    tables = figure_tables("mgmt", models)
    for table, frame in tables.items():
        assert set(frame.columns) == {column for column, _ in TABLES[table]}, table
    with_lasso = set(map(tuple, tables["lasso_cv"][["model", "ring_mm"]].fillna(0).drop_duplicates().to_numpy()))
    assert with_lasso == {("VOI_T", 0.0), ("VOI_P", 3.0), ("Combined", 3.0)}
    assert set(tables["nomogram"]["model"]) == {"Clinical-Omics"}
    # Every classifier shares a model's selection: its figures are stored once, not once per classifier.
    assert {m.classifier for m in models} == {"logistic", "svm", "random_forest"}
    per_model = tables["lasso_cv"].groupby(["model", "ring_mm"], dropna=False).size()
    assert (per_model == len(models[0].pipeline.named_steps["lasso"].alphas_)).all()
    assert tables["nomogram"]["ring_mm"].nunique() == 1 and tables["nomogram"].duplicated(["axis", "value"]).sum() == 0
    assert set(tables["feature_correlation"]["model"]) == {m.model for m in models}
    omics = next(m for m in models if m.model == "Clinical-Omics")
    assert "Radscore (logit)" in set(tables["nomogram"]["axis"])
    assert len(omics.figures.correlation) == len(omics.coefficients) ** 2
