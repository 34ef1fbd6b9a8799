"""Prediction tasks and their train/test splits."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class TaskConfig:
    """A binary prediction task over the clinical table."""

    name: str  # "grade" or "mgmt" (also the selection recipe)
    test_fraction: float
    seed: int = 0
    classifier: str = "logistic"  # or "svm", "random_forest" (radiomics_core.selection.CLASSIFIERS)

    def labels(self, clinical: pd.DataFrame) -> pd.Series:
        """1/0 label per patient_id for the patients the task applies to."""
        frame = clinical.set_index("patient_id")
        if self.name == "grade":
            graded = frame["who_grade"].isin([2, 3, 4])
            return (frame.loc[graded, "who_grade"] == 4).astype(int)
        if self.name == "mgmt":
            known = (frame["who_grade"] == 4) & frame["mgmt_methylated"].notna()
            return frame.loc[known, "mgmt_methylated"].astype(bool).astype(int)
        raise ValueError(f"unknown task {self.name!r}; tasks are 'grade' and 'mgmt'")


# What label 0 and label 1 mean, as tables and charts print them.
CLASS_NAMES = {"grade": ("WHO 2-3", "WHO 4"), "mgmt": ("unmethylated", "methylated")}

TASKS = {
    "grade": TaskConfig("grade", 0.3),  # thesis Part I: 7:3
    "mgmt": TaskConfig("mgmt", 0.2),  # thesis Part II: 8:2
}


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
