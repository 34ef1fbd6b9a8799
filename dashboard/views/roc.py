"""ROC curves for chosen task, split and models, AUC and CI in the legend."""

import streamlit as st

from dashboard import data, state

from reporting import charts


def render(root: str) -> None:
    st.header("ROC curves")
    picked = data.task_rows(root, "model_metrics", "No models evaluated yet: materialize `evaluation_reports`.")
    if picked is None:
        return
    task, metrics = picked
    split = state.split()
    classifier, metrics = data.classifier_rows(metrics)
    warning = data.small_sample_warning(root, task, split)
    if warning:
        st.warning(warning, icon=":material/warning:")
    subset = charts.with_labels(metrics[metrics["split"] == split])
    options = charts.model_order(subset)
    default = [o for o in options if o in ("VOI_T", "Clinical") or o.startswith(("Clinical-Omics", "Combined 3 "))]
    chosen = state.multiselect("Models", options, "models", default or options[:3])
    roc = charts.with_labels(charts.of_classifier(data.table(root, "roc_points", (("task", task), ("split", split))),
                                                classifier))
    roc = roc[roc["label"].isin(chosen)]
    chart = charts.roc_chart(roc, subset[subset["label"].isin(chosen)], f"ROC curves ({task}, {split})")
    st.altair_chart(chart, width="content")
    data.chart_downloads(chart, f"roc_{task}_{split}", "dl_roc", roc)
