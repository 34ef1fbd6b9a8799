"""The ``dev`` command: the Dagster UI (webserver + daemon) and the dashboard, stopped together."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from cli.dashboard import DashboardRefused, dashboard_app_args, streamlit_command
from cli.project import pipeline_settings

_DAGSTER_EXPOSED_MESSAGE = """\
error: refusing to serve the Dagster UI on {host}: it has no login, and anyone who can reach it
can launch runs, wipe assets and read every path and log of the pipeline.
Keep it on 127.0.0.1 (the default) and reach it through an SSH tunnel
(ssh -L {port}:127.0.0.1:{port} HOST) or an authenticating reverse proxy, or pass
--expose-dagster-ui to serve it on {host} anyway and accept the risk. See README, "Sharing the dashboard"."""


class DagsterUIRefused(Exception):
    """The Dagster UI would listen on a public address without --expose-dagster-ui."""


def check_dagster_host(args: argparse.Namespace) -> None:
    """Refuse a public --dagster-host unless --expose-dagster-ui accepts the risk; warn when it does."""
    from dashboard.settings import is_loopback

    if is_loopback(args.dagster_host):
        return
    if not getattr(args, "expose_dagster_ui", False):
        raise DagsterUIRefused(_DAGSTER_EXPOSED_MESSAGE.format(host=args.dagster_host, port=args.dagster_port))
    print(f"WARNING: --expose-dagster-ui: the Dagster UI on {args.dagster_host} has no login; anyone who can "
          "reach it can launch runs and wipe assets.", file=sys.stderr)


def dev_processes(args: argparse.Namespace, warehouse: Path) -> list[list[str]]:
    """The commands ``dev`` starts: the Dagster UI (webserver + daemon) and the dashboard.
    Raises DashboardRefused for a public dashboard host without login (see ``dashboard``)."""
    root = Path(__file__).resolve().parent.parent
    app_args = dashboard_app_args(warehouse, args.host, no_auth=args.no_auth)
    # The Dagster UI can launch runs and wipe assets and has no login: it stays on loopback
    # unless --dagster-host says otherwise, whatever --host exposes the dashboard on.
    return [
        # dg dev: the project's own definitions ([tool.dg] in pyproject.toml), webserver + daemon.
        [str(Path(sys.executable).with_name("dg")), "dev", "--target-path", str(root),
         "--host", args.dagster_host, "--port", str(args.dagster_port)],
        streamlit_command(warehouse, args.dashboard_port, args.host, app_args=app_args),
    ]


def run(args: argparse.Namespace) -> int:
    try:
        check_dagster_host(args)
    except DagsterUIRefused as refusal:
        print(str(refusal), file=sys.stderr)
        return 2
    from cli.instance import default_dagster_home

    default_dagster_home(args.data_dir)
    try:
        pipeline = pipeline_settings(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        commands = dev_processes(args, pipeline.warehouse().root)
    except DashboardRefused as refusal:
        print(str(refusal), file=sys.stderr)
        return 2
    settings = pipeline.settings.save()
    env = {**os.environ, "GLIOMA_RINGS_SETTINGS": str(settings), "GLIOMA_RINGS_DATA": pipeline.data_dir}
    root = Path(__file__).resolve().parent.parent
    # A signal is only noted: raising from the handler would cut the stop below short when a
    # second one arrives (uv forwards the SIGTERM of `kill -- -PGID` or `timeout`, so dev gets two),
    # leaving the webserver, daemon and code server running on the port.
    signals: list[int] = []
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda received, frame: signals.append(received))
    processes: list[subprocess.Popen] = []
    try:
        # Each child leads its own process group, so stopping the group also stops what it
        # started (dagster dev's webserver, daemon and code server), and a Ctrl-C reaches only dev.
        for command in commands:
            processes.append(subprocess.Popen(command, env=env, cwd=root, start_new_session=True))
        print(f"settings: {settings}")
        print(f"Dagster UI: http://{args.dagster_host}:{args.dagster_port}   "
              f"dashboard: http://{args.host}:{args.dashboard_port}", flush=True)
        while not signals and all(p.poll() is None for p in processes):
            time.sleep(0.5)
        return 0 if signals else max(p.returncode or 0 for p in processes if p.returncode is not None)
    finally:
        stop_groups(processes, signals)


def stop_groups(processes: list[subprocess.Popen], signals: list[int], grace_s: float = 15.0) -> None:
    """SIGTERM each child's process group; SIGKILL the groups once the children have exited, after
    ``grace_s``, or as soon as dev has been signalled a third time. ``signals`` grows as they arrive."""
    signal_groups(processes, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    # The signal that started the stop may come twice (directly and forwarded by uv); a third is
    # someone who will not wait.
    impatient = False
    while any(p.poll() is None for p in processes) and time.monotonic() < deadline and not impatient:
        time.sleep(0.1)
        impatient = len(signals) >= 3
    # Even when the children have exited: what they started may still be in their groups.
    signal_groups(processes, signal.SIGKILL)
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
    if impatient:
        with contextlib.suppress(OSError):  # the terminal may be gone (SIGHUP)
            print("dev: signalled again while stopping: killed the Dagster UI and the dashboard (SIGKILL)",
                  file=sys.stderr)


def signal_groups(processes: list[subprocess.Popen], signum: int) -> None:
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signum)
