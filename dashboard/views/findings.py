"""Findings: the study's answer for a task and split, stated as the thesis' results section states it.

Which model of each kind is best, which ring is best, and whether it beats VOI_T and the 10/15 mm
rings by DeLong's test; with a warning when a class has too few cases for the numbers to hold.
"""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from dashboard import data, state
from radiomics_core.settings import Ring

from reporting import charts

RING_KINDS = ("VOI_P", "Combined")
FAR_RINGS = (10.0, 15.0)  # the thesis compares the best ring against these far bands


def _same(ring_a: float | None, ring_b: float | None) -> bool:
    if ring_a is None or pd.isna(ring_a):
        return ring_b is None or pd.isna(ring_b)
    return ring_b is not None and not pd.isna(ring_b) and float(ring_a) == float(ring_b)


def _ring_is(rings: pd.Series, ring: float | None) -> pd.Series:
    return pd.Series([_same(r, ring) for r in rings], index=rings.index, dtype=bool)


def best_per_kind(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per model kind (thesis order): the highest AUC, ties to the nearer ring."""
    rows = []
    for kind in charts.KINDS:
        subset = metrics[metrics["model"] == kind]
        if subset.empty:
            continue
        subset = subset.assign(_ring=subset["ring_mm"].fillna(-1)).sort_values(["auc", "_ring"],
                                                                                 ascending=[False, True])
        rows.append(subset.iloc[0].drop("_ring"))
    return pd.DataFrame(rows).reset_index(drop=True)


def delong_p(delong: pd.DataFrame, a: tuple[str, float | None], b: tuple[str, float | None]) -> float:
    """The DeLong p-value between two models (either orientation), NaN when not tested."""
    for (ma, ra), (mb, rb) in ((a, b), (b, a)):
        hit = delong[(delong["model_a"] == ma) & (delong["model_b"] == mb)
                     & _ring_is(delong["ring_a"], ra) & _ring_is(delong["ring_b"], rb)]
        if len(hit):
            return float(hit["p_value"].iloc[0])
    return float("nan")


def comparisons(metrics: pd.DataFrame, delong: pd.DataFrame) -> tuple[pd.Series | None, pd.DataFrame]:
    """The best ring model and a table: it, VOI_T and the same kind at 10 and 15 mm, with DeLong p."""
    ringed = metrics[metrics["model"].isin(RING_KINDS)]
    if ringed.empty:
        return None, pd.DataFrame()
    best = ringed.sort_values(["auc", "ring_mm"], ascending=[False, True]).iloc[0]
    key = (best["model"], best["ring_mm"])
    others = [("VOI_T", None)] + [(best["model"], r) for r in FAR_RINGS if r != best["ring_mm"]]
    rows = [{"model": charts.model_label(*key), "role": "best ring", "auc": best["auc"], "auc_low": best["auc_low"],
             "auc_high": best["auc_high"], "delta_auc": float("nan"), "delong_p": float("nan")}]
    for model, ring in others:
        hit = metrics[(metrics["model"] == model) & _ring_is(metrics["ring_mm"], ring)]
        if hit.empty:
            continue
        other = hit.iloc[0]
        rows.append({"model": charts.model_label(model, ring), "role": "tumour only" if model == "VOI_T" else
                     f"far ring ({Ring(ring).label})", "auc": other["auc"], "auc_low": other["auc_low"],
                     "auc_high": other["auc_high"], "delta_auc": best["auc"] - other["auc"],
                     "delong_p": delong_p(delong, key, (model, ring))})
    return best, pd.DataFrame(rows)


def sentence(best: pd.Series, table: pd.DataFrame, split: str, counts: pd.Series | None) -> str:
    """The finding in one sentence: the best ring, its AUC and its DeLong p-values."""
    cases = ""
    if counts is not None:
        cases = f" ({int(counts.sum())} cases: " + ", ".join(f"{int(n)} {name}" for name, n in counts.items()) + ")"
    text = (f"On the {split} split{cases}, the best ring is {Ring(best['ring_mm']).label}: {table['model'].iloc[0]} "
            f"reaches AUC {best['auc']:.3f} (95% CI {charts.format_ci(best['auc_low'], best['auc_high'])})")
    against = []
    for row in table.iloc[1:].itertuples():
        p = charts.format_p(row.delong_p)
        p_text = f"p {p}" if p.startswith("<") else ("p undefined" if p == "undefined" else f"p = {p}")
        against.append(f"{row.model} {row.auc:.3f} (DeLong {p_text})")
    if against:
        text += ", against " + ", ".join(against[:-1]) + (" and " if len(against) > 1 else "") + against[-1]
    voi_t = table[table["role"] == "tumour only"]
    if len(voi_t):
        p = voi_t["delong_p"].iloc[0]
        if math.isnan(p):
            verdict = "could not be tested against the tumour alone (DeLong p undefined on this split)"
        elif p < 0.05 and voi_t["delta_auc"].iloc[0] > 0:
            verdict = "significantly better than the tumour alone (p < 0.05)"
        elif p < 0.05:
            verdict = "significantly worse than the tumour alone (p < 0.05)"
        else:
            verdict = "not significantly different from the tumour alone"
        text += f". The ring model {'is ' if not verdict.startswith('could') else ''}{verdict}"
    return text + "."


def render(root: str) -> None:
    st.header("Findings")
    picked = data.task_rows(root, "model_metrics", "No models evaluated yet: materialize `evaluation_reports`.")
    if picked is None:
        return
    task, metrics = picked
    split = state.split()
    classifier, metrics = data.classifier_rows(metrics)
    metrics = metrics[metrics["split"] == split]
    delong = charts.of_classifier(data.table(root, "delong_tests", (("task", task),)), classifier)
    delong = delong[delong["split"] == split]
    counts = data.class_counts(root, task)
    split_counts = counts.loc[split] if split in counts.index else None
    warning = data.small_sample_warning(root, task, split)
    if warning:
        st.warning(warning, icon=":material/warning:")
    best, table = comparisons(metrics, delong)
    st.subheader(f"{task}: {' vs '.join(data.class_names(task).values())}")
    if best is None:
        st.info("No ring model (VOI_P, Combined) was evaluated on this split.")
    else:
        st.markdown(f"**{sentence(best, table, split, split_counts)}**")
        shown = table.assign(**{"95% CI": [charts.format_ci(lo, hi) for lo, hi in zip(table.auc_low, table.auc_high)],
                                "DeLong p vs best": [("" if i == 0 else charts.format_p(p))
                                                     for i, p in enumerate(table.delong_p)],
                                "AUC": [f"{a:.3f}" for a in table.auc],
                                "ΔAUC (best - row)": ["" if pd.isna(d) else f"{d:+.3f}" for d in table.delta_auc]})
        st.dataframe(shown[["model", "role", "AUC", "95% CI", "ΔAUC (best - row)", "DeLong p vs best"]],
                     hide_index=True)
        data.csv_download(table, f"findings_{task}_{split}", "dl_findings")
    st.subheader("Best model of each kind")
    kinds = best_per_kind(metrics)
    if len(kinds):
        kinds = charts.with_labels(kinds)
        shown = pd.DataFrame({"kind": kinds["model"], "best model": kinds["label"], "n": kinds["n"],
                              "AUC": [f"{a:.3f}" for a in kinds["auc"]],
                              "95% CI": [charts.format_ci(lo, hi) for lo, hi in zip(kinds.auc_low, kinds.auc_high)],
                              "sensitivity": kinds["sensitivity"].round(3),
                              "specificity": kinds["specificity"].round(3)})
        st.dataframe(shown, hide_index=True)
        data.csv_download(shown, f"best_per_kind_{task}_{split}", "dl_best_kind")
    if counts is not None and len(counts):
        st.caption("Cases per split and class: " + "; ".join(
            f"{s}: " + ", ".join(f"{int(n)} {c}" for c, n in counts.loc[s].items()) for s in counts.index))
