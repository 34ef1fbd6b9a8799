"""External validation and ComBat harmonization on two synthetic cohorts (sites) that differ
by a planted offset: external metrics with intervals, the offset removed, shuffled labels at
chance, and no test or external row seen by any fit."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from neuroCombat import neuroCombat
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from radiomics_core.evaluation.clinical_table import clinical_characteristics
from radiomics_core.evaluation.metrics import evaluate
from radiomics_core.modeling.fitting import fit_task_models
from radiomics_core.modeling.harmonization import ComBat, harmonize_matrices, sites_without_training_rows
from radiomics_core.tasks.config import EXTERNAL, ExternalRule, assign_splits_with_external, preset, task_from_dict

N_FEATURES = 12


def _cohorts(seed: int = 0) -> tuple[pd.DataFrame, pd.Series, pd.Series, pd.DataFrame]:
    """Site A (UCSF-like, 120 exams) and site B (BraTS-like, 120 exams, the later 40 of them in
    an external set "B-ext-*"); the label moves features 0-2, site B adds 1.5 SD to every
    feature and scales it by 1.4. Returns (features, labels, sites, patients)."""
    rng = np.random.default_rng(seed)
    ids = [f"A-{i:03d}" for i in range(120)] + [f"B-{i:03d}" for i in range(80)] + [f"B-ext-{i:03d}" for i in range(40)]
    sites = pd.Series(["A"] * 120 + ["B"] * 120, index=ids)
    labels = pd.Series(rng.integers(0, 2, len(ids)), index=ids)
    values = rng.normal(size=(len(ids), N_FEATURES))
    values[:, :3] += 0.9 * labels.to_numpy()[:, None]
    b = (sites == "B").to_numpy()
    values[b] = values[b] * 1.4 + 1.5
    features = pd.DataFrame(values, index=ids, columns=[f"FLAIR__f{j}" for j in range(N_FEATURES)])
    patients = pd.DataFrame({"patient_id": ids, "layout": np.where(b, "brats2021", "ucsf-pdgm")})
    return features, labels, sites, patients


def _task():
    external = ExternalRule(patient_ids=("B-ext-*",))
    return replace(preset("grade"), classifiers=("logistic",), external=external, harmonize="layout")


def _splits(labels, patients):
    return assign_splits_with_external(labels, _task(), patients)


def _clinical(ids) -> pd.DataFrame:
    return pd.DataFrame({"patient_id": ids, "age": 50.0, "sex": ["M", "F"] * (len(ids) // 2)})


def test_combat_equals_neurocombat_on_the_training_rows():
    features, _, sites, _ = _cohorts()
    reference = neuroCombat(dat=features.T.to_numpy(), covars=pd.DataFrame({"site": sites.to_numpy()}),
                            batch_col="site")["data"].T
    ours = ComBat().fit(features, sites).transform(features, sites)
    assert np.abs(ours.to_numpy() - reference).max() < 1e-9


def test_the_external_rule_makes_its_exams_external_and_splits_the_rest():
    features, labels, _, patients = _cohorts()
    splits = _splits(labels, patients)
    assert set(splits[splits == EXTERNAL].index) == {p for p in labels.index if p.startswith("B-ext-")}
    internal = splits[splits != EXTERNAL]
    assert set(internal) == {"train", "test"} and (internal == "test").mean() == pytest.approx(0.3, abs=0.02)
    rule = task_from_dict({"name": "grade", "label": {"column": "who_grade", "classes": [{"values": [2]}, {"values": [4]}]},
                           "external": {"layout": "brats2021"}}).external
    assert set(rule.matches(patients)) == set(patients.patient_id[patients.layout == "brats2021"])


def test_external_metrics_roc_and_delong_exist_with_intervals():
    features, labels, sites, patients = _cohorts()
    splits = _splits(labels, patients)
    matrices = {0.0: features, 1.0: features.add_suffix("_ring")}
    models = fit_task_models(_task(), labels, splits, matrices, _clinical(labels.index))
    tables = evaluate("grade", models, labels, splits)
    external = tables["model_metrics"].query("split == 'external'")
    assert set(external.model) == {"VOI_T", "VOI_P", "Combined", "Clinical", "Clinical-Omics"}
    assert (external.n == 40).all()
    for metric in ("auc", "accuracy", "sensitivity", "specificity", "f1", "brier"):
        low, high = external[f"{metric}_low"], external[f"{metric}_high"]
        assert low.notna().all() and (low <= high).all()
    assert ((external.auc_low <= external.auc) & (external.auc <= external.auc_high)).all()
    assert (tables["roc_points"].split == "external").any() and (tables["delong_tests"].split == "external").any()


def _site_auc(harmonized: pd.DataFrame, sites: pd.Series, splits: pd.Series) -> float:
    """How well a classifier fitted on the training rows tells the sites apart on the others."""
    train, held = splits.index[splits == "train"], splits.index[splits != "train"]
    model = LogisticRegression(max_iter=1000).fit(harmonized.loc[train], sites.loc[train] == "B")
    return roc_auc_score(sites.loc[held] == "B", model.predict_proba(harmonized.loc[held])[:, 1])


def test_harmonization_removes_the_planted_site_offset():
    features, labels, sites, patients = _cohorts()
    splits = _splits(labels, patients)
    assert _site_auc(features, sites, splits) > 0.95
    harmonized = harmonize_matrices({0.0: features}, sites, splits.index[splits == "train"])[0.0]
    assert _site_auc(harmonized, sites, splits) <= 0.6


def test_with_shuffled_labels_the_harmonized_models_stay_at_chance():
    features, labels, sites, patients = _cohorts()
    shuffled = pd.Series(np.random.default_rng(7).permutation(labels.to_numpy()), index=labels.index)
    splits = _splits(shuffled, patients)
    matrices = harmonize_matrices({0.0: features, 1.0: features.add_suffix("_ring")}, sites,
                                  splits.index[splits == "train"])
    models = fit_task_models(_task(), shuffled, splits, matrices, _clinical(labels.index))
    metrics = evaluate("grade", models, shuffled, splits)["model_metrics"]
    held = metrics[metrics.split.isin(["test", EXTERNAL]) & metrics.model.isin(["VOI_T", "VOI_P", "Combined"])]
    assert ((held.auc_low <= 0.5) & (0.5 <= held.auc_high)).all(), held[["model", "split", "auc", "auc_low", "auc_high"]]


def test_no_test_or_external_row_is_seen_by_any_fit():
    features, labels, sites, patients = _cohorts()
    splits = _splits(labels, patients)
    held = splits.index[splits != "train"]
    rng = np.random.default_rng(1)
    altered = features.copy()
    altered.loc[held] = rng.normal(50, 20, size=(len(held), N_FEATURES))  # anything at all

    def fit(frame):
        matrices = harmonize_matrices({0.0: frame, 1.0: frame.add_suffix("_ring")}, sites,
                                      splits.index[splits == "train"])
        labels_seen = labels.copy()
        return matrices, fit_task_models(_task(), labels_seen, splits, matrices, _clinical(labels.index))

    (first_matrices, first), (second_matrices, second) = fit(features), fit(altered)
    train = splits.index[splits == "train"]
    for ring in first_matrices:
        pd.testing.assert_frame_equal(first_matrices[ring].loc[train], second_matrices[ring].loc[train])
    for a, b in zip(first, second):
        assert (a.model, a.ring_mm) == (b.model, b.ring_mm) and a.coefficients == b.coefficients
        pd.testing.assert_series_equal(a.scores.loc[train], b.scores.loc[train])
    # The labels of held-out rows are never read either: flipping them changes no fit.
    flipped = labels.copy()
    flipped.loc[held] = 1 - flipped.loc[held]
    third = fit_task_models(_task(), flipped, splits, first_matrices, _clinical(labels.index))
    assert [m.coefficients for m in third] == [m.coefficients for m in first]


def test_combat_refuses_a_site_without_training_rows_by_name_unless_asked_to_leave_it_as_is():
    features, _, sites, _ = _cohorts()
    combat = ComBat().fit(features, sites)
    unseen = sites.copy()
    unseen.iloc[-5:] = "C"
    with pytest.raises(ValueError, match=r"sites \['C'\] have no training rows.*unseen='as_is'"):
        combat.transform(features, unseen)
    harmonized = combat.transform(features, unseen, unseen="as_is")
    # No site effect for C: standardized by the training estimates and mapped back, i.e. unchanged.
    new = unseen.index[unseen == "C"]
    assert np.abs(harmonized.loc[new].to_numpy() - features.loc[new].to_numpy()).max() < 1e-12
    seen = unseen.index[unseen != "C"]
    pd.testing.assert_frame_equal(harmonized.loc[seen], combat.transform(features.loc[seen], sites.loc[seen]))


def test_an_external_cohort_from_a_new_site_is_left_unharmonized_and_named():
    features, labels, sites, patients = _cohorts()
    sites = sites.where(~sites.index.str.startswith("B-ext-"), "C")  # the external exams: a third hospital
    splits = _splits(labels, patients)
    train = splits.index[splits == "train"]
    matrices = harmonize_matrices({0.0: features}, sites, train)
    external = splits.index[splits == EXTERNAL]
    assert sites_without_training_rows(sites, features.index, train) == {"C": len(external)} == {"C": 40}
    pd.testing.assert_frame_equal(matrices[0.0].loc[external], features.loc[external], rtol=0, atol=1e-12)
    # The training sites are harmonized as before: the new site changes no estimate.
    alone = harmonize_matrices({0.0: features.drop(external)}, sites, train)[0.0]
    pd.testing.assert_frame_equal(matrices[0.0].drop(external), alone)


@pytest.mark.slow
def test_external_results_reach_the_warehouse_the_dashboard_and_the_report(tmp_path):
    from reporting.report import write_report
    from tests.test_dashboard import run_app
    from warehouse.store import Warehouse

    features, labels, sites, patients = _cohorts()
    splits = _splits(labels, patients)
    matrices = harmonize_matrices({0.0: features, 1.0: features.add_suffix("_ring")}, sites,
                                  splits.index[splits == "train"])
    warehouse = Warehouse(tmp_path / "warehouse").initialize()
    warehouse.write_partition("patients", "all", patients.assign(source_id=patients.patient_id, folder="-",
                                                                 usable=True, updated_at=pd.Timestamp("2026-01-01")))
    warehouse.write_partition("splits", "grade", pd.DataFrame({"task": "grade", "patient_id": labels.index,
                                                               "label": labels.values, "split": splits.values}))
    models = fit_task_models(_task(), labels, splits, matrices, _clinical(labels.index))
    tables = evaluate("grade", models, labels, splits)
    tables["clinical_characteristics"] = clinical_characteristics("grade", _clinical(labels.index), labels, splits,
                                                                  ("WHO 2-3", "WHO 4"))
    for table, frame in tables.items():
        warehouse.write_partition(table, "grade", frame)
    from warehouse import queries
    stored = queries.table(warehouse.root, "model_metrics", {"split": EXTERNAL})
    assert len(stored) and stored.auc_low.notna().all()
    report = write_report(warehouse.root, "grade", tmp_path / "report" / "grade.html")
    text = report.read_text()
    assert "ROC curves (external)" in text and "external" in text
    assert "p (train vs external)" in text and f"External WHO 4 (N={int(labels[splits == EXTERNAL].sum())})" in text
    assert (tmp_path / "report" / "grade_roc_external.svg").exists()
    for page in ("ROC curves", "Model comparison", "Findings"):
        app = run_app(warehouse.root, {"page": page, "task": "grade", "split": EXTERNAL})
        assert not app.exception, [e.value for e in app.exception]
        assert app.sidebar.selectbox(key="split").value == EXTERNAL
    app = run_app(warehouse.root, {"page": "Clinical characteristics", "task": "grade"})
    assert not app.exception, [e.value for e in app.exception]
    assert "p (train vs external)" in app.table[0].value.columns
