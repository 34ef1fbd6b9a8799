"""Refitting models when features changed since the last fit."""


import dagster as dg

from orchestration.jobs import feature_tables_job
from orchestration.partitions import rings_partitions
from orchestration.resources import PipelineResource
from warehouse import queries


def last_fit_timestamp(instance: dg.DagsterInstance) -> float:
    """Epoch seconds of the newest fitted_models materialization (0 if never)."""
    event = instance.get_latest_materialization_event(dg.AssetKey("fitted_models"))
    return event.timestamp if event is not None else 0.0


@dg.schedule(job=feature_tables_job, cron_schedule="0 * * * *", default_status=dg.DefaultScheduleStatus.RUNNING)
def refit_schedule(context: dg.ScheduleEvaluationContext, pipeline: PipelineResource):
    """Hourly: if features changed since the last fit, rebuild every ring's table (the
    models_after_feature_tables sensor then refits and re-evaluates every task)."""
    root = pipeline.warehouse().root
    since = last_fit_timestamp(context.instance)
    if not queries.features_changed_since(root, since):
        return dg.SkipReason("features unchanged since the last fit")
    wave = f"{queries.last_update(root):.0f}"
    return [dg.RunRequest(partition_key=ring, run_key=f"tables-{wave}-{ring}", tags={"glioma-rings/wave": wave})
            for ring in rings_partitions.get_partition_keys()]
