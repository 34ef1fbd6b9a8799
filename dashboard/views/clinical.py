"""Clinical characteristics as in a paper's Table 1."""

import streamlit as st

from dashboard import data


def render(root: str) -> None:
    st.header("Clinical characteristics")
    table = data.table(root, "clinical_characteristics")
    if table.empty:
        st.info("No clinical table yet: materialize `evaluation_reports`.")
        return
    task = st.selectbox("Task", sorted(table["task"].unique()), key="clin_task")
    subset = table[table["task"] == task]
    wide = subset.pivot_table(index=["variable", "level"], columns="group", values="summary", aggfunc="first")
    p_values = subset.groupby(["variable", "comparison"])["p_value"].first().unstack()
    st.dataframe(wide)
    st.subheader("p-values")
    st.dataframe(p_values.round(4))
    data.csv_download(subset, f"clinical_{task}", "dl_clinical")
