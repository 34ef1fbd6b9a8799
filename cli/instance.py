"""The Dagster instance the commands use: DAGSTER_HOME and its ``dagster.yaml``.

The settings' ``instance_postgres_url`` chooses the storage: PostgreSQL (dagster-postgres) when
it names a server, which several machines (the webserver's VM, Slurm nodes) can share; else the
embedded SQLite under DAGSTER_HOME, for one machine. A ``dagster.yaml`` that glioma-rings did not
write (its first line is not ``MANAGED``) is the user's and is left as it is.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import yaml

from radiomics_core.settings import Settings, SettingsError, settings_path

MANAGED = "# written by glioma-rings from the project settings (instance_postgres_url); edits are replaced"

# What dagster.yaml held before the settings chose the storage: still ours to rewrite.
_BEFORE_STORAGE_SETTING = """\
telemetry:
  enabled: false
# Runs launched from the UI, sensors and automation wait in this queue; two at a time on 2 cores.
concurrency:
  runs:
    max_concurrent_runs: 2
"""


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


def instance_config(postgres_url: str | None = None) -> str:
    """The ``dagster.yaml`` text: SQLite storage (Dagster's default) or PostgreSQL at ``postgres_url``."""
    config: dict = {"telemetry": {"enabled": False}}
    if postgres_url:
        # Runs, event logs and schedules in one database (dagster-postgres' `storage: postgres:`).
        config["storage"] = {"postgres": {"postgres_url": _with_psycopg2(postgres_url)}}
    # Runs launched from the UI, sensors, automation and `glioma-rings run` wait in this queue; two
    # at a time on 2 cores. Steps in the named pools (extraction, model_fits, tcia_downloads) are
    # limited across runs by the settings' *_slots, set on the instance by `run` and `dev`
    # (apply_pool_limits); any other pool gets default_limit.
    config["concurrency"] = {"runs": {"max_concurrent_runs": 2}, "pools": {"default_limit": 2}}
    # A run whose process is killed (SIGKILL, a lost node) is marked failed and its pool slots
    # are freed, so it cannot hold them forever.
    config["run_monitoring"] = {"enabled": True, "poll_interval_seconds": 30, "free_slots_after_run_end_seconds": 30}
    return f"{MANAGED}\n" + yaml.safe_dump(config, sort_keys=False)


def _with_psycopg2(url: str) -> str:
    """The URL with the driver dagster-postgres installs: SQLAlchemy 2.1 reads a bare
    ``postgresql://`` as psycopg 3, which is not installed."""
    scheme, sep, rest = url.partition("://")
    return f"postgresql+psycopg2{sep}{rest}" if scheme in ("postgresql", "postgres") else url


def default_dagster_home(data_dir: str, settings: Settings | None = None) -> str:
    """DAGSTER_HOME if set, else <data_dir>/dagster_home (created), exported for child processes,
    with a ``dagster.yaml`` for ``settings`` (default: the data folder's settings file, if any)."""
    home = os.environ.get("DAGSTER_HOME") or os.path.abspath(os.path.join(data_dir, "dagster_home"))
    os.makedirs(home, exist_ok=True)
    os.environ["DAGSTER_HOME"] = home
    if settings is None and settings_path(data_dir).is_file():
        try:
            settings = Settings.load(settings_path(data_dir))
        except SettingsError:
            # The command reads the same file next and refuses it, naming the file and the key;
            # until then the instance's configuration stays as it was.
            return home
    write_instance_config(Path(home), settings.instance_postgres_url if settings else None)
    return home


def write_instance_config(home: Path, postgres_url: str | None) -> Path:
    """Write ``home/dagster.yaml`` unless it is the user's own; unchanged text is not rewritten
    (a running daemon or webserver may be reading it)."""
    from radiomics_core.files.atomic import atomic_write_text

    path = home / "dagster.yaml"
    text = instance_config(postgres_url)
    current = path.read_text(encoding="utf-8") if path.exists() else None
    if current is None or (current != text and (current.startswith(MANAGED) or current == _BEFORE_STORAGE_SETTING)):
        atomic_write_text(path, text)
    return path


def apply_pool_limits(instance: dg.DagsterInstance, settings) -> dict[str, int]:
    """Set the settings' pool limits (orchestration/pools.py) on the instance; returns them."""
    from orchestration import pools

    wanted = pools.limits(settings)
    for pool, limit in wanted.items():
        # What `dagster instance concurrency set POOL LIMIT` does.
        instance.event_log_storage.set_concurrency_slots(pool, limit)
    return wanted
