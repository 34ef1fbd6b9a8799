"""A self-contained HTML evaluation report per task, with PNG/SVG figures for papers."""

from __future__ import annotations

import html
from pathlib import Path

import altair as alt

from dashboard import charts, table_one
from radiomics_core.tasks import CLASS_NAMES
from radiomics_core.atomic_files import atomic_write_text
from warehouse import queries


def write_report(warehouse_root: Path, task: str, path: Path) -> Path:
    """Write ``path`` (HTML) plus ``<stem>_<figure>.svg``/``.png`` beside it; return the HTML path."""
    metrics = queries.table(warehouse_root, "model_metrics", {"task": task})
    roc = queries.table(warehouse_root, "roc_points", {"task": task})
    delong = queries.table(warehouse_root, "delong_tests", {"task": task})
    clinical = queries.table(warehouse_root, "clinical_characteristics", {"task": task})
    names = dict(enumerate(CLASS_NAMES.get(task, ("class 0", "class 1"))))
    splits = queries.table(warehouse_root, "splits", {"task": task})
    figures = {
        "roc_test": charts.roc_chart(roc[roc.split == "test"], metrics[metrics.split == "test"], "ROC curves (test)"),
        "auc_by_ring": charts.auc_by_ring_chart(metrics, "test"),
        "delong_test": charts.delong_heatmap(delong, "test"),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    for name, chart in figures.items():
        chart.save(str(path.with_name(f"{path.stem}_{name}.svg")))
        chart.save(str(path.with_name(f"{path.stem}_{name}.png")), scale_factor=2)
    # One combined chart so the Vega libraries are inlined once (the file works offline).
    combined = alt.vconcat(*map(_nested, figures.values())).resolve_scale(color="independent")
    figure_html = combined.to_html(fullhtml=False, output_div="figures", requirejs=False, inline=True)
    order = [charts.model_sort_key(m, r) for m, r in zip(metrics["model"], metrics["ring_mm"])]
    table = (metrics.assign(_order=order).sort_values(["split", "_order"], ascending=[False, True])
             .drop(columns="_order").round(3).to_html(index=False))
    if len(clinical) and len(splits):
        table1, footnote = table_one.table_one(clinical, table_one.class_counts(splits, names), names)
        clinical_table = table1.to_html(index=False) + f"<p><small>{html.escape(footnote)}</small></p>"
    else:
        clinical_table = "<p>No clinical table.</p>"
    body = "\n".join([f"<h1>glioma-rings evaluation: {html.escape(task)}</h1>", figure_html,
                      "<h2>Metrics</h2>", table, "<h2>Table 1: clinical characteristics</h2>", clinical_table])
    atomic_write_text(path, f"<!doctype html><html><head><meta charset='utf-8'><title>glioma-rings {html.escape(task)}</title>"
                            f"<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}} "
                            f"td,th{{border:1px solid #ccc;padding:2px 6px}}</style></head><body>{body}</body></html>")
    return path


def _nested(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    """The chart without its top-level-only settings (autosize, usermeta), so vconcat accepts it."""
    chart = chart.copy()
    chart.autosize = alt.Undefined
    chart.usermeta = alt.Undefined
    return chart
