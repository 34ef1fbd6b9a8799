"""The view's state in the URL: page, task, split, classifier, models (ROC), model (Features) and patient.

Widgets keep their values under these session-state keys; the URL is read once per browser
session and rewritten after every run, so a copied link (or a reload) reproduces the view.
"""

from __future__ import annotations

from typing import Sequence

import streamlit as st

PAGES = ["Findings", "Model comparison", "ROC curves", "Clinical characteristics", "Features", "Patient viewer",
         "Robustness", "Cohort overview"]
KEYS = ("page", "task", "split", "classifier", "models", "model", "patient")  # model: the Features page's model
LISTS = {"models"}  # repeated in the URL: ?models=VOI_T&models=Combined+3+mm
SPLITS = ["test", "train", "external"]  # external: a task's external validation set, when it has one


def restore() -> None:
    """Fill widget state from the URL on a session's first run; on later runs keep it alive.

    Streamlit forgets a widget's value when a run does not draw the widget (another page);
    assigning the value back to itself makes it plain session state, which survives.
    """
    state = st.session_state
    if not state.get("_url_read"):
        state["_url_read"] = True
        for key in KEYS:
            values = st.query_params.get_all(key)
            if values:
                state[key] = values if key in LISTS else values[0]
        if state.get("page") not in PAGES:
            state.pop("page", None)
    for key in KEYS:
        if key in state:
            state[key] = state[key]


def publish() -> None:
    """Write the current state into the URL (only our keys; others' parameters stay)."""
    for key in KEYS:
        value = st.session_state.get(key)
        wanted = [str(v) for v in value] if key in LISTS and value else ([str(value)] if value else [])
        if st.query_params.get_all(key) == wanted:
            continue
        if wanted:
            st.query_params[key] = wanted if key in LISTS else wanted[0]
        elif key in st.query_params:
            del st.query_params[key]


def select(label: str, options: Sequence[str], key: str, default: str | None = None, container=None) -> str:
    """A selectbox whose value lives under ``key``; a value from the URL that is not an option
    falls back to ``default`` (or the first option) instead of raising."""
    options = list(options)
    if st.session_state.get(key) not in options:
        st.session_state[key] = default if default in options else options[0]
    return (container or st).selectbox(label, options, key=key)


def multiselect(label: str, options: Sequence[str], key: str, default: Sequence[str]) -> list[str]:
    """A multiselect under ``key``; chosen models missing from the options are named, not dropped silently."""
    options = list(options)
    current = st.session_state.get(key)
    if current is None:
        st.session_state[key] = [o for o in default if o in options]
    else:
        missing = [m for m in current if m not in options]
        if missing:
            # The names may come from a crafted link (?models=...): st.text draws them as they are, where
            # markdown would draw a link (and Streamlit links any URL, even one escaped for markdown).
            st.text("Not evaluated for this task and split, so not shown: " + ", ".join(m[:80] for m in missing[:10])
                    + (f" and {len(missing) - 10} more" if len(missing) > 10 else ""))
            st.session_state[key] = [m for m in current if m in options]
    return st.multiselect(label, options, key=key)


def task(tasks: Sequence[str]) -> str:
    return select("Task", sorted(tasks), "task", default="grade", container=st.sidebar)


def split() -> str:
    return select("Split", SPLITS, "split", default="test", container=st.sidebar)


def classifier(classifiers: Sequence[str]) -> str:
    """The classifier whose models the page shows (the thesis' logistic regression by default)."""
    return select("Classifier", classifiers, "classifier", default="logistic", container=st.sidebar)
