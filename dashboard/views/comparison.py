"""Model comparison: AUC by ring with CIs, DeLong heatmap, metrics table, calibration, decision curves."""

import streamlit as st

from dashboard import charts, data


def render(root: str) -> None:
    st.header("Model comparison")
    picked = data.task_rows(root, "model_metrics", "No models evaluated yet: materialize `evaluation_reports`.",
                            "cmp_task")
    if picked is None:
        return
    task, task_metrics = picked
    split = st.selectbox("Split", ["test", "train"], key="cmp_split")
    st.altair_chart(charts.auc_by_ring_chart(task_metrics, split))
    delong = data.table(root, "delong_tests", (("task", task),))
    if not delong.empty:
        st.altair_chart(charts.delong_heatmap(delong, split))
        data.csv_download(delong[delong["split"] == split], f"delong_{task}_{split}", "dl_delong")
    st.subheader("Metrics (threshold: Youden on train)")
    table = charts.with_labels(task_metrics[task_metrics["split"] == split])[
        ["label", "n", "auc", "auc_low", "auc_high", "accuracy", "sensitivity", "specificity", "f1", "brier"]]
    st.dataframe(table.round(3), hide_index=True)
    data.csv_download(table, f"metrics_{task}_{split}", "dl_metrics")
    calibration = data.table(root, "calibration", (("task", task), ("split", split)))
    decision = data.table(root, "decision_curve", (("task", task), ("split", split)))
    keep = {"VOI_T", "Clinical", "Clinical-Omics"}
    if not calibration.empty:
        left, right = st.columns(2)
        left.altair_chart(charts.calibration_chart(calibration[calibration["model"].isin(keep)]))
        right.altair_chart(charts.decision_curve_chart(decision[decision["model"].isin(keep)]))
