"""The login gate run before any page: OpenID Connect (Streamlit's st.login) or the local users file.

Login is required as soon as it is configured (an ``[auth]`` provider in Streamlit's secrets, or
a users file, even an empty one: then nobody gets in), and stays required for the life of the
process even if that configuration disappears. Without it the dashboard only serves a loopback
address, unless the operator started it with ``--no-auth``. Being logged in is not enough: the
user's e-mail address (verified by the provider) or local name must be on the allow-list in
``dashboard.toml``, and every run checks again, so removing a user or an allow-list entry ends
their open sessions at their next click.

Local logins go through ``dashboard/throttle.py`` (shared by all sessions through
``guard.shared()``): lengths are checked before anything else, failed attempts per user name and
per client address lock further attempts out for a doubling delay, and at most a few Argon2
checks run at once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import streamlit as st

from dashboard import guard
from dashboard.audit import AuditLog
from dashboard.settings import AccessSettings, host_allowed, is_loopback, oidc_providers
from dashboard.text import plain
from dashboard.throttle import Refusal
from dashboard.users import MAX_NAME, MAX_PASSWORD, UsersFile, valid_name, valid_password

_VIEWER_KEY = "_glioma_rings_viewer"
_LOGGED_KEY = "_glioma_rings_login_logged"
_ENDED_KEY = "_glioma_rings_session_ended"


@dataclass(frozen=True)
class Viewer:
    """Who is looking: a user name or e-mail address and how it was established."""

    name: str
    method: str  # "oidc", "local" or "none" (no login configured)
    credential: str = ""  # local: a fingerprint of the stored hash, so a new password ends the session


def _configured_providers() -> list[str | None]:
    if not st.secrets.load_if_toml_exists():  # probing keys without a secrets file raises
        return []
    return oidc_providers(st.secrets.to_dict())


def _client() -> str | None:
    return guard.client_address()


def require_viewer(settings: AccessSettings, audit: AuditLog) -> Viewer | None:
    """The allowed viewer, or None after drawing the login form or a refusal (the caller stops)."""
    if not _known_host(settings, audit):
        return None
    providers = _configured_providers()
    users = UsersFile(settings.users_file) if settings.users_file else None
    local = users is not None and users.exists()
    seen = guard.shared().login_configured
    key = str(settings.settings_file)
    if providers or local:
        seen.add(key)
    elif key in seen:
        return _login_gone(audit)
    if not providers and not local:
        return _without_login(settings, audit)

    viewer = st.session_state.get(_VIEWER_KEY)
    if viewer is not None:
        reason = _withdrawn(viewer, settings, users if local else None, providers)
        if reason is None:
            return viewer
        _end_session(viewer, audit, reason)
    if providers and st.user.is_logged_in:
        return _oidc_viewer(settings, audit)
    _login_form(settings, audit, providers, users if local else None)
    return None


def logout_button(viewer: Viewer) -> None:
    st.sidebar.caption(f"Logged in as {plain(viewer.name)}")
    if st.sidebar.button("Log out", key="logout"):
        st.session_state.pop(_VIEWER_KEY, None)
        st.session_state.pop(_LOGGED_KEY, None)
        guard.dismiss()
        if viewer.method == "oidc":
            st.logout()
        st.rerun()


def _known_host(settings: AccessSettings, audit: AuditLog) -> bool:
    """The page was asked for under a name this dashboard serves (the guard refuses others before
    they get here; this holds for ``streamlit run dashboard/app.py`` too)."""
    host = guard.request_host()
    if host is None or host_allowed(host, guard.served_hosts(settings)):
        return True
    st.title("Unknown host name")
    st.error("This dashboard does not answer to the host name in the address bar.")
    _log_once(audit, "refused", "unknown", reason="unknown host name", host=host)
    return False


def _login_gone(audit: AuditLog) -> None:
    guard.dismiss()
    st.session_state.pop(_VIEWER_KEY, None)
    st.title("Login required")
    st.error("Login was configured when this dashboard started and its users file or identity provider is gone, "
             "so it shows no data. Restore the login configuration, or restart the dashboard.")
    _log_once(audit, "refused", "anonymous", reason="login configuration removed while running")
    return None


def _without_login(settings: AccessSettings, audit: AuditLog) -> Viewer | None:
    # `streamlit run` binds every interface unless told otherwise; only the CLI's default is safe.
    address = st.get_option("server.address") or "0.0.0.0"
    if settings.no_auth:
        st.sidebar.warning("No login (--no-auth): anyone who can reach this address sees the data.")
    elif not is_loopback(address):
        st.title("Login required")
        st.error(f"This dashboard listens on {plain(address)} but no login is configured, so it shows no data. "
                 "Serve it on 127.0.0.1 (`glioma-rings dashboard` does), configure an identity provider or "
                 "a users file (README, 'Sharing the dashboard'), or pass --no-auth after `--` to accept the risk.")
        _log_once(audit, "refused", "anonymous", reason="no login configured on a public address")
        return None
    viewer = Viewer("anonymous", "none")
    _log_once(audit, "allowed", viewer.name, method="none", address=address)
    return viewer


def _withdrawn(viewer: Viewer, settings: AccessSettings, users: UsersFile | None,
               providers: list[str | None]) -> str | None:
    """Why ``viewer``'s session may no longer see data (files re-read at every run), or None."""
    if viewer.method == "local":
        digest = users.digest(viewer.name) if users is not None else None
        if digest is None:
            return "removed from the users file"
        if _fingerprint(digest) != viewer.credential:
            return "password changed"
        return None if settings.is_allowed(viewer.name) else "not on the allow-list"
    if viewer.method == "oidc":
        if not providers or not st.user.is_logged_in:
            return "identity provider login ended"
        _, allowed, reason = _oidc_decision(settings)
        return None if allowed else reason
    return None


