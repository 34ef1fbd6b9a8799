"""The warehouse: empty tables, idempotent partition writes, column checks, missing warehouse."""


import pandas as pd
import pytest

from warehouse import queries
from warehouse.store import Warehouse

ROWS = 50


def _feature_rows(patient: str, value: float) -> pd.DataFrame:
    return pd.DataFrame({"patient_id": patient, "ring_mm": 0.0, "sequence": "FLAIR",
                         "feature": [f"f{i}" for i in range(ROWS)], "value": value,
                         "feature_identity": "h", "pyradiomics_version": "3.0.1"})


def test_a_new_warehouse_has_every_table_empty(tmp_path):
    root = Warehouse(tmp_path).initialize().root
    assert queries.count(root, "features") == 0
    assert queries.count(root, "model_metrics") == 0


def test_rewriting_a_partition_replaces_its_rows(tmp_path):
    warehouse = Warehouse(tmp_path).initialize()
    warehouse.write_partition("features", "p1__T", _feature_rows("p1", 1.0))
    warehouse.write_partition("features", "p1__T", _feature_rows("p1", 2.0))
    frame = queries.table(warehouse.root, "features")
    assert len(frame) == ROWS and set(frame.value) == {2.0}


def test_rows_missing_a_column_are_refused(tmp_path):
    warehouse = Warehouse(tmp_path).initialize()
    with pytest.raises(ValueError, match="feature_identity"):
        warehouse.write_partition("features", "p", _feature_rows("p", 1.0).drop(columns="feature_identity"))


def test_a_missing_warehouse_is_reported(tmp_path):
    with pytest.raises(queries.WarehouseMissing):
        queries.count(tmp_path / "nowhere", "features")


def test_a_warehouse_of_an_older_schema_gains_the_new_columns_and_keeps_its_rows(tmp_path):
    warehouse = Warehouse(tmp_path).initialize()
    warehouse.write_partition("features", "p1__T", _feature_rows("p1", 1.0))
    # As an older release left it: a seed without one of today's columns, views of that schema.
    seed = warehouse.table_dir("features") / "_empty.parquet"
    assert seed.exists()
    pd.read_parquet(seed).drop(columns="pyradiomics_version").to_parquet(seed)
    for path in warehouse.table_dir("features").glob("p1*.parquet"):
        pd.read_parquet(path).drop(columns="pyradiomics_version").to_parquet(path)
    warehouse.database.unlink()
    Warehouse(tmp_path).initialize()
    frame = queries.table(warehouse.root, "features")
    assert "pyradiomics_version" in frame and len(frame) == ROWS and frame.pyradiomics_version.isna().all()


def test_a_version_3_warehouse_keeps_its_feature_rows_under_the_renamed_identity_column(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from warehouse.store import partition_file_name

    warehouse = Warehouse(tmp_path).initialize()
    old = pa.table({"patient_id": ["p", "p"], "ring_mm": [0.0, 0.0], "sequence": ["T1c", "T1c"],
                    "feature": ["a", "b"], "value": [1.0, 2.0], "params_hash": ["h", "h"],
                    "pyradiomics_version": ["3.0.1", "3.0.1"]})
    pq.write_table(old, warehouse.table_dir("features") / partition_file_name("p__T"))
    warehouse.database.unlink()  # what a version-3 warehouse looks like to this code: views not current
    Warehouse(tmp_path).initialize()
    rows = queries.table(tmp_path, "features")
    assert rows.feature_identity.tolist() == ["h", "h"] and rows.value.tolist() == [1.0, 2.0]
    assert "params_hash" not in pq.read_schema(warehouse.table_dir("features") / partition_file_name("p__T")).names
