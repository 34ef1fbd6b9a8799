"""The ``glioma-rings`` command line: demo cohort, ingest, run, dev, dashboard, users, tcia pull."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
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


def _pipeline(args: argparse.Namespace):
    """The project settings: the data dir's settings file (if any), then the command's options."""
    from orchestration.partitions import ring_key
    from orchestration.resources import PipelineResource, settings_path

    data_dir = Path(args.data_dir).resolve()
    saved = settings_path(data_dir)
    fields = PipelineResource.load(saved).settings() if saved.is_file() else {}
    fields.update({"cohort_dir": str(Path(args.cohort_dir).resolve()), "data_dir": str(data_dir)})
    if getattr(args, "layout", None):
        fields["layout"] = args.layout
    if args.params:
        params = Path(args.params)
        fields["params"] = str(params.resolve()) if params.suffix in (".yaml", ".yml") else args.params
    if getattr(args, "warehouse", None):
        fields["warehouse_dir"] = str(Path(args.warehouse).resolve())
    if getattr(args, "rings", None):
        fields["rings_mm"] = [float(v) for v in args.rings.split(",")]
        bad = [d for d in fields["rings_mm"] if d <= 0 or ring_key(d) == "T"]
        if bad:
            raise ValueError(f"rings {bad} mm: a ring's distance must be a positive number of mm")
    if getattr(args, "sequences", None):
        fields["sequences"] = args.sequences.split(",")
    if getattr(args, "task", None):
        fields["tasks"] = [args.task]
    if getattr(args, "task_file", None):
        from radiomics_core.tasks import TASK_PRESETS, load_task

        fields["task_files"] = [str(Path(f).resolve()) for f in args.task_file]
        for path in fields["task_files"]:
            if load_task(path).name not in TASK_PRESETS:  # the name is the partition and the selection recipe
                raise ValueError(f"{path}: a task file replaces a preset, so its name is one of {', '.join(TASK_PRESETS)}")
    if getattr(args, "classifier", None):
        fields["classifiers"] = [args.classifier]
    if getattr(args, "classifiers", None):
        from radiomics_core.selection import classifier_order

        fields["classifiers"] = classifier_order([c.strip() for c in args.classifiers.split(",") if c.strip()])
        if not fields["classifiers"]:
            raise ValueError("--classifiers: name at least one classifier")
    return PipelineResource(**fields)


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import Progress

    from orchestration.runner import default_dagster_home, open_instance, run_cohort
    from radiomics_core.tasks import TOO_FEW_CASES

    home = default_dagster_home(args.data_dir)
    try:
        pipeline = _pipeline(args)
        pipeline.extraction_params()
        patients = [case.patient_id for case in pipeline.cohort().cases]
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    settings = pipeline.save(pipeline.settings_path())
    console = Console()
    console.print(f"cohort {pipeline.cohort_dir}: {len(patients)} cases; settings {settings}; DAGSTER_HOME={home}")
    console.print(f"rings {', '.join(f'{d:g}' for d in pipeline.rings_mm)} mm; sequences {', '.join(pipeline.sequences)}; "
                  f"params {pipeline.params}; tasks {', '.join(pipeline.tasks)}; "
                  f"classifiers {', '.join(pipeline.classifiers)}")
    instance = open_instance()
    with Progress(console=console) as progress:
        bar = progress.add_task("patients", total=len(patients))
        summary = run_cohort(pipeline, instance, workers=args.workers, force=args.force,
                             on_patient=lambda _: progress.advance(bar))
    # A task without enough cases is reported as its reason alone: the imaging work stands.
    skipped = [o for o in summary.failed if TOO_FEW_CASES in o.error]
    failed = [o for o in summary.failed if o not in skipped]
    console.print(f"[bold]{len(summary.succeeded)} runs succeeded, {len(failed)} failed"
                  + (f", {len(skipped)} tasks not fitted[/bold]" if skipped else "[/bold]"))
    for outcome in failed:
        console.print(f"  FAILED {outcome.job} {outcome.partition}: {outcome.error}", soft_wrap=True)
    for outcome in skipped:
        console.print(f"  {outcome.error}", soft_wrap=True, markup=False)
    for reason in _classifiers_not_fitted(instance, summary):
        console.print(f"  {reason}", soft_wrap=True, markup=False)
    console.print(f"warehouse: {pipeline.warehouse().database}")
    failed_patients = {o.partition.split("|")[0] for o in summary.failed if "raw_scans" in o.job}
    return 0 if set(patients) - failed_patients else 1


def _classifiers_not_fitted(instance, summary) -> list[str]:
    """The one-line reason of each classifier a task fitted in this run had too few cases for
    (the ``classifiers_not_fitted`` metadata of the run's fitted_models materialization)."""
    import dagster as dg

    reasons: list[str] = []
    for outcome in summary.succeeded:
        if "fitted_models" not in outcome.job.split("+"):
            continue
        records = instance.fetch_materializations(dg.AssetRecordsFilter(
            asset_key=dg.AssetKey("fitted_models"), asset_partitions=[outcome.partition]), limit=1).records
        value = records[0].asset_materialization.metadata.get("classifiers_not_fitted") if records else None
        if value is not None and value.value != "none":
            reasons += str(value.value).splitlines()
    return reasons


def dev_processes(args: argparse.Namespace, warehouse: Path) -> list[list[str]]:
    """The commands ``dev`` starts: the Dagster UI (webserver + daemon) and the dashboard.
    Raises DashboardRefused for a public dashboard host without login (see ``dashboard``)."""
    root = Path(__file__).resolve().parent.parent
    app_args = dashboard_app_args(warehouse, args.host, no_auth=args.no_auth)
    # The Dagster UI can launch runs and wipe assets and has no login: it stays on loopback
    # unless --dagster-host says otherwise, whatever --host exposes the dashboard on.
    return [
        [sys.executable, "-m", "dagster", "dev", "-w", str(root / "workspace.yaml"),
         "-h", args.dagster_host, "-p", str(args.dagster_port)],
        _streamlit_command(warehouse, args.dashboard_port, args.host, app_args=app_args),
    ]


def _dev(args: argparse.Namespace) -> int:
    import os
    import signal
    import subprocess

    from orchestration.runner import default_dagster_home

    default_dagster_home(args.data_dir)
    try:
        pipeline = _pipeline(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        commands = dev_processes(args, pipeline.warehouse().root)
    except DashboardRefused as refusal:
        print(str(refusal), file=sys.stderr)
        return 2
    settings = pipeline.save(pipeline.settings_path())
    env = {**os.environ, "GLIOMA_RINGS_SETTINGS": str(settings), "GLIOMA_RINGS_DATA": pipeline.data_dir}
    root = Path(__file__).resolve().parent.parent
    # Each child leads its own process group, so stopping it also stops what it started
    # (dagster dev's webserver, daemon and code server).
    processes = [subprocess.Popen(command, env=env, cwd=root, start_new_session=True) for command in commands]
    print(f"settings: {settings}")
    print(f"Dagster UI: http://{args.dagster_host}:{args.dagster_port}   "
          f"dashboard: http://{args.host}:{args.dashboard_port}", flush=True)

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        return max(p.returncode or 0 for p in processes if p.poll() is not None)
    except KeyboardInterrupt:
        return 0
    finally:
        _stop_groups(processes)


def _stop_groups(processes, grace_s: float = 15.0) -> None:
    """SIGTERM each child's process group, then SIGKILL what is still alive after ``grace_s``."""
    import os
    import signal

    for process in processes:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.time() + grace_s
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.time()))
        except Exception:  # noqa: BLE001 - a child that ignores SIGTERM is killed below
            pass
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _streamlit_command(warehouse: Path, port: int, host: str = "127.0.0.1", *, app_args: Sequence[str] = (),
                       secrets: Path | None = None) -> list[str]:
    """``streamlit run dashboard/app.py`` on ``host:port``; ``app_args`` go to the app after ``--``.

    ``secrets`` replaces Streamlit's secrets.toml search (``[auth]`` for OpenID Connect login).
    """
    app = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
    options = ["--secrets.files", str(Path(secrets).resolve())] if secrets else []
    return [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port),
            "--server.address", host, "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--client.toolbarMode", "viewer", *options,
            "--", "--warehouse", str(warehouse), *app_args]


