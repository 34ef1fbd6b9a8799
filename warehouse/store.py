"""Writing the warehouse: atomic per-partition Parquet files and the DuckDB file's views."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from radiomics_core.files.atomic import atomic_write
from warehouse.schema import RENAMED_COLUMNS, SCHEMA_VERSION, TABLES

_ARROW_TYPES = {
    "VARCHAR": pa.string(), "DOUBLE": pa.float64(), "INTEGER": pa.int32(), "BIGINT": pa.int64(),
    "BOOLEAN": pa.bool_(), "TIMESTAMP": pa.timestamp("us"),
}
_EMPTY = "_empty.parquet"  # a zero-row file so every table's glob matches even before any write


def arrow_schema(table: str) -> pa.Schema:
    return pa.schema([(name, _ARROW_TYPES[kind]) for name, kind in TABLES[table]])


def partition_file_name(key: str) -> str:
    """A file name for a partition key; keys are already safe, this only guards separators."""
    return re.sub(r"[^A-Za-z0-9._=-]", "_", key) + ".parquet"


@dataclass(frozen=True)
class Warehouse:
    """A warehouse folder: ``warehouse.duckdb`` plus ``tables/<table>/<partition>.parquet``."""

    root: Path

    @property
    def database(self) -> Path:
        return self.root / "warehouse.duckdb"

    def table_dir(self, table: str) -> Path:
        return self.root / "tables" / table

    def initialize(self) -> "Warehouse":
        """Create folders, empty seed files and the DuckDB views; safe to call from many processes."""
        current = self._views_current()
        if not current:
            self._rename_old_columns()
        for table in TABLES:
            folder = self.table_dir(table)
            folder.mkdir(parents=True, exist_ok=True)
            # A new schema version rewrites the seeds, so a view shows a new column before any
            # partition of the table is written again (older partitions read it as NULL).
            if not current or not (folder / _EMPTY).exists():
                _atomic_write(arrow_schema(table).empty_table(), folder / _EMPTY)
        if not current:
            self._create_views()
        return self

    def _rename_old_columns(self) -> None:
        for table, renamed in RENAMED_COLUMNS.items():
            for path in self.table_dir(table).glob("*.parquet"):
                names = pq.read_schema(path).names
                if set(renamed) & set(names):
                    _atomic_write(pq.read_table(path).rename_columns([renamed.get(n, n) for n in names]), path)

    def _views_current(self) -> bool:
        if not self.database.exists():
            return False
        try:
            with duckdb.connect(str(self.database), read_only=True) as con:
                row = con.execute("SELECT version, root FROM schema_info").fetchone()
        except duckdb.Error:
            return False
        return row == (SCHEMA_VERSION, str(self.root.resolve()))

    def _create_views(self) -> None:
        # The only write to the DuckDB file; retried because a reader may hold it briefly.
        for attempt in range(50):
            try:
                with duckdb.connect(str(self.database)) as con:
                    for table in TABLES:
                        glob = str(self.table_dir(table).resolve() / "*.parquet")
                        con.execute(
                            f"CREATE OR REPLACE VIEW {table} AS "
                            f"SELECT * FROM read_parquet('{glob}', union_by_name = true)"
                        )
                    con.execute("CREATE OR REPLACE TABLE schema_info (version INTEGER, root VARCHAR)")
                    con.execute("INSERT INTO schema_info VALUES (?, ?)", [SCHEMA_VERSION, str(self.root.resolve())])
                return
            except (duckdb.IOException, duckdb.ConnectionException):
                time.sleep(0.1 * (attempt + 1))
        raise RuntimeError(f"{self.database}: could not create the warehouse views (file locked)")

    def write_partition(self, table: str, key: str, frame: pd.DataFrame) -> int:
        """Replace partition ``key`` of ``table`` with ``frame``; returns the row count."""
        columns = [name for name, _ in TABLES[table]]
        missing = set(columns) - set(frame.columns)
        if missing:
            raise ValueError(f"{table}: rows lack columns {sorted(missing)}")
        data = pa.Table.from_pandas(frame[columns], schema=arrow_schema(table), preserve_index=False)
        self.table_dir(table).mkdir(parents=True, exist_ok=True)
        _atomic_write(data, self.table_dir(table) / partition_file_name(key))
        return data.num_rows

    def delete_partition(self, table: str, key: str) -> None:
        (self.table_dir(table) / partition_file_name(key)).unlink(missing_ok=True)

    def read_partitions(self, table: str, keys: list[str]) -> pd.DataFrame:
        """The rows of these partitions of ``table``, read from their files (missing ones are empty)."""
        paths = [self.table_dir(table) / partition_file_name(key) for key in keys]
        frames = [pq.read_table(path, schema=arrow_schema(table)).to_pandas() for path in paths if path.exists()]
        return pd.concat(frames, ignore_index=True) if frames else arrow_schema(table).empty_table().to_pandas()

    def partition_keys(self, table: str) -> list[str]:
        return sorted(p.stem for p in self.table_dir(table).glob("*.parquet") if p.name != _EMPTY)


def _atomic_write(data: pa.Table, path: Path) -> None:
    """Write aside and rename (readers never see half a file), with the mode the umask gives."""
    atomic_write(path, lambda temp: pq.write_table(data, temp))
