"""Intraclass correlation for many features at once (Shrout & Fleiss 1979; McGraw & Wong 1996).

Each feature is an n x k table: n subjects (patients) rated under k conditions (the original
VOI_T and its perturbations). The two-way ANOVA mean squares give

- ICC(2,1), two-way random effects, absolute agreement, single rating: the form we threshold.
  The perturbations stand for the contours other raters could have drawn (a sample of possible
  raters, not a fixed set), and a systematic shift matters: a feature that every dilation
  raises is not reproducible across raters who draw larger or smaller edema.
- ICC(3,1), two-way mixed effects, consistency: stored beside it, so a reader sees which
  features only shift (high ICC(3,1), lower ICC(2,1)).

Subjects missing a condition are left out of that feature (complete cases, as pingouin's
``intraclass_corr`` does). The 95% interval of ICC(2,1) is McGraw & Wong's (their Table 7,
case 2A, with Satterthwaite's degrees of freedom), the one pingouin reports.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats


@dataclass(frozen=True)
class IccResult:
    """Per feature (arrays of equal length): the ICCs, ICC(2,1)'s interval and the counts used."""

    icc2: np.ndarray
    icc2_low: np.ndarray
    icc2_high: np.ndarray
    icc3: np.ndarray
    n_subjects: np.ndarray


def icc(values: np.ndarray, confidence: float = 0.95) -> IccResult:
    """ICCs of ``values`` shaped (features, subjects, conditions); NaN marks a missing value.

    A feature with fewer than 2 complete subjects, or no variance at all, gets NaN."""
    values = np.asarray(values, dtype=float)
    if values.ndim == 2:
        values = values[None]
    features, _, k = values.shape
    if k < 2:
        raise ValueError(f"an ICC needs at least 2 conditions per subject, got {k}")
    complete = np.all(np.isfinite(values), axis=2)  # (features, subjects)
    x = np.where(complete[..., None], values, 0.0)
    n = complete.sum(axis=1).astype(float)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        grand = x.sum(axis=(1, 2)) / (n * k)
        centred = np.where(complete[..., None], x - grand[:, None, None], 0.0)
        row_means = centred.sum(axis=2) / k  # (features, subjects), relative to the grand mean
        col_means = centred.sum(axis=1) / n[:, None]  # (features, conditions)
        ss_total = np.square(centred).sum(axis=(1, 2))
        ss_rows = k * np.square(row_means).sum(axis=1)
        ss_cols = n * np.square(col_means).sum(axis=1)
        ss_error = ss_total - ss_rows - ss_cols
        df_rows, df_cols, df_error = n - 1, k - 1, (n - 1) * (k - 1)
        msr, msc, mse = ss_rows / df_rows, ss_cols / df_cols, ss_error / df_error
        icc2 = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
        icc3 = (msr - mse) / (msr + (k - 1) * mse)
        # McGraw & Wong (1996), ICC(A,1): Satterthwaite's degrees of freedom for the denominator.
        a = k * icc2 / (n * (1 - icc2))
        b = 1 + k * icc2 * (n - 1) / (n * (1 - icc2))
        v = np.square(a * msc + b * mse) / (np.square(a * msc) / df_cols + np.square(b * mse) / df_error)
        tail = 1 - (1 - confidence) / 2
        f_upper = stats.f.ppf(tail, df_rows, v)
        f_lower = stats.f.ppf(tail, v, df_rows)
        low = n * (msr - f_upper * mse) / (f_upper * (k * msc + (k * n - k - n) * mse) + n * msr)
        high = n * (f_lower * msr - mse) / (k * msc + (k * n - k - n) * mse + n * f_lower * msr)
    undefined = (n < 2) | ~(ss_total > 0)
    for array in (icc2, icc3, low, high):
        array[undefined] = np.nan
    return IccResult(icc2, low, high, icc3, n.astype(int))


# Koo & Li (2016): below 0.5 poor, 0.5-0.75 moderate, 0.75-0.9 good, above 0.9 excellent. The
# share of features at least "good" is what the dashboard and the report show per ring.
GOOD_ICC = 0.75
ICC_FORM = "ICC(2,1)"  # the form ``min_icc`` thresholds (absolute agreement, single rating)
ROBUSTNESS_KEYS = ["ring_mm", "sequence", "feature"]


def robustness_table(long: pd.DataFrame, conditions: list[str] | None = None) -> pd.DataFrame:
    """Per (ring_mm, sequence, feature) of ``long`` rows (patient_id, perturbation, ring_mm,
    sequence, feature, value): ICC(2,1) with its 95% interval, ICC(3,1), and the patients and
    perturbations it was computed on. ``conditions``: the perturbations' order (default: as found)."""
    columns = ["ring_mm", "sequence", "feature", "icc", "icc_low", "icc_high", "icc_consistency",
               "n_patients", "n_perturbations"]
    if long.empty:
        return pd.DataFrame(columns=columns)
    conditions = conditions or list(dict.fromkeys(long["perturbation"]))
    patients = sorted(long["patient_id"].unique())
    wide = long.pivot_table(index=ROBUSTNESS_KEYS, columns=["patient_id", "perturbation"], values="value",
                            aggfunc="first")
    wide = wide.reindex(columns=pd.MultiIndex.from_product([patients, conditions]))
    values = wide.to_numpy(dtype=float).reshape(len(wide), len(patients), len(conditions))
    result = icc(values)
    frame = wide.index.to_frame(index=False)
    return frame.assign(icc=result.icc2, icc_low=result.icc2_low, icc_high=result.icc2_high,
                        icc_consistency=result.icc3, n_patients=result.n_subjects,
                        n_perturbations=len(conditions))[columns]


def keep_robust(matrices: dict[float, pd.DataFrame], robustness: pd.DataFrame, min_icc: float
                ) -> dict[float, pd.DataFrame]:
    """``matrices`` (ring mm -> wide features, columns ``sequence__feature``) without the features
    whose ICC(2,1) is below ``min_icc``. A feature without an ICC (no row, or NaN: constant under
    every perturbation of every patient) cannot be shown robust and is dropped too; a ring with no
    ICC at all is an error naming it (the robustness assets have not run for it)."""
    from radiomics_core.features.extraction import feature_column
    from radiomics_core.settings import Ring

    kept: dict[float, pd.DataFrame] = {}
    for ring_mm, matrix in matrices.items():
        rows = robustness[robustness["ring_mm"] == ring_mm]
        if rows.empty:
            raise ValueError(f"min_icc is set but {Ring(ring_mm).label} has no feature_robustness rows: "
                             "turn robustness on in the settings and materialize feature_robustness")
        robust = {feature_column(s, f) for s, f, value in zip(rows["sequence"], rows["feature"], rows["icc"])
                  if value >= min_icc}
        columns = [c for c in matrix.columns if c in robust]
        if not columns:
            raise ValueError(f"no feature of {Ring(ring_mm).label} has an ICC of at least {min_icc:g} (min_icc)")
        kept[ring_mm] = matrix[columns]
    return kept