_NO_LOGIN_MESSAGE = """\
error: refusing to serve the dashboard on {host} without a login: anyone who can reach that
address would see patient ids, clinical data and MRI slices.
Configure a login, then start again:
  - an identity provider (OpenID Connect): an [auth] section in .streamlit/secrets.toml (or
    --secrets FILE) and allow_users / allow_domains in {settings};
  - or local users: glioma-rings users add NAME --warehouse {warehouse}
Or pass --no-auth to serve without a login and accept the risk. See README, "Sharing the dashboard"."""


class DashboardRefused(Exception):
    """A dashboard would serve data on a public address without login; the message says what to do."""


def dashboard_app_args(warehouse: Path, host: str, *, no_auth: bool = False, settings_file: Path | None = None,
                       secrets_file: Path | None = None, deidentified: bool = False) -> list[str]:
    """The dashboard app's arguments (after ``--``) for serving ``warehouse`` on ``host``.

    Raises DashboardRefused for a non-loopback host without a login configured (an ``[auth]``
    provider in the secrets, or a local user) unless ``no_auth``; warns on stderr otherwise.
    """
    from dashboard.settings import default_secrets_files, is_loopback, load_settings, oidc_providers, read_secrets
    from dashboard.users import UsersFile

    settings = load_settings(warehouse, settings_file, deidentified=deidentified, no_auth=no_auth)
    app_dir = Path(__file__).resolve().parent.parent / "dashboard"
    secrets = read_secrets([Path(secrets_file)] if secrets_file else default_secrets_files(app_dir))
    login = bool(oidc_providers(secrets)) or bool(settings.users_file and UsersFile(settings.users_file).names())
    if not login and not is_loopback(host) and not no_auth:
        raise DashboardRefused(_NO_LOGIN_MESSAGE.format(host=host, settings=settings.settings_file, warehouse=warehouse))
    if no_auth:
        print(f"WARNING: --no-auth: the dashboard on {host} has no login; anyone who can reach it sees the data.",
              file=sys.stderr)
    if login and not (settings.allow_users or settings.allow_domains):
        print(f"note: no allow_users or allow_domains in {settings.settings_file}: nobody will be let in.",
              file=sys.stderr)
    return (["--settings", str(settings.settings_file)] + (["--deidentified"] if deidentified else [])
            + (["--no-auth"] if no_auth else []))


