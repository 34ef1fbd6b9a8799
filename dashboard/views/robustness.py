"""Robustness: how much ring features depend on who drew the edema. ICC under contour
perturbation (``feature_robustness``) and agreement between several segmentations of a case
(``rater_dice``, ``rater_feature_cv``)."""

import streamlit as st

from dashboard import data
from reporting import robustness


def render(root: str) -> None:
    st.header("Robustness")
    icc = data.table(root, "feature_robustness")
    st.subheader("Contour perturbation")
    if icc.empty:
        st.info("No ICC table yet: set `robustness: true` in the settings file and materialize "
                "`perturbed_features` and `feature_robustness`.")
    else:
        st.caption(f"{int(icc['n_patients'].max())} patients x {int(icc['n_perturbations'].max())} outlines "
                   "(original, one voxel dilated and eroded, three randomized contours).")
        left, right = st.columns(2)
        share = robustness.robust_share_chart(icc)
        left.altair_chart(share)
        with left:
            data.chart_downloads(share, "robust_share", "dl_robust_share", robustness.robust_share(icc))
        spread = robustness.icc_distribution_chart(icc)
        right.altair_chart(spread)
        with right:
            data.chart_downloads(spread, "icc_distribution", "dl_icc", icc)
    st.subheader("Inter-rater agreement")
    dice = data.table(root, "rater_dice")
    cv = data.table(root, "rater_feature_cv")
    if dice.empty:
        st.info("No inter-rater tables yet: name a `rater_manifest` (patient_id, rater, seg) in the "
                "settings file and materialize `rater_agreement`.")
        return
    raters = sorted(set(dice["rater_a"]) | set(dice["rater_b"]))
    st.caption(f"{dice['patient_id'].nunique()} patients, {len(raters)} segmentations each: {', '.join(raters)}.")
    left, right = st.columns(2)
    dice_chart = robustness.dice_chart(dice)
    left.altair_chart(dice_chart)
    with left:
        data.chart_downloads(dice_chart, "rater_dice", "dl_rater_dice", dice)
    cv_chart = robustness.cv_chart(cv)
    right.altair_chart(cv_chart)
    with right:
        data.chart_downloads(cv_chart, "rater_feature_cv", "dl_rater_cv", cv)
    summary = robustness.rater_summary(dice, cv)
    st.dataframe(summary, hide_index=True)
    data.csv_download(summary, "rater_summary", "dl_rater_summary")
