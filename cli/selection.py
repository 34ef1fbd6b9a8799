"""The ``select`` command: the cases a task gets from a cohort, before a long run.

The task's selection flow (``radiomics_core.tasks.selection.select_cases``, the one the ``splits``
asset runs) over the exams the cohort's file names and clinical sheet name, with no image read:
every exam counts as usable until ``ingest`` (or the run) reads its images. Then the split sizes
of ``assign_splits_with_external``, the split the run makes: the task's external exams, and
train/test of the others.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from radiomics_core.cohorts.layouts import CohortConfig, CohortMetadata, read_cohort_metadata
from radiomics_core.tasks.config import (EXTERNAL, TASK_PRESETS, TaskConfig, assign_splits_with_external, load_task, preset,
                                         too_few_cases_reason)
from radiomics_core.tasks.selection import NO_LABEL, Selection, select_cases


@dataclass(frozen=True)
class CohortSelection:
    """A task's selection over a cohort's metadata, and the split of the selected exams."""

    metadata: CohortMetadata
    task: TaskConfig
    selection: Selection
    splits: pd.Series  # "train"/"test"/"external" per selected patient_id

    def split_counts(self, split: str) -> dict[str, int]:
        """Selected exams of ``split`` per class name."""
        labels = self.selection.labels[self.splits == split]
        return {name: int((labels == value).sum()) for value, name in enumerate(self.task.class_names)}

    def document(self) -> dict:
        """The flow (step, criterion, reason, exams in / excluded / out, excluded per class) and the
        train/test counts per class, as ``--json`` prints them."""
        flow = []
        for step, rows in self.selection.flow.groupby("step", sort=True):
            first = rows.iloc[0]
            flow.append({"step": int(step), "criterion": first.criterion, "reason": first.reason,
                         "n_in": int(rows.n_in.sum()), "n_excluded": int(rows.n_excluded.sum()),
                         "n_out": int(rows.n_out.sum()),
                         "excluded": {r.label_class: int(r.n_excluded) for r in rows.itertuples()}})
        train, test, external = (self.split_counts(s) for s in ("train", "test", EXTERNAL))
        return {
            "cohort": str(self.metadata.root), "layout": self.metadata.layout,
            "clinical_csv": str(self.metadata.clinical_csv) if self.metadata.clinical_csv else None,
            "exams": len(self.metadata.records), "exams_with_images": len(self.metadata.with_images),
            "task": self.task.name, "preset": self.task.preset, "description": self.task.description,
            "classes": list(self.task.class_names), "flow": flow,
            "selected": {name: train[name] + test[name] + external[name] for name in self.task.class_names},
            "split": {"test_fraction": self.task.test_fraction, "seed": self.task.seed,
                      "n_train": sum(train.values()), "n_test": sum(test.values()), "train": train, "test": test,
                      # The exams the task's external rule holds out (never fitted on), before the split.
                      "n_external": sum(external.values()), "external": external},
            "too_few_cases": too_few_cases_reason(self.task, self.selection.labels, self.splits),
        }


def cohort_selection(metadata: CohortMetadata, task: TaskConfig) -> CohortSelection:
    """``task``'s selection over every exam ``metadata`` names, each counted as usable."""
    from warehouse import records  # (it imports the feature extraction: not for every command)

    clinical = records.clinical_table({p: r for p, r in metadata.records.items() if r is not None})
    patients = pd.DataFrame({"patient_id": list(metadata.records), "usable": True,
                             "layout": [metadata.layout_of(p) for p in metadata.records]})
    selection = select_cases(task, clinical, patients)
    return CohortSelection(metadata, task, selection, assign_splits_with_external(selection.labels, task, patients))


def chosen_task(name: str | None, task_file: str | None) -> TaskConfig:
    """The task ``--task`` names (its default preset), or the ``--task-file`` (a shipped preset's
    name such as grade-who2021, or a YAML file) defining it; a ValueError says what is wrong."""
    if task_file is None:
        if name is None:
            raise ValueError(f"name a task: --task {' or --task '.join(TASK_PRESETS)}, or --task-file")
        return preset(name)
    task = load_task(task_file)
    if task.name not in TASK_PRESETS:  # the name is the task's partition and selection recipe
        raise ValueError(f"{task_file}: a task file replaces a preset, so its name is one of {', '.join(TASK_PRESETS)}")
    if name is not None and task.name != name:
        raise ValueError(f"{task_file} defines the task {task.name}, not {name}")
    return task


def _counts(counts: dict[str, int]) -> str:
    return f"{sum(counts.values())} ({', '.join(f'{n} {name}' for name, n in counts.items())})"


def _print(result: CohortSelection) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    task, metadata, doc = result.task, result.metadata, result.document()
    console = Console(width=200)
    source = f"preset {task.preset}" if task.preset and "/" not in task.preset else f"task file {task.preset}"
    console.print(escape(f"task {task.name} ({source}): {task.description}"), soft_wrap=True)
    sheet = f", clinical sheet {metadata.clinical_csv.name}" if metadata.clinical_csv else ""
    console.print(escape(f"cohort {metadata.root} ({metadata.layout}{sheet}): {doc['exams']} exams, "
                         f"{doc['exams_with_images']} with images found; every exam is counted as usable "
                         "(ingest reads the images)"), soft_wrap=True)
    classes = [*task.class_names, NO_LABEL]
    table = Table(title=f"Selection flow: {task.name}")
    for column in ("step", "criterion", "excluded because", "in", "excluded",
                   *(f"excluded: {name}" for name in classes), "out"):
        table.add_column(column, overflow="fold", justify="left" if column in ("criterion", "excluded because") else "right")
    for step in doc["flow"]:
        table.add_row(str(step["step"]), escape(step["criterion"]), escape(step["reason"] or ""), str(step["n_in"]),
                      str(step["n_excluded"]), *(str(step["excluded"].get(name, 0)) for name in classes),
                      str(step["n_out"]))
    console.print(table)
    split = doc["split"]
    console.print(escape(f"selected: {_counts(doc['selected'])}"))
    if split["n_external"]:
        console.print(escape(f"external (the task's external rule; never used for selection or fitting): "
                             f"{_counts(split['external'])}"))
    rest = " of the others" if split["n_external"] else ""
    console.print(escape(f"split{rest} {1 - task.test_fraction:.0%}/{task.test_fraction:.0%} (stratified, seed "
                         f"{task.seed}): train {_counts(split['train'])}, test {_counts(split['test'])}"))
    if doc["too_few_cases"]:
        console.print(escape(doc["too_few_cases"]), soft_wrap=True)


def run(args: argparse.Namespace) -> int:
    try:
        task = chosen_task(args.task, args.task_file)
        metadata = read_cohort_metadata(Path(args.cohort_dir), CohortConfig(layout=args.layout))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    result = cohort_selection(metadata, task)
    if args.json:
        print(json.dumps(result.document(), indent=2))
    else:
        _print(result)
    return 0
