"""A self-contained HTML evaluation report per task, with PNG/SVG figures for papers."""

from __future__ import annotations

import html
from pathlib import Path

import altair as alt
import pandas as pd

from reporting import charts, robustness, table_one
from radiomics_core.tasks.config import EXTERNAL, class_names
from radiomics_core.files.atomic import atomic_write_text
from warehouse import queries


def write_report(warehouse_root: Path, task: str, path: Path) -> Path:
    """Write ``path`` (HTML) plus ``<stem>_<figure>.svg``/``.png`` beside it; return the HTML path.

    Each classifier's figures and metrics are shown; the first classifier's (the thesis' logistic
    regression when fitted) figure files keep plain names, the others' end in ``_<classifier>``."""
    every = queries.table(warehouse_root, "model_metrics", {"task": task})
    roc = queries.table(warehouse_root, "roc_points", {"task": task})
    delong = queries.table(warehouse_root, "delong_tests", {"task": task})
    clinical = queries.table(warehouse_root, "clinical_characteristics", {"task": task})
    names = dict(enumerate(class_names(task)))
    splits = queries.table(warehouse_root, "splits", {"task": task})
    # None: a warehouse written before classifiers were fitted side by side.
    classifiers = charts.classifier_order(every["classifier"].dropna() if "classifier" in every else []) or [None]
    figures: dict[str, alt.TopLevelMixin] = {}
    tables: list[str] = []
    for k, classifier in enumerate(classifiers):
        metrics, label = charts.of_classifier(every, classifier), charts.CLASSIFIER_LABELS.get(classifier, classifier)
        test_roc = charts.of_classifier(roc[roc.split == "test"], classifier)
        evaluation = {
            "roc_test": charts.roc_chart(test_roc, metrics[metrics.split == "test"], "ROC curves (test)"),
            "auc_by_ring": charts.auc_by_ring_chart(metrics, "test"),
            "delong_test": charts.delong_heatmap(charts.of_classifier(delong, classifier), "test"),
        }
        if (metrics.split == EXTERNAL).any():  # the task's external validation set
            evaluation["roc_external"] = charts.roc_chart(charts.of_classifier(roc[roc.split == EXTERNAL], classifier),
                                                          metrics[metrics.split == EXTERNAL], "ROC curves (external)")
            evaluation["delong_external"] = charts.delong_heatmap(charts.of_classifier(delong, classifier), EXTERNAL)
        for name, chart in evaluation.items():
            figures[name + ("" if k == 0 else f"_{classifier}")] = _with_classifier(chart, label)
        for name, chart in _model_figures(warehouse_root, task, metrics, classifier).items():
            if name in PER_CLASSIFIER:
                figures[name + ("" if k == 0 else f"_{classifier}")] = _with_classifier(chart, label)
            elif k == 0:  # the selection's figures: the same for every classifier
                figures[name] = chart
        order = [charts.model_sort_key(m, r) for m, r in zip(metrics["model"], metrics["ring_mm"])]
        tables += [f"<h2>Metrics{f': {html.escape(label)}' if label else ''}</h2>",
                   metrics.assign(_order=order).sort_values(["split", "_order"], ascending=[False, True])
                   .drop(columns="_order").round(3).to_html(index=False)]
    if len(classifiers) > 1:
        figures["auc_by_classifier"] = charts.classifier_auc_chart(every, "test")
    figures.update(_robustness_figures(warehouse_root))
    path.parent.mkdir(parents=True, exist_ok=True)
    for name, chart in figures.items():
        chart.save(str(path.with_name(f"{path.stem}_{name}.svg")))
        chart.save(str(path.with_name(f"{path.stem}_{name}.png")), scale_factor=2)
    # One combined chart so the Vega libraries are inlined once (the file works offline).
    combined = alt.vconcat(*map(_nested, figures.values())).resolve_scale(
        color="independent", size="independent", strokeDash="independent", strokeWidth="independent")
    # Drawn as SVG, as on the dashboard: titles and labels stay text a reader can select and search.
    figure_html = combined.to_html(fullhtml=False, output_div="figures", requirejs=False, inline=True,
                                   embed_options={"renderer": "svg"})
    if len(clinical) and len(splits):
        table1, footnote = table_one.table_one(clinical, table_one.class_counts(splits, names), names)
        clinical_table = table1.to_html(index=False) + f"<p><small>{html.escape(footnote)}</small></p>"
    else:
        clinical_table = "<p>No clinical table.</p>"
    body = "\n".join([f"<h1>glioma-rings evaluation: {html.escape(task)}</h1>", figure_html,
                      *tables, "<h2>Table 1: clinical characteristics</h2>", clinical_table,
                      _selection_flow_html(warehouse_root, task)])
    atomic_write_text(path, f"<!doctype html><html><head><meta charset='utf-8'><title>glioma-rings {html.escape(task)}</title>"
                            f"<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}} "
                            f"td,th{{border:1px solid #ccc;padding:2px 6px}}</style></head><body>{body}</body></html>")
    return path


