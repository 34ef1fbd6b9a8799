"""Who may see the dashboard and how: ``dashboard.toml`` beside the warehouse, plus CLI flags.

    [access]
    allow_users = ["alice@lab.org", "bob"]   # e-mail addresses (OpenID Connect) or local user names
    allow_domains = ["lab.org"]              # any e-mail address at these domains
    users_file = "dashboard-users"           # local users and password hashes (default: this name)
    server_names = ["dashboard.lab.org"]     # names browsers reach it by, besides the address it serves on
    trusted_proxies = ["127.0.0.1"]          # reverse proxies whose X-Forwarded-For names the client
    allow_subjects = [{issuer = "https://login.lab.org", subject = "..."}]  # OIDC users without a verified e-mail

    [sharing]
    deidentified = false                     # pseudonyms instead of patient ids, no patient viewer

The file sits in the warehouse's parent folder (the data folder), so each warehouse carries its
own allow-list; the audit log ``dashboard-audit.log`` is written beside it. Plain Python (no
Streamlit import): the CLI reads the same settings to refuse an unprotected public host.
"""

from __future__ import annotations

import argparse
import json
import socket
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

SETTINGS_NAME = "dashboard.toml"
USERS_NAME = "dashboard-users"
AUDIT_NAME = "dashboard-audit.log"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
PUBLIC_BINDS = frozenset({"", "0.0.0.0", "::"})  # every interface (Streamlit's default is "")


@dataclass(frozen=True)
class AccessSettings:
    """The dashboard's access rules for one warehouse."""

    warehouse: Path
    settings_file: Path
    allow_users: tuple[str, ...] = ()
    allow_domains: tuple[str, ...] = ()
    users_file: Path | None = None
    deidentified: bool = False
    no_auth: bool = False  # the operator accepted serving without login (CLI --no-auth)
    server_names: tuple[str, ...] = ()  # Host names the dashboard answers besides its own address
    trusted_proxies: tuple[str, ...] = ()  # addresses whose X-Forwarded-For header is believed
    allow_subjects: tuple[tuple[str, str], ...] = ()  # (issuer, subject) of OIDC users without a verified e-mail

    @property
    def audit_log(self) -> Path:
        return self.settings_file.parent / AUDIT_NAME

    @property
    def pseudonym_key(self) -> Path:
        return self.warehouse / "pseudonym.key"

    def is_allowed(self, user: str) -> bool:
        """Whether a user name or e-mail address is on the allow-list (case-insensitive)."""
        user = user.strip().lower()
        if not user:
            return False
        if user in {name.lower() for name in self.allow_users}:
            return True
        domain = user.rpartition("@")[2] if "@" in user else None
        return domain is not None and domain in {d.lower().lstrip("@") for d in self.allow_domains}

    def is_allowed_subject(self, issuer: str, subject: str) -> bool:
        """Whether an OpenID Connect account (its issuer and subject, not its e-mail) is allowed."""
        return bool(issuer and subject) and (issuer, subject) in self.allow_subjects


def default_settings_file(warehouse: Path) -> Path:
    return Path(warehouse).resolve().parent / SETTINGS_NAME


def load_settings(warehouse: Path, settings_file: Path | None = None, *, deidentified: bool = False,
                  no_auth: bool = False) -> AccessSettings:
    """Read ``settings_file`` (default: ``dashboard.toml`` beside the warehouse); a missing file means no rules."""
    warehouse = Path(warehouse).resolve()
    path = Path(settings_file).resolve() if settings_file else default_settings_file(warehouse)
    raw: dict = {}
    if path.exists():
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
    access, sharing = raw.get("access", {}), raw.get("sharing", {})
    users = Path(access.get("users_file", USERS_NAME))
    return AccessSettings(
        warehouse=warehouse, settings_file=path,
        allow_users=tuple(str(u) for u in access.get("allow_users", ())),
        allow_domains=tuple(str(d) for d in access.get("allow_domains", ())),
        users_file=users if users.is_absolute() else path.parent / users,
        deidentified=deidentified or bool(sharing.get("deidentified", False)),
        no_auth=no_auth,
        server_names=tuple(str(n).strip().lower().rstrip(".") for n in access.get("server_names", ())),
        trusted_proxies=tuple(str(a).strip() for a in access.get("trusted_proxies", ())),
        allow_subjects=tuple((str(s.get("issuer", "")), str(s.get("subject", "")))
                             for s in access.get("allow_subjects", ()) if isinstance(s, Mapping)),
    )


