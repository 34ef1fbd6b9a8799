"""Cohort overview: cases per class and split, freshness, cases waiting for their segmentation,
failed cases with reasons."""

import streamlit as st

from dashboard import data
from radiomics_core.cohorts.issues import Severity


def render(root: str) -> None:
    st.header("Cohort overview")
    patients = data.table(root, "patients")
    issues = data.table(root, "case_issues")
    # Landed TCIA studies whose segmentation is still to come: not failures, listed apart.
    waiting = issues[issues["severity"] == Severity.WAITING.value]
    issues = issues[issues["severity"] != Severity.WAITING.value]
    splits = data.table(root, "splits")
    c1, c2, c3 = st.columns(3)
    c1.metric("Cases", len(patients))
    c2.metric("Usable", int(patients["usable"].sum()))
    c3.metric("Last materialization", data.freshness(root))
    st.subheader("Cases per class and split")
    if splits.empty:
        st.info("No task splits yet: materialize `splits` (or run the pipeline) to see classes.")
    else:
        counts = splits.groupby(["task", "split", "label"]).size().reset_index(name="cases")
        # Label order (0 then 1), shown by class name.
        counts["class"] = [f"{int(label)}: {data.class_names(t)[int(label)]}"
                           for t, label in zip(counts["task"], counts["label"])]
        table = counts.pivot_table(index=["task", "class"], columns="split", values="cases", fill_value=0)
        st.dataframe(table[[s for s in ("train", "test") if s in table.columns]])
    if not waiting.empty:
        st.subheader("Waiting for segmentation")
        st.info(f"{waiting['patient_id'].nunique()} case(s) waiting for segmentation: their images have "
                "landed; each becomes a case once its segmentation is in the segmentation folder.")
        st.dataframe(waiting[["patient_id", "message", "path"]].sort_values("patient_id"), hide_index=True)
    st.subheader("Failed cases and warnings")
    if issues.empty:
        st.success("No case has an issue.")
    else:
        shown = issues[["patient_id", "stage", "severity", "kind", "message", "path"]].sort_values(["severity", "patient_id"])
        st.dataframe(shown, hide_index=True)
        data.csv_download(shown, "case_issues", "dl_issues")
