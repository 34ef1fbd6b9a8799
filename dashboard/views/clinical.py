"""Clinical characteristics as in a paper's Table 1."""

import streamlit as st

from dashboard import data


def render(root: str) -> None:
    st.header("Clinical characteristics")
    picked = data.task_rows(root, "clinical_characteristics",
                            "No clinical table yet: materialize `evaluation_reports`.", "clin_task")
    if picked is None:
        return
    task, subset = picked
    wide = subset.pivot_table(index=["variable", "level"], columns="group", values="summary", aggfunc="first")
    p_values = subset.groupby(["variable", "comparison"])["p_value"].first().unstack()
    st.dataframe(wide)
    st.subheader("p-values")
    st.dataframe(p_values.round(4))
    data.csv_download(subset, f"clinical_{task}", "dl_clinical")
