"""A task with too few usable cases per class says so in one line and never reaches sklearn;
the imaging work of the run still counts (exit status 0)."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from radiomics_core.modeling.fitting import fit_task_models
from radiomics_core.tasks.config import (
    MIN_TEST_PER_CLASS,
    MIN_TRAIN_PER_CLASS,
    preset,
    TOO_FEW_CASES,
    TooFewCases,
    assign_splits,
    classifiers_lacking_cases,
    cases_needed_per_class,
    too_few_cases_reason,
)


def _task_data(per_class: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    ids = [f"p{i:02d}" for i in range(2 * per_class)]
    labels = pd.Series([i % 2 for i in range(len(ids))], index=ids)
    matrices = {ring: pd.DataFrame(rng.normal(size=(len(ids), 12)) + 0.5 * labels.values[:, None], index=ids,
                                   columns=[f"f{j}" for j in range(12)]) for ring in (0.0, 1.0)}
    clinical = pd.DataFrame({"patient_id": ids, "age": rng.normal(55, 10, len(ids)),
                             "sex": ["M", "F"] * per_class})
    return labels, matrices, clinical


@pytest.mark.parametrize("name", ["grade", "mgmt"])
@pytest.mark.parametrize("classifier", ["logistic", "random_forest", "svm"])
def test_the_documented_minimum_fits_and_one_less_is_refused_before_sklearn(name, classifier):
    task = replace(preset(name), classifiers=(classifier,))
    need = cases_needed_per_class(task)
    labels, matrices, clinical = _task_data(need)
    splits = assign_splits(labels, task)
    assert too_few_cases_reason(task, labels, splits) is None
    assert fit_task_models(task, labels, splits, matrices, clinical)

    labels, matrices, clinical = _task_data(need - 1)
    with pytest.raises(TooFewCases) as refused:
        fit_task_models(task, labels, assign_splits(labels, task), matrices, clinical)
    reason = str(refused.value)
    assert "\n" not in reason and reason.startswith(f"task {name}: {TOO_FEW_CASES}")
    assert f"needs at least {MIN_TRAIN_PER_CLASS[classifier]} per class in train" in reason
    assert f"{need} per class" in reason


def test_a_classifier_short_of_cases_is_left_out_with_its_reason_and_the_others_fit():
    task = replace(preset("grade"), classifiers=("logistic", "svm", "random_forest"))
    need = cases_needed_per_class(task)  # the least demanding classifiers' minimum
    assert need < cases_needed_per_class(task, "svm")
    labels, matrices, clinical = _task_data(need)
    splits = assign_splits(labels, task)
    models = fit_task_models(task, labels, splits, matrices, clinical)
    assert {m.classifier for m in models} == {"logistic", "random_forest"}
    lacking = classifiers_lacking_cases(task, labels, splits)
    assert list(lacking) == ["svm"]
    assert "\n" not in lacking["svm"] and lacking["svm"].startswith(f"task grade: {TOO_FEW_CASES}")
    assert f"needs at least {MIN_TRAIN_PER_CLASS['svm']} per class in train" in lacking["svm"]
    assert lacking["svm"].endswith("svm)")


def test_minimums_follow_the_split_ratio():
    # 7:3 rounded per class and 8:2 rounded over the whole (ceil(1.6) = 2 of 2 x 4, one per class)
    # both put 1 of 4 in test and leave 3 in train.
    assert cases_needed_per_class(preset("grade")) == 4 and cases_needed_per_class(preset("mgmt")) == 4
    assert MIN_TEST_PER_CLASS == 1


def test_the_reason_counts_usable_cases_per_class_and_split():
    labels = pd.Series([1, 1, 1, 0], index=["a", "b", "c", "d"])
    splits = pd.Series(["train", "train", "test", "train"], index=labels.index)
    reason = too_few_cases_reason(preset("grade"), labels, splits)
    assert "1 WHO 2-3 (1 train / 0 test), 3 WHO 4 (2 train / 1 test)" in reason


def _run_on_cohort(n: int, tmp_path, monkeypatch, capsys) -> tuple[int, str, str]:
    """``glioma-rings run`` (demo parameters, one ring) on an ``n``-case UCSF cohort: its exit
    status, standard output and standard error."""
    from cli.main import main
    from tests.builders import write_ucsf_cohort

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    cohort = write_ucsf_cohort(tmp_path / "cohort", n=n)
    status = main(["run", str(cohort), "--data-dir", str(tmp_path / "data"), "--params", "demo", "--rings", "1",
                   "--workers", "1", "--in-process"])
    out = capsys.readouterr()
    return status, out.out, out.err


@pytest.mark.slow
def test_a_six_case_cohort_gives_one_line_per_task_and_exit_status_0(tmp_path, monkeypatch, capsys):
    status, out, err = _run_on_cohort(6, tmp_path, monkeypatch, capsys)
    text = out + err
    assert status == 0, text
    lines = [line.strip() for line in text.splitlines() if TOO_FEW_CASES in line]
    # Grade: 3 WHO 2-3 and 3 WHO 4 (2 train / 1 test each); MGMT: the 3 grade-4 cases are all methylated.
    assert lines == [
        "task grade: too few cases: usable 3 WHO 2-3 (2 train / 1 test), 3 WHO 4 (2 train / 1 test); "
        "needs at least 3 per class in train and 1 in test (4 per class with a 70%/30% split, "
        "logistic or random_forest)",
        "task mgmt: too few cases: usable 0 unmethylated (0 train / 0 test), 3 methylated (2 train / 1 test); "
        "needs at least 3 per class in train and 1 in test (4 per class with a 80%/20% split, "
        "logistic or random_forest)",
    ], text
    assert "Traceback" not in text and "Stack Trace" not in text and "FAILED" not in text


@pytest.mark.slow
def test_the_task_with_enough_cases_still_runs_beside_the_one_without(tmp_path, monkeypatch, capsys):
    from warehouse import queries

    # 4 WHO 2-3 and 4 WHO 4 (3 train / 1 test each) for grade; MGMT has only methylated cases.
    status, text, _ = _run_on_cohort(8, tmp_path, monkeypatch, capsys)
    assert status == 0, text
    # MGMT is not fitted; grade is, with logistic regression and random forest but not the SVM (it
    # needs 7 per class in train): one line each.
    lines = [line.strip() for line in text.splitlines() if TOO_FEW_CASES in line]
    assert [line.split(":")[0] for line in lines] == ["task mgmt", "task grade"], text
    assert lines[1].endswith("svm)") and "needs at least 7 per class in train" in lines[1]
    assert " 0 failed, 1 tasks not fitted" in text, text
    metrics = queries.table(tmp_path / "data" / "warehouse", "model_metrics")
    assert set(metrics.task) == {"grade"} and set(metrics.split) == {"train", "test"}
    assert set(metrics.classifier) == {"logistic", "random_forest"}
