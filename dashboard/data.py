"""Cached reads for the dashboard: DataFrames are cached briefly, connections never are."""

from __future__ import annotations

import time
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import state

from reporting import charts, table_one
from radiomics_core.tasks import config as task_config
from warehouse import queries
from warehouse.store import Warehouse

TTL_SECONDS = 30
SMALL_CLASS = 10  # fewer cases than this in a class make AUC intervals and DeLong p-values unstable


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def table(root: str, name: str, where: tuple[tuple[str, object], ...] = ()) -> pd.DataFrame:
    return queries.table(Path(root), name, dict(where))


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def feature_values(root: str, wanted: tuple[tuple[float, str, str], ...],
                   patients: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Values of several (ring_mm, sequence, feature) triples of ``patients``, read in one query."""
    return queries.feature_values(Path(root), list(wanted), None if patients is None else list(patients))


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def selection_flow(root: str, task: str) -> pd.DataFrame:
    return queries.selection_flow(Path(root), task)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def selection_preset(root: str, task: str) -> str | None:
    return queries.selection_preset(Path(root), task)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def ring_volumes(root: str, patient_id: str) -> pd.DataFrame:
    return queries.ring_volumes(Path(root), patient_id)


def available(root: str) -> bool:
    """Whether the warehouse exists and holds a patient (a file listing, not a query: every run asks)."""
    warehouse = Warehouse(Path(root))
    return warehouse.database.exists() and bool(warehouse.partition_keys("patients"))


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def freshness(root: str) -> str:
    """When the newest partition was written (a stat of every partition file, so cached)."""
    stamp = queries.last_update(Path(root))
    if stamp is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def class_names(task: str) -> dict[int, str]:
    names = task_config.class_names(task)
    return {0: names[0], 1: names[1]}


def csv_download(frame: pd.DataFrame, name: str, key: str) -> None:
    st.download_button(f"Download {name} (CSV)", frame.to_csv(index=False).encode(), f"{name}.csv", "text/csv",
                       key=key, on_click="ignore")


def chart_downloads(chart: alt.TopLevelMixin, name: str, key: str, frame: pd.DataFrame | None = None) -> None:
    """PNG, SVG (and the chart's data as CSV) buttons; the images are rendered by vl-convert
    only when clicked, so exporting costs a page nothing until it is used."""
    def svg() -> bytes:
        import vl_convert
        return vl_convert.vegalite_to_svg(chart.to_json()).encode()

    def png() -> bytes:
        import vl_convert
        return vl_convert.vegalite_to_png(chart.to_json(), scale=2)

    with st.container(horizontal=True):
        st.download_button("PNG", png, f"{name}.png", "image/png", key=f"{key}_png", on_click="ignore",
                           icon=":material/download:")
        st.download_button("SVG", svg, f"{name}.svg", "image/svg+xml", key=f"{key}_svg", on_click="ignore",
                           icon=":material/download:")
        if frame is not None:
            st.download_button("CSV", frame.to_csv(index=False).encode(), f"{name}.csv", "text/csv",
                               key=f"{key}_csv", on_click="ignore", icon=":material/download:")


def task_rows(root: str, name: str, missing: str) -> tuple[str, pd.DataFrame] | None:
    """A page's table for the task picked in the sidebar, or None (with a hint) while it is empty."""
    frame = table(root, name)
    if frame.empty:
        st.info(missing)
        return None
    task = state.task(frame["task"].unique())
    return task, frame[frame["task"] == task]


def classifier_rows(frame: pd.DataFrame) -> tuple[str | None, pd.DataFrame]:
    """The classifier picked in the sidebar among those in ``frame``, and ``frame``'s rows of it.
    (None and every row for a warehouse written before classifiers were fitted side by side.)"""
    present = frame["classifier"].dropna().unique() if "classifier" in frame.columns else []
    if not len(present):
        return None, frame
    chosen = state.classifier(charts.classifier_order(present))
    return chosen, charts.of_classifier(frame, chosen)


def class_counts(root: str, task: str) -> pd.DataFrame:
    """Cases per split (rows) and class name (columns)."""
    return table_one.class_counts(table(root, "splits", (("task", task),)), class_names(task))


def small_sample_warning(root: str, task: str, split: str) -> str | None:
    """A sentence when a class of ``split`` has fewer than SMALL_CLASS cases, else None."""
    counts = class_counts(root, task)
    if split not in counts.index:
        return None
    row = counts.loc[split]
    if row.min() >= SMALL_CLASS:
        return None
    parts = " and ".join(f"{int(n)} {name}" for name, n in row.items())
    return (f"The {split} split has {parts} cases (fewer than {SMALL_CLASS} in a class): AUC intervals are wide "
            "and DeLong p-values unstable; read them as indications, not findings.")
