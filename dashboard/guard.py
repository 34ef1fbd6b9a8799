"""What the dashboard process shares across browser sessions, and the HTTP guard in front of Streamlit.

Streamlit runs every script run in a thread of one process; ``shared()`` (``st.cache_resource``)
gives all of them, and the guard, the same objects: the failed-login throttle, the cap on
concurrent password checks, the register of logged-in browsers, and whether login was ever
configured in this process.

``Guard`` is an ASGI middleware (``dashboard/server.py`` mounts it with ``st.App``) that sees
every request before Streamlit does:

- a Host header that is not one of the names the dashboard serves (``settings.allowed_hosts``,
  Streamlit's ``server.allowedHosts``) gets 400, so a DNS-rebinding page gets no page, no
  websocket and no file;
- ``/media/...`` (images, downloads) answers only a browser whose cookie belongs to a session that
  passed the login gate and is still open; a copied URL, or the same URL after logout or after the
  tab closed, gets 403;
- the client address the audit log and the throttle use is put in a header of its own, taken from
  the connection; ``X-Forwarded-For`` counts only from ``trusted_proxies`` (uvicorn applies it,
  told by ``FORWARDED_ALLOW_IPS`` which ``server.py`` sets), and a forwarded request is refused
  when no proxy is configured and that variable was not set.
"""

from __future__ import annotations

import atexit
import functools
import os
import secrets
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import streamlit as st

from dashboard.settings import AccessSettings, allowed_hosts, host_allowed, settings_from_command_line
from dashboard.throttle import HashSlots, LoginThrottle

BROWSER_COOKIE = "glioma_rings_browser"
CLIENT_HEADER = "x-glioma-rings-client"  # set by Guard from the connection; a client's own copy is dropped
HASH_SLOTS = 2  # Argon2 checks at once: 64 MiB and up to 4 threads each


