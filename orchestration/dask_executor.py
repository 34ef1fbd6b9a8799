"""dagster-dask's executor, made to submit partitioned runs.

dagster-dask passes the ``DagsterRun`` to ``Client.submit`` as a plain argument. A run is a
NamedTuple, so Dask's argument parser walks into it looking for futures; a partitioned run holds a
``KeyRangesPartitionsSubset``, a Dagster ``@record`` that forbids iteration, and every submit fails
with "Iteration is not allowed on `@record` KeyRangesPartitionsSubset" (dagster-dask 0.29.27).

The fix here changes nothing else: the run travels inside an object Dask does not walk into, and
that object unpickles as the run itself, so dagster-dask's worker function receives a real
``DagsterRun``. Cluster types, config schema and worker code are dagster-dask's own.
"""

import sys

from dagster import DagsterEvent, executor, multiple_process_executor_requirements
from dask.sizeof import sizeof
from dagster._core.execution.context.system import PlanOrchestrationContext
from dagster._core.storage.dagster_run import DagsterRun
from dagster_dask.executor import DaskExecutor, dask_executor as _upstream_dask_executor


def _the_run(run: DagsterRun) -> DagsterRun:
    return run


class _OpaqueRun:
    """Not a tuple, list, set or dict, so Dask's ``parse_input`` leaves it alone; pickles to the run."""

    def __init__(self, run: DagsterRun):
        self._run = run

    def __getattr__(self, name):
        # The executor itself reads fields such as job_name before submitting.
        return getattr(self._run, name)

    def __reduce__(self):
        return (_the_run, (self._run,))


@sizeof.register(DagsterEvent)
def _event_size(event: DagsterEvent) -> int:
    # Dask's generic sizeof walks tuples too, and logs a warning for every step's event list.
    return sys.getsizeof(event)


class PartitionSafeDaskExecutor(DaskExecutor):
    def execute(self, plan_context: PlanOrchestrationContext, execution_plan):
        # Distributed always pickles the task graph on submit, so the worker sees a DagsterRun.
        opaque = PlanOrchestrationContext(
            plan_data=plan_context.plan_data._replace(dagster_run=_OpaqueRun(plan_context.dagster_run)),
            log_manager=plan_context.log,
            executor=plan_context.executor,
            output_capture=plan_context.output_capture,
            resume_from_failure=plan_context.resume_from_failure,
        )
        return super().execute(opaque, execution_plan)


@executor(
    name="dask",
    requirements=multiple_process_executor_requirements(),
    config_schema=_upstream_dask_executor.config_schema,
)
def dask_executor(init_context):
    """dagster-dask's ``dask`` executor (same config), able to run partitioned jobs."""
    ((cluster_type, cluster_configuration),) = init_context.executor_config["cluster"].items()
    return PartitionSafeDaskExecutor(cluster_type, cluster_configuration)
