"""Read-only queries over the warehouse. Every user-supplied value is a bound parameter."""

from __future__ import annotations

import time
from contextlib import contextmanager
from glob import escape as glob_escape
from pathlib import Path
from typing import Iterator

import duckdb
import pandas as pd

from radiomics_core.settings import Ring
from radiomics_core.tasks.selection import flow_table
from warehouse.schema import TABLES
from warehouse.store import Warehouse, partition_file_name


class WarehouseMissing(Exception):
    """No warehouse at the given path yet (the pipeline has not run)."""


@contextmanager
def read_only(root: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection, closed on exit so the pipeline can always write."""
    database = Warehouse(Path(root)).database
    if not database.exists():
        raise WarehouseMissing(f"{database} does not exist; run the pipeline first")
    for attempt in range(50):
        try:
            con = duckdb.connect(str(database), read_only=True)
            break
        except duckdb.IOException:  # the views are being (re)created: a moment's write lock
            if attempt == 49:
                raise
            time.sleep(0.05 * (attempt + 1))
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


def feature_values(root: Path, wanted: list[tuple[float, str, str]],
                   patients: list[str] | None = None) -> pd.DataFrame:
    """Long rows (patient_id, ring_mm, sequence, feature, value) of the (ring_mm, sequence, feature)
    triples in ``wanted``, in one scan of the features table; only ``patients`` when given."""
    if not wanted or (patients is not None and not len(patients)):
        return pd.DataFrame(columns=["patient_id", "ring_mm", "sequence", "feature", "value"])
    condition = " OR ".join(["(ring_mm = ? AND sequence = ? AND feature = ?)"] * len(wanted))
    params = [value for ring, sequence, feature in wanted for value in (float(ring), sequence, feature)]
    files = _partition_files(root, "features", {Ring(ring).key for ring, _, _ in wanted}, patients)
    source = "read_parquet(?, union_by_name = true)" if files else "features"
    sql = f"SELECT patient_id, ring_mm, sequence, feature, value FROM {source} WHERE ({condition})"
    if patients is not None:
        sql += " AND list_contains(?, patient_id)"
        params.append(list(patients))
    with read_only(root) as con:
        return con.execute(sql, ([files] if files else []) + params).df()


def ring_volumes(root: Path, patient_id: str) -> pd.DataFrame:
    """One patient's ring volumes (ring 0 = VOI_T), reading only that patient's files."""
    files = _partition_files(root, "ring_volumes", None, [patient_id])
    source = "read_parquet(?, union_by_name = true)" if files else "ring_volumes"
    with read_only(root) as con:
        return con.execute(f"SELECT * FROM {source} WHERE patient_id = ?",
                           ([files] if files else []) + [patient_id]).df()


def _partition_files(root: Path, table: str, rings: set[str] | None, patients: list[str] | None) -> list[str]:
    """The files of a patient x ring table for these rings and patients, found by name, or [] to
    scan the whole table.

    The pipeline keys these partitions ``Ring.warehouse_key``. On a large cohort opening a file costs more than reading it, so a page that needs
    one ring, or one patient, opens only those files.
    """
    folder = Warehouse(Path(root)).table_dir(table)
    if patients is not None and rings is not None:
        names = [partition_file_name(Ring.from_key(r).warehouse_key(p)) for p in patients for r in rings]
        return [str(folder / n) for n in names if (folder / n).exists()]
    files: list[str] = []
    patterns = ([f"*{partition_file_name(Ring.from_key(r).warehouse_key(''))}" for r in rings] if rings is not None
                else [f"{glob_escape(partition_file_name(p).removesuffix('.parquet'))}__*.parquet"
                      for p in patients or []])
    for pattern in patterns:
        found = sorted(str(p) for p in folder.glob(pattern))
        if not found:
            return []
        files += found
    return files


def feature_matrix(root: Path, ring: Ring, feature_identity: str | None = None,
                   sequences: list[str] | None = None) -> pd.DataFrame:
    """Wide features of one VOI (``ring``, VOI_T included): one row per patient, columns ``sequence__feature``;
    only rows stored under ``feature_identity`` and of ``sequences`` when given."""
    sql = ("SELECT patient_id, sequence || '__' || feature AS column, value FROM features "
           "WHERE ring_mm = ?" + (" AND feature_identity = ?" if feature_identity else ""))
    params = [ring.mm] + ([feature_identity] if feature_identity else [])
    if sequences:
        sql += " AND sequence IN (" + ", ".join("?" for _ in sequences) + ")"
        params += list(sequences)
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


def extracted_sequences(root: Path, feature_identity: str) -> dict[tuple[str, float], set[str]]:
    """(patient_id, ring_mm) -> the sequences whose features are stored under ``feature_identity``."""
    with read_only(root) as con:
        rows = con.execute("SELECT DISTINCT patient_id, ring_mm, sequence FROM features WHERE feature_identity = ?",
                           [feature_identity]).fetchall()
    stored: dict[tuple[str, float], set[str]] = {}
    for patient, ring, sequence in rows:
        stored.setdefault((patient, float(ring)), set()).add(sequence)
    return stored


def extracted_partitions(root: Path, feature_identity: str) -> set[tuple[str, float]]:
    """(patient_id, ring_mm) pairs whose features are stored for these extraction parameters."""
    with read_only(root) as con:
        rows = con.execute("SELECT DISTINCT patient_id, ring_mm FROM features WHERE feature_identity = ?",
                           [feature_identity]).fetchall()
    return {(patient, float(ring)) for patient, ring in rows}


def selection_flow(root: Path, task: str) -> pd.DataFrame:
    """The task's selection flow as a CONSORT-style table (``radiomics_core.tasks.selection.flow_table``):
    a row per step in order, exams in, excluded and out, then excluded and out per class."""
    with read_only(root) as con:
        rows = con.execute("SELECT step, criterion, reason, label_class, n_in, n_excluded, n_out "
                           "FROM selection_flow WHERE task = ? ORDER BY step", [task]).df()
    return flow_table(rows)


def selection_preset(root: Path, task: str) -> str | None:
    """The task definition the stored flow's rules came from: a shipped preset's name (grade,
    grade-who2021) or a task file's path; None before a flow is stored, or for a flow stored
    before the warehouse kept it (schema version 5)."""
    with read_only(root) as con:
        row = con.execute("SELECT preset FROM selection_flow WHERE task = ? AND preset IS NOT NULL "
                          "AND preset <> '' LIMIT 1", [task]).fetchone()
    return row[0] if row else None


def perturbed_features(root: Path, feature_identity: str) -> pd.DataFrame:
    """Every patient's features under every VOI_T perturbation stored under ``feature_identity``."""
    with read_only(root) as con:
        return con.execute("SELECT patient_id, perturbation, ring_mm, sequence, feature, value "
                           "FROM perturbed_features WHERE feature_identity = ?", [feature_identity]).df()


def feature_robustness(root: Path, feature_identity: str | None = None) -> pd.DataFrame:
    """The ICC table (``feature_robustness``), of ``feature_identity`` when given, in ring order."""
    sql = "SELECT * FROM feature_robustness" + (" WHERE feature_identity = ?" if feature_identity else "")
    with read_only(root) as con:
        return con.execute(sql + " ORDER BY ring_mm, sequence, feature",
                           [feature_identity] if feature_identity else []).df()
