"""The ``run`` command: materialize the asset graph for a cohort through Dagster."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli.project import pipeline_settings


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import Progress

    from cli.instance import apply_pool_limits, default_dagster_home, open_instance
    from cli.launcher import run_cohort
    from radiomics_core.tasks.config import TOO_FEW_CASES

    home = default_dagster_home(args.data_dir)
    try:
        pipeline = pipeline_settings(args)
        pipeline.settings.extraction_params
        patients = [case.patient_id for case in pipeline.settings.cohort().cases]
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    settings = pipeline.settings.save()
    console = Console()
    console.print(f"cohort {pipeline.cohort_dir}: {len(patients)} cases; settings {settings}; DAGSTER_HOME={home}")
    console.print(f"rings {', '.join(f'{d:g}' for d in pipeline.rings_mm)} mm; sequences {', '.join(pipeline.sequences)}; "
                  f"params {pipeline.params}; tasks {', '.join(pipeline.tasks)}; "
                  f"classifiers {', '.join(pipeline.classifiers)}")
    instance = open_instance()
    apply_pool_limits(instance, pipeline.settings)
    with Progress(console=console) as progress:
        if args.in_process:
            bar = progress.add_task("patients", total=len(patients))
            summary = run_cohort(pipeline, instance, workers=args.workers, force=args.force,
                                 on_patient=lambda _: progress.advance(bar))
        else:
            summary = _through_the_daemon(pipeline, instance, patients, settings, args, progress, console)
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
    failed_patients = {o.partition for o in summary.failed if "raw_scans" in o.job}  # a patient partition
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


def _through_the_daemon(pipeline, instance, patients, settings, args, progress, console):
    """The cohort as one backfill, executed by the instance's daemon (started here if none runs)."""
    from cli import backfill
    from cli.dev import stop_groups

    from orchestration.partitions import patients_partitions

    known = set(instance.get_dynamic_partitions(patients_partitions.name))
    instance.add_dynamic_partitions(patients_partitions.name, [p for p in patients if p not in known])
    request = backfill.cohort_request(pipeline, patients, args.force)
    env = backfill.daemon_env(pipeline, settings)
    daemon = None
    if backfill.daemon_alive(instance):
        console.print("the daemon already running on this instance (glioma-rings dev?) executes the backfill")
    else:
        log = Path(pipeline.data_dir) / "logs" / "daemon.log"
        console.print(f"no daemon runs on this instance: started one until the backfill ends (log {log})")
        daemon = backfill.start_daemon(env, log)
    try:
        backfill_id = backfill.launch_backfill(request, env)
        console.print(f"backfill {backfill_id}: {len(request.patients)} patients to extract "
                      f"({len(patients) - len(request.patients)} current), then the cohort-wide assets; "
                      "follow it in the Dagster UI under Runs > Backfills")
        bar = progress.add_task("patients", total=len(request.patients))
        return backfill.wait_for_backfill(instance, backfill_id, request.patients,
                                          on_patient=lambda _: progress.advance(bar))
    finally:
        if daemon is not None:
            stop_groups([daemon], [])
            # Its last heartbeats stay fresh for a minute: a `run` started next would take the
            # stopped daemon for a live one and wait for a backfill nobody executes.
            instance.wipe_daemon_heartbeats()
