"""The warehouse: empty tables, idempotent partition writes, column checks, missing warehouse."""


import pandas as pd
import pytest

from warehouse import queries
from warehouse.store import Warehouse

ROWS = 50


def _feature_rows(patient: str, value: float) -> pd.DataFrame:
    return pd.DataFrame({"patient_id": patient, "ring_mm": 0.0, "sequence": "FLAIR",
                         "feature": [f"f{i}" for i in range(ROWS)], "value": value,
                         "params_hash": "h", "pyradiomics_version": "3.0.1"})


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
    with pytest.raises(ValueError, match="params_hash"):
        warehouse.write_partition("features", "p", _feature_rows("p", 1.0).drop(columns="params_hash"))


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
