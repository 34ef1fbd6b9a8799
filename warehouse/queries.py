"""Read-only queries over the warehouse. Every user-supplied value is a bound parameter."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb
import pandas as pd

from warehouse.schema import TABLES
from warehouse.store import Warehouse


class WarehouseMissing(Exception):
    """No warehouse at the given path yet (the pipeline has not run)."""


@contextmanager
def read_only(root: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection, closed on exit so the pipeline can always write."""
    database = Warehouse(Path(root)).database
    if not database.exists():
        raise WarehouseMissing(f"{database} does not exist; run the pipeline first")
    con = duckdb.connect(str(database), read_only=True)
    try:
        yield con
    finally:
        con.close()


def table(root: Path, name: str, where: dict[str, object] | None = None) -> pd.DataFrame:
    """Rows of one table, optionally filtered by column equality (columns checked, values bound)."""
    if name not in TABLES:
        raise ValueError(f"unknown table {name!r}")
    columns = {column for column, _ in TABLES[name]}
    clauses, params = [], []
    for column, value in (where or {}).items():
        if column not in columns:
            raise ValueError(f"table {name} has no column {column!r}")
        if value is None:
            clauses.append(f'"{column}" IS NULL')
        else:
            clauses.append(f'"{column}" = ?')
            params.append(value)
    sql = f"SELECT * FROM {name}" + (" WHERE " + " AND ".join(clauses) if clauses else "")
    with read_only(root) as con:
        return con.execute(sql, params).df()


def count(root: Path, name: str) -> int:
    if name not in TABLES:
        raise ValueError(f"unknown table {name!r}")
    with read_only(root) as con:
        return int(con.execute(f"SELECT count(*) FROM {name}").fetchone()[0])


def feature_values(root: Path, wanted: list[tuple[float, str, str]]) -> pd.DataFrame:
    """Long rows (patient_id, ring_mm, sequence, feature, value) of the (ring_mm, sequence, feature)
    triples in ``wanted``, in one scan of the features table."""
    if not wanted:
        return pd.DataFrame(columns=["patient_id", "ring_mm", "sequence", "feature", "value"])
    condition = " OR ".join(["(ring_mm = ? AND sequence = ? AND feature = ?)"] * len(wanted))
    params = [value for ring, sequence, feature in wanted for value in (float(ring), sequence, feature)]
    with read_only(root) as con:
        return con.execute("SELECT patient_id, ring_mm, sequence, feature, value FROM features WHERE "
                           + condition, params).df()


def feature_matrix(root: Path, ring_mm: float, params_hash: str | None = None) -> pd.DataFrame:
    """Wide features of one VOI (ring 0 = VOI_T): one row per patient, columns ``sequence__feature``."""
    sql = ("SELECT patient_id, sequence || '__' || feature AS column, value FROM features "
           "WHERE ring_mm = ?" + (" AND params_hash = ?" if params_hash else ""))
    params = [float(ring_mm)] + ([params_hash] if params_hash else [])
    with read_only(root) as con:
        long = con.execute(sql, params).df()
    if long.empty:
        return pd.DataFrame()
    return long.pivot_table(index="patient_id", columns="column", values="value", aggfunc="first").sort_index()


def features_changed_since(root: Path, since_epoch: float) -> bool:
    """Whether any feature partition was written after ``since_epoch`` (seconds)."""
    folder = Warehouse(Path(root)).table_dir("features")
    return any(p.stat().st_mtime > since_epoch for p in folder.glob("*.parquet") if not p.name.startswith("_"))


def last_update(root: Path) -> float | None:
    """Epoch seconds of the newest partition file in the warehouse, or None when empty."""
    files = [p for p in (Warehouse(Path(root)).root / "tables").glob("*/*.parquet") if not p.name.startswith("_")]
    return max((p.stat().st_mtime for p in files), default=None)


def extracted_partitions(root: Path, params_hash: str) -> set[tuple[str, float]]:
    """(patient_id, ring_mm) pairs whose features are stored for these extraction parameters."""
    with read_only(root) as con:
        rows = con.execute("SELECT DISTINCT patient_id, ring_mm FROM features WHERE params_hash = ?",
                           [params_hash]).fetchall()
    return {(patient, float(ring)) for patient, ring in rows}
