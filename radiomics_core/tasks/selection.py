"""Which exams a task uses, and why each other exam is left out: a CONSORT-style selection flow.

``select_cases`` is the one place a task's labels come from (``TaskConfig.labels`` calls it), so
the flow's counts and the labels can never disagree. Each rule of the task (``TaskConfig``) is a
step; an exam leaves at the first step it fails, with that step's reason, and is counted under
its class (label 0, label 1, or no label) whether it stays or leaves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import pandas as pd

from radiomics_core.tasks.config import TaskConfig, is_follow_up, seeded_hash

FLOW_COLUMNS = ["task", "step", "criterion", "reason", "label_class", "n_in", "n_excluded", "n_out", "preset"]
NO_LABEL = "no label"
SELECTED = "selected"
# A BraTS 2021 case is named by its BraTS21 ID (BraTS2021_00097), which UCSF-PDGM's metadata
# gives for the 298 of its exams that BraTS 2021 also holds.
_BRATS21_CASE = re.compile(r"^BraTS2021_\d{5}$")


@dataclass(frozen=True)
class Selection:
    """A task's selected exams and the account of every other exam."""

    labels: pd.Series  # 0/1 per selected patient_id
    decisions: pd.DataFrame  # per exam: patient_id, label_class, step, reason (None: selected)
    flow: pd.DataFrame  # FLOW_COLUMNS: per step and class, exams in, excluded, out


@dataclass(frozen=True)
class _Step:
    criterion: str  # what an exam must satisfy, as the flow prints it
    reason: str  # why an exam failing it is left out
    # The exams (index: patient_id) still in -> the reason for each one it excludes.
    excluded: Callable[[pd.DataFrame], pd.Series]


def _normalized(text: object) -> str:
    """Lower case, punctuation as spaces: 'Glioblastoma, IDH-wildtype' == 'glioblastoma IDH wildtype'."""
    return " ".join(re.sub(r"[^0-9a-z]+", " ", str(text).lower()).split())


def _where(exams: pd.DataFrame, mask: pd.Series, reason: str) -> pd.Series:
    return pd.Series(reason, index=exams.index[mask.fillna(False).astype(bool).to_numpy()], dtype=object)


def _one_exam_per_subject(exams: pd.DataFrame) -> pd.Series:
    """Exams of one subject (a BraTS21 ID named by an exam's metadata or by a BraTS 2021 case's
    own id): keep the exam whose metadata names the BraTS21 ID (UCSF-PDGM's, with the clinical
    data), then the first by id; the others are duplicates."""
    if not len(exams):
        return pd.Series(dtype=object)
    named = exams["brats21_id"].where(exams["brats21_id"].notna(), None)
    subject = [b if b else (p if _BRATS21_CASE.match(p) else None) for p, b in zip(exams.index, named)]
    frame = pd.DataFrame({"subject": subject, "names_it": named.notna().to_numpy(), "patient_id": exams.index})
    frame = frame.dropna(subset=["subject"]).sort_values(["subject", "names_it", "patient_id"],
                                                         ascending=[True, False, True])
    reasons = {}
    for key, group in frame.groupby("subject", sort=False):
        kept = group.patient_id.iloc[0]
        for other in group.patient_id.iloc[1:]:
            reasons[other] = f"duplicate subject (BraTS21 ID {key}; {kept} kept)"
    return pd.Series(reasons, dtype=object)


def _balanced(seed: int) -> Callable[[pd.DataFrame], pd.Series]:
    def excluded(exams: pd.DataFrame) -> pd.Series:
        sizes = exams["label"].value_counts()
        if len(sizes) < 2:  # one class only: nothing to balance against
            return pd.Series(dtype=object)
        larger, keep = sizes.idxmax(), int(sizes.min())
        members = sorted(exams.index[exams["label"] == larger], key=lambda p: seeded_hash(p, seed))
        return pd.Series(f"class balancing (seed {seed})", index=members[keep:], dtype=object)
    return excluded


