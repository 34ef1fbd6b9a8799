"""Prediction tasks and their train/test splits."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class TaskConfig:
    """A binary prediction task over the clinical table."""

    name: str  # "grade" or "mgmt" (also the selection recipe)
    test_fraction: float
    seed: int = 0
    classifier: str = "logistic"  # or "svm", "random_forest" (radiomics_core.selection.CLASSIFIERS)
    # Follow-up exams are the same person as their baseline exam: one person, one split.
    include_follow_up: bool = False

    def labels(self, clinical: pd.DataFrame) -> pd.Series:
        """1/0 label per patient_id for the patients the task applies to (baseline exams only
        unless ``include_follow_up``)."""
        frame = clinical.set_index("patient_id")
        if not self.include_follow_up:
            frame = frame.loc[[not is_follow_up(p) for p in frame.index]]
        if self.name == "grade":
            graded = frame["who_grade"].isin([2, 3, 4])
            return (frame.loc[graded, "who_grade"] == 4).astype(int)
        if self.name == "mgmt":
            known = (frame["who_grade"] == 4) & frame["mgmt_methylated"].notna()
            return frame.loc[known, "mgmt_methylated"].astype(bool).astype(int)
        raise ValueError(f"unknown task {self.name!r}; tasks are 'grade' and 'mgmt'")


# UCSF-PDGM names a follow-up exam after its patient plus the interval: UCSF-PDGM-0433_FU007d.
_FOLLOW_UP = re.compile(r"_FU\w*$")


def is_follow_up(patient_id: str) -> bool:
    """Whether ``patient_id`` is a follow-up exam of a patient whose baseline has its own id."""
    return bool(_FOLLOW_UP.search(str(patient_id)))


# What label 0 and label 1 mean, as tables and charts print them.
CLASS_NAMES = {"grade": ("WHO 2-3", "WHO 4"), "mgmt": ("unmethylated", "methylated")}

TASKS = {
    "grade": TaskConfig("grade", 0.3),  # thesis Part I: 7:3
    "mgmt": TaskConfig("mgmt", 0.2),  # thesis Part II: 8:2
}

# The fewest cases per class a task can be fitted and evaluated with. Train: the Clinical-Omics
# radscore is chosen by cross-validation on train, and each CV fold's training part still runs
# LassoCV's own stratified CV, which needs 2 per class; 3 per class in train is the least for
# which that holds. The SVM's probability calibration (CalibratedClassifierCV, 5 stratified folds)
# runs inside those folds too, so it needs 5 per class there: 7 per class in train. Test: one
# per class, so test metrics exist at all (they mean little at that size; the dashboard warns).
MIN_TRAIN_PER_CLASS = {"logistic": 3, "random_forest": 3, "svm": 7}
MIN_TEST_PER_CLASS = 1
TOO_FEW_CASES = "too few cases"  # how a reason below starts after the task name


class TooFewCases(ValueError):
    """A task has too few usable cases per class to fit its models; the message is one line."""


def cases_needed_per_class(task: TaskConfig) -> int:
    """The smallest class size whose first split (``assign_splits``) meets both minimums."""
    need_train = MIN_TRAIN_PER_CLASS.get(task.classifier, max(MIN_TRAIN_PER_CLASS.values()))
    n = need_train + MIN_TEST_PER_CLASS
    while int(round(task.test_fraction * n)) < MIN_TEST_PER_CLASS or n - int(round(task.test_fraction * n)) < need_train:
        n += 1
    return n


def too_few_cases_reason(task: TaskConfig, labels: pd.Series, splits: pd.Series) -> str | None:
    """A one-line reason when the usable cases (``labels`` of the patients with features, and
    their ``splits``) cannot fit the task's models, else None."""
    need_train = MIN_TRAIN_PER_CLASS.get(task.classifier, max(MIN_TRAIN_PER_CLASS.values()))
    names = CLASS_NAMES.get(task.name, ("class 0", "class 1"))
    splits = splits.reindex(labels.index)
    counts = {(split, value): int(((splits == split) & (labels == value)).sum())
              for split in ("train", "test") for value in (0, 1)}
    if all(counts[("train", v)] >= need_train and counts[("test", v)] >= MIN_TEST_PER_CLASS for v in (0, 1)):
        return None
    have = ", ".join(f"{counts[('train', v)] + counts[('test', v)]} {names[v]} "
                     f"({counts[('train', v)]} train / {counts[('test', v)]} test)" for v in (0, 1))
    return (f"task {task.name}: {TOO_FEW_CASES}: usable {have}; needs at least {need_train} per class in train and "
            f"{MIN_TEST_PER_CLASS} in test ({cases_needed_per_class(task)} per class with a "
            f"{1 - task.test_fraction:.0%}/{task.test_fraction:.0%} split, {task.classifier})")


def _unit_hash(patient_id: str, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}:{patient_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_splits(labels: pd.Series, task: TaskConfig, existing: pd.Series | None = None) -> pd.Series:
    """'train'/'test' per patient: stratified by label, seeded, and stable as cases arrive.

    Patients in ``existing`` keep their split. The others are ordered within each class by a
    seeded hash of their id; each class then tops its test share up to ``test_fraction`` of
    the class, so a first split is exactly stratified and later arrivals never move anyone.
    """
    existing = existing if existing is not None else pd.Series(dtype=object)
    result = existing[existing.index.isin(labels.index)].copy()
    for value in sorted(labels.unique()):
        members = labels.index[labels == value]
        placed = result.reindex(members).dropna()
        new = sorted((m for m in members if m not in placed.index), key=lambda m: _unit_hash(m, task.seed))
        target_test = int(round(task.test_fraction * len(members)))
        need = max(0, target_test - int((placed == "test").sum()))
        for k, patient in enumerate(new):
            result.loc[patient] = "test" if k < need else "train"
    return result.reindex(labels.index)
