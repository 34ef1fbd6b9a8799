"""The login gate run before any page: OpenID Connect (Streamlit's st.login) or the local users file.

Login is required as soon as it is configured (an ``[auth]`` provider in Streamlit's secrets, or
a users file with at least one user). Without it the dashboard only serves a loopback address,
unless the operator started it with ``--no-auth``. Being logged in is not enough: the user's
e-mail address or local name must be on the allow-list in ``dashboard.toml``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import streamlit as st

from dashboard.audit import AuditLog
from dashboard.settings import AccessSettings, is_loopback, oidc_providers
from dashboard.users import UsersFile

_VIEWER_KEY = "_glioma_rings_viewer"
_LOGGED_KEY = "_glioma_rings_login_logged"


@dataclass(frozen=True)
class Viewer:
    """Who is looking: a user name or e-mail address and how it was established."""

    name: str
    method: str  # "oidc", "local" or "none" (no login configured)


def _configured_providers() -> list[str | None]:
    if not st.secrets.load_if_toml_exists():  # probing keys without a secrets file raises
        return []
    return oidc_providers(st.secrets.to_dict())


def _client() -> str | None:
    try:
        return st.context.ip_address
    except AttributeError:
        return None


def require_viewer(settings: AccessSettings, audit: AuditLog) -> Viewer | None:
    """The allowed viewer, or None after drawing the login form or a refusal (the caller stops)."""
    providers = _configured_providers()
    users = UsersFile(settings.users_file) if settings.users_file else None
    local = users is not None and bool(users.names())
    if not providers and not local:
        return _without_login(settings, audit)

    viewer = st.session_state.get(_VIEWER_KEY)
    if viewer is not None:
        return viewer
    if providers and st.user.is_logged_in:
        return _oidc_viewer(settings, audit)
    _login_form(settings, audit, providers, users if local else None)
    return None


def logout_button(viewer: Viewer) -> None:
    st.sidebar.caption(f"Logged in as {viewer.name}")
    if st.sidebar.button("Log out", key="logout"):
        st.session_state.pop(_VIEWER_KEY, None)
        st.session_state.pop(_LOGGED_KEY, None)
        if viewer.method == "oidc":
            st.logout()
        st.rerun()


def _without_login(settings: AccessSettings, audit: AuditLog) -> Viewer | None:
    # `streamlit run` binds every interface unless told otherwise; only the CLI's default is safe.
    address = st.get_option("server.address") or "0.0.0.0"
    if settings.no_auth:
        st.sidebar.warning("No login (--no-auth): anyone who can reach this address sees the data.")
    elif not is_loopback(address):
        st.title("Login required")
        st.error(f"This dashboard listens on {address} but no login is configured, so it shows no data. "
                 "Serve it on 127.0.0.1 (`glioma-rings dashboard` does), configure an identity provider or "
                 "a users file (README, 'Sharing the dashboard'), or pass --no-auth after `--` to accept the risk.")
        _log_once(audit, "refused", "anonymous", reason="no login configured on a public address")
        return None
    viewer = Viewer("anonymous", "none")
    _log_once(audit, "allowed", viewer.name, method="none", address=address)
    return viewer


def _oidc_viewer(settings: AccessSettings, audit: AuditLog) -> Viewer | None:
    email = str(st.user.get("email") or "")
    # Some providers let users set an unverified address; never match an allow-list on one.
    verified = st.user.get("email_verified", True) not in (False, "false")
    name = email or str(st.user.get("sub") or "unknown")
    if verified and settings.is_allowed(email):
        viewer = Viewer(email, "oidc")
        st.session_state[_VIEWER_KEY] = viewer
        _log_once(audit, "allowed", viewer.name, method="oidc")
        return viewer
    _log_once(audit, "refused", name, method="oidc", reason="not on the allow-list" if verified else "e-mail not verified")
    st.title("Access refused")
    st.error(f"{name} is not allowed to see this dashboard. Ask its owner to add you to the allow-list.")
    if st.button("Log out"):
        st.logout()
    return None


def _login_form(settings: AccessSettings, audit: AuditLog, providers: list[str | None], users: UsersFile | None) -> None:
    st.title("Log in")
    st.write("This dashboard shows patient data; log in to continue.")
    for provider in providers:
        label = f"Log in with {provider}" if provider else "Log in with your institution's account"
        if st.button(label, key=f"login_{provider}"):
            audit.record("login_started", "unknown", method="oidc", provider=provider, client=_client())
            st.login(provider) if provider else st.login()
    if users is None:
        return
    with st.form("local_login"):
        name = st.text_input("User name")
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Log in")
    if not submitted:
        return
    if not users.verify(name, password):
        audit.record("refused", name or "unknown", method="local", reason="wrong user name or password", client=_client())
        time.sleep(1.0)  # slows password guessing from one session
        st.error("Wrong user name or password.")
        return
    if not settings.is_allowed(name):
        audit.record("refused", name, method="local", reason="not on the allow-list", client=_client())
        st.error(f"{name} is not allowed to see this dashboard. Ask its owner to add you to the allow-list.")
        return
    st.session_state[_VIEWER_KEY] = Viewer(name, "local")
    audit.record("allowed", name, method="local", client=_client())
    st.session_state[_LOGGED_KEY] = True
    st.rerun()


def _log_once(audit: AuditLog, event: str, user: str, **details: object) -> None:
    """One decision per browser session: Streamlit reruns the script on every click."""
    if st.session_state.get(_LOGGED_KEY) != (event, user):
        audit.record(event, user, client=_client(), **details)
        st.session_state[_LOGGED_KEY] = (event, user)
