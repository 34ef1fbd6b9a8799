"""Concurrency and security: parallel writers with readers, bound parameters, read-only readers,
and hostile input through the dashboard's URL."""

import multiprocessing as mp
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.state import PAGES
from warehouse import queries
from warehouse.store import Warehouse

WRITERS, PARTITIONS, ROWS = 4, 15, 50
APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


def _feature_rows(patient: str, value: float) -> pd.DataFrame:
    return pd.DataFrame({"patient_id": patient, "ring_mm": 0.0, "sequence": "FLAIR",
                         "feature": [f"f{i}" for i in range(ROWS)], "value": value,
                         "feature_identity": "h", "pyradiomics_version": "3.0.1"})


def _writer(root: str, writer: int, rounds: int) -> None:
    warehouse = Warehouse(Path(root)).initialize()
    for round_ in range(rounds):
        for k in range(PARTITIONS):
            patient = f"w{writer}-p{k}"
            warehouse.write_partition("features", f"{patient}__T", _feature_rows(patient, float(round_)))


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


@pytest.mark.parametrize("hostile", ["'; DROP VIEW features; --", "../../etc/passwd", "<script>alert(1)</script>"])
def test_a_hostile_page_parameter_falls_back_to_the_first_page(tmp_path, hostile):
    warehouse = Warehouse(tmp_path).initialize()
    warehouse.write_partition("features", "p1__T", _feature_rows("p1", 1.0))
    import sys
    # --no-auth: the page parameter, not the login gate, is under test here.
    argv, sys.argv = sys.argv, ["app.py", "--warehouse", str(tmp_path), "--no-auth"]
    try:
        app = AppTest.from_file(APP, default_timeout=60)
        app.query_params["page"] = hostile
        app.run()
    finally:
        sys.argv = argv
    assert not app.exception
    assert app.sidebar.radio(key="page").value == PAGES[0]
    assert queries.count(warehouse.root, "features") == ROWS