def _dashboard(args: argparse.Namespace) -> int:
    import subprocess

    warehouse = Path(args.warehouse).resolve()
    secrets = Path(args.secrets) if args.secrets else None
    try:
        app_args = dashboard_app_args(warehouse, args.host, no_auth=args.no_auth, secrets_file=secrets,
                                      settings_file=Path(args.settings) if args.settings else None,
                                      deidentified=args.deidentified)
    except DashboardRefused as refusal:
        print(refusal, file=sys.stderr)
        return 2
    return subprocess.call(_streamlit_command(warehouse, args.port, args.host, app_args=app_args, secrets=secrets))


def _users(args: argparse.Namespace) -> int:
    import getpass

    from dashboard.settings import load_settings
    from dashboard.users import UsersFile

    settings = load_settings(Path(args.warehouse), Path(args.settings) if args.settings else None)
    users = UsersFile(settings.users_file)
    if args.action != "list" and not args.name:
        print(f"error: users {args.action} needs a user NAME", file=sys.stderr)
        return 2
    if args.action == "list":
        for name in users.names():
            print(f"{name}\t{'allowed' if settings.is_allowed(name) else 'not on the allow-list'}")
        return 0
    if args.action == "remove":
        if not users.remove(args.name):
            print(f"error: no user {args.name} in {users.path}", file=sys.stderr)
            return 1
        print(f"removed {args.name} from {users.path}")
        return 0
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            print("error: the passwords differ", file=sys.stderr)
            return 1
    try:
        users.set_password(args.name, password)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{args.name}: password stored (Argon2 hash) in {users.path}")
    if not settings.settings_file.exists():
        settings.settings_file.write_text(f'[access]\nallow_users = ["{args.name}"]\n', encoding="utf-8")
        print(f"created {settings.settings_file} allowing {args.name}")
    elif not settings.is_allowed(args.name):
        print(f"note: {args.name} may log in but is not on the allow-list: add it to allow_users in "
              f"{settings.settings_file}")
    return 0


