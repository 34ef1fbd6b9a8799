"""The Dagster instance the commands use: DAGSTER_HOME and its ``dagster.yaml``."""

from __future__ import annotations

import os

import dagster as dg


def open_instance() -> dg.DagsterInstance:
    """The persistent instance from DAGSTER_HOME, created under a file lock: two runs started at
    once on a new DAGSTER_HOME would otherwise race to create its SQLite schema."""
    import fcntl

    home = os.environ["DAGSTER_HOME"]
    with open(os.path.join(home, ".glioma-rings.lock"), "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            instance = dg.DagsterInstance.get()
            instance.get_runs(limit=1)  # touch the storages so their schema exists
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return instance


INSTANCE_CONFIG = """\
telemetry:
  enabled: false
# Runs launched from the UI, sensors, automation and `glioma-rings run` wait in this queue; two
# at a time on 2 cores. Steps in the named pools (extraction, model_fits, tcia_downloads) are
# limited across runs by the settings' *_slots, set on the instance by `run` and `dev`; any
# other pool gets default_limit.
concurrency:
  runs:
    max_concurrent_runs: 2
  pools:
    default_limit: 2
# A run whose process is killed (SIGKILL, a lost node) is marked failed and its pool slots are
# freed, so it cannot hold them forever.
run_monitoring:
  enabled: true
  poll_interval_seconds: 30
  free_slots_after_run_end_seconds: 30
"""


def default_dagster_home(data_dir: str) -> str:
    """DAGSTER_HOME if set, else <data_dir>/dagster_home (created), exported for child processes."""
    home = os.environ.get("DAGSTER_HOME") or os.path.abspath(os.path.join(data_dir, "dagster_home"))
    os.makedirs(home, exist_ok=True)
    config = os.path.join(home, "dagster.yaml")
    if not os.path.exists(config):
        with open(config, "w", encoding="utf-8") as handle:
            handle.write(INSTANCE_CONFIG)
    os.environ["DAGSTER_HOME"] = home
    return home


def apply_pool_limits(instance: dg.DagsterInstance, settings) -> dict[str, int]:
    """Set the settings' pool limits (orchestration/pools.py) on the instance; returns them."""
    from orchestration import pools

    wanted = pools.limits(settings)
    for pool, limit in wanted.items():
        # What `dagster instance concurrency set POOL LIMIT` does.
        instance.event_log_storage.set_concurrency_slots(pool, limit)
    return wanted