CALIBRATED = ("VOI_T", "Clinical", "Clinical-Omics")  # as on the dashboard's Model comparison page
PER_CLASSIFIER = ("calibration_test", "decision_curve_test")  # of _model_figures: the others follow the selection


def _with_classifier(chart: alt.TopLevelMixin, label: str | None) -> alt.TopLevelMixin:
    """The chart with its classifier named at the end of its title."""
    title = chart.title
    if not label:
        return chart
    if isinstance(title, alt.TitleParams):
        return chart.properties(title=alt.TitleParams(f"{title.text}, {label}", subtitle=title.subtitle))
    return chart.properties(title=f"{title}, {label}" if isinstance(title, str) else label)


def _model_figures(root: Path, task: str, metrics: pd.DataFrame,
                   classifier: str | None = None) -> dict[str, alt.TopLevelMixin]:
    """Calibration (with slopes and intercepts) and decision curves on test for VOI_T, Clinical and
    Clinical-Omics; the nomogram; LASSO curves and correlation heatmaps of the key models."""
    figures: dict[str, alt.TopLevelMixin] = {}
    test = metrics[(metrics.split == "test") & metrics.model.isin(CALIBRATED)]
    calibration = charts.of_classifier(queries.table(root, "calibration", {"task": task, "split": "test"}), classifier)
    decision = charts.of_classifier(queries.table(root, "decision_curve", {"task": task, "split": "test"}), classifier)
    if len(calibration):
        figures["calibration_test"] = charts.calibration_chart(
            calibration[calibration.model.isin(CALIBRATED)], test, "Calibration (test)")
    if len(decision):
        figures["decision_curve_test"] = charts.decision_curve_chart(
            decision[decision.model.isin(CALIBRATED)], "Decision curves (test)")
    nomogram = queries.table(root, "nomogram", {"task": task})
    for (model, ring), rows in nomogram.groupby(["model", "ring_mm"], dropna=False):
        figures["nomogram"] = charts.nomogram_chart(rows, f"Nomogram: {charts.model_label(model, ring)}")
    # The models whose LASSO curves and feature correlations the report shows (the dashboard's
    # Features page shows every model's): the tumour alone, the best ring alone on test AUC and
    # the Combined model behind the Clinical-Omics radscore.
    key_models = [("VOI_T", None)]
    rings = metrics[(metrics.split == "test") & (metrics.model == "VOI_P")].sort_values("auc", ascending=False)
    if len(rings):
        key_models.append(("VOI_P", float(rings.ring_mm.iloc[0])))
    if len(nomogram):
        key_models.append(("Combined", float(nomogram.ring_mm.iloc[0])))
    for model, ring in key_models:
        label, where = charts.model_label(model, ring), {"task": task, "model": model, "ring_mm": ring}
        stem = label.replace(" ", "_")
        cv = queries.table(root, "lasso_cv", where)
        if len(cv):
            chosen = cv.loc[cv.chosen.astype(bool), "alpha"]
            figures[f"lasso_cv_{stem}"] = charts.lasso_cv_chart(cv, f"LASSO cross-validation: {label}")
            figures[f"lasso_path_{stem}"] = charts.lasso_path_chart(
                queries.table(root, "lasso_path", where), float(chosen.iloc[0]) if len(chosen) else None,
                f"LASSO coefficient path: {label}")
        correlation = queries.table(root, "feature_correlation", where)
        if len(correlation):
            figures[f"correlation_{stem}"] = charts.correlation_heatmap(
                correlation, f"Correlation of selected features: {label}")
    return figures


def _robustness_figures(root: Path) -> dict[str, alt.TopLevelMixin]:
    """ICC share and distribution per VOI, inter-rater Dice and CV per VOI, where stored."""
    figures: dict[str, alt.TopLevelMixin] = {}
    icc = queries.table(root, "feature_robustness")
    if len(icc):
        figures["icc_share"] = robustness.robust_share_chart(icc)
        figures["icc_distribution"] = robustness.icc_distribution_chart(icc)
    dice = queries.table(root, "rater_dice")
    if len(dice):
        figures["rater_dice"] = robustness.dice_chart(dice)
        figures["rater_cv"] = robustness.cv_chart(queries.table(root, "rater_feature_cv"))
    return figures


def _nested(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    """The chart without its top-level-only settings (autosize, usermeta), so vconcat accepts it."""
    chart = chart.copy()
    chart.autosize = alt.Undefined
    chart.usermeta = alt.Undefined
    return chart


def _selection_flow_html(root: Path, task: str) -> str:
    """Which exams entered the task and why the others did not (CONSORT-style), from ``splits``."""
    flow = queries.selection_flow(root, task)
    if flow.empty:
        return "<h2>Selection flow</h2><p>No selection flow.</p>"
    definition = table_one.task_definition(queries.selection_preset(root, task))
    return ("<h2>Selection flow</h2>" + (f"<p>{html.escape(definition)}</p>" if definition else "")
            + table_one.selection_flow_table(flow).to_html(index=False))