def _steps(task: TaskConfig) -> list[_Step]:
    steps = [
        _Step("images usable", "images not usable (see case_issues)",
              lambda e: _where(e, ~e["usable"], "images not usable (see case_issues)")),
    ]
    if not task.include_follow_up:
        steps.append(_Step("baseline exam", "follow-up exam",
                           lambda e: _where(e, pd.Series([is_follow_up(p) for p in e.index], index=e.index),
                                            "follow-up exam")))
    if task.one_exam_per_subject:
        steps.append(_Step("one exam per subject", "duplicate subject (same BraTS21 ID as a kept exam)",
                           _one_exam_per_subject))
    steps.append(_Step("clinical data", "no clinical row", lambda e: _where(e, ~e["has_clinical"], "no clinical row")))
    if task.brats21_mgmt_cohort:
        sets = {_normalized(c) for c in task.brats21_mgmt_cohort}
        listed = " or ".join(task.brats21_mgmt_cohort)
        steps.append(_Step(f"BraTS 2021 MGMT cohort: {listed}", f"not in the BraTS 2021 MGMT {listed} set",
                           lambda e: pd.concat([
                               _where(e, e["brats21_mgmt_cohort"].isna(), "not in the BraTS 2021 MGMT cohort"),
                               pd.Series({p: f"BraTS 2021 MGMT {c} set" for p, c in e["brats21_mgmt_cohort"].dropna().items()
                                          if _normalized(c) not in sets}, dtype=object)])))
    if task.exclude_biopsy_prior_to_imaging:
        steps.append(_Step("preoperative (no biopsy before imaging)", "biopsy prior to imaging",
                           lambda e: _where(e, e["biopsy_prior_to_imaging"] == True,  # noqa: E712 (None stays)
                                            "biopsy prior to imaging")))
    if task.min_age is not None:
        age = f"age >= {task.min_age:g}"
        steps.append(_Step(age, f"younger than {task.min_age:g} or age unknown", lambda e: pd.concat([
            _where(e, e["age"].isna(), "age unknown"),
            _where(e, pd.to_numeric(e["age"], errors="coerce") < task.min_age, f"younger than {task.min_age:g}")])))
    if task.diagnoses:
        wanted = {_normalized(d) for d in task.diagnoses}
        listed = "; ".join(task.diagnoses)
        steps.append(_Step(f"diagnosis: {listed}", "diagnosis not listed or unknown", lambda e: pd.concat([
            _where(e, e["diagnosis"].isna(), "diagnosis unknown"),
            pd.Series({p: f"diagnosis {d}" for p, d in e["diagnosis"].dropna().items()
                       if _normalized(d) not in wanted}, dtype=object)])))
    if task.idh:
        steps.append(_Step(f"IDH {task.idh}", f"IDH not {task.idh} or unknown", lambda e: pd.concat([
            _where(e, e["idh"].isna(), "IDH unknown"),
            _where(e, e["idh"].notna() & (e["idh"] != task.idh), f"IDH not {task.idh}")])))
    column = task.label.column if task.label else "label"
    steps.append(_Step(f"known {column}", f"{column} unknown or outside both classes",
                       lambda e: _where(e, e["label"].isna(), f"{column} unknown or outside both classes")))
    if task.balance_seed is not None:
        steps.append(_Step("balanced classes", f"class balancing (seed {task.balance_seed})",
                           _balanced(task.balance_seed)))
    return steps


