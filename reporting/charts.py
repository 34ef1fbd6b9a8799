"""Chart builders: pure functions from a warehouse DataFrame to an Altair chart.

Used by the dashboard pages and the HTML report alike. Charts ask to be drawn as SVG (Streamlit
honours ``usermeta.embedOptions``) so their text is selectable and readable by browser tests.
"""

from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd

from radiomics_core.settings import Ring

KINDS = ["VOI_T", "VOI_P", "Combined", "Clinical", "Clinical-Omics"]  # the thesis' order of models
SVG = {"embedOptions": {"renderer": "svg"}}
UNDEFINED_COLOR = "#7f7f7f"
# Width and height are the plot's; axes, legends and labels add to them. Streamlit's theme asks
# for "fit", which squeezes the plot into width x height and shrinks a labelled heatmap to half.
PAD = alt.AutoSizeParams(type="pad")


def model_label(model: str, ring_mm: float | None) -> str:
    return model if ring_mm is None or pd.isna(ring_mm) else f"{model} {Ring(ring_mm).label}"


def with_labels(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(label=[model_label(m, r) for m, r in zip(frame["model"], frame["ring_mm"])])


def model_sort_key(model: str, ring_mm: float | None) -> tuple[int, float]:
    """Kind in the thesis' order, then ring distance (so 10 mm follows 5 mm, not 1 mm)."""
    kind = KINDS.index(model) if model in KINDS else len(KINDS)
    return kind, -1.0 if ring_mm is None or pd.isna(ring_mm) else float(ring_mm)


def model_order(frame: pd.DataFrame, model: str = "model", ring: str = "ring_mm") -> list[str]:
    """Distinct model labels of ``frame`` in ring order."""
    pairs = {(m, None if pd.isna(r) else float(r)) for m, r in zip(frame[model], frame[ring])}
    return [model_label(m, r) for m, r in sorted(pairs, key=lambda p: model_sort_key(*p))]


def format_p(p: float | None) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "undefined"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def format_ci(low: float, high: float, digits: int = 3) -> str:
    """'0.612-0.874' ('-0.41 to 0.27' when a bound is negative, so the sign stays readable), or
    'undefined' where the interval cannot be estimated (DeLong's variance with a class of one)."""
    if pd.isna(low) or pd.isna(high):
        return "undefined"
    joint = " to " if min(low, high) < 0 else "-"
    return f"{low:.{digits}f}{joint}{high:.{digits}f}"


def roc_chart(roc: pd.DataFrame, metrics: pd.DataFrame, title: str = "ROC curves") -> alt.Chart:
    """Overlaid ROC curves, AUC and 95% CI in the legend."""
    metrics = with_labels(metrics)
    legend = {row.label: f"{row.label} (AUC {row.auc:.3f}, {format_ci(row.auc_low, row.auc_high)})"
              for row in metrics.itertuples()}
    order = [legend[label] for label in model_order(metrics)] if len(metrics) else []
    data = with_labels(roc)
    data = data.assign(curve=data["label"].map(legend).fillna(data["label"]))
    curves = alt.Chart(data).mark_line(interpolate="step-after").encode(
        x=alt.X("fpr:Q", title="1 - specificity", scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("tpr:Q", title="Sensitivity", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("curve:N", title="Model", sort=order, scale=alt.Scale(scheme="tableau10"),
                        legend=alt.Legend(orient="right", labelLimit=420)),
        order="threshold:Q",
    )
    diagonal = alt.Chart(pd.DataFrame({"x": [0, 1], "y": [0, 1]})).mark_line(strokeDash=[4, 4], color="gray").encode(
        x="x:Q", y="y:Q")
    return (diagonal + curves).properties(title=title, width=520, height=520, usermeta=SVG, autosize=PAD)


def auc_by_ring_chart(metrics: pd.DataFrame, split: str, note: str | None = None) -> alt.Chart:
    """AUC versus ring distance with 95% CI bars for VOI_P and Combined; VOI_T as a labelled
    reference line with its interval as a band. The axis is the full 0-1 range: a model that
    ranks every case backwards (AUC 0) sits at 0, not on a clamped floor."""
    scale = alt.Scale(domain=[0, 1])
    data = metrics[(metrics["split"] == split) & metrics["model"].isin(["VOI_P", "Combined"])]
    x = alt.X("ring_mm:Q", title="Ring distance (mm)")
    # Legend below: the VOI_T label sits right of the last ring, outside the points.
    color = alt.Color("model:N", title="Model", legend=alt.Legend(orient="bottom"),
                      scale=alt.Scale(domain=["VOI_P", "Combined"], range=["#1f77b4", "#ff7f0e"]))
    tooltip = ["model", "ring_mm", alt.Tooltip("auc:Q", format=".3f", title="AUC"),
               alt.Tooltip("auc_low:Q", format=".3f", title="95% CI low"),
               alt.Tooltip("auc_high:Q", format=".3f", title="95% CI high"), "n"]
    base = alt.Chart(data).encode(x=x, color=color)
    points = base.mark_line(point=alt.OverlayMarkDef(size=50)).encode(
        y=alt.Y("auc:Q", title="AUC", scale=scale), tooltip=tooltip)
    bars = base.mark_errorbar(ticks=True).encode(y=alt.Y("auc_low:Q", title="AUC", scale=scale), y2="auc_high:Q")
    layers = [bars, points]
    voi_t = metrics[(metrics["split"] == split) & (metrics["model"] == "VOI_T")]
    if len(voi_t):
        right = float(data["ring_mm"].max()) if len(data) else 1.0
        reference = voi_t.assign(ring_mm=right, text=[f"VOI_T (tumour only) {a:.3f}" for a in voi_t["auc"]])
        ref = alt.Chart(reference)
        layers = [
            ref.mark_rect(opacity=0.12, color="black").encode(y=alt.Y("auc_low:Q", title="AUC", scale=scale),
                                                                y2="auc_high:Q"),
            ref.mark_rule(strokeDash=[6, 3], color="black").encode(y=alt.Y("auc:Q", title="AUC", scale=scale)),
            ref.mark_text(align="left", dx=12, dy=0, fontSize=11).encode(
                x=x, y=alt.Y("auc:Q", title="AUC", scale=scale), text="text:N"),
            *layers,
        ]
    title = alt.TitleParams(f"AUC by ring ({split}), 95% CI", subtitle=[note] if note else [])
    return alt.layer(*layers).properties(title=title, width=560, height=340, usermeta=SVG, autosize=PAD)


def delong_frame(delong: pd.DataFrame, split: str) -> tuple[pd.DataFrame, list[str]]:
    """Every ordered pair of one split's models with its p-value, and the models in ring order."""
    data = delong[delong["split"] == split]
    a = [model_label(m, r) for m, r in zip(data["model_a"], data["ring_a"])]
    b = [model_label(m, r) for m, r in zip(data["model_b"], data["ring_b"])]
    pairs = pd.DataFrame({"model": [*data["model_a"], *data["model_b"]],
                          "ring_mm": [*data["ring_a"], *data["ring_b"]]})
    order = model_order(pairs) if len(pairs) else []
    half = pd.DataFrame({"a": a, "b": b, "p_value": data["p_value"].to_numpy(), "z": data["z"].to_numpy()})
    square = pd.concat([half, half.rename(columns={"a": "b", "b": "a"}),
                        pd.DataFrame({"a": order, "b": order, "p_value": float("nan"), "z": float("nan")})])
    square["status"] = ["self" if x == y else ("undefined" if pd.isna(p) else "tested")
                        for x, y, p in zip(square["a"], square["b"], square["p_value"])]
    square["text"] = ["–" if s == "self" else ("n/a" if s == "undefined" else
                                             ("<.001" if p < 0.001 else f"{p:.3f}".removeprefix("0") if p < 0.01
                                              else f"{p:.2f}".removeprefix("0")))
                      for s, p in zip(square["status"], square["p_value"])]
    return square.reset_index(drop=True), order


def delong_heatmap(delong: pd.DataFrame, split: str) -> alt.Chart:
    """Pairwise DeLong p-values printed in the cells, models in ring order, every label shown;
    undefined p-values (zero variance, one case per class) in grey, unlike the blank diagonal."""
    data, order = delong_frame(delong, split)
    size = max(320, 30 * len(order))
    axis = {"labelLimit": 400, "labelOverlap": False, "labelFontSize": 11}
    base = alt.Chart(data).encode(
        x=alt.X("a:N", sort=order, title=None, axis=alt.Axis(labelAngle=-50, **axis)),
        y=alt.Y("b:N", sort=order, title=None, axis=alt.Axis(**axis)),
        tooltip=["a", "b", alt.Tooltip("p_value:Q", format=".4f", title="DeLong p"),
                 alt.Tooltip("z:Q", format=".2f")],
    )
    tested = base.transform_filter(alt.datum.status == "tested").mark_rect().encode(
        color=alt.Color("p_value:Q", title="DeLong p", scale=alt.Scale(
            domain=[0, 0.05, 0.1], range=["#b2182b", "#f4a582", "#d1e5f0"], clamp=True)))
    undefined = base.transform_filter(alt.datum.status == "undefined").mark_rect(color=UNDEFINED_COLOR)
    diagonal = base.transform_filter(alt.datum.status == "self").mark_rect(color="white", stroke="#dddddd")
    text = base.mark_text(fontSize=9 if len(order) > 12 else 11).encode(
        text="text:N",
        color=alt.condition((alt.datum.status == "undefined") | (alt.datum.p_value < 0.01), alt.value("white"),
                            alt.value("black")))
    title = alt.TitleParams(f"DeLong p-values ({split})",
                            subtitle=["grey: p undefined (degenerate scores or one case in a class)"])
    return alt.layer(diagonal, undefined, tested, text).properties(
        title=title, width=size, height=size, usermeta=SVG, autosize=PAD)


# The final estimators fitted side by side (radiomics_core.tasks.config.CLASSIFIERS), as pages name them.
CLASSIFIER_LABELS = {"logistic": "logistic regression", "svm": "SVM (linear)", "random_forest": "random forest"}


def classifier_order(present) -> list[str]:
    """The classifiers in ``present`` in the thesis' order (logistic regression first)."""
    present = set(present)
    return [c for c in CLASSIFIER_LABELS if c in present] + sorted(present - set(CLASSIFIER_LABELS))


def of_classifier(frame: pd.DataFrame, classifier: str | None) -> pd.DataFrame:
    """``frame``'s rows of ``classifier`` (DeLong tests: both models under it); every row when None."""
    if classifier is None or "classifier" not in frame.columns:
        return frame
    keep = frame["classifier"] == classifier
    if "classifier_b" in frame.columns:
        keep &= frame["classifier_b"] == classifier
    return frame[keep]


def classifier_auc_chart(metrics: pd.DataFrame, split: str, kind: str = "Combined") -> alt.Chart:
    """AUC by ring of one model kind, one line per classifier, 95% CI bars (``metrics``: every
    classifier's rows)."""
    data = metrics[(metrics["split"] == split) & (metrics["model"] == kind)]
    data = data.assign(classifier_name=[CLASSIFIER_LABELS.get(c, c) for c in data["classifier"]])
    names = [CLASSIFIER_LABELS.get(c, c) for c in classifier_order(data["classifier"])]
    scale = alt.Scale(domain=[0, 1])
    base = alt.Chart(data).encode(
        x=alt.X("ring_mm:Q", title="Ring distance (mm)"),
        color=alt.Color("classifier_name:N", title="Classifier", sort=names, legend=alt.Legend(orient="bottom"),
                        scale=alt.Scale(domain=names, range=TABLEAU[:len(names)])))
    lines = base.mark_line(point=alt.OverlayMarkDef(size=40)).encode(
        y=alt.Y("auc:Q", title="AUC", scale=scale),
        tooltip=[alt.Tooltip("classifier_name:N", title="classifier"), "ring_mm",
                 alt.Tooltip("auc:Q", format=".3f", title="AUC"),
                 alt.Tooltip("auc_low:Q", format=".3f", title="95% CI low"),
                 alt.Tooltip("auc_high:Q", format=".3f", title="95% CI high")])
    bars = base.mark_errorbar(ticks=True, opacity=0.5).encode(y=alt.Y("auc_low:Q", title="AUC", scale=scale),
                                                              y2="auc_high:Q")
    return alt.layer(bars, lines).properties(title=f"{kind} AUC by ring per classifier ({split}), 95% CI",
                                             width=560, height=300, usermeta=SVG, autosize=PAD)


def calibration_chart(calibration: pd.DataFrame, metrics: pd.DataFrame | None = None,
                      title: str = "Calibration") -> alt.Chart:
    """Observed fraction against mean predicted probability per quantile bin (point size: the
    bin's cases), the ideal diagonal dashed; the legend gives each model's calibration slope and
    intercept with their 95% intervals from ``metrics`` (1 and 0 when calibrated)."""
    data = with_labels(calibration)
    order = model_order(data) if len(data) else []
    legend = {label: label for label in order}
    if metrics is not None and len(metrics) and "calibration_slope" in metrics:
        for row in with_labels(metrics).itertuples():
            if row.label in legend:
                bounds = {name: format_ci(getattr(row, f"{name}_low", None), getattr(row, f"{name}_high", None), 2)
                          for name in ("calibration_slope", "calibration_intercept")}
                legend[row.label] = (f"{row.label} (slope {row.calibration_slope:.2f}, {bounds['calibration_slope']}; "
                                     f"intercept {row.calibration_intercept:.2f}, {bounds['calibration_intercept']})")
    data = data.assign(curve=data["label"].map(legend))
    color = alt.Color("curve:N", title="Model", sort=[legend[o] for o in order],
                      legend=alt.Legend(orient="bottom", direction="vertical", labelLimit=640))
    tooltip = ["label", alt.Tooltip("predicted:Q", format=".3f"), alt.Tooltip("observed:Q", format=".3f"), "count"]
    line = alt.Chart(data).mark_line().encode(
        x=alt.X("predicted:Q", title="Predicted probability", scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("observed:Q", title="Observed fraction", scale=alt.Scale(domain=[0, 1])), color=color)
    points = alt.Chart(data).mark_circle(opacity=0.9).encode(
        x="predicted:Q", y="observed:Q", color=color, tooltip=tooltip,
        size=alt.Size("count:Q", title="Cases in bin", scale=alt.Scale(range=[25, 220]),
                      # Above the plot: beside the models' long legend it would spill into the next column.
                      legend=alt.Legend(orient="top", direction="horizontal")))
    diagonal = alt.Chart(pd.DataFrame({"x": [0, 1], "y": [0, 1]})).mark_line(strokeDash=[4, 4], color="gray").encode(
        x="x:Q", y="y:Q")
    return alt.layer(diagonal, line, points).properties(title=title, width=360, height=320, usermeta=SVG,
                                                         autosize=PAD)


REFERENCES = ("Treat all", "Treat none")
REFERENCE_COLORS = {"Treat all": "#7f7f7f", "Treat none": "#000000"}
# Vega's "tableau10" scheme (the ROC chart's), repeated: models first, the references after them.
TABLEAU = ["#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b", "#eeca3b", "#b279a2", "#ff9da6", "#9d755d",
           "#bab0ac"] * 3


def decision_curve_chart(decision: pd.DataFrame, title: str = "Decision curves") -> alt.Chart:
    """Net benefit against threshold probability per model, with the treat-all reference (grey,
    dashed: prevalence - (1 - prevalence) * pt / (1 - pt), the ``treat_all`` column) and treat
    none (black, 0). The y axis stops a little below 0, where treat all falls away steeply."""
    data = with_labels(decision)
    order = model_order(data) if len(data) else []
    curves = data.assign(curve=data["label"], kind="model")[["curve", "kind", "threshold", "net_benefit"]]
    references = []
    if "treat_all" in data and data["treat_all"].notna().any():
        everyone = data.groupby("threshold", as_index=False)["treat_all"].first()
        references.append(everyone.rename(columns={"treat_all": "net_benefit"}).assign(curve="Treat all"))
    thresholds = sorted(data["threshold"].unique()) if len(data) else [0.0, 1.0]
    references.append(pd.DataFrame({"threshold": thresholds, "net_benefit": 0.0, "curve": "Treat none"}))
    top = max(0.05, float(pd.concat([curves["net_benefit"], *(r["net_benefit"] for r in references)]).max()) * 1.1)
    floor = -0.05 if top < 0.5 else -0.1
    lines = pd.concat([curves, *(r.assign(kind="reference") for r in references)], ignore_index=True)
    lines = lines[lines["net_benefit"] >= floor]
    present = [r for r in REFERENCES if r in set(lines["curve"])]
    palette = alt.Scale(domain=[*order, *present], range=[*TABLEAU[:len(order)],
                                                          *[REFERENCE_COLORS[r] for r in present]])
    return alt.Chart(lines).mark_line(clip=True).encode(
        x=alt.X("threshold:Q", title="Threshold probability", scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("net_benefit:Q", title="Net benefit", scale=alt.Scale(domain=[floor, top])),
        color=alt.Color("curve:N", title="Strategy", sort=[*order, *present], scale=palette,
                        legend=alt.Legend(orient="bottom", direction="vertical", labelLimit=640)),
        strokeDash=alt.StrokeDash("kind:N", legend=None, scale=alt.Scale(domain=["model", "reference"],
                                                                       range=[[1, 0], [5, 4]])),
        tooltip=["curve", alt.Tooltip("threshold:Q", format=".2f"), alt.Tooltip("net_benefit:Q", format=".3f")],
    ).properties(title=title, width=360, height=320, usermeta=SVG, autosize=PAD)


COEFFICIENT_AXIS = "Coefficient (standardized features)"


def coefficient_chart(selected: pd.DataFrame, title: str, value_title: str = COEFFICIENT_AXIS) -> alt.Chart:
    """Selected features' coefficients (columns feature, coefficient), largest magnitude first;
    ``value_title`` names what the values are (a random forest stores importances there)."""
    order = list(selected.sort_values("coefficient", key=abs, ascending=False)["feature"])
    data = selected.assign(sign=["positive" if c >= 0 else "negative" for c in selected["coefficient"]])
    return alt.Chart(data).mark_bar().encode(
        x=alt.X("coefficient:Q", title=value_title),
        y=alt.Y("feature:N", sort=order, title=None, axis=alt.Axis(labelLimit=420)),
        color=alt.Color("sign:N", title=None, scale=alt.Scale(domain=["positive", "negative"],
                                                              range=["#d62728", "#1f77b4"])),
        tooltip=["feature", alt.Tooltip("coefficient:Q", format=".4f")],
    ).properties(title=title, width=420, height=max(60, 24 * len(order)), usermeta=SVG, autosize=PAD)


def feature_distribution_chart(values: pd.DataFrame, feature: str, classes: list[str] | None = None) -> alt.Chart:
    """Box plots of one feature by class (``values`` has columns value, class) on an axis fitted
    to the values, not forced to start at 0, with each case as a dot."""
    classes = classes or sorted(values["class"].unique())
    y = alt.Y("value:Q", title=feature, scale=alt.Scale(zero=False, nice=True))
    x = alt.X("class:N", title=None, sort=classes, axis=alt.Axis(labelAngle=0))
    color = alt.Color("class:N", sort=classes, legend=None)  # the x axis already names the classes
    box = alt.Chart(values).mark_boxplot(extent=1.5, opacity=0.6, size=40).encode(x=x, y=y, color=color)
    dots = alt.Chart(values).mark_circle(size=18, opacity=0.6).encode(
        x=x, y=y, color=color, tooltip=["patient_id", alt.Tooltip("value:Q", format=".4g")])
    return alt.layer(box, dots).properties(title=feature, width=320, height=300, usermeta=SVG, autosize=PAD)


def _log_alpha(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(log_alpha=np.log10(frame["alpha"].astype(float)))


def lasso_cv_chart(cv: pd.DataFrame, title: str) -> alt.Chart:
    """LassoCV's mean cross-validated error ± 1 SD over folds against log10(alpha), the chosen
    alpha (least mean error) marked by a dashed rule."""
    data = _log_alpha(cv).assign(low=lambda f: f["cv_mse"] - f["cv_mse_sd"], high=lambda f: f["cv_mse"] + f["cv_mse_sd"])
    x = alt.X("log_alpha:Q", title="log10(alpha)")
    y = alt.Y("cv_mse:Q", title="Mean squared error (CV)", scale=alt.Scale(zero=False))
    bars = alt.Chart(data).mark_errorbar(color="#9ecae1").encode(x=x, y=alt.Y("low:Q", title="Mean squared error (CV)"),
                                                                  y2="high:Q")
    points = alt.Chart(data).mark_circle(color="#d62728", size=22).encode(
        x=x, y=y, tooltip=[alt.Tooltip("alpha:Q", format=".4g"), alt.Tooltip("cv_mse:Q", format=".4f"),
                           alt.Tooltip("cv_mse_sd:Q", format=".4f", title="SD")])
    chosen = data[data["chosen"].astype(bool)].assign(text=lambda f: [f"alpha = {a:.3g}" for a in f["alpha"]])
    rule = alt.Chart(chosen).mark_rule(strokeDash=[5, 4], color="black").encode(x=x)
    text = alt.Chart(chosen).mark_text(align="left", dx=4, dy=-4, baseline="bottom").encode(
        x=x, y=alt.value(0), text="text:N")
    return alt.layer(bars, points, rule, text).properties(title=title, width=380, height=280, usermeta=SVG,
                                                           autosize=PAD)


def lasso_path_chart(path: pd.DataFrame, chosen_alpha: float | None, title: str) -> alt.Chart:
    """Each feature's LASSO coefficient (standardized features) against log10(alpha), the chosen
    alpha as a dashed rule; features the LASSO kept are drawn solid, the others thin."""
    data = _log_alpha(path)
    kept = set()
    if chosen_alpha is not None and len(data):
        at = data[np.isclose(data["alpha"], chosen_alpha)]
        kept = set(at.loc[at["coefficient"].abs() > 1e-10, "feature"])
    data = data.assign(kept=["selected" if f in kept else "not selected" for f in data["feature"]])
    x = alt.X("log_alpha:Q", title="log10(alpha)")
    lines = alt.Chart(data).mark_line().encode(
        x=x, y=alt.Y("coefficient:Q", title="Coefficient"),
        # Legend below the plot: long feature names beside it would not fit a half-width column.
        color=alt.Color("feature:N", title="Feature", legend=alt.Legend(orient="bottom", columns=1, labelLimit=420,
                                                                        symbolLimit=40)),
        strokeWidth=alt.StrokeWidth("kept:N", legend=None,  # said in the subtitle: one legend fits below
                                    scale=alt.Scale(domain=["selected", "not selected"], range=[2.2, 0.8])),
        tooltip=["feature", alt.Tooltip("alpha:Q", format=".4g"), alt.Tooltip("coefficient:Q", format=".4f")])
    layers = [lines]
    if chosen_alpha is not None:
        layers.append(alt.Chart(pd.DataFrame({"log_alpha": [np.log10(chosen_alpha)]})).mark_rule(
            strokeDash=[5, 4], color="black").encode(x=x))
    subtitle = "thick: kept at the chosen alpha (dashed)" if chosen_alpha is not None else ""
    return alt.layer(*layers).properties(title=alt.TitleParams(title, subtitle=subtitle), width=380, height=280,
                                         usermeta=SVG, autosize=PAD)


def correlation_heatmap(correlation: pd.DataFrame, title: str) -> alt.Chart:
    """Pearson r between the selected features (training data), -1 blue to +1 red, r printed in
    each cell while there is room."""
    order = list(dict.fromkeys(correlation["feature_a"]))
    size = max(160, 28 * len(order))
    axis = {"labelLimit": 360, "labelOverlap": False}
    base = alt.Chart(correlation).encode(
        x=alt.X("feature_a:N", sort=order, title=None, axis=alt.Axis(labelAngle=-50, **axis)),
        y=alt.Y("feature_b:N", sort=order, title=None, axis=alt.Axis(**axis)),
        tooltip=["feature_a", "feature_b", alt.Tooltip("r:Q", format=".3f", title="Pearson r")])
    cells = base.mark_rect().encode(color=alt.Color("r:Q", title="Pearson r", scale=alt.Scale(
        scheme="redblue", domain=[-1, 1], reverse=True)))
    layers = [cells]
    if len(order) <= 15:
        layers.append(base.mark_text(fontSize=10).encode(
            text=alt.Text("r:Q", format=".2f"),
            color=alt.condition("abs(datum.r) > 0.6", alt.value("white"), alt.value("black"))))
    return alt.layer(*layers).properties(title=title, width=size, height=size, usermeta=SVG, autosize=PAD)


def nomogram_chart(rows: pd.DataFrame, title: str) -> alt.Chart:
    """A nomogram from its tick rows (``radiomics_core.modeling.figures.nomogram_rows``): one
    horizontal scale per variable on a shared 0-100 points ruler, then total points and the
    probability they give."""
    order = list(rows.sort_values("axis_order")["axis"].drop_duplicates())
    y = alt.Y("axis:N", sort=order, title=None, axis=alt.Axis(labelLimit=260, labelFontWeight="bold",
                                                             ticks=False, domain=False, labelPadding=8))
    x = alt.X("position:Q", title=None, axis=None, scale=alt.Scale(domain=[-2, 102]))
    base = alt.Chart(rows)
    spans = base.mark_rule(strokeWidth=1.5).encode(y=y, x=alt.X("min(position):Q", title=None, axis=None,
                                                                 scale=alt.Scale(domain=[-2, 102])),
                                                   x2="max(position):Q")
    ticks = base.mark_tick(orient="vertical", size=10, thickness=1.2, color="black").encode(
        x=x, y=y, tooltip=["axis", "label", alt.Tooltip("points:Q", format=".1f")])
    labels = base.mark_text(dy=-12, fontSize=10).encode(x=x, y=y, text="label:N")
    return alt.layer(spans, ticks, labels).properties(title=title, width=560, height=52 * len(order),
                                                       usermeta=SVG, autosize=PAD)
