"""Who may see the dashboard and how: ``dashboard.toml`` beside the warehouse, plus CLI flags.

    [access]
    allow_users = ["alice@lab.org", "bob"]   # e-mail addresses (OpenID Connect) or local user names
    allow_domains = ["lab.org"]              # any e-mail address at these domains
    users_file = "dashboard-users"           # local users and password hashes (default: this name)

    [sharing]
    deidentified = false                     # pseudonyms instead of patient ids, no patient viewer

The file sits in the warehouse's parent folder (the data folder), so each warehouse carries its
own allow-list; the audit log ``dashboard-audit.log`` is written beside it. Plain Python (no
Streamlit import): the CLI reads the same settings to refuse an unprotected public host.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

SETTINGS_NAME = "dashboard.toml"
USERS_NAME = "dashboard-users"
AUDIT_NAME = "dashboard-audit.log"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


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
    )


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