def select_cases(task: TaskConfig, clinical: pd.DataFrame, patients: pd.DataFrame | None = None) -> Selection:
    """The exams ``task`` selects from the warehouse's ``clinical`` rows, with the reason each
    other exam is left out. ``patients`` (patient_id, usable: the warehouse's ``patients``) lists
    every exam found, so exams whose images failed or that have no clinical row are accounted
    for too; without it, the clinical rows are the exams and all are taken as usable."""
    clinical = clinical.drop_duplicates("patient_id", keep="last").set_index("patient_id")
    if patients is None:
        usable = pd.Series(True, index=clinical.index, dtype=bool)
    else:
        rows = patients.drop_duplicates("patient_id", keep="last").set_index("patient_id")
        usable = rows["usable"].fillna(False).astype(bool)
    needed = ["age", "diagnosis", "idh", "biopsy_prior_to_imaging", "brats21_id", "brats21_mgmt_cohort"]
    column = task.label.column if task.label else None
    exams = clinical.reindex(index=usable.index, columns=list(dict.fromkeys(needed + [column] if column else needed)))
    exams = exams.astype(object).where(exams.notna(), None)
    exams["usable"] = usable
    exams["has_clinical"] = usable.index.isin(clinical.index)
    exams["label"] = pd.Series([task.label.label(v) for v in exams[column]] if column else None,
                               index=exams.index, dtype=object)

    names = dict(enumerate(task.class_names))
    classes = [names.get(v, NO_LABEL) if v is not None else NO_LABEL for v in exams["label"]]
    decisions = pd.DataFrame({"patient_id": exams.index, "label_class": classes, "step": pd.NA, "reason": None},
                             index=exams.index).astype({"step": "Int64", "reason": object})
    remaining = exams
    flow: list[dict] = []
    number = 0
    for number, step in enumerate(_steps(task), start=1):
        reasons = step.excluded(remaining)
        reasons = reasons[~reasons.index.duplicated()]
        flow.extend(_flow_rows(task, number, step.criterion, step.reason, decisions.label_class,
                               remaining.index, reasons.index))
        decisions.loc[reasons.index, "step"] = number
        decisions.loc[reasons.index, "reason"] = reasons.to_numpy()
        remaining = remaining.drop(index=reasons.index)
    flow.extend(_flow_rows(task, number + 1, SELECTED, "", decisions.label_class, remaining.index,
                           pd.Index([])))
    labels = remaining["label"].astype(int).rename("label")
    labels.index.name = "patient_id"
    return Selection(labels, decisions.reset_index(drop=True), pd.DataFrame(flow, columns=FLOW_COLUMNS))


def _flow_rows(task: TaskConfig, step: int, criterion: str, reason: str, label_class: pd.Series,
               before: pd.Index, excluded: pd.Index) -> list[dict]:
    rows = []
    for name in (*task.class_names, NO_LABEL):
        n_in = int((label_class.reindex(before) == name).sum())
        n_excluded = int((label_class.reindex(excluded) == name).sum())
        rows.append({"task": task.name, "step": step, "criterion": criterion, "reason": reason, "label_class": name,
                     "n_in": n_in, "n_excluded": n_excluded, "n_out": n_in - n_excluded, "preset": task.preset})
    return rows


def flow_table(rows: pd.DataFrame) -> pd.DataFrame:
    """A flow (``Selection.flow``, or the warehouse's ``selection_flow`` rows of one task) as a
    CONSORT-style table, a row per step in order: what an exam must satisfy, why the others left,
    exams in, excluded and out, then excluded and out per class (label 0, label 1, no label). The
    last step ("selected") is the task's cohort."""
    if rows.empty:
        return pd.DataFrame(columns=["step", "criterion", "reason", "n_in", "n_excluded", "n_out"])
    rows = rows.sort_values("step", kind="stable")
    classes = list(dict.fromkeys(rows.label_class))  # as the flow stores them: label 0, label 1, no label
    table = rows.groupby("step").agg(criterion=("criterion", "first"), reason=("reason", "first"),
                                     n_in=("n_in", "sum"), n_excluded=("n_excluded", "sum"), n_out=("n_out", "sum"))
    for measure in ("excluded", "out"):
        wide = rows.pivot_table(index="step", columns="label_class", values=f"n_{measure}", aggfunc="sum")
        for name in classes:
            table[f"{measure}: {name}"] = wide[name].astype(int)
    return table.reset_index()