def _end_session(viewer: Viewer, audit: AuditLog, reason: str) -> None:
    st.session_state.pop(_VIEWER_KEY, None)
    st.session_state.pop(_LOGGED_KEY, None)
    guard.dismiss()
    audit.record("ended", viewer.name, method=viewer.method, reason=reason, client=_client())
    st.session_state[_ENDED_KEY] = f"Your session ended: {reason}."
    for key in [k for k in st.session_state if not str(k).startswith("_glioma_rings")]:
        del st.session_state[key]  # what the pages kept (patient, task, ...) goes with the session


def _oidc_decision(settings: AccessSettings) -> tuple[str, bool, str]:
    """(name, allowed, why not) for the account the provider logged in.

    An e-mail address counts only when the provider says it is verified (``email_verified`` true):
    some providers let users type any address. An account can also be allowed by its issuer and
    subject (``allow_subjects``), for providers that do not verify addresses.
    """
    email = str(st.user.get("email") or "")
    subject, issuer = str(st.user.get("sub") or ""), str(st.user.get("iss") or "")
    name = email or subject or "unknown"
    if settings.is_allowed_subject(issuer, subject):
        return name, True, ""
    verified = st.user.get("email_verified") in (True, "true", "True")
    if not verified:
        return name, False, "e-mail not verified"
    if not settings.is_allowed(email):
        return name, False, "not on the allow-list"
    return name, True, ""


def _oidc_viewer(settings: AccessSettings, audit: AuditLog) -> Viewer | None:
    name, allowed, reason = _oidc_decision(settings)
    if allowed:
        viewer = Viewer(name, "oidc")
        st.session_state[_VIEWER_KEY] = viewer
        _log_once(audit, "allowed", viewer.name, method="oidc")
        return viewer
    guard.dismiss()
    _log_once(audit, "refused", name, method="oidc", reason=reason)
    st.title("Access refused")
    if reason == "e-mail not verified":
        st.error(f"{plain(name)}: your identity provider does not say this e-mail address is verified, so it cannot "
                 "be matched with the allow-list. Ask the dashboard's owner.")
    else:
        st.error(f"{plain(name)} is not allowed to see this dashboard. Ask its owner to add you to the allow-list.")
    if st.button("Log out"):
        st.logout()
    return None


