"""The clinical-characteristics table (a paper's Table 1) per task."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

CATEGORICAL = ("sex",)
CONTINUOUS = ("age",)


def _continuous_test(a: pd.Series, b: pd.Series) -> tuple[float, str]:
    """t-test when both groups look normal (Shapiro p >= 0.05), Mann-Whitney U otherwise."""
    if len(a) < 3 or len(b) < 3:
        return float("nan"), "too few cases"
    normal = stats.shapiro(a).pvalue >= 0.05 and stats.shapiro(b).pvalue >= 0.05
    if normal:
        equal_var = stats.levene(a, b).pvalue >= 0.05
        return float(stats.ttest_ind(a, b, equal_var=equal_var).pvalue), "t-test" if equal_var else "Welch t-test"
    return float(stats.mannwhitneyu(a, b).pvalue), "Mann-Whitney U"


def _categorical_test(table: pd.DataFrame) -> tuple[float, str]:
    if table.shape != (2, 2):
        if min(table.shape) < 2:
            return float("nan"), "one level only"
        return float(stats.chi2_contingency(table)[1]), "chi-square"
    expected = stats.contingency.expected_freq(table.values)
    if (expected < 5).any():
        return float(stats.fisher_exact(table.values)[1]), "Fisher exact"
    return float(stats.chi2_contingency(table)[1]), "chi-square"


def clinical_characteristics(task: str, clinical: pd.DataFrame, labels: pd.Series, splits: pd.Series,
                             class_names: tuple[str, str]) -> pd.DataFrame:
    """Per variable: summaries by class within train and test (and external, when the task has an
    external set), and p-values between classes within each split and between train and each
    held-out split."""
    frame = clinical.set_index("patient_id").loc[labels.index]
    frame = frame.assign(label=labels, split=splits.loc[labels.index])
    rows = []
    name = {0: class_names[0], 1: class_names[1]}
    held_out = ["test", *(["external"] if (frame.split == "external").any() else [])]
    comparisons = [(split, frame[frame.split == split], "label", name) for split in ("train", *held_out)]
    comparisons += [(f"train vs {split}", frame[frame.split.isin(["train", split])], "split",
                     {"train": "train", split: split}) for split in held_out]
    for scope, part, by, names in comparisons:
        for variable in CONTINUOUS:
            values = part[variable].astype(float)
            groups = {g: values[(part[by] == g) & values.notna()] for g in names}
            p, test = _continuous_test(*groups.values())
            for g, v in groups.items():
                summary = f"{v.mean():.1f} ± {v.std():.1f}" if len(v) else "-"
                rows.append({"task": task, "variable": variable, "level": "", "group": f"{scope}: {names[g]}",
                             "summary": summary, "p_value": p, "comparison": f"{scope} ({test})"})
        for variable in CATEGORICAL:
            values = part[variable].fillna("unknown")
            table = pd.crosstab(values, part[by])
            p, test = _categorical_test(table.loc[[lv for lv in table.index if lv != "unknown"]])
            for g in names:
                total = int((part[by] == g).sum())
                for level in sorted(values.unique()):
                    n = int(((values == level) & (part[by] == g)).sum())
                    pct = 100 * n / total if total else np.nan
                    rows.append({"task": task, "variable": variable, "level": level, "group": f"{scope}: {names[g]}",
                                 "summary": f"{n} ({pct:.0f}%)", "p_value": p, "comparison": f"{scope} ({test})"})
    return pd.DataFrame(rows)
