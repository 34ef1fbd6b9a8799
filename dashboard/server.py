"""The dashboard's server: ``app.py`` behind the guard (``dashboard/guard.py``), started as
``python dashboard/server.py [streamlit options] -- --warehouse PATH [dashboard flags]``.

Run as a program (what ``glioma-rings dashboard`` and ``dev`` do), this file sets the two things
that must be known before the web server starts, then hands over to ``streamlit run`` on itself:

- ``FORWARDED_ALLOW_IPS`` (read by uvicorn): the ``trusted_proxies`` of dashboard.toml, none by
  default, so a client cannot name another address with ``X-Forwarded-For``;
- ``server.allowedHosts`` (unless given): the names it serves (``settings.allowed_hosts``), so
  Streamlit itself also refuses a websocket opened under another Host name (DNS rebinding).

``streamlit run`` finds the ``st.App`` below and serves it with uvicorn; the guard is mounted as
its middleware, in front of every request.
"""

from __future__ import annotations

import os
import sys
from contextlib import asynccontextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `streamlit run` puts only dashboard/ on the path

import streamlit as st  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402

from dashboard import guard  # noqa: E402
from dashboard.settings import server_launch  # noqa: E402

APP = Path(__file__).resolve().with_name("app.py")


def launch(argv: list[str]) -> int:
    """``streamlit run`` this file with ``argv`` (Streamlit's options, then ``--`` and the dashboard's)."""
    arguments, environment = server_launch(argv)
    os.environ.update(environment)  # before uvicorn reads it
    from streamlit.web import cli

    return cli.main(["run", str(Path(__file__).resolve()), *arguments], prog_name="streamlit")


@asynccontextmanager
async def _lifespan(_app):
    yield
    guard.shutdown()  # e.g. the de-identified copy: removed before the process ends


if __name__ == "__main__":
    sys.exit(launch(sys.argv[1:]))

app = st.App(APP, middleware=[Middleware(guard.Guard)], lifespan=_lifespan)
