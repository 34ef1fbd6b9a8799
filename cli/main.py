"""The ``glioma-rings`` command line: demo cohort, ingest, select, run, dev, dashboard, users, tcia pull.

One module per command; this one only parses the arguments."""

from __future__ import annotations

import argparse
import sys

from cli import dashboard, demo_cohort, dev, ingest, run, selection, tcia_pull, users
from radiomics_core.cohorts.layouts import LAYOUTS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="glioma-rings", description="Peritumoral ring radiomics for glioma MRI cohorts.")
    commands = parser.add_subparsers(dest="command", required=True)

    demo_parser = commands.add_parser("demo-cohort", help="write a synthetic UCSF-PDGM-layout cohort with a planted signal")
    demo_parser.add_argument("out_dir")
    demo_parser.add_argument("--patients", type=int, default=48)
    demo_parser.add_argument("--seed", type=int, default=0)
    demo_parser.add_argument("--spacing", default="1,1,1", help="voxel spacing x,y,z in mm, e.g. 1,1,3")
    demo_parser.add_argument("--shape", default="96,96,64", help="voxels x,y,z (e.g. 240,240,155 for full size)")
    demo_parser.set_defaults(func=demo_cohort.run)

    ingest_parser = commands.add_parser("ingest", help="find and validate a cohort; print one report per case")
    ingest_parser.add_argument("cohort_dir")
    ingest_parser.add_argument("--layout", choices=LAYOUTS, default=None)
    ingest_parser.add_argument("--json", action="store_true")
    ingest_parser.add_argument("--sequences", default=None, help="e.g. T1c,FLAIR (default T1,T1c,T2,FLAIR)")
    ingest_parser.set_defaults(func=ingest.run)

    select_parser = commands.add_parser(
        "select", help="a task's selection flow and split sizes from the cohort's clinical sheet (no image read)")
    select_parser.add_argument("cohort_dir", help="a cohort folder (or one holding only the clinical sheet), "
                                                  "a manifest or a clinical sheet")
    select_parser.add_argument("--layout", choices=LAYOUTS, default=None)
    select_parser.add_argument("--task", choices=["grade", "mgmt"], default=None,
                               help="the task, by its default preset (the thesis' cohort)")
    select_parser.add_argument("--task-file", default=None,
                               help="a shipped preset (grade-who2021, mgmt-who2021) or a task YAML defining the task")
    select_parser.add_argument("--json", action="store_true", help="the flow and the split counts as JSON")
    select_parser.set_defaults(func=selection.run)

    run_parser = commands.add_parser("run", help="materialize the whole asset graph for a cohort through Dagster")
    run_parser.add_argument("cohort_dir")
    run_parser.add_argument("--layout", choices=LAYOUTS, default=None)
    run_parser.add_argument("--data-dir", default="data", help="work files, warehouse and DAGSTER_HOME (default: data)")
    run_parser.add_argument("--warehouse", default=None, help="warehouse folder (default: DATA_DIR/warehouse)")
    run_parser.add_argument("--task", choices=["grade", "mgmt"], default=None, help="default: both")
    run_parser.add_argument("--task-file", action="append", default=None,
                     help="a shipped preset (grade-who2021, mgmt-who2021: the WHO 2021 rules) or a task YAML "
                          "replacing the preset of its name (copy radiomics_core/tasks/presets/grade.yaml or "
                          "mgmt.yaml and edit the rules); repeat for both tasks")
    run_parser.add_argument("--rings", default=None, help="ring distances in mm, e.g. 1,2,5 (default 1,2,3,4,5,10,15)")
    run_parser.add_argument("--sequences", default=None, help="e.g. T1c,FLAIR (default T1,T1c,T2,FLAIR)")
    run_parser.add_argument("--registration", choices=["none", "rigid"], default=None,
                            help="rigid: register each sequence onto the T1c first (native-space studies)")
    run_parser.add_argument("--params", default=None,
                     help="'default', 'demo' or a PyRadiomics YAML file (default: the saved settings, else 'default')")
    chosen = run_parser.add_mutually_exclusive_group()
    chosen.add_argument("--classifiers", default=None,
                        help="models fitted side by side on the selected features, e.g. logistic,svm "
                             "(default: the saved settings, else logistic,svm,random_forest)")
    chosen.add_argument("--classifier", choices=["logistic", "svm", "random_forest"], default=None,
                        help="fit only this one (the same as --classifiers NAME)")
    run_parser.add_argument("--engine", choices=["local", "slurm"], default=None,
                            help="where each patient's extraction runs: local (default) or slurm (one Slurm job "
                                 "per patient, slurm_* settings); saved in the settings file for dev and the UI")
    run_parser.add_argument("--in-process", action="store_true",
                            help="execute in this process instead of through the daemon (notebooks, debugging): "
                                 "no run queue, no pools")
    run_parser.add_argument("--workers", type=int, default=2,
                            help="with --in-process: patients processed in parallel (default 2); otherwise the "
                                 "run queue of DAGSTER_HOME/dagster.yaml decides")
    run_parser.add_argument("--force", action="store_true",
                     help="recompute partitions already materialized (default: resume, skipping them)")
    run_parser.set_defaults(func=run.run)

    dev_parser = commands.add_parser("dev", help="serve the Dagster UI and the dashboard together")
    dev_parser.add_argument("cohort_dir")
    dev_parser.add_argument("--data-dir", default="data")
    dev_parser.add_argument("--params", default=None, help="default: the settings saved by `run` in DATA_DIR")
    dev_parser.add_argument("--host", default="127.0.0.1", help="the dashboard's address")
    dev_parser.add_argument("--no-auth", action="store_true",
                     help="serve the dashboard on a public --host without login (prints a warning)")
    dev_parser.add_argument("--dagster-host", default="127.0.0.1",
                     help="the Dagster UI's address (it has no login: another than 127.0.0.1 needs --expose-dagster-ui)")
    dev_parser.add_argument("--expose-dagster-ui", action="store_true",
                     help="serve the Dagster UI on a public --dagster-host without login (prints a warning)")
    dev_parser.add_argument("--dagster-port", type=int, default=3000)
    dev_parser.add_argument("--dashboard-port", type=int, default=8501)
    dev_parser.set_defaults(func=dev.run)

    dashboard_parser = commands.add_parser("dashboard", help="serve the Streamlit dashboard over a warehouse")
    dashboard_parser.add_argument("--warehouse", default="data/warehouse")
    dashboard_parser.add_argument("--port", type=int, default=8501)
    dashboard_parser.add_argument("--host", default="127.0.0.1",
                           help="address to listen on (default 127.0.0.1; another needs a login or --no-auth)")
    dashboard_parser.add_argument("--settings", default=None, help="access settings (default: dashboard.toml beside the warehouse)")
    dashboard_parser.add_argument("--secrets", default=None, help="Streamlit secrets.toml with an [auth] section (OpenID Connect)")
    dashboard_parser.add_argument("--deidentified", action="store_true", help="pseudonyms instead of patient ids, no patient viewer")
    dashboard_parser.add_argument("--no-auth", action="store_true", help="serve a non-loopback --host without login (risky)")
    dashboard_parser.set_defaults(func=dashboard.run)

    users_parser = commands.add_parser("users", help="local dashboard users (a lab without an identity provider)")
    users_parser.add_argument("action", choices=["add", "remove", "list"])
    users_parser.add_argument("name", nargs="?", default=None)
    users_parser.add_argument("--warehouse", default="data/warehouse")
    users_parser.add_argument("--settings", default=None, help="default: dashboard.toml beside the warehouse")
    users_parser.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    users_parser.set_defaults(func=users.run)

    tcia = commands.add_parser("tcia", help="TCIA (NBIA) collections")
    tcia_commands = tcia.add_subparsers(dest="tcia_command", required=True)
    pull_parser = tcia_commands.add_parser("pull", help="download new series of a collection and land complete cases")
    pull_parser.add_argument("collection", help="e.g. TCGA-GBM")
    pull_parser.add_argument("--cohort", required=True, help="cohort folder: cases are added to its manifest.csv")
    pull_parser.add_argument("--base-url", default=None, help="NBIA API base (default: TCIA's public v4 API)")
    pull_parser.add_argument("--since", default=None, help="YYYY-MM-DD: only patients new or updated since then")
    pull_parser.add_argument("--landing", default=None, help="downloaded series (default: COHORT/tcia-landing)")
    pull_parser.add_argument("--segmentations", default=None,
                           help="NIfTI segmentations named <patient id>*.nii.gz (default: COHORT/segmentations)")
    pull_parser.add_argument("--retries", type=int, default=5, help="attempts per request on HTTP 429/5xx or timeouts")
    pull_parser.set_defaults(func=tcia_pull.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
