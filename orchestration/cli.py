"""The ``glioma-rings`` command line: demo cohort, ingest, run, dev, dashboard."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from radiomics_core.cohort import LAYOUTS, CohortConfig, read_cohort
from radiomics_core.validation import ValidationReport, validate_cohort


def _demo_cohort(args: argparse.Namespace) -> int:
    from radiomics_core.synthetic import DemoConfig, write_demo_cohort

    spacing = tuple(float(v) for v in args.spacing.split(","))
    shape = tuple(int(v) for v in args.shape.split(","))
    config = DemoConfig(patients=args.patients, seed=args.seed, spacing=spacing, shape=shape)
    patients = write_demo_cohort(Path(args.out_dir), config)
    print(f"wrote {len(patients)} synthetic cases to {args.out_dir}")
    return 0


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


def _ingest(args: argparse.Namespace) -> int:
    try:
        cohort = read_cohort(Path(args.cohort_dir), CohortConfig(layout=args.layout))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    report = validate_cohort(cohort, progress=not args.json)
    if args.json:
        print(report.to_json())
    else:
        _print_report(report)
    return 0 if report.usable else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="glioma-rings", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo-cohort", help="write a synthetic UCSF-PDGM-layout cohort with a planted signal")
    demo.add_argument("out_dir")
    demo.add_argument("--patients", type=int, default=48)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--spacing", default="1,1,1", help="voxel spacing x,y,z in mm, e.g. 1,1,3")
    demo.add_argument("--shape", default="112,112,80", help="voxels x,y,z")
    demo.set_defaults(func=_demo_cohort)

    ingest = commands.add_parser("ingest", help="find and validate a cohort; print one report per case")
    ingest.add_argument("cohort_dir")
    ingest.add_argument("--layout", choices=LAYOUTS, default=None)
    ingest.add_argument("--json", action="store_true")
    ingest.set_defaults(func=_ingest)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
