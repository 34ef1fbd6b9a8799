"""Charts and summaries of ring-feature robustness, shared by the dashboard and the report:
ICC under contour perturbation (``feature_robustness``) and inter-rater agreement
(``rater_dice``, ``rater_feature_cv``). VOIs are named and ordered by ``Ring``."""

from __future__ import annotations

import altair as alt
import pandas as pd

from radiomics_core.robustness.icc import GOOD_ICC, ICC_FORM
from radiomics_core.settings import Ring
from reporting.charts import PAD, SVG


def _with_voi(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """``frame`` with a ``voi`` label column, and the labels in ring order (VOI_T first)."""
    order = [Ring(r).label for r in sorted(frame["ring_mm"].unique())]
    return frame.assign(voi=[Ring(r).label for r in frame["ring_mm"]]), order


def robust_share(robustness: pd.DataFrame, threshold: float = GOOD_ICC) -> pd.DataFrame:
    """Per VOI: features with an ICC, the share at or above ``threshold``, and the median ICC."""
    frame, order = _with_voi(robustness.dropna(subset=["icc"]))
    table = frame.groupby("voi").agg(features=("icc", "size"), robust=("icc", lambda v: float((v >= threshold).mean())),
                                     median_icc=("icc", "median")).reindex(order).reset_index()
    return table.rename(columns={"robust": f"share_icc_at_least_{threshold:g}"})


def icc_distribution_chart(robustness: pd.DataFrame, threshold: float = GOOD_ICC) -> alt.Chart:
    """The ICC of every feature per VOI (box plot) with the threshold as a dashed rule."""
    frame, order = _with_voi(robustness.dropna(subset=["icc"]))
    y = alt.Y("icc:Q", title=ICC_FORM, scale=alt.Scale(domain=[min(0.0, float(frame["icc"].min())), 1]))
    boxes = alt.Chart(frame).mark_boxplot(extent="min-max").encode(
        x=alt.X("voi:N", title="VOI", sort=order), y=y)
    rule = alt.Chart(pd.DataFrame({"icc": [threshold]})).mark_rule(strokeDash=[6, 3], color="black").encode(y=y)
    title = alt.TitleParams(f"{ICC_FORM} under contour perturbation, per VOI",
                            subtitle=[f"dashed: {threshold:g} (good, Koo & Li 2016)"])
    return alt.layer(boxes, rule).properties(title=title, width=480, height=300, usermeta=SVG, autosize=PAD)


def robust_share_chart(robustness: pd.DataFrame, threshold: float = GOOD_ICC) -> alt.Chart:
    """The share of features with ICC >= threshold per VOI (bars on a 0-1 axis)."""
    share = robust_share(robustness, threshold)
    column = f"share_icc_at_least_{threshold:g}"
    return alt.Chart(share).mark_bar().encode(
        x=alt.X("voi:N", title="VOI", sort=list(share["voi"])),
        y=alt.Y(f"{column}:Q", title=f"share of features with {ICC_FORM} >= {threshold:g}",
                scale=alt.Scale(domain=[0, 1])),
        tooltip=["voi", alt.Tooltip(f"{column}:Q", format=".2f"), "features",
                 alt.Tooltip("median_icc:Q", format=".3f")],
    ).properties(title=f"Robust features per VOI ({ICC_FORM} >= {threshold:g})", width=480, height=300,
                 usermeta=SVG, autosize=PAD)


def dice_chart(dice: pd.DataFrame) -> alt.Chart:
    """Dice between every pair of segmentations, per VOI and patient (points, median tick)."""
    frame, order = _with_voi(dice)
    x = alt.X("voi:N", title="VOI", sort=order)
    y = alt.Y("dice:Q", title="Dice between segmentations", scale=alt.Scale(domain=[0, 1]))
    points = alt.Chart(frame).mark_circle(size=40, opacity=0.6).encode(
        x=x, y=y, color=alt.Color("patient_id:N", title="Patient", legend=alt.Legend(orient="bottom")),
        xOffset="patient_id:N", tooltip=["patient_id", "voi", "rater_a", "rater_b", alt.Tooltip("dice:Q", format=".3f")])
    medians = alt.Chart(frame).mark_tick(color="black", thickness=2, size=30).encode(
        x=x, y=alt.Y("median(dice):Q", title="Dice between segmentations"))
    return alt.layer(points, medians).properties(title="Inter-rater Dice of VOI_T and every ring",
                                                 width=480, height=300, usermeta=SVG, autosize=PAD)


def cv_chart(cv: pd.DataFrame) -> alt.Chart:
    """Each feature's coefficient of variation across segmentations, per VOI (box plot, log axis)."""
    frame, order = _with_voi(cv[cv["cv"] > 0].dropna(subset=["cv"]))
    return alt.Chart(frame).mark_boxplot(extent="min-max").encode(
        x=alt.X("voi:N", title="VOI", sort=order),
        y=alt.Y("cv:Q", title="coefficient of variation across segmentations", scale=alt.Scale(type="log")),
    ).properties(title="Feature CV across segmentations, per VOI", width=480, height=300, usermeta=SVG,
                 autosize=PAD)


def rater_summary(dice: pd.DataFrame, cv: pd.DataFrame) -> pd.DataFrame:
    """Per VOI: median and minimum Dice, median CV and the share of features with CV < 10%."""
    d, order = _with_voi(dice)
    c, _ = _with_voi(cv)
    table = d.groupby("voi").agg(median_dice=("dice", "median"), min_dice=("dice", "min")).join(
        c.groupby("voi").agg(median_cv=("cv", "median"), share_cv_below_10pct=("cv", lambda v: float((v < 0.1).mean()))))
    return table.reindex([v for v in order if v in table.index]).reset_index()
