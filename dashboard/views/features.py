"""Selected features and coefficients per model, and a feature's distribution by class."""

import streamlit as st

from dashboard import charts, data


def render(root: str) -> None:
    st.header("Features")
    picked = data.task_rows(root, "selected_features", "No fitted models yet: materialize `fitted_models`.",
                            "feat_task")
    if picked is None:
        return
    task, selected = picked
    subset = charts.with_labels(selected)
    model = st.selectbox("Model", sorted(subset["label"].unique()), key="feat_model")
    chosen = subset[subset["label"] == model][["feature", "coefficient"]].sort_values("coefficient", key=abs, ascending=False)
    st.dataframe(chosen.round(4), hide_index=True)
    data.csv_download(chosen, f"selected_{task}", "dl_selected")
    radiomic = [f for f in chosen["feature"] if ":" in f]
    if not radiomic:
        return
    feature = st.selectbox("Distribution of", radiomic, key="feat_feature")
    prefix, column = feature.split(":", 1)
    ring_mm = 0.0 if prefix == "T" else float(prefix.removeprefix("P"))
    values = data.feature_values(root, column, ring_mm)
    labels = data.table(root, "splits", (("task", task),))
    merged = values.merge(labels, on="patient_id")
    merged["class"] = merged["label"].map({0: "class 0", 1: "class 1"})
    st.altair_chart(charts.feature_distribution_chart(merged, feature))
