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
# Runs launched from the UI, sensors and automation wait in this queue; two at a time on 2 cores.
concurrency:
  runs:
    max_concurrent_runs: 2
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
