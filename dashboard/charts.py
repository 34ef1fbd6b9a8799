"""Chart builders: pure functions from a warehouse DataFrame to an Altair chart.

Used by the dashboard pages and the HTML report alike.
"""

from __future__ import annotations

import altair as alt
import pandas as pd


def model_label(model: str, ring_mm: float | None) -> str:
    return model if ring_mm is None or pd.isna(ring_mm) else f"{model} {ring_mm:g} mm"


def with_labels(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(label=[model_label(m, r) for m, r in zip(frame["model"], frame["ring_mm"])])


def roc_chart(roc: pd.DataFrame, metrics: pd.DataFrame, title: str = "ROC curves") -> alt.Chart:
    """Overlaid ROC curves, AUC and 95% CI in the legend."""
    metrics = with_labels(metrics)
    legend = {row.label: f"{row.label} (AUC {row.auc:.3f}, {row.auc_low:.3f}-{row.auc_high:.3f})"
              for row in metrics.itertuples()}
    data = with_labels(roc)
    data = data.assign(curve=data["label"].map(legend).fillna(data["label"]))
    curves = alt.Chart(data).mark_line(interpolate="step-after").encode(
        x=alt.X("fpr:Q", title="1 - specificity"), y=alt.Y("tpr:Q", title="Sensitivity"),
        color=alt.Color("curve:N", title="Model", legend=alt.Legend(orient="bottom", columns=1, labelLimit=400)),
        order="threshold:Q",
    )
    diagonal = alt.Chart(pd.DataFrame({"x": [0, 1], "y": [0, 1]})).mark_line(strokeDash=[4, 4], color="gray").encode(
        x="x:Q", y="y:Q")
    return (diagonal + curves).properties(title=title, width=420, height=420)


def auc_by_ring_chart(metrics: pd.DataFrame, split: str) -> alt.Chart:
    """AUC versus ring distance with CI bars for VOI_P and Combined, VOI_T as a reference line."""
    data = metrics[(metrics["split"] == split) & metrics["model"].isin(["VOI_P", "Combined"])]
    base = alt.Chart(data).encode(x=alt.X("ring_mm:Q", title="Ring distance (mm)"), color=alt.Color("model:N", title="Model"))
    scale = alt.Scale(domain=[0.3, 1.0], clamp=True)
    points = base.mark_line(point=True).encode(y=alt.Y("auc:Q", title="AUC", scale=scale))
    bars = base.mark_errorbar(clip=True).encode(y=alt.Y("auc_low:Q", scale=scale), y2="auc_high:Q")
    voi_t = metrics[(metrics["split"] == split) & (metrics["model"] == "VOI_T")]
    rule = alt.Chart(voi_t).mark_rule(strokeDash=[6, 3], color="black").encode(y="auc:Q")
    return (points + bars + rule).properties(title=f"AUC by ring ({split}); dashed: VOI_T", width=480, height=320)


def delong_heatmap(delong: pd.DataFrame, split: str) -> alt.Chart:
    data = delong[delong["split"] == split].copy()
    data["a"] = [model_label(m, r) for m, r in zip(data["model_a"], data["ring_a"])]
    data["b"] = [model_label(m, r) for m, r in zip(data["model_b"], data["ring_b"])]
    both = pd.concat([data, data.rename(columns={"a": "b", "b": "a"})])
    return alt.Chart(both).mark_rect().encode(
        x=alt.X("a:N", title=None), y=alt.Y("b:N", title=None),
        color=alt.Color("p_value:Q", scale=alt.Scale(domain=[0, 0.1], clamp=True, scheme="redyellowblue"),
                        title="DeLong p"),
        tooltip=["a", "b", alt.Tooltip("p_value:Q", format=".3f"), alt.Tooltip("z:Q", format=".2f")],
    ).properties(title=f"DeLong p-values ({split})", width=420, height=420)


def calibration_chart(calibration: pd.DataFrame) -> alt.Chart:
    data = with_labels(calibration)
    line = alt.Chart(data).mark_line(point=True).encode(
        x=alt.X("predicted:Q", title="Predicted probability"), y=alt.Y("observed:Q", title="Observed fraction"),
        color="label:N")
    diagonal = alt.Chart(pd.DataFrame({"x": [0, 1], "y": [0, 1]})).mark_line(strokeDash=[4, 4], color="gray").encode(
        x="x:Q", y="y:Q")
    return (diagonal + line).properties(title="Calibration", width=360, height=320)


def decision_curve_chart(decision: pd.DataFrame) -> alt.Chart:
    data = with_labels(decision)
    return alt.Chart(data).mark_line().encode(
        x=alt.X("threshold:Q", title="Threshold probability"),
        y=alt.Y("net_benefit:Q", title="Net benefit"), color="label:N",
    ).properties(title="Decision curves", width=360, height=320)


def feature_distribution_chart(values: pd.DataFrame, feature: str) -> alt.Chart:
    """Box plots of one feature by class (``values`` has columns value, class)."""
    return alt.Chart(values).mark_boxplot().encode(
        x=alt.X("class:N", title=None), y=alt.Y("value:Q", title=feature), color="class:N",
    ).properties(title=feature, width=300, height=280)
