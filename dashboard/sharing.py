"""What app.py calls before drawing a page: login gate, de-identified warehouse, audit of page views.

The flags come after ``--`` on the ``streamlit run`` command line (``glioma-rings dashboard``
passes them): ``--settings FILE`` (default ``dashboard.toml`` beside the warehouse),
``--deidentified`` and ``--no-auth``.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from dashboard import deidentify, guard
from dashboard.audit import AuditLog
from dashboard.auth import Viewer, logout_button, require_viewer
from dashboard.settings import AccessSettings, settings_from_command_line

HIDDEN_WHEN_DEIDENTIFIED = frozenset({"Patient viewer"})  # MRI slices identify a patient by themselves
_PAGE_KEY = "_glioma_rings_last_page"


@dataclass(frozen=True)
class Access:
    """An allowed viewer and what they may read."""

    viewer: Viewer
    settings: AccessSettings
    root: str  # the warehouse the pages read: the de-identified view when that setting is on
    audit: AuditLog

    def visible(self, pages: list[str], key: str) -> list[str]:
        """The pages this viewer may open; a hidden page asked for by a link (widget ``key``) is dropped."""
        shown = [p for p in pages if not (self.settings.deidentified and p in HIDDEN_WHEN_DEIDENTIFIED)]
        if st.session_state.get(key) is not None and st.session_state[key] not in shown:
            del st.session_state[key]
        return shown

    def record_view(self, page: str) -> None:
        """Audit a data page once each time a session opens it (not on every widget rerun)."""
        if st.session_state.get(_PAGE_KEY) != page:
            self.audit.record("view", self.viewer.name, page=page, deidentified=self.settings.deidentified,
                              client=guard.client_address())
            st.session_state[_PAGE_KEY] = page


def open_dashboard(warehouse: str) -> Access | None:
    """The viewer's access to ``warehouse``, or None when the login form or a refusal was drawn."""
    settings = settings_from_command_line(sys.argv[1:], Path(warehouse))
    audit = AuditLog(settings.audit_log)
    viewer = require_viewer(settings, audit)
    if viewer is None:
        return None
    guard.admit(viewer.name)  # this browser may now fetch this session's images and downloads
    if viewer.method != "none":
        logout_button(viewer)
    root = warehouse
    if settings.deidentified:
        st.sidebar.info("De-identified view: patient ids are pseudonyms.")
        root = _deidentified_root(warehouse, str(settings.pseudonym_key))
    return Access(viewer=viewer, settings=settings, root=root, audit=audit)


def _deidentified_root(warehouse: str, key_file: str) -> str:
    """The de-identified copy the pages read, never the real warehouse: while there is nothing to
    copy, an empty folder (the app says the warehouse is empty); a copy that fails raises."""
    source = Path(warehouse)
    folder, lock = _view_cache()
    view = folder / hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:16] / "warehouse"
    if not (source / "warehouse.duckdb").exists():
        return str(view)
    pseudonyms = deidentify.Pseudonyms(deidentify.load_or_create_key(Path(key_file)))
    with lock, st.spinner("Preparing the de-identified view..."):
        return str(deidentify.sync_view(source, pseudonyms, view))


@st.cache_resource(show_spinner=False)
def _view_cache() -> tuple[Path, threading.Lock]:
    """One private folder (0o700) per dashboard process for its de-identified copy, removed when
    the process exits, and a lock: sessions are threads of one process, and two of them must not
    update the copy at once."""
    folder = Path(tempfile.mkdtemp(prefix="glioma-rings-deidentified-"))
    guard.at_shutdown(lambda: shutil.rmtree(folder, ignore_errors=True))
    return folder, threading.Lock()
