"""End to end on the synthetic cohort: the planted peritumoral signal is recovered, and nothing
leaks from test to train."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from radiomics_core.cohorts.layouts import CohortConfig, read_cohort
from radiomics_core.features.cohort import cohort_feature_matrices
from radiomics_core.evaluation.metrics import evaluate
from radiomics_core.features.extraction import ExtractionParams
from radiomics_core.modeling.fitting import fit_task_models
from radiomics_core.cohorts.synthetic import DemoConfig, write_demo_cohort
from radiomics_core.tasks.config import preset, assign_splits
from radiomics_core.tasks.selection import select_cases
from warehouse import records

pytestmark = pytest.mark.slow
RINGS = (1.0, 3.0, 5.0, 10.0, 15.0)


@pytest.fixture(scope="module")
def cohort_features(tmp_path_factory):
    root = tmp_path_factory.mktemp("science")
    write_demo_cohort(root, DemoConfig(patients=60, shape=(96, 96, 64), seed=1), progress=False)
    cohort = read_cohort(root, CohortConfig(sequences=("T2", "FLAIR")))
    matrices = cohort_feature_matrices(cohort, RINGS, ExtractionParams.load("demo"))
    clinical = pd.concat([records.clinical_rows(c) for c in cohort.cases], ignore_index=True)
    return matrices, clinical


def _test_aucs(matrices, clinical, labels, seed=0):
    task = replace(preset("grade"), classifiers=("logistic",))  # the thesis' classifier: one AUC per model
    splits = assign_splits(labels, task)
    models = fit_task_models(task, labels, splits, matrices, clinical)
    metrics = evaluate("grade", models, labels, splits)["model_metrics"]
    return metrics[metrics.split == "test"].set_index(["model", "ring_mm"])["auc"]


def test_close_rings_beat_voi_t_and_wide_rings_rank_lower(cohort_features):
    matrices, clinical = cohort_features
    labels = select_cases(preset("grade"), clinical).labels
    auc = _test_aucs(matrices, clinical, labels)
    combined = auc.xs("Combined", level="model")
    voi_t = auc.loc[("VOI_T", np.nan)] if ("VOI_T", np.nan) in auc.index else auc.xs("VOI_T", level="model").iloc[0]
    close, wide = combined.loc[[1.0, 3.0, 5.0]], combined.loc[[10.0, 15.0]]
    assert close.max() >= voi_t + 0.05, (close.to_dict(), voi_t)
    assert close.mean() > wide.mean(), (close.to_dict(), wide.to_dict())


def test_shuffled_labels_give_chance_auc(cohort_features):
    matrices, clinical = cohort_features
    labels = select_cases(preset("grade"), clinical).labels
    subset = {0.0: matrices[0.0], 3.0: matrices[3.0]}
    aucs = []
    for seed in range(3):
        shuffled = pd.Series(np.random.default_rng(seed).permutation(labels.values), index=labels.index)
        auc = _test_aucs(subset, clinical, shuffled)
        aucs.extend(auc.xs("Combined", level="model").tolist() + auc.xs("VOI_T", level="model").tolist())
    assert abs(np.mean(aucs) - 0.5) < 0.12, aucs
