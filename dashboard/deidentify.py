"""The de-identified view: the same warehouse with stable pseudonyms instead of patient ids.

A pseudonym is ``P-`` and the first 12 hex digits of HMAC-SHA256(the warehouse's secret key,
patient id): stable across runs and dashboard restarts (a collaborator can refer to a case),
and not reversible without the key, which stays in the warehouse folder (``pseudonym.key``).

The view is a warehouse of its own, file for file: each partition is rewritten with every
original id (and the cohort's own spelling, ``source_id``) replaced by its pseudonym, in the id
column, in text such as messages and paths, and in the partition's file name. So every page,
download and fast path that reads partition files directly sees only pseudonyms. It is kept up
to date partition by partition (a manifest of source file times and sizes): after the first
page, a run costs a directory listing. Columns that only hold the original record
(``clinical.raw_json``, ``clinical.brats21_id``, ``patients.folder``) are dropped to NULL.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from radiomics_core.files.atomic import atomic_write_text
from warehouse import queries
from warehouse.schema import TABLES
from warehouse.store import Warehouse, partition_file_name

# Original records, folder names, and the BraTS 2021 case id (a public collection's id for the same person).
_CLEARED = {("clinical", "raw_json"), ("clinical", "brats21_id"), ("patients", "folder")}


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


def sync_view(source: Path, pseudonyms: Pseudonyms, target: Path) -> Path:
    """Bring the de-identified copy of warehouse ``source`` at ``target`` up to date; return ``target``."""
    source, view = Warehouse(Path(source)), Warehouse(Path(target))
    manifest_path = view.root / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.exists() else {}
    current = {}
    for table in TABLES:
        for path in sorted(source.table_dir(table).glob("*.parquet")):
            if path.name.startswith("_"):
                continue
            stat = path.stat()
            current[f"{table}/{path.name}"] = [stat.st_mtime_ns, stat.st_size]
    # The manifest names source files by pseudonym too: their names are patient ids.
    entry = {name: pseudonyms.of(name) for name in current}
    changed = [name for name, stamp in current.items() if manifest.get(entry[name], {}).get("stamp") != stamp]
    hashed_now = set(entry.values())
    removed = [hashed for hashed in manifest if hashed not in hashed_now]
    if not changed and not removed and view.database.exists():
        return view.root
    view.initialize()
    mapping = _id_map(source, pseudonyms)
    scrub = _scrubber(mapping)
    for hashed in removed:
        gone = manifest.pop(hashed)
        view.delete_partition(gone["table"], gone["key"])
    for name in changed:
        table, file_name = name.split("/", 1)
        path = source.table_dir(table) / file_name
        try:
            frame = pq.read_table(path).to_pandas()
        except FileNotFoundError:  # replaced or removed since the listing; the next run catches up
            continue
        if "patient_id" in frame.columns:  # an id no patient table names yet still gets hidden
            unseen = {i for i in frame["patient_id"].dropna().unique() if i and i not in mapping}
            if unseen:
                mapping.update({i: pseudonyms.of(i) for i in unseen})
                scrub = _scrubber(mapping)
        key = scrub(path.stem)
        if entry[name] in manifest and manifest[entry[name]]["key"] != key:
            view.delete_partition(table, manifest[entry[name]]["key"])
        view.write_partition(table, key, _deidentified(table, frame, scrub, pseudonyms))
        # The overview's "last materialization" is the newest partition's time: keep the source's.
        stamp = current[name]
        os.utime(view.table_dir(table) / partition_file_name(key), ns=(stamp[0], stamp[0]))
        manifest[entry[name]] = {"table": table, "stamp": stamp, "key": key}
    atomic_write_text(manifest_path, json.dumps(manifest, indent=0, sort_keys=True))
    return view.root


def _id_map(source: Warehouse, pseudonyms: Pseudonyms) -> dict[str, str]:
    """Every original id the source holds in its patient tables, and the cohort's own spelling of it."""
    try:
        patients = queries.table(source.root, "patients")
        issues = queries.table(source.root, "case_issues")
    except queries.WarehouseMissing:
        return {}
    ids = {i for i in [*patients["patient_id"], *issues["patient_id"]] if isinstance(i, str) and i}
    mapping = {original: pseudonyms.of(original) for original in ids}
    # UCSF's CSV says "UCSF-PDGM-004" for folder UCSF-PDGM-0004: the same case, the same pseudonym.
    for patient, source_id in zip(patients["patient_id"], patients["source_id"]):
        if isinstance(source_id, str) and len(source_id) >= 3 and patient in mapping:
            mapping.setdefault(source_id, mapping[patient])
    return mapping


def _deidentified(table: str, frame: pd.DataFrame, scrub, pseudonyms: Pseudonyms) -> pd.DataFrame:
    columns = dict(TABLES[table])
    frame = frame.reindex(columns=list(columns))  # a partition written before a column was added
    if "patient_id" not in columns:
        return frame  # model-level tables: no patient in them
    for name, kind in columns.items():
        if (table, name) in _CLEARED:
            frame[name] = None
        elif name == "patient_id":
            originals = frame[name].dropna().unique()
            frame[name] = frame[name].map({o: pseudonyms.of(o) if o else o for o in originals})
        elif kind == "VARCHAR":
            # Scrub each distinct value once: features repeat a handful of strings thousands of times.
            values = frame[name].dropna().unique()
            frame[name] = frame[name].map({v: scrub(v) if isinstance(v, str) else v for v in values})
    return frame


def _scrubber(mapping: dict[str, str]):
    """Replace every original id inside a text by its pseudonym, longest ids first."""
    if not mapping:
        return lambda text: text
    pattern = re.compile("|".join(re.escape(original) for original in sorted(mapping, key=len, reverse=True)))
    return lambda text: pattern.sub(lambda match: mapping[match.group(0)], text)
