"""The ``demo-cohort`` command: a synthetic UCSF-PDGM-layout cohort with a planted signal."""

from __future__ import annotations

import argparse
from pathlib import Path



def run(args: argparse.Namespace) -> int:
    from radiomics_core.cohorts.synthetic import DemoConfig, write_demo_cohort

    spacing = tuple(float(v) for v in args.spacing.split(","))
    shape = tuple(int(v) for v in args.shape.split(","))
    config = DemoConfig(patients=args.patients, seed=args.seed, spacing=spacing, shape=shape)
    patients = write_demo_cohort(Path(args.out_dir), config)
    print(f"wrote {len(patients)} synthetic cases to {args.out_dir}")
    return 0
