"""Selected features per model: coefficients, and each feature's distribution by class."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import data, state

from radiomics_core.settings import Ring
from reporting import charts

CLINICAL = {"age", "sex_male"}


def feature_source(model: str, ring_mm: float | None, feature: str) -> tuple[str, float | None, str, str]:
    """Where a selected feature's values live: (kind, ring mm, sequence, feature name).

    Models name their columns as fitted: VOI_T and VOI_P columns are ``sequence__feature`` of their
    own VOI (ring 0 for VOI_T), Combined prefixes ``T:`` (VOI_T) or ``P<mm>:`` (its ring), the
    clinical models use ``age``, ``sex_male`` and ``radscore`` (the best Combined model's score).
    """
    if feature in CLINICAL:
        return "clinical", None, "", feature
    if feature == "radscore":
        return "radscore", ring_mm, "", feature
    source = Ring.from_column(feature)
    if source is not None:
        ring, column = source.mm, feature.partition(":")[2]
    else:
        column = feature
        ring = 0.0 if model == "VOI_T" or ring_mm is None or pd.isna(ring_mm) else float(ring_mm)
    sequence, _, name = column.partition("__")
    return "radiomic", ring, sequence, name


def _values(root: str, task: str, model: str, ring_mm: float | None, feature: str,
            radiomic: pd.DataFrame, classifier: str | None = None) -> pd.DataFrame:
    """Columns patient_id, value for one selected feature (``radiomic``: the model's stored values)."""
    kind, ring, sequence, name = feature_source(model, ring_mm, feature)
    if kind == "radiomic":
        hit = radiomic[(radiomic["ring_mm"] == ring) & (radiomic["sequence"] == sequence)
                       & (radiomic["feature"] == name)]
        return hit[["patient_id", "value"]]
    if kind == "radscore":
        scores = data.table(root, "predictions", (("task", task), ("model", "Combined"), ("ring_mm", ring)))
        scores = charts.of_classifier(scores, classifier)  # the radscore of this classifier's Combined model
        return scores.drop_duplicates("patient_id").assign(value=scores["score"])[["patient_id", "value"]]
    clinical = data.table(root, "clinical")
    value = clinical["age"] if name == "age" else (clinical["sex"] == "M").astype(float)
    return pd.DataFrame({"patient_id": clinical["patient_id"], "value": value})


def render(root: str) -> None:
    st.header("Features")
    picked = data.task_rows(root, "selected_features", "No fitted models yet: materialize `fitted_models`.")
    if picked is None:
        return
    task, selected = picked
    split = state.split()
    classifier, selected = data.classifier_rows(selected)
    subset = charts.with_labels(selected)
    options = charts.model_order(subset)
    label = state.select("Model", options, "model", default="VOI_T")
    model_rows = subset[subset["label"] == label]
    model, ring_mm = model_rows["model"].iloc[0], model_rows["ring_mm"].iloc[0]
    chosen = model_rows[["feature", "coefficient"]].sort_values("coefficient", key=abs, ascending=False)
    if chosen.empty:
        st.info(f"{label} kept no feature.")
        return
    forest = classifier == "random_forest"
    chart = charts.coefficient_chart(chosen, f"{label}: selected features ({task})",
                                     "Impurity importance" if forest else charts.COEFFICIENT_AXIS)
    st.altair_chart(chart, width="content")
    data.chart_downloads(chart, f"coefficients_{task}_{label.replace(' ', '_')}", "dl_coef", chosen)
    if forest:
        st.caption("Random forest: the bars are the features' impurity importances, not coefficients.")
    _model_figures(root, task, model, None if pd.isna(ring_mm) else float(ring_mm), label)
    names = data.class_names(task)
    labels = data.table(root, "splits", (("task", task),))
    labels = labels[labels["split"] == split]
    st.subheader(f"Distributions by class ({split} split)")
    plotted = list(chosen["feature"].head(6))
    sources = [feature_source(model, ring_mm, f) for f in plotted]
    radiomic = data.feature_values(root, tuple((ring, seq, name) for kind, ring, seq, name in sources
                                               if kind == "radiomic"), tuple(labels["patient_id"]))
    columns = st.columns(2)
    for k, feature in enumerate(plotted):
        values = _values(root, task, model, ring_mm, feature, radiomic, classifier).merge(labels, on="patient_id")
        values["class"] = values["label"].map(names)
        with columns[k % 2]:
            if values.empty:
                st.caption(f"{feature}: no stored values for this split.")
                continue
            chart = charts.feature_distribution_chart(values, feature, list(names.values()))
            st.altair_chart(chart, width="content")
    if len(chosen) > 6:
        st.caption(f"The 6 largest of {len(chosen)} coefficients are plotted; the table lists all.")


def _model_figures(root: str, task: str, model: str, ring_mm: float | None, label: str) -> None:
    """The chosen model's LASSO cross-validation curve and coefficient path, the correlation of its
    selected features (training data) and, for Clinical-Omics, its nomogram."""
    where = (("task", task), ("model", model), ("ring_mm", ring_mm))
    stem = f"{task}_{label.replace(' ', '_')}"
    cv = data.table(root, "lasso_cv", where)
    if len(cv):
        st.subheader("LASSO (training split)")
        path = data.table(root, "lasso_path", where)
        chosen = cv.loc[cv["chosen"].astype(bool), "alpha"]
        left, right = st.columns(2)
        with left:
            chart = charts.lasso_cv_chart(cv, f"LASSO cross-validation: {label} ({task})")
            st.altair_chart(chart, width="content")
            data.chart_downloads(chart, f"lasso_cv_{stem}", "dl_lasso_cv", cv)
        with right:
            chart = charts.lasso_path_chart(path, float(chosen.iloc[0]) if len(chosen) else None,
                                            f"LASSO coefficient path: {label} ({task})")
            st.altair_chart(chart, width="content")
            data.chart_downloads(chart, f"lasso_path_{stem}", "dl_lasso_path", path)
        st.caption("Mean squared error of LassoCV's folds (± 1 SD) at each alpha; the dashed line is the alpha "
                   "chosen. The path shows up to 30 features: those kept (thick) and those entering first.")
    correlation = data.table(root, "feature_correlation", where)
    if len(correlation):
        chart = charts.correlation_heatmap(correlation, f"Correlation of selected features: {label} ({task})")
        st.altair_chart(chart, width="content")
        data.chart_downloads(chart, f"correlation_{stem}", "dl_correlation", correlation)
    nomogram = data.table(root, "nomogram", where)
    if len(nomogram):
        st.subheader("Nomogram")
        chart = charts.nomogram_chart(nomogram, f"Nomogram: {label} ({task})")
        st.altair_chart(chart, width="content")
        data.chart_downloads(chart, f"nomogram_{stem}", "dl_nomogram", nomogram)
        st.caption("Read each variable's points on the top ruler, add them, and read the probability below the "
                   "total (the logistic model's own probability, exactly).")
