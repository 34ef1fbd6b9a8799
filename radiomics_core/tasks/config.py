"""Prediction tasks and their train/test splits.

A task is data: a YAML file read into a ``TaskConfig``. The presets ship in
``radiomics_core/tasks/presets/``: ``grade`` and ``mgmt`` are the thesis' cohorts (the defaults),
``grade-who2021`` and ``mgmt-who2021`` the same tasks under WHO 2021 rules. Which exams a task uses, and why the others are left out, is
``radiomics_core.tasks.selection``.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from radiomics_core.files.presets import read_source, shipped_name, shipped_names


@dataclass(frozen=True)
class LabelRule:
    """Which values of a clinical column make label 0 and label 1 (anything else: no label)."""

    column: str  # a column of the warehouse table ``clinical``
    negative: tuple = ()
    positive: tuple = ()
    names: tuple[str, str] = ("class 0", "class 1")  # what label 0 and 1 mean, as tables print them

    def label(self, value: object) -> int | None:
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            return None
        if value in self.positive:
            return 1
        return 0 if value in self.negative else None


@dataclass(frozen=True)
class ExternalRule:
    """Which exams form the external validation set: those whose patient id matches one of
    ``patient_ids`` (shell patterns, e.g. "TCGA-*") or whose cohort layout is in ``layouts``
    (a merged cohort's BraTS part: "brats2021"). They are never used for selection or fitting."""

    patient_ids: tuple[str, ...] = ()
    layouts: tuple[str, ...] = ()

    def matches(self, patients: pd.DataFrame) -> pd.Index:
        """The patient ids of ``patients`` (columns patient_id, layout) this rule selects."""
        import fnmatch

        chosen = [p for p, layout in zip(patients["patient_id"], patients["layout"])
                  if layout in self.layouts or any(fnmatch.fnmatchcase(str(p), g) for g in self.patient_ids)]
        return pd.Index(chosen, name="patient_id")


@dataclass(frozen=True)
class TaskConfig:
    """A binary prediction task over the clinical table: its label, who is eligible, its split."""

    name: str  # "grade" or "mgmt" (also the selection recipe)
    test_fraction: float
    seed: int = 0
    # How the test share is rounded: "per_class" (each class's own round(test_fraction x n): a
    # small cohort keeps the most training cases) or "total" (scikit-learn's stratified
    # train_test_split: ceil(test_fraction x n) in all, shared out by class size).
    rounding: str = "per_class"
    # Fitted side by side on the same selected features (radiomics_core.tasks.config.CLASSIFIERS).
    classifiers: tuple[str, ...] = ("logistic", "svm", "random_forest")
    # Follow-up exams are the same person as their baseline exam: one person, one split.
    include_follow_up: bool = False
    label: LabelRule | None = None  # None: no label, the task selects nobody
    description: str = ""
    # Eligibility, in the order cohort_selection applies it; None or empty: no such rule.
    min_age: float | None = None  # an exam of unknown age is left out when set
    exclude_biopsy_prior_to_imaging: bool = False  # a biopsy before the exam: not preoperative
    diagnoses: tuple[str, ...] = ()  # WHO 2021 diagnoses, matched ignoring case and punctuation
    idh: str | None = None  # "wildtype" or "mutant"
    one_exam_per_subject: bool = True  # exams sharing a BraTS21 ID are one person: keep one
    # The BraTS 2021 MGMT challenge sets ("Training", "Validation") an exam must be in, ignoring case.
    brats21_mgmt_cohort: tuple[str, ...] = ()
    balance_seed: int | None = None  # set: the larger class is subsampled to the smaller's size
    # Set: features whose ICC(2,1) under contour perturbation (table feature_robustness) is below
    # it are dropped before any selection step; None: every feature (the thesis).
    min_icc: float | None = None
    # Exams held out as an external validation set (split "external"); None: none.
    external: ExternalRule | None = None
    # "layout": features ComBat-harmonized across the cohort layouts (sites), fitted on the
    # training split only (radiomics_core.modeling.harmonization); None: as extracted.
    harmonize: str | None = None
    # Where the rules came from: a shipped preset's name ("grade-who2021") or a task file's path.
    # Not a rule: two tasks with the same rules are equal wherever they were read from.
    preset: str = field(default="", compare=False)

    @property
    def class_names(self) -> tuple[str, str]:
        return self.label.names if self.label else ("class 0", "class 1")


# UCSF-PDGM names a follow-up exam after its patient plus the interval: UCSF-PDGM-0433_FU007d.
_FOLLOW_UP = re.compile(r"_FU\w*$")


def is_follow_up(patient_id: str) -> bool:
    """Whether ``patient_id`` is a follow-up exam of a patient whose baseline has its own id."""
    return bool(_FOLLOW_UP.search(str(patient_id)))


_TASK_KEYS = {"name", "description", "label", "include", "balance", "split", "min_icc", "external", "harmonize"}
HARMONIZE_BY = ("layout",)  # what a task's harmonize key may name as the site
_INCLUDE_KEYS = {"follow_up_exams", "one_exam_per_subject", "brats21_mgmt_cohort",
                 "exclude_biopsy_prior_to_imaging", "min_age", "diagnosis", "idh"}
_PRESETS_PACKAGE = "radiomics_core.tasks.presets"


def preset_files() -> tuple[str, ...]:
    """The shipped task presets by name: grade, grade-who2021, mgmt, mgmt-who2021."""
    return shipped_names(_PRESETS_PACKAGE)


def shipped_preset(source: str | Path) -> str | None:
    """The shipped preset ``source`` names (by name or file name), else None: a user's task file."""
    return shipped_name(source, _PRESETS_PACKAGE)


def load_task(source: str | Path) -> TaskConfig:
    """A shipped preset by name or file name ('grade', 'mgmt-who2021', 'grade-who2021.yaml') or a
    user's YAML file (same keys as the presets; a file of that name in the working folder wins)."""
    text, where = read_source(source, _PRESETS_PACKAGE, "task preset", preset_files())
    return task_from_dict(yaml.safe_load(text) or {}, where, preset=shipped_preset(source) or str(source))


def task_from_dict(content: dict, where: str = "task", preset: str = "") -> TaskConfig:
    """The TaskConfig a task YAML's content describes; a misspelled key is an error, not a default."""
    def keys(section: dict, allowed: set[str], name: str) -> dict:
        if not isinstance(section, dict):
            raise ValueError(f"{where}: {name} must be a mapping")
        unknown = set(section) - allowed
        if unknown:
            raise ValueError(f"{where}: unknown {name} keys {sorted(unknown)}; allowed: {sorted(allowed)}")
        return section

    content = keys(content, _TASK_KEYS, "task")
    if not content.get("name"):
        raise ValueError(f"{where}: a task needs a name")
    label = keys(content.get("label") or {}, {"column", "classes"}, "label")
    classes = label.get("classes") or []
    if not label.get("column") or len(classes) != 2:
        raise ValueError(f"{where}: label needs a column and two classes (label 0, then label 1)")
    for entry in classes:
        keys(entry, {"name", "values"}, "label class")
    include = keys(content.get("include") or {}, _INCLUDE_KEYS, "include")
    split = keys(content.get("split") or {}, {"test_fraction", "seed", "rounding"}, "split")
    balance = content.get("balance")
    balance = keys(balance, {"seed"}, "balance") if balance else None
    if not 0 < float(split.get("test_fraction", 0.3)) < 1:
        raise ValueError(f"{where}: split.test_fraction must be between 0 and 1")
    if split.get("rounding", "per_class") not in ROUNDINGS:
        raise ValueError(f"{where}: split.rounding must be one of {', '.join(ROUNDINGS)}")
    if include.get("idh") not in (None, "wildtype", "mutant"):
        raise ValueError(f"{where}: include.idh must be wildtype, mutant or null")
    min_icc = content.get("min_icc")
    if min_icc is not None and (isinstance(min_icc, bool) or not isinstance(min_icc, (int, float))
                                or not 0 <= min_icc <= 1):
        raise ValueError(f"{where}: min_icc must be a number from 0 to 1 (e.g. 0.75), or null")
    external = content.get("external")
    if external is not None:
        external = keys(external, {"patient_id", "layout"}, "external")
        lists = {k: (v,) if isinstance(v, str) else tuple(v or ()) for k, v in external.items()}
        if not any(lists.values()) or not all(isinstance(v, str) and v for vs in lists.values() for v in vs):
            raise ValueError(f"{where}: external names exams by patient_id patterns and/or layouts, "
                             "e.g. external: {patient_id: [\"TCGA-*\"]}")
        external = ExternalRule(lists.get("patient_id", ()), lists.get("layout", ()))
    if content.get("harmonize") not in (None, *HARMONIZE_BY):
        raise ValueError(f"{where}: harmonize must be one of {', '.join(HARMONIZE_BY)} (the site), or null")
    cohorts = include.get("brats21_mgmt_cohort") or ()
    cohorts = (cohorts,) if isinstance(cohorts, str) else cohorts
    if not isinstance(cohorts, (list, tuple)) or not all(isinstance(c, str) and c.strip() for c in cohorts):
        raise ValueError(f"{where}: include.brats21_mgmt_cohort must be a set's name (Training, Validation), "
                         "a list of them, or null")
    return TaskConfig(
        name=str(content["name"]),
        description=str(content.get("description") or ""),
        test_fraction=float(split.get("test_fraction", 0.3)),
        seed=int(split.get("seed", 0)),
        rounding=str(split.get("rounding", "per_class")),
        include_follow_up=bool(include.get("follow_up_exams", False)),
        label=LabelRule(str(label["column"]), tuple(classes[0].get("values") or ()),
                        tuple(classes[1].get("values") or ()),
                        (str(classes[0].get("name", "class 0")), str(classes[1].get("name", "class 1")))),
        min_age=None if include.get("min_age") is None else float(include["min_age"]),
        exclude_biopsy_prior_to_imaging=bool(include.get("exclude_biopsy_prior_to_imaging", False)),
        diagnoses=tuple(str(d) for d in include.get("diagnosis") or ()),
        idh=include.get("idh"),
        one_exam_per_subject=bool(include.get("one_exam_per_subject", True)),
        brats21_mgmt_cohort=tuple(c.strip() for c in cohorts),
        balance_seed=None if balance is None else int(balance.get("seed", 0)),
        min_icc=None if min_icc is None else float(min_icc),
        external=external,
        harmonize=content.get("harmonize"),
        preset=preset,
    )


# The final estimators a task fits side by side, the thesis' logistic regression first.
CLASSIFIERS = ("logistic", "svm", "random_forest")


def classifier_order(kinds) -> list[str]:
    """``kinds`` once each, in CLASSIFIERS order (the thesis' logistic regression first); an
    unknown name is refused with the choices."""
    for kind in kinds:
        if kind not in CLASSIFIERS:
            raise ValueError(f"unknown classifier {kind!r}; choose one of {', '.join(CLASSIFIERS)}")
    return sorted(set(kinds), key=CLASSIFIERS.index)


# The tasks (partition keys and selection recipes), each the name of its default preset: the
# thesis' Part I (7:3) and Part II (8:2). Other presets of a task (preset_files) share its name.
TASK_PRESETS = ("grade", "mgmt")


@functools.cache
def preset(name: str) -> TaskConfig:
    """The shipped preset ``name`` (read once per process: presets are package data)."""
    return load_task(name)


def class_names(task: str) -> tuple[str, str]:
    """What label 0 and label 1 of the preset ``task`` mean, as tables and charts print them."""
    return preset(task).class_names if task in TASK_PRESETS else ("class 0", "class 1")

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


def train_minimum(classifier: str) -> int:
    """Training cases per class ``classifier`` needs (an unknown one: the most any needs)."""
    return MIN_TRAIN_PER_CLASS.get(classifier, max(MIN_TRAIN_PER_CLASS.values()))


def _least_demanding(task: TaskConfig) -> list[str]:
    """The task's classifiers that need the fewest training cases per class."""
    need = {c: train_minimum(c) for c in task.classifiers}
    return [c for c in task.classifiers if need[c] == min(need.values())]


def cases_needed_per_class(task: TaskConfig, classifier: str | None = None) -> int:
    """The smallest class size whose first split (``assign_splits``) meets both minimums, for
    ``classifier`` (default: the task's least demanding classifier, the first that can be fitted)."""
    need_train = train_minimum(classifier or _least_demanding(task)[0])
    n = need_train + MIN_TEST_PER_CLASS
    while True:
        test = test_targets({0: n, 1: n}, task.test_fraction, task.rounding)
        if min(test.values()) >= MIN_TEST_PER_CLASS and n - max(test.values()) >= need_train:
            return n
        n += 1


def too_few_cases_reason(task: TaskConfig, labels: pd.Series, splits: pd.Series,
                         classifier: str | None = None) -> str | None:
    """A one-line reason when the usable cases (``labels`` of the patients with features, and
    their ``splits``) cannot fit the task's models with ``classifier``, else None. Without
    ``classifier``: when not even the least demanding of the task's classifiers can be fitted."""
    named = [classifier] if classifier else _least_demanding(task)
    need_train = train_minimum(named[0])
    names = task.class_names
    splits = splits.reindex(labels.index)
    counts = {(split, value): int(((splits == split) & (labels == value)).sum())
              for split in ("train", "test") for value in (0, 1)}
    if all(counts[("train", v)] >= need_train and counts[("test", v)] >= MIN_TEST_PER_CLASS for v in (0, 1)):
        return None
    have = ", ".join(f"{counts[('train', v)] + counts[('test', v)]} {names[v]} "
                     f"({counts[('train', v)]} train / {counts[('test', v)]} test)" for v in (0, 1))
    return (f"task {task.name}: {TOO_FEW_CASES}: usable {have}; needs at least {need_train} per class in train and "
            f"{MIN_TEST_PER_CLASS} in test ({cases_needed_per_class(task, named[0])} per class with a "
            f"{1 - task.test_fraction:.0%}/{task.test_fraction:.0%} split, {' or '.join(named)})")


def classifiers_lacking_cases(task: TaskConfig, labels: pd.Series, splits: pd.Series) -> dict[str, str]:
    """classifier -> its one-line reason, for each of the task's classifiers the usable cases
    cannot fit (the SVM needs more than the others); the rest are fitted without it."""
    reasons = {c: too_few_cases_reason(task, labels, splits, c) for c in task.classifiers}
    return {c: reason for c, reason in reasons.items() if reason}


def seeded_hash(patient_id: str, seed: int) -> float:
    """A patient's place in a seeded order in [0, 1), the same whoever else is in the cohort."""
    digest = hashlib.sha256(f"{seed}:{patient_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


ROUNDINGS = ("per_class", "total")


def test_targets(class_sizes: dict[int, int], test_fraction: float, rounding: str = "per_class") -> dict[int, int]:
    """How many of each class go to test. ``per_class``: round(test_fraction x the class size).
    ``total``: ``ceil(test_fraction x n)`` in all, shared out in proportion to the classes, the
    remainders to the largest fractional parts (ties to the larger class, then the lower label):
    scikit-learn's stratified ``train_test_split`` rule, which the thesis' MGMT counts follow
    (242 exams, 49 in test: 193/49)."""
    if rounding == "per_class":
        return {value: int(round(test_fraction * size)) for value, size in class_sizes.items()}
    total = sum(class_sizes.values())
    n_test = math.ceil(test_fraction * total - 1e-9)
    shares = {value: n_test * size / total for value, size in class_sizes.items()}
    targets = {value: math.floor(share) for value, share in shares.items()}
    order = sorted(class_sizes, key=lambda v: (-(shares[v] - targets[v]), -class_sizes[v], v))
    for value in order[: n_test - sum(targets.values())]:
        targets[value] += 1
    return targets


EXTERNAL = "external"  # the split of the external validation set


def assign_splits_with_external(labels: pd.Series, task: TaskConfig, patients: pd.DataFrame,
                                existing: pd.Series | None = None) -> pd.Series:
    """``assign_splits`` over the exams the task's external rule leaves, and ``external`` for
    the exams it selects (``patients``: patient_id, layout). An exam the rule selects is external
    whatever split it held before; the others keep theirs."""
    external = task.external.matches(patients) if task.external else pd.Index([])
    external = labels.index.intersection(external)
    internal = labels.drop(external)
    before = existing[existing != EXTERNAL] if existing is not None else None
    split = assign_splits(internal, task, before)
    return pd.concat([split, pd.Series(EXTERNAL, index=external, dtype=object)]).reindex(labels.index)


def assign_splits(labels: pd.Series, task: TaskConfig, existing: pd.Series | None = None) -> pd.Series:
    """'train'/'test' per patient: stratified by label, seeded, and stable as cases arrive.

    Patients in ``existing`` keep their split. The others are ordered within each class by a
    seeded hash of their id; each class then tops its test share up to its ``test_targets``
    count, so a first split is exactly stratified and later arrivals never move anyone.
    """
    existing = existing if existing is not None else pd.Series(dtype=object)
    result = existing[existing.index.isin(labels.index)].copy()
    values = sorted(labels.unique())
    targets = test_targets({value: int((labels == value).sum()) for value in values}, task.test_fraction,
                           task.rounding)
    for value in values:
        members = labels.index[labels == value]
        placed = result.reindex(members).dropna()
        new = sorted((m for m in members if m not in placed.index), key=lambda m: seeded_hash(m, task.seed))
        need = max(0, targets[value] - int((placed == "test").sum()))
        for k, patient in enumerate(new):
            result.loc[patient] = "test" if k < need else "train"
    return result.reindex(labels.index)
