"""The de-identified view: the same warehouse with stable pseudonyms instead of patient ids.

A pseudonym is ``P-`` and the first 12 hex digits of HMAC-SHA256(the warehouse's secret key,
patient id): stable across runs and dashboard restarts (a collaborator can refer to a case),
and not reversible without the key, which stays in the warehouse folder (``pseudonym.key``).

The view is a separate DuckDB file with the warehouse's table names, so every page and every
download reads pseudonymized rows without knowing it: ``features`` is a view joining the
original Parquet files to the pseudonym table; the small tables are copied with every
original id (and the cohort's own spelling, ``source_id``) replaced in their text columns too,
since messages and paths name the case folder. Columns that only hold the original record
(``clinical.raw_json``) are dropped to NULL.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from radiomics_core.atomic_files import make_temp_dir
from warehouse.schema import TABLES
from warehouse.store import Warehouse

_VIEWED_THROUGH_SQL = {"features"}  # large: joined to the pseudonyms in DuckDB, never copied
_CLEARED = {("clinical", "raw_json"), ("patients", "folder")}  # original records and folder names


@dataclass(frozen=True)
class Pseudonyms:
    key: bytes

    def of(self, patient_id: str) -> str:
        return "P-" + hmac.new(self.key, patient_id.encode("utf-8"), hashlib.sha256).hexdigest()[:12]


def load_or_create_key(path: Path) -> bytes:
    """The warehouse's pseudonym key, created once (32 random bytes) by whichever process comes first."""
    path = Path(path)
    if not path.exists():
        temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.partial")
        # 0o660 before the umask: whoever reads the key can reverse pseudonyms of guessable ids.
        handle = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o660)
        with os.fdopen(handle, "w", encoding="ascii") as key:
            key.write(secrets.token_hex(32) + "\n")
        try:
            os.link(temp, path)  # fails if another process created it meanwhile; keep theirs
        except FileExistsError:
            pass
        finally:
            temp.unlink(missing_ok=True)
    return bytes.fromhex(path.read_text(encoding="ascii").strip())


def fingerprint(source: Path) -> str:
    """Changes whenever a partition file is written, replaced or removed."""
    digest = hashlib.sha256()
    for path in sorted((Path(source) / "tables").glob("*/*.parquet")):
        stat = path.stat()
        digest.update(f"{path.parent.name}/{path.name}:{stat.st_mtime_ns}:{stat.st_size}\n".encode())
    return digest.hexdigest()[:16]


def build_view(source: Path, pseudonyms: Pseudonyms, target: Path) -> Path:
    """Write the de-identified warehouse for ``source`` into the new folder ``target``; return it."""
    source = Warehouse(Path(source))
    target.mkdir(parents=True)
    database = target / "warehouse.duckdb"
    with duckdb.connect(str(database)) as con:
        ids = _original_ids(con, source)
        mapping = {original: pseudonyms.of(original) for original in ids["patient_id"]}
        # The cohort's own spelling of an id (UCSF's "UCSF-PDGM-004") maps to the same pseudonym.
        mapping.update({source_id: mapping[patient] for patient, source_id in ids["source_ids"].items()
                        if patient in mapping and len(source_id) >= 3})
        con.register("pseudonym_frame", pd.DataFrame({"original": list(mapping), "pseudonym": list(mapping.values())}))
        con.execute("CREATE TABLE _pseudonyms AS SELECT * FROM pseudonym_frame")
        con.unregister("pseudonym_frame")
        scrub = _scrubber(mapping)
        for table, columns in TABLES.items():
            glob = _glob(source, table)
            names = [name for name, _ in columns]
            if table in _VIEWED_THROUGH_SQL:
                con.execute(f"CREATE VIEW {table} AS SELECT t.* REPLACE (coalesce(m.pseudonym, 'P-unknown') AS patient_id) "
                            f"FROM read_parquet('{glob}', union_by_name = true) t "
                            "LEFT JOIN _pseudonyms m ON t.patient_id = m.original")
                continue
            frame = con.execute(f"SELECT * FROM read_parquet('{glob}', union_by_name = true)").df()
            frame = frame.reindex(columns=names)
            if "patient_id" in names:
                for name, kind in columns:
                    if (table, name) in _CLEARED:
                        frame[name] = None
                    elif kind == "VARCHAR":
                        frame[name] = frame[name].map(lambda value: scrub(value) if isinstance(value, str) else value)
            con.register("frame", frame)
            casts = ", ".join(f'CAST("{name}" AS {kind}) AS "{name}"' for name, kind in columns)
            con.execute(f"CREATE TABLE {table} AS SELECT {casts} FROM frame")
            con.unregister("frame")
    # The overview's "last materialization" reads partition times under tables/.
    stamp = target / "tables" / "_stamp" / "latest.parquet"
    stamp.parent.mkdir(parents=True)
    stamp.touch()
    newest = max((p.stat().st_mtime for p in (source.root / "tables").glob("*/*.parquet")
                  if not p.name.startswith("_")), default=None)
    if newest is not None:
        os.utime(stamp, (newest, newest))
    else:
        stamp.unlink()
    return target


def current_view(source: Path, pseudonyms: Pseudonyms, cache_dir: Path) -> Path:
    """The de-identified warehouse for the current partitions, rebuilt when any of them changes."""
    cache_dir = Path(cache_dir)
    target = cache_dir / fingerprint(source)
    if (target / "warehouse.duckdb").exists():
        return target
    building = make_temp_dir(cache_dir, prefix=".building-")
    try:
        build_view(source, pseudonyms, building / "view")
        try:
            os.rename(building / "view", target)
        except OSError:
            if not (target / "warehouse.duckdb").exists():  # another session built it meanwhile
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    # Older views: open read-only connections keep working on Linux after the unlink.
    for old in cache_dir.iterdir():
        if old != target and not old.name.startswith("."):
            shutil.rmtree(old, ignore_errors=True)
    return target


def _glob(source: Warehouse, table: str) -> str:
    return str(source.table_dir(table).resolve() / "*.parquet").replace("'", "''")


def _original_ids(con: duckdb.DuckDBPyConnection, source: Warehouse) -> dict:
    ids: set[str] = set()
    for table, columns in TABLES.items():
        if any(name == "patient_id" for name, _ in columns):
            rows = con.execute(f"SELECT DISTINCT patient_id FROM read_parquet('{_glob(source, table)}', union_by_name = true)"
                               " WHERE patient_id IS NOT NULL AND patient_id <> ''").fetchall()
            ids.update(row[0] for row in rows)
    pairs = con.execute(f"SELECT patient_id, source_id FROM read_parquet('{_glob(source, 'patients')}', union_by_name = true)"
                        " WHERE source_id IS NOT NULL").fetchall()
    return {"patient_id": ids, "source_ids": dict(pairs)}


def _scrubber(mapping: dict[str, str]):
    """Replace every original id inside a text by its pseudonym, longest ids first."""
    if not mapping:
        return lambda text: text
    pattern = re.compile("|".join(re.escape(original) for original in sorted(mapping, key=len, reverse=True)))
    return lambda text: pattern.sub(lambda match: mapping[match.group(0)], text)