def settings_from_command_line(argv: Sequence[str], warehouse: Path | None = None) -> AccessSettings:
    """The settings the dashboard's own flags name (what follows ``--`` on the ``streamlit run``
    line); ``warehouse``, when given, in place of the flags' ``--warehouse``."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--warehouse", default="data/warehouse")
    parser.add_argument("--settings", default=None)
    parser.add_argument("--deidentified", action="store_true")
    parser.add_argument("--no-auth", action="store_true")
    args, _ = parser.parse_known_args(list(argv))
    return load_settings(warehouse or Path(args.warehouse), Path(args.settings) if args.settings else None,
                         deidentified=args.deidentified, no_auth=args.no_auth)


def server_launch(argv: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """For ``dashboard/server.py``: its command line (Streamlit's options, ``--``, the dashboard's)
    with ``--server.allowedHosts`` added unless given, and the environment uvicorn must start with
    (``FORWARDED_ALLOW_IPS``: the trusted proxies, none by default)."""
    argv = list(argv)
    split = argv.index("--") if "--" in argv else len(argv)
    flags, app_args = argv[:split], argv[split + 1:]
    settings = settings_from_command_line(app_args)
    if _option(flags, "--server.allowedHosts") is None:
        for host in allowed_hosts(_option(flags, "--server.address") or "", settings.server_names):
            flags += ["--server.allowedHosts", host]
    return [*flags, "--", *app_args], {"FORWARDED_ALLOW_IPS": ",".join(settings.trusted_proxies)}


def _option(flags: Sequence[str], name: str) -> str | None:
    for index, flag in enumerate(flags):
        if flag == name and index + 1 < len(flags):
            return flags[index + 1]
        if flag.startswith(name + "="):
            return flag.split("=", 1)[1]
    return None


def allowed_hosts(address: str, server_names: Sequence[str] = ()) -> list[str]:
    """The Host names a dashboard serving on ``address`` answers (Streamlit's ``server.allowedHosts``).

    A browser tricked by DNS rebinding sends the attacker's name as Host, so only names this
    machine is known by get a page: the loopback names, the address itself, this machine's
    host names and addresses when it serves every interface, and ``server_names`` (a proxy's
    public name). A name missing here can be added to ``server_names``.
    """
    names = set(LOOPBACK_HOSTS)
    if address and address not in PUBLIC_BINDS:
        names.add(address.lower())
    if address in PUBLIC_BINDS or not is_loopback(address):
        for name in {socket.gethostname(), socket.getfqdn()}:
            names.add(name.lower())
            try:
                names.update(info[4][0] for info in socket.getaddrinfo(name, None))
            except OSError:
                pass
    names.update(n for n in server_names if n)
    return sorted(names)


def host_allowed(host_header: str | None, allowed: Sequence[str]) -> bool:
    """Whether a request's Host header (port ignored) names one of ``allowed`` (``*.`` wildcards too)."""
    if not host_header:
        return False
    try:
        parsed = urlparse(f"//{host_header}")
        hostname, _ = parsed.hostname, parsed.port  # .port validates a given port
    except ValueError:
        return False
    if hostname is None or parsed.username or parsed.password or parsed.path or parsed.query or parsed.fragment:
        return False
    hostname = hostname.lower().rstrip(".")
    for pattern in (a.strip().lower().rstrip(".") for a in allowed):
        if pattern == "*" or hostname == pattern or (pattern.startswith("*.") and hostname.endswith(pattern[1:])):
            return True
    return False


def oidc_providers(secrets: Mapping) -> list[str | None]:
    """Providers configured in Streamlit's ``[auth]`` secrets; ``None`` is the unnamed one.

    Streamlit's layout: ``[auth]`` holds ``redirect_uri`` and ``cookie_secret``, and either the
    provider itself (``client_id``, ``client_secret``, ``server_metadata_url``) or one sub-table
    per named provider (``[auth.microsoft]``).
    """
    auth = secrets.get("auth") or {}
    if not auth.get("redirect_uri") or not auth.get("cookie_secret"):
        return []
    providers: list[str | None] = [None] if auth.get("client_id") else []
    providers += [name for name, value in auth.items() if isinstance(value, Mapping) and value.get("client_id")]
    return providers


def read_secrets(files: list[Path]) -> dict:
    """Merge Streamlit secrets files as Streamlit does (later files win per top-level key)."""
    merged: dict = {}
    for path in files:
        if path.is_file():
            with path.open("rb") as handle:
                merged.update(tomllib.load(handle))
    return merged


def default_secrets_files(app_dir: Path) -> list[Path]:
    """Where ``streamlit run`` looks for secrets.toml: the user's, the working folder's, the app's."""
    return [Path.home() / ".streamlit" / "secrets.toml", Path.cwd() / ".streamlit" / "secrets.toml",
            app_dir / ".streamlit" / "secrets.toml"]


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_HOSTS or host.startswith("127.")


def write_first_user_settings(settings_file: Path, name: str) -> None:
    """A new ``dashboard.toml`` allowing the first local user (``glioma-rings users add``)."""
    from radiomics_core.files.atomic import atomic_write_text

    atomic_write_text(Path(settings_file), f"[access]\nallow_users = [{json.dumps(name)}]\n")
