"""Model comparison: AUC by ring with CIs, DeLong heatmap, metrics table, calibration, decision curves."""

import streamlit as st

from dashboard import charts, data, state


def render(root: str) -> None:
    st.header("Model comparison")
    picked = data.task_rows(root, "model_metrics", "No models evaluated yet: materialize `evaluation_reports`.")
    if picked is None:
        return
    task, task_metrics = picked
    split = state.split()
    warning = data.small_sample_warning(root, task, split)
    if warning:
        st.warning(warning, icon=":material/warning:")
    split_metrics = task_metrics[task_metrics["split"] == split]
    counts = data.class_counts(root, task)
    note = None
    if warning and split in counts.index:
        # The figure carries its own caveat, so an exported PNG does not lose it.
        note = ("small sample: " + ", ".join(f"{int(n)} {c}" for c, n in counts.loc[split].items())
                + f" (< {data.SMALL_CLASS} per class); intervals are wide")
    auc_chart = charts.auc_by_ring_chart(task_metrics, split, note)
    st.altair_chart(auc_chart, width="content")
    data.chart_downloads(auc_chart, f"auc_by_ring_{task}_{split}", "dl_auc", split_metrics)
    delong = data.table(root, "delong_tests", (("task", task),))
    if not delong.empty:
        heatmap = charts.delong_heatmap(delong, split)
        st.altair_chart(heatmap, width="content")
        data.chart_downloads(heatmap, f"delong_{task}_{split}", "dl_delong", delong[delong["split"] == split])
    st.subheader("Metrics (threshold: Youden on train)")
    labelled = charts.with_labels(split_metrics)
    order = charts.model_order(labelled)
    table = labelled.set_index("label").loc[order].reset_index()[
        ["label", "n", "auc", "auc_low", "auc_high", "accuracy", "sensitivity", "specificity", "f1", "brier"]]
    st.dataframe(table.round(3), hide_index=True)
    degenerate = table[(table["auc_low"] == table["auc_high"])]["label"].tolist()
    if degenerate:
        st.caption("A zero-width interval (" + ", ".join(degenerate) + ") means DeLong's variance is 0 on this "
                   "split (the scores separate the classes perfectly or not at all), not that the AUC is certain.")
    data.csv_download(table, f"metrics_{task}_{split}", "dl_metrics")
    calibration = data.table(root, "calibration", (("task", task), ("split", split)))
    decision = data.table(root, "decision_curve", (("task", task), ("split", split)))
    keep = {"VOI_T", "Clinical", "Clinical-Omics"}
    if not calibration.empty:
        left, right = st.columns(2)
        with left:
            chart = charts.calibration_chart(calibration[calibration["model"].isin(keep)],
                                             split_metrics[split_metrics["model"].isin(keep)],
                                             f"Calibration ({task}, {split})")
            st.altair_chart(chart, width="content")
            data.chart_downloads(chart, f"calibration_{task}_{split}", "dl_calibration",
                                 calibration[calibration["model"].isin(keep)])
        with right:
            chart = charts.decision_curve_chart(decision[decision["model"].isin(keep)],
                                                f"Decision curves ({task}, {split})")
            st.altair_chart(chart, width="content")
            data.chart_downloads(chart, f"decision_{task}_{split}", "dl_decision",
                                 decision[decision["model"].isin(keep)])