def _tcia_pull(args: argparse.Namespace) -> int:
    from datetime import date

    from rich.console import Console
    from rich.progress import Progress

    from radiomics_core.tcia import DEFAULT_BASE_URL, RetryPolicy, TciaClient, TciaError
    from radiomics_core.tcia_pull import PullConfig, pull

    cohort = Path(args.cohort)
    config = PullConfig(args.collection, cohort, Path(args.landing or cohort / "tcia-landing"),
                        Path(args.segmentations or cohort / "segmentations"),
                        date.fromisoformat(args.since) if args.since else None)
    client = TciaClient(base_url=args.base_url or DEFAULT_BASE_URL, retry=RetryPolicy(attempts=args.retries))
    console = Console()
    with Progress(console=console, transient=True) as progress:
        bar = progress.add_task("series", total=None)
        try:
            outcomes = pull(client, config, on_listed=lambda n: progress.update(bar, total=n),
                            on_series=lambda _: progress.advance(bar))
        except TciaError as error:
            console.print(f"[red]{error}[/red]")
            return 1
    for outcome in outcomes:
        print(outcome.line())
    if not outcomes:
        print(f"no series in {args.collection}" + (f" changed since {args.since}" if args.since else ""))
    return 1 if any(o.status == "failed" for o in outcomes) else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="glioma-rings", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo-cohort", help="write a synthetic UCSF-PDGM-layout cohort with a planted signal")
    demo.add_argument("out_dir")
    demo.add_argument("--patients", type=int, default=48)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--spacing", default="1,1,1", help="voxel spacing x,y,z in mm, e.g. 1,1,3")
    demo.add_argument("--shape", default="96,96,64", help="voxels x,y,z (e.g. 240,240,155 for full size)")
    demo.set_defaults(func=_demo_cohort)

    ingest = commands.add_parser("ingest", help="find and validate a cohort; print one report per case")
    ingest.add_argument("cohort_dir")
    ingest.add_argument("--layout", choices=LAYOUTS, default=None)
    ingest.add_argument("--json", action="store_true")
    ingest.set_defaults(func=_ingest)

    run = commands.add_parser("run", help="materialize the whole asset graph for a cohort through Dagster")
    run.add_argument("cohort_dir")
    run.add_argument("--layout", choices=LAYOUTS, default=None)
    run.add_argument("--data-dir", default="data", help="work files, warehouse and DAGSTER_HOME (default: data)")
    run.add_argument("--warehouse", default=None, help="warehouse folder (default: DATA_DIR/warehouse)")
    run.add_argument("--task", choices=["grade", "mgmt"], default=None, help="default: both")
    run.add_argument("--task-file", action="append", default=None,
                     help="a task YAML replacing the preset of its name (copy radiomics_core/task_presets/"
                          "grade.yaml or mgmt.yaml and edit the rules); repeat for both tasks")
    run.add_argument("--rings", default=None, help="ring distances in mm, e.g. 1,2,5 (default 1,2,3,4,5,10,15)")
    run.add_argument("--sequences", default=None, help="e.g. T1c,FLAIR (default T1,T1c,T2,FLAIR)")
    run.add_argument("--params", default=None,
                     help="'default', 'demo' or a PyRadiomics YAML file (default: the saved settings, else 'default')")
    chosen = run.add_mutually_exclusive_group()
    chosen.add_argument("--classifiers", default=None,
                        help="models fitted side by side on the selected features, e.g. logistic,svm "
                             "(default: the saved settings, else logistic,svm,random_forest)")
    chosen.add_argument("--classifier", choices=["logistic", "svm", "random_forest"], default=None,
                        help="fit only this one (the same as --classifiers NAME)")
    run.add_argument("--workers", type=int, default=2, help="patients processed in parallel (default 2)")
    run.add_argument("--force", action="store_true",
                     help="recompute partitions already materialized (default: resume, skipping them)")
    run.set_defaults(func=_run)

    dev = commands.add_parser("dev", help="serve the Dagster UI and the dashboard together")
    dev.add_argument("cohort_dir")
    dev.add_argument("--data-dir", default="data")
    dev.add_argument("--params", default=None, help="default: the settings saved by `run` in DATA_DIR")
    dev.add_argument("--host", default="127.0.0.1", help="the dashboard's address")
    dev.add_argument("--no-auth", action="store_true",
                     help="serve the dashboard on a public --host without login (prints a warning)")
    dev.add_argument("--dagster-host", default="127.0.0.1",
                     help="the Dagster UI's address (it has no login: keep it on 127.0.0.1 unless you must)")
    dev.add_argument("--dagster-port", type=int, default=3000)
    dev.add_argument("--dashboard-port", type=int, default=8501)
    dev.set_defaults(func=_dev)

    dashboard = commands.add_parser("dashboard", help="serve the Streamlit dashboard over a warehouse")
    dashboard.add_argument("--warehouse", default="data/warehouse")
    dashboard.add_argument("--port", type=int, default=8501)
    dashboard.add_argument("--host", default="127.0.0.1",
                           help="address to listen on (default 127.0.0.1; another needs a login or --no-auth)")
    dashboard.add_argument("--settings", default=None, help="access settings (default: dashboard.toml beside the warehouse)")
    dashboard.add_argument("--secrets", default=None, help="Streamlit secrets.toml with an [auth] section (OpenID Connect)")
    dashboard.add_argument("--deidentified", action="store_true", help="pseudonyms instead of patient ids, no patient viewer")
    dashboard.add_argument("--no-auth", action="store_true", help="serve a non-loopback --host without login (risky)")
    dashboard.set_defaults(func=_dashboard)

    users = commands.add_parser("users", help="local dashboard users (a lab without an identity provider)")
    users.add_argument("action", choices=["add", "remove", "list"])
    users.add_argument("name", nargs="?", default=None)
    users.add_argument("--warehouse", default="data/warehouse")
    users.add_argument("--settings", default=None, help="default: dashboard.toml beside the warehouse")
    users.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    users.set_defaults(func=_users)

    tcia = commands.add_parser("tcia", help="TCIA (NBIA) collections")
    tcia_commands = tcia.add_subparsers(dest="tcia_command", required=True)
    tcia_pull = tcia_commands.add_parser("pull", help="download new series of a collection and land complete cases")
    tcia_pull.add_argument("collection", help="e.g. TCGA-GBM")
    tcia_pull.add_argument("--cohort", required=True, help="cohort folder: cases are added to its manifest.csv")
    tcia_pull.add_argument("--base-url", default=None, help="NBIA API base (default: TCIA's public v4 API)")
    tcia_pull.add_argument("--since", default=None, help="YYYY-MM-DD: only patients new or updated since then")
    tcia_pull.add_argument("--landing", default=None, help="downloaded series (default: COHORT/tcia-landing)")
    tcia_pull.add_argument("--segmentations", default=None,
                           help="NIfTI segmentations named <patient id>*.nii.gz (default: COHORT/segmentations)")
    tcia_pull.add_argument("--retries", type=int, default=5, help="attempts per request on HTTP 429/5xx or timeouts")
    tcia_pull.set_defaults(func=_tcia_pull)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
