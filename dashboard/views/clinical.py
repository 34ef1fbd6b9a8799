"""Clinical characteristics as a paper's Table 1 (reporting/table_one.py), with CSV, Markdown and
LaTeX export."""

from __future__ import annotations

import streamlit as st

from dashboard import data, state
from reporting.table_one import INDENT, latex, selection_flow_table, table_one, task_definition


def render(root: str) -> None:
    st.header("Clinical characteristics")
    # A task whose models could not be fitted (too few cases) has no Table 1 but a selection flow: why.
    characteristics, flows = data.table(root, "clinical_characteristics"), data.table(root, "selection_flow")
    tasks = set(characteristics["task"]) | set(flows["task"])
    if not tasks:
        st.info("No clinical table yet: materialize `evaluation_reports`.")
        return
    task = state.task(tasks)
    rows = characteristics[characteristics["task"] == task]
    if rows.empty:
        st.info(f"No clinical table for {task} yet: materialize `evaluation_reports`; the selection flow "
                "below says which cases the task has.")
        _selection_flow(root, task)
        return
    names = data.class_names(task)
    table, footnote = table_one(rows, data.class_counts(root, task), names)
    st.subheader(f"Table 1: {task} ({' vs '.join(names.values())})")
    # A static table, as a paper prints it (indented levels and the headers' N stay as written).
    st.table(table.set_index("Variable"))
    st.caption(footnote)
    plain = table.assign(Variable=table["Variable"].str.replace(INDENT, "  "))
    row = st.container(horizontal=True)
    row.download_button("CSV", plain.to_csv(index=False).encode(), f"table1_{task}.csv", "text/csv",
                        key="dl_table1_csv", on_click="ignore", icon=":material/download:")
    row.download_button("Markdown", (plain.to_markdown(index=False) + f"\n\n{footnote}\n").encode(),
                        f"table1_{task}.md", "text/markdown", key="dl_table1_md", on_click="ignore",
                        icon=":material/download:")
    row.download_button("LaTeX", latex(table, footnote).encode(), f"table1_{task}.tex", "application/x-tex",
                        key="dl_table1_tex", on_click="ignore", icon=":material/download:")
    _selection_flow(root, task)


def _selection_flow(root: str, task: str) -> None:
    """Which exams entered the task and why the others did not (CONSORT-style), as ``splits`` wrote it."""
    st.subheader(f"Selection flow: {task}")
    flow = data.selection_flow(root, task)
    if flow.empty:
        st.info("No selection flow yet: materialize `splits`.")
        return
    definition = task_definition(data.selection_preset(root, task))
    if definition:
        st.caption(definition)
    table = selection_flow_table(flow)
    st.dataframe(table, hide_index=True)
    data.csv_download(table, f"selection_flow_{task}", key="dl_selection_flow_csv")
