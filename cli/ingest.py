"""The ``ingest`` command: find and validate a cohort, one report per case."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from radiomics_core.cohorts.layouts import CohortConfig, read_cohort
from radiomics_core.cohorts.validation import ValidationReport, validate_cohort


def _print_report(report: ValidationReport) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Validation ({report.layout}): {len(report.usable)} of {len(report.cases)} cases usable")
    for column in ("patient", "status", "problem", "file"):
        table.add_column(column, overflow="fold")
    for case in report.cases:
        status = "ok" if case.usable else "FAILED"
        if not case.issues:
            table.add_row(case.patient_id, status, "", "")
        for issue in case.issues:
            table.add_row(case.patient_id, f"{status} ({issue.severity.value})", f"{issue.kind.value}: {issue.message}", issue.path)
    for issue in report.cohort_issues:
        table.add_row(issue.patient_id, f"({issue.severity.value})", f"{issue.kind.value}: {issue.message}", issue.path)
    Console(width=200).print(table)


def run(args: argparse.Namespace) -> int:
    try:
        sequences = tuple(args.sequences.split(",")) if args.sequences else CohortConfig().sequences
        cohort = read_cohort(Path(args.cohort_dir), CohortConfig(layout=args.layout, sequences=sequences))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    report = validate_cohort(cohort, progress=not args.json)
    if args.json:
        print(report.to_json())
    else:
        _print_report(report)
    return 0 if report.usable else 1
