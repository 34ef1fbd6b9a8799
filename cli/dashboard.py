"""The ``dashboard`` command: serve the Streamlit dashboard, refusing a public address without a login."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path



def streamlit_command(warehouse: Path, port: int, host: str = "127.0.0.1", *, app_args: Sequence[str] = (),
                       secrets: Path | None = None) -> list[str]:
    """The dashboard's server (``dashboard/server.py``: ``streamlit run`` of app.py behind its guard)
    on ``host:port``; ``app_args`` go to the app after ``--``.

    ``secrets`` replaces Streamlit's secrets.toml search (``[auth]`` for OpenID Connect login).
    The server sets ``server.allowedHosts`` from ``host`` and the settings' ``server_names``.
    """
    server = Path(__file__).resolve().parent.parent / "dashboard" / "server.py"
    options = ["--secrets.files", str(Path(secrets).resolve())] if secrets else []
    return [sys.executable, str(server), "--server.port", str(port),
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
    # An existing users file turns login on even when empty (nobody gets in), as in the dashboard.
    users = UsersFile(settings.users_file) if settings.users_file else None
    login = bool(oidc_providers(secrets)) or bool(users and users.exists())
    if not login and not is_loopback(host) and not no_auth:
        raise DashboardRefused(_NO_LOGIN_MESSAGE.format(host=host, settings=settings.settings_file, warehouse=warehouse))
    if no_auth:
        print(f"WARNING: --no-auth: the dashboard on {host} has no login; anyone who can reach it sees the data.",
              file=sys.stderr)
    if users and users.exists() and not users.names() and not oidc_providers(secrets):
        print(f"note: {users.path} holds no user: nobody can log in (glioma-rings users add NAME).", file=sys.stderr)
    if login and not (settings.allow_users or settings.allow_domains or settings.allow_subjects):
        print(f"note: no allow_users or allow_domains in {settings.settings_file}: nobody will be let in.",
              file=sys.stderr)
    return (["--settings", str(settings.settings_file)] + (["--deidentified"] if deidentified else [])
            + (["--no-auth"] if no_auth else []))


def run(args: argparse.Namespace) -> int:
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
    return subprocess.call(streamlit_command(warehouse, args.port, args.host, app_args=app_args, secrets=secrets))