class BrowserSessions:
    """Which browsers (cookie ``BROWSER_COOKIE``) hold a session that passed the login gate."""

    def __init__(self, is_active: Callable[[str], bool]) -> None:
        self._is_active = is_active
        self._lock = threading.Lock()
        self._sessions: dict[str, tuple[str, str]] = {}  # session id -> (browser token, viewer)

    def admit(self, token: str, session_id: str, viewer: str) -> None:
        with self._lock:
            self._sessions[session_id] = (token, viewer)

    def dismiss(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    def allows(self, token: str | None) -> bool:
        """Whether ``token`` belongs to an admitted session that is still open."""
        if not token:
            return False
        with self._lock:
            sessions = [sid for sid, (t, _) in self._sessions.items() if secrets.compare_digest(t, token)]
        live = [sid for sid in sessions if self._is_active(sid)]
        for gone in set(sessions) - set(live):
            self.dismiss(gone)
        return bool(live)


def _session_is_active(session_id: str) -> bool:
    from streamlit.runtime import Runtime

    return Runtime.exists() and Runtime.instance().is_active_session(session_id)


@dataclass
class Shared:
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    slots: HashSlots = field(default_factory=lambda: HashSlots(HASH_SLOTS))
    sessions: BrowserSessions = field(default_factory=lambda: BrowserSessions(_session_is_active))
    # The settings files whose dashboard had a login configured: it stays required in this process.
    login_configured: set[str] = field(default_factory=set)
    cleanups: list[Callable[[], None]] = field(default_factory=list)  # run when the server stops


@st.cache_resource(show_spinner=False)
def shared() -> Shared:
    """The one ``Shared`` of this dashboard process."""
    return Shared()


def at_shutdown(cleanup: Callable[[], None]) -> None:
    """Run ``cleanup`` when the dashboard stops: from the server's shutdown (uvicorn ends a SIGTERM
    by raising the signal again, which skips ``atexit``), or at exit for a bare ``streamlit run``."""
    shared().cleanups.append(cleanup)
    atexit.register(cleanup)


def shutdown() -> None:
    cleanups = shared().cleanups
    while cleanups:
        cleanups.pop()()


# What a script run knows about its browser (public Streamlit API, with fallbacks for AppTest).

def session_id() -> str | None:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    return ctx.session_id if ctx else None


def _header(name: str) -> str | None:
    try:
        return st.context.headers.get(name)
    except (AttributeError, RuntimeError):
        return None


def client_address() -> str | None:
    """The client's address: Guard's header, else Streamlit's (which says None for loopback)."""
    return _header(CLIENT_HEADER) or st.context.ip_address


def request_host() -> str | None:
    return _header("Host")


def browser_token() -> str | None:
    try:
        return st.context.cookies.get(BROWSER_COOKIE)
    except (AttributeError, RuntimeError):
        return None


def admit(viewer: str) -> None:
    """This session passed the login gate: its browser may fetch its images and downloads."""
    token, sid = browser_token(), session_id()
    if token and sid:
        shared().sessions.admit(token, sid, viewer)


def dismiss() -> None:
    """This session no longer shows data (refused, logged out, access withdrawn)."""
    sid = session_id()
    if sid:
        shared().sessions.dismiss(sid)


def served_hosts(settings: AccessSettings) -> list[str]:
    """The Host names this process answers: Streamlit's ``server.allowedHosts`` when given (the
    launcher sets it), else those of the address it serves on."""
    configured = tuple(h for h in st.get_option("server.allowedHosts") or [] if h)
    return list(configured) or _hosts_of(st.get_option("server.address") or "", settings.server_names)


@functools.lru_cache(maxsize=8)
def _hosts_of(address: str, server_names: tuple[str, ...]) -> list[str]:
    return allowed_hosts(address, server_names)  # looks this machine's names up: once, not every run


class Guard:
    """ASGI middleware: Host names, the client address header, and who may fetch ``/media``."""

    def __init__(self, app, settings: AccessSettings | None = None) -> None:
        self.app = app
        self.settings = settings or settings_from_command_line(sys.argv[1:])
        self.hosts = served_hosts(self.settings)
        self.base = "/" + (st.get_option("server.baseUrlPath") or "").strip("/")
        self.base = self.base.rstrip("/")
        # Set by server.py from trusted_proxies; unset, uvicorn believes X-Forwarded-For from loopback.
        self.forwarding_unchecked = os.environ.get("FORWARDED_ALLOW_IPS") is None and not self.settings.trusted_proxies

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = [(k, v) for k, v in scope["headers"] if k != CLIENT_HEADER.encode()]
        named = {k.decode("latin-1"): v.decode("latin-1") for k, v in headers}
        if not host_allowed(named.get("host"), self.hosts):
            await _refuse(scope, receive, send, 400, "This dashboard does not answer to that host name. If it is "
                          "yours, add it to server_names in dashboard.toml (README, 'Sharing the dashboard').")
            return
        if self.forwarding_unchecked and ("x-forwarded-for" in named or "forwarded" in named):
            await _refuse(scope, receive, send, 400, "Forwarded request, but no trusted_proxies in dashboard.toml.")
            return
        client = scope.get("client")
        headers.append((CLIENT_HEADER.encode(), (client[0] if client else "unknown").encode("latin-1")))
        scope = {**scope, "headers": headers}
        if scope["type"] == "http" and scope["path"].startswith(f"{self.base}/media/"):
            if not shared().sessions.allows(_cookie(named.get("cookie", ""), BROWSER_COOKIE)):
                await _refuse(scope, receive, send, 403, "Log in to the dashboard to open this file.")
                return
        if scope["type"] == "http" and not _cookie(named.get("cookie", ""), BROWSER_COOKIE):
            send = _with_browser_cookie(send, secure=scope.get("scheme") == "https", path=self.base or "/")
        await self.app(scope, receive, send)


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value
    return None


def _with_browser_cookie(send, *, secure: bool, path: str):
    """Give the browser its token on the HTML page only (not on the assets loaded in parallel with
    it, whose answers would each hand out another token)."""
    async def sending(message) -> None:
        if message["type"] == "http.response.start":
            content_type = dict(message.get("headers", [])).get(b"content-type", b"")
            if content_type.startswith(b"text/html"):
                cookie = (f"{BROWSER_COOKIE}={secrets.token_urlsafe(32)}; Path={path}; HttpOnly; SameSite=Lax"
                          + ("; Secure" if secure else ""))
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie.encode())]}
        await send(message)
    return sending


async def _refuse(scope, receive, send, status: int, text: str) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})  # before accept: the handshake gets 403
        return
    from starlette.responses import PlainTextResponse

    await PlainTextResponse(text, status_code=status)(scope, receive, send)
