"""Cached reads for the dashboard: DataFrames are cached briefly, connections never are."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import streamlit as st

from warehouse import queries
from warehouse.queries import WarehouseMissing

TTL_SECONDS = 30


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def table(root: str, name: str, where: tuple[tuple[str, object], ...] = ()) -> pd.DataFrame:
    return queries.table(Path(root), name, dict(where))


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def feature_values(root: str, feature_column: str, ring_mm: float) -> pd.DataFrame:
    sequence, _, feature = feature_column.partition("__")
    return queries.table(Path(root), "features", {"sequence": sequence, "feature": feature, "ring_mm": ring_mm})


def available(root: str) -> bool:
    try:
        return queries.count(Path(root), "patients") > 0
    except WarehouseMissing:
        return False


def freshness(root: str) -> str:
    stamp = queries.last_update(Path(root))
    if stamp is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def csv_download(frame: pd.DataFrame, name: str, key: str) -> None:
    st.download_button(f"Download {name} (CSV)", frame.to_csv(index=False).encode(), f"{name}.csv", "text/csv", key=key)


def model_options(metrics: pd.DataFrame) -> list[str]:
    from dashboard.charts import model_label
    return sorted({model_label(m, r) for m, r in zip(metrics["model"], metrics["ring_mm"])})


def task_rows(root: str, name: str, missing: str, key: str) -> tuple[str, pd.DataFrame] | None:
    """A page's table and the task the user picks, or None (with a hint) while it is empty."""
    frame = table(root, name)
    if frame.empty:
        st.info(missing)
        return None
    task = st.selectbox("Task", sorted(frame["task"].unique()), key=key)
    return task, frame[frame["task"] == task]
