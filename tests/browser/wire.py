"""A Streamlit client speaking the websocket protocol itself, as an attacker's script would: it
sends widget values no browser would (a megabyte in a field with max_chars), fifty sessions at
once, and reads what each run drew. Only ever connects to 127.0.0.1."""

from __future__ import annotations

import socket
from contextlib import ExitStack
from dataclasses import dataclass, field
from urllib.parse import urlparse

import httpx
from websockets.sync.client import connect

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

_TEXT_FIELDS = {"markdown": "body", "heading": "body", "alert": "body", "text": "body"}


@dataclass
class Run:
    """What one script run drew: texts (headings, markdown, alerts) and widgets by label."""

    texts: list[str] = field(default_factory=list)
    widgets: dict[str, tuple[str, str]] = field(default_factory=dict)  # label -> (kind, widget id)
    downloads: list[str] = field(default_factory=list)  # the /media/ URLs of download buttons

    def has(self, text: str) -> bool:
        return any(text in t for t in self.texts)


class Session:
    """One browser tab: the page's cookies, then one websocket session of the dashboard."""

    def __init__(self, url: str, *, timeout: float = 60.0, headers: dict[str, str] | None = None) -> None:
        assert url.startswith("http://127.0.0.1:"), url
        self.url, self.timeout = url, timeout
        page = httpx.get(url + "/", timeout=timeout, headers=headers)
        page.raise_for_status()
        self.cookies = dict(page.cookies)
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self._open = ExitStack()
        self.socket = self._open.enter_context(connect(
            url.replace("http://", "ws://") + "/_stcore/stream", subprotocols=["streamlit"],
            additional_headers={"Cookie": cookie, "Origin": url, **(headers or {})}, max_size=None,
            open_timeout=timeout))
        self.widgets: dict[str, tuple[str, str]] = {}

    def run(self, query: str = "", values: dict[str, object] | None = None, click: str | None = None) -> Run:
        """Rerun the script with ``values`` for widgets (by label) and ``click`` on a button (by label)."""
        message = BackMsg()
        message.rerun_script.query_string = query
        states = message.rerun_script.widget_states
        for label, value in (values or {}).items():
            kind, widget_id = self.widgets[label]
            state = states.widgets.add()
            state.id = widget_id
            if isinstance(value, str):
                state.string_value = value
            else:
                state.int_value = int(value)
        if click is not None:
            state = states.widgets.add()
            state.id = self.widgets[click][1]
            state.trigger_value = True
        self.socket.send(message.SerializeToString())
        return self._read()

    def _read(self) -> Run:
        run = Run()
        while True:
            message = ForwardMsg()
            message.ParseFromString(self.socket.recv(timeout=self.timeout))
            kind = message.WhichOneof("type")
            if kind == "delta" and message.delta.WhichOneof("type") == "new_element":
                self._element(message.delta.new_element, run)
            elif kind == "script_finished":
                if message.script_finished == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    run = Run()  # st.rerun(): what counts is the run that follows
                    continue
                self.widgets.update(run.widgets)
                return run

    @staticmethod
    def _element(element, run: Run) -> None:
        kind = element.WhichOneof("type")
        if kind in _TEXT_FIELDS:
            run.texts.append(getattr(getattr(element, kind), _TEXT_FIELDS[kind]))
        elif kind in ("text_input", "button", "radio", "selectbox", "download_button"):
            widget = getattr(element, kind)
            run.widgets[widget.label] = (kind, widget.id)
            if kind == "download_button" and widget.url:
                run.downloads.append(widget.url)

    def close(self) -> None:
        self._open.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def log_in(url: str, name: str, password: str) -> tuple[Session, Run]:
    """A new session that submits the local login form once."""
    session = Session(url)
    session.run()
    return session, session.run(values={"User name": name, "Password": password}, click="Log in")


def handshake_status(url: str, host: str, path: str = "/_stcore/stream") -> int:
    """The HTTP status a websocket handshake under Host ``host`` gets (101: the socket opened)."""
    parsed = urlparse(url)
    assert parsed.hostname == "127.0.0.1", url
    request = (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               f"Sec-WebSocket-Protocol: streamlit\r\nOrigin: http://{host}\r\n\r\n")
    with socket.create_connection((parsed.hostname, parsed.port), timeout=30) as raw:
        raw.sendall(request.encode("ascii"))
        status_line = raw.makefile("rb").readline().decode("latin-1")
    return int(status_line.split()[1])
