"""ROC curves for chosen task, split and models, AUC and CI in the legend."""

import streamlit as st

from dashboard import charts, data


def render(root: str) -> None:
    st.header("ROC curves")
    picked = data.task_rows(root, "model_metrics", "No models evaluated yet: materialize `evaluation_reports`.",
                            "roc_task")
    if picked is None:
        return
    task, metrics = picked
    split = st.selectbox("Split", ["test", "train"], key="roc_split")
    subset = charts.with_labels(metrics[metrics["split"] == split])
    options = sorted(subset["label"].unique())
    default = [o for o in options if o.startswith(("VOI_T", "Clinical")) or o.startswith("Combined 1 ")][:4]
    chosen = st.multiselect("Models", options, default=default or options[:3], key="roc_models")
    roc = charts.with_labels(data.table(root, "roc_points", (("task", task), ("split", split))))
    roc = roc[roc["label"].isin(chosen)]
    st.altair_chart(charts.roc_chart(roc, subset[subset["label"].isin(chosen)]), width="content")
    data.csv_download(roc, f"roc_{task}_{split}", "dl_roc")
