"""The warehouse: idempotent partition writes, concurrent writers with readers, bound parameters."""

import multiprocessing as mp
import time

import duckdb
import pandas as pd
import pytest

from warehouse import queries
from warehouse.store import Warehouse

WRITERS, PARTITIONS, ROWS = 4, 15, 50


def _feature_rows(patient: str, value: float) -> pd.DataFrame:
    return pd.DataFrame({"patient_id": patient, "ring_mm": 0.0, "sequence": "FLAIR",
                         "feature": [f"f{i}" for i in range(ROWS)], "value": value,
                         "params_hash": "h", "pyradiomics_version": "3.0.1"})


def _writer(root: str, writer: int, rounds: int) -> None:
    warehouse = Warehouse(__import__("pathlib").Path(root)).initialize()
    for round_ in range(rounds):
        for k in range(PARTITIONS):
            patient = f"w{writer}-p{k}"
            warehouse.write_partition("features", f"{patient}__T", _feature_rows(patient, float(round_)))


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


@pytest.mark.parametrize("attempt", range(3))
def test_parallel_writers_and_a_reader_never_fail_or_lose_rows(tmp_path, attempt):
    warehouse = Warehouse(tmp_path).initialize()
    context = mp.get_context("spawn")
    writers = [context.Process(target=_writer, args=(str(tmp_path), w, 3)) for w in range(WRITERS)]
    for process in writers:
        process.start()
    reads = 0
    while any(p.is_alive() for p in writers):
        counts = queries.count(warehouse.root, "features")
        assert counts % ROWS == 0  # never half a partition
        reads += 1
        time.sleep(0.01)
    assert all(p.exitcode == 0 for p in writers)
    assert reads > 0
    assert queries.count(warehouse.root, "features") == WRITERS * PARTITIONS * ROWS
    per_patient = queries.table(warehouse.root, "features").groupby("patient_id").size()
    assert (per_patient == ROWS).all()


@pytest.mark.parametrize("hostile", ["' OR 1=1 --", "x'; DROP VIEW features; --", "\" OR \"\"=\"", "1; DELETE"])
def test_user_values_are_bound_never_spliced(tmp_path, hostile):
    warehouse = Warehouse(tmp_path).initialize()
    warehouse.write_partition("features", "p1__T", _feature_rows("p1", 1.0))
    assert queries.table(warehouse.root, "features", {"patient_id": hostile}).empty
    assert queries.count(warehouse.root, "features") == ROWS


def test_unknown_tables_and_columns_are_refused(tmp_path):
    warehouse = Warehouse(tmp_path).initialize()
    with pytest.raises(ValueError, match="unknown table"):
        queries.table(warehouse.root, "features; DROP VIEW features")
    with pytest.raises(ValueError, match="no column"):
        queries.table(warehouse.root, "features", {"value = 1 OR 1": 1})


def test_readers_cannot_write(tmp_path):
    warehouse = Warehouse(tmp_path).initialize()
    with queries.read_only(warehouse.root) as con:
        with pytest.raises(duckdb.Error):
            con.execute("CREATE TABLE x (a INTEGER)")


def test_a_missing_warehouse_is_reported(tmp_path):
    with pytest.raises(queries.WarehouseMissing):
        queries.count(tmp_path / "nowhere", "features")
