"""Model comparison: AUC by ring with CIs, DeLong heatmap, metrics table, calibration, decision curves
(of the classifier picked in the sidebar), and the classifiers compared with each other."""

import pandas as pd
import streamlit as st

from dashboard import data, state

from reporting import charts


def classifier_comparison(metrics: pd.DataFrame, delong: pd.DataFrame) -> pd.DataFrame:
    """One row per model (ring order): its AUC and 95% CI under each classifier, and the DeLong p
    of each pair of classifiers on the same model. ``metrics`` and ``delong``: one split's rows,
    every classifier."""
    classifiers = charts.classifier_order(metrics["classifier"].dropna())
    labelled = charts.with_labels(metrics)
    across = delong[delong["classifier"] != delong["classifier_b"]]
    across = across.assign(label=[charts.model_label(m, r) for m, r in zip(across["model_a"], across["ring_a"])])
    rows = []
    for label in charts.model_order(labelled):
        row = {"model": label}
        for classifier in classifiers:
            hit = labelled[(labelled["label"] == label) & (labelled["classifier"] == classifier)]
            row[f"AUC {classifier}"] = "" if hit.empty else (
                f"{hit.auc.iloc[0]:.3f} ({charts.format_ci(hit.auc_low.iloc[0], hit.auc_high.iloc[0])})")
        for k, a in enumerate(classifiers):
            for b in classifiers[k + 1:]:
                pair = pd.Series([{x, y} == {a, b} for x, y in zip(across["classifier"], across["classifier_b"])],
                                 index=across.index, dtype=bool)
                hit = across[(across["label"] == label) & pair]
                row[f"DeLong p {a} vs {b}"] = charts.format_p(float(hit.p_value.iloc[0])) if len(hit) else ""
        rows.append(row)
    return pd.DataFrame(rows)


def render(root: str) -> None:
    st.header("Model comparison")
    picked = data.task_rows(root, "model_metrics", "No models evaluated yet: materialize `evaluation_reports`.")
    if picked is None:
        return
    task, every_classifier = picked
    split = state.split()
    classifier, task_metrics = data.classifier_rows(every_classifier)
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
    all_delong = data.table(root, "delong_tests", (("task", task),))
    delong = charts.of_classifier(all_delong, classifier)
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
    calibration = charts.of_classifier(data.table(root, "calibration", (("task", task), ("split", split))), classifier)
    decision = charts.of_classifier(data.table(root, "decision_curve", (("task", task), ("split", split))), classifier)
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
    if "classifier" in every_classifier.columns and every_classifier["classifier"].nunique() > 1:
        _classifiers_compared(task, split, every_classifier[every_classifier["split"] == split],
                              all_delong[all_delong["split"] == split])


def _classifiers_compared(task: str, split: str, metrics: pd.DataFrame, delong: pd.DataFrame) -> None:
    st.subheader("Classifiers compared (same selected features, another final estimator)")
    chart = charts.classifier_auc_chart(metrics, split)
    st.altair_chart(chart, width="content")
    data.chart_downloads(chart, f"auc_by_classifier_{task}_{split}", "dl_auc_classifiers",
                         metrics[metrics["model"] == "Combined"])
    table = classifier_comparison(metrics, delong)
    st.dataframe(table, hide_index=True)
    st.caption("DeLong p compares one model's AUC under two classifiers on the same cases.")
    data.csv_download(table, f"classifiers_{task}_{split}", "dl_classifiers")
