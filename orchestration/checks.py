"""Asset checks as functions of the stored data, so a test can make each one fail.

The assets evaluate them on what they just wrote (read back from disk or the warehouse, not the
values in memory), so a file replaced or truncated behind the pipeline's back fails a check.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd

from radiomics_core.files.images import read_geometry
from radiomics_core.cohorts.validation import GeometryTolerance, geometry_differences

# Blocking: a failure stops what depends on the asset (in the same run, and under the automation
# conditions, which require all_deps_blocking_checks_passed), since rings cut from misaligned
# images or features of an empty VOI_T would be wrong, not merely worse.
GEOMETRY = dg.AssetCheckSpec("geometry_consistent", asset="normalized_images", blocking=True,
                             description="Every normalized sequence and mask on the labels' grid (headers read back from disk).")
VOI_T_NON_EMPTY = dg.AssetCheckSpec("voi_t_non_empty", asset="voi_extraction", blocking=True,
                                    description="VOI_T has at least one voxel for every patient of the run.")
RINGS_INCREASE = dg.AssetCheckSpec("ring_volumes_increase", asset="voi_extraction",
                                   description="Nested rings: a wider ring never has fewer voxels.")
FINITE = dg.AssetCheckSpec("finite_features", asset="voi_extraction",
                           description="At most 1% of a patient's feature values are NaN or infinite.")
COUNT = dg.AssetCheckSpec("feature_count", asset="voi_extraction",
                          description="Each VOI and sequence has as many features as the parameters imply.")


def geometry_consistent(labels: Path, others: dict[str, Path]) -> dg.AssetCheckResult:
    reference = read_geometry(labels)
    mismatched = {name: "; ".join(geometry_differences(reference, read_geometry(path), GeometryTolerance()))
                  for name, path in others.items()}
    mismatched = {k: v for k, v in mismatched.items() if v}
    return dg.AssetCheckResult(check_name=GEOMETRY.name, passed=not mismatched,
                               metadata={"mismatched": str(mismatched) if mismatched else "none"})


def voi_t_non_empty(volumes: pd.DataFrame) -> dg.AssetCheckResult:
    """``volumes``: ring_volumes rows (ring 0 = VOI_T) of the patients just processed."""
    voi = volumes[volumes.ring_mm == 0]
    empty = sorted(voi.loc[voi.voxels <= 0, "patient_id"])
    return dg.AssetCheckResult(check_name=VOI_T_NON_EMPTY.name, passed=not empty,
                               metadata={"empty_voi_t": ", ".join(empty) or "none",
                                         "voi_t_voxels": int(voi.voxels.sum())})


def ring_volumes_increase(volumes: pd.DataFrame) -> dg.AssetCheckResult:
    shrinking = []
    for patient, rows in volumes[volumes.ring_mm > 0].groupby("patient_id"):
        voxels = rows.sort_values("ring_mm").voxels.to_numpy()
        if np.any(np.diff(voxels) < 0):
            shrinking.append(patient)
    return dg.AssetCheckResult(check_name=RINGS_INCREASE.name, passed=not shrinking,
                               metadata={"not_increasing": ", ".join(shrinking) or "none"})


def finite_features(rows: pd.DataFrame, tolerance: float = 0.01) -> dg.AssetCheckResult:
    """``rows``: features rows just written; fails if any patient has more than ``tolerance`` non-finite."""
    bad = (~np.isfinite(rows["value"].to_numpy(dtype=float)))
    fraction = pd.Series(bad, index=rows.index).groupby(rows["patient_id"]).mean() if len(rows) else pd.Series()
    failing = sorted(fraction[fraction > tolerance].index)
    return dg.AssetCheckResult(check_name=FINITE.name, passed=not failing,
                               metadata={"patients_over_tolerance": ", ".join(failing) or "none",
                                         "non_finite_fraction": float(bad.mean()) if len(bad) else 0.0})


def feature_count(rows: pd.DataFrame, expected: int, statuses: dict[tuple[str, float], str]) -> dg.AssetCheckResult:
    """Each (patient, ring, sequence) with a non-empty VOI has ``expected`` features."""
    image_rows = rows[rows.sequence != "mask"]
    counts = image_rows.groupby(["patient_id", "ring_mm", "sequence"]).size()
    wrong = {f"{p} {r:g} {s}": int(n) for (p, r, s), n in counts.items()
             if statuses.get((p, r), "ok") == "ok" and n != expected}
    return dg.AssetCheckResult(check_name=COUNT.name, passed=not wrong, severity=dg.AssetCheckSeverity.WARN,
                               metadata={"expected_per_sequence": expected, "wrong": str(wrong) if wrong else "none"})