def _login_form(settings: AccessSettings, audit: AuditLog, providers: list[str | None], users: UsersFile | None) -> None:
    guard.dismiss()
    st.title("Log in")
    st.write("This dashboard shows patient data; log in to continue.")
    ended = st.session_state.pop(_ENDED_KEY, None)
    if ended:
        st.warning(ended)
    for provider in providers:
        label = f"Log in with {provider}" if provider else "Log in with your institution's account"
        if st.button(label, key=f"login_{provider}"):
            audit.record("login_started", "unknown", method="oidc", provider=provider, client=_client())
            st.login(provider) if provider else st.login()
    if users is None:
        return
    with st.form("local_login"):
        name = st.text_input("User name", max_chars=MAX_NAME)
        password = st.text_input("Password", type="password", max_chars=MAX_PASSWORD)
        submitted = st.form_submit_button("Log in")
    if not submitted:
        return
    viewer = _check_password(settings, audit, users, name, password)
    if viewer is None:
        return
    st.session_state[_VIEWER_KEY] = viewer
    audit.record("allowed", viewer.name, method="local", client=_client())
    st.session_state[_LOGGED_KEY] = ("allowed", viewer.name)
    st.rerun()


def _check_password(settings: AccessSettings, audit: AuditLog, users: UsersFile, name: str,
                    password: str) -> Viewer | None:
    """The local viewer ``name`` if ``password`` is theirs and they are allowed, else None after an error.

    In this order, so that garbage and guessing cost the dashboard little: a locked-out client
    is refused before anything is read; a name or password of the wrong size before any hash or
    log line holds it; a locked-out user name before its hash; then one of the few hash slots.
    """
    shared, client = guard.shared(), _client()
    refusal = shared.throttle.refuse_client(client)
    if refusal is not None:
        return _throttled(audit, refusal, "unknown", client)
    if not name or not password:
        st.error("Enter your user name and password.")
        return None
    if not valid_name(name) or not valid_password(password):
        shared.throttle.fail_client(client)
        bad_name = not valid_name(name)
        audit.record("refused", "(invalid user name)" if bad_name else name, method="local",
                     reason="invalid user name" if bad_name else "password too long",
                     name_length=len(name), client=client)
        st.error(f"A user name has at most {MAX_NAME} letters, digits and . \\_ @ + \\-; "
                 f"a password at most {MAX_PASSWORD} characters.")
        return None
    refusal = shared.throttle.begin(name, client)
    if refusal is not None:
        return _throttled(audit, refusal, name, client)
    with shared.slots.slot() as free:
        if not free:
            shared.throttle.cancel(name, client)
            audit.record("refused", name, method="local", reason="busy: too many logins being checked", client=client)
            st.error("The dashboard is checking too many logins at once. Try again in a minute.")
            return None
        correct = users.verify(name, password)
        digest = users.digest(name) if correct else None
    shared.throttle.end(name, client, succeeded=correct)
    if not correct or digest is None:
        audit.record("refused", name, method="local", reason="wrong user name or password", client=client)
        st.error("Wrong user name or password.")
        return None
    if not settings.is_allowed(name):
        audit.record("refused", name, method="local", reason="not on the allow-list", client=client)
        st.error(f"{plain(name)} is not allowed to see this dashboard. Ask its owner to add you to the allow-list.")
        return None
    return Viewer(name, "local", credential=_fingerprint(digest))


def _throttled(audit: AuditLog, refusal: Refusal, user: str, client: str | None) -> None:
    """Refuse a throttled attempt; only the first refusal of a lockout is logged (the log must not
    grow with every request an attacker sends while locked out)."""
    if refusal.first:
        audit.record("throttled", user, method="local", reason=refusal.reason, kind=refusal.kind,
                     retry_after_s=refusal.retry_after_s, client=client)
    whose = "for this user name" if refusal.kind == "user name" else "from your address"
    if refusal.reason == "checks running":
        st.error(f"Several logins {whose} are being checked. Try again in a few seconds.")
    else:
        st.error(f"Too many failed logins {whose}. Try again in {_duration(refusal.retry_after_s)}.")
    return None


def _duration(seconds: int) -> str:
    return f"{seconds} s" if seconds < 120 else f"{round(seconds / 60)} minutes"


def _fingerprint(digest: str | None) -> str:
    return hashlib.sha256((digest or "").encode()).hexdigest()


def _log_once(audit: AuditLog, event: str, user: str, **details: object) -> None:
    """One decision per browser session: Streamlit reruns the script on every click."""
    if st.session_state.get(_LOGGED_KEY) != (event, user):
        audit.record(event, user, client=_client(), **details)
        st.session_state[_LOGGED_KEY] = (event, user)
