"""Each asset check fails on the data it exists to catch, and passes on good data."""

import numpy as np
import pandas as pd

from orchestration import checks
from tests.builders import write_volume


def _volumes(voxels_by_ring: dict[float, int], patient: str = "P1") -> pd.DataFrame:
    return pd.DataFrame({"patient_id": patient, "ring_mm": list(voxels_by_ring), "voxels": list(voxels_by_ring.values())})


def _features(values: list[float], patient: str = "P1", sequence: str = "T1") -> pd.DataFrame:
    return pd.DataFrame({"patient_id": patient, "ring_mm": 1.0, "sequence": sequence,
                         "feature": [f"f{i}" for i in range(len(values))], "value": values})


def test_geometry_fails_when_a_stored_sequence_is_on_another_grid(tmp_path):
    labels = write_volume(np.zeros((8, 8, 8), np.uint8), tmp_path / "labels.nii.gz")
    same = write_volume(np.zeros((8, 8, 8), np.float32), tmp_path / "T1.nii.gz")
    coarse = write_volume(np.zeros((8, 8, 8), np.float32), tmp_path / "T2.nii.gz", spacing=(2.0, 1.0, 1.0))
    assert checks.geometry_consistent(labels, {"T1": same}).passed
    result = checks.geometry_consistent(labels, {"T1": same, "T2": coarse})
    assert not result.passed and "T2" in result.metadata["mismatched"].value


def test_voi_t_non_empty_fails_on_an_empty_tumor():
    assert checks.voi_t_non_empty(_volumes({0.0: 10, 1.0: 5})).passed
    result = checks.voi_t_non_empty(_volumes({0.0: 0, 1.0: 5}))
    assert not result.passed and result.metadata["empty_voi_t"].value == "P1"


def test_ring_volumes_fail_when_a_wider_ring_is_smaller():
    assert checks.ring_volumes_increase(_volumes({0.0: 10, 1.0: 5, 3.0: 9})).passed
    result = checks.ring_volumes_increase(_volumes({0.0: 10, 1.0: 5, 3.0: 4}))
    assert not result.passed and result.metadata["not_increasing"].value == "P1"


def test_finite_features_fail_above_one_percent_non_finite():
    assert checks.finite_features(_features([1.0] * 200 + [np.nan])).passed
    assert not checks.finite_features(_features([1.0] * 10 + [np.nan, np.inf])).passed


def test_feature_count_fails_when_a_sequence_lacks_features_unless_its_voi_is_empty():
    rows = pd.concat([_features([1.0] * 3), _features([1.0] * 2, sequence="T2")])
    assert checks.feature_count(_features([1.0] * 3), 3, {}).passed
    assert not checks.feature_count(rows, 3, {}).passed
    assert checks.feature_count(rows, 3, {("P1", 1.0): "empty"}).passed
