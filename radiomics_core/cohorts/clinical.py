"""Clinical records: typed fields normalized from each collection's own spellings.

The original row is always kept in ``ClinicalRecord.raw`` so nothing the user supplied is lost.
Values we cannot interpret become ``None`` and are reported as problems, never guessed.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

# Column names as the collections spell them, mapped to our typed fields.
UCSF_COLUMNS = {
    "id": "ID",
    "sex": "Sex",
    "age": "Age at MRI",
    "who_grade": "WHO CNS Grade",
    "mgmt": "MGMT status",
    "idh": "IDH",
    "diagnosis": "Final pathologic diagnosis (WHO 2021)",
    "biopsy_prior_to_imaging": "Biopsy prior to imaging",
    "brats21_id": "BraTS21 ID",
    "brats21_mgmt_cohort": "BraTS21 MGMT Cohort",
}
GENERIC_COLUMNS = {
    "id": "patient_id",
    "sex": "sex",
    "age": "age",
    "who_grade": "who_grade",
    "mgmt": "mgmt_methylated",
    "idh": "idh",
    "diagnosis": "diagnosis",
    "biopsy_prior_to_imaging": "biopsy_prior_to_imaging",
    "brats21_id": "brats21_id",
    "brats21_mgmt_cohort": "brats21_mgmt_cohort",
}

_MISSING = {"", "unknown", "na", "n/a", "nan", "none", "indeterminate", "not available"}
_MGMT = {
    "positive": True, "methylated": True, "true": True, "1": True, "yes": True,
    "negative": False, "unmethylated": False, "false": False, "0": False, "no": False,
}
_SEX = {"m": "M", "male": "M", "f": "F", "female": "F"}
_YES_NO = {"yes": True, "y": True, "true": True, "1": True, "no": False, "n": False, "false": False, "0": False}


@dataclass(frozen=True)
class ClinicalProblem:
    """A clinical value we could not interpret."""

    column: str
    value: str
    message: str


@dataclass(frozen=True)
class ClinicalRecord:
    """One patient's clinical data: typed fields plus the original row."""

    source_id: str
    sex: str | None = None
    age: float | None = None
    who_grade: int | None = None
    mgmt_methylated: bool | None = None
    idh: str | None = None
    diagnosis: str | None = None  # as written, e.g. "Glioblastoma, IDH-wildtype" (WHO 2021)
    biopsy_prior_to_imaging: bool | None = None  # True: not a preoperative baseline exam
    brats21_id: str | None = None  # the same subject's BraTS 2021 case, e.g. "BraTS2021_00097"
    # The BraTS 2021 MGMT challenge's set the exam is in ("Training", "Validation"), as written.
    brats21_mgmt_cohort: str | None = None
    raw: dict[str, str] = field(default_factory=dict)
    problems: tuple[ClinicalProblem, ...] = ()


def _is_missing(value: str | None) -> bool:
    return value is None or value.strip().lower() in _MISSING


def _spelled(value: str | None, spellings: dict, expected: str):
    """The value ``spellings`` gives ``value`` (case and surrounding space ignored); None when it
    is missing; a ValueError saying ``expected`` when it is spelled some other way."""
    if _is_missing(value):
        return None
    try:
        return spellings[value.strip().lower()]
    except KeyError:
        raise ValueError(expected) from None


def parse_sex(value: str | None) -> str | None:
    return _spelled(value, _SEX, f"sex {value!r} is not one of M, F, male, female")


def parse_age(value: str | None) -> float | None:
    if _is_missing(value):
        return None
    try:
        age = float(value)
    except ValueError:
        raise ValueError(f"age {value!r} is not a number") from None
    if not math.isfinite(age) or not 0 <= age <= 120:
        raise ValueError(f"age {value!r} is outside 0-120 years")
    return age


def parse_who_grade(value: str | None) -> int | None:
    if _is_missing(value):
        return None
    match = re.fullmatch(r"\s*(?:who\s*)?(?:grade\s*)?([1-4]|i{1,3}|iv)\s*", value.strip().lower())
    if not match:
        raise ValueError(f"WHO grade {value!r} is not 1-4 (or I-IV)")
    token = match.group(1)
    return {"i": 1, "ii": 2, "iii": 3, "iv": 4}.get(token) or int(token)


def parse_mgmt(value: str | None) -> bool | None:
    return _spelled(value, _MGMT,
                    f"MGMT status {value!r} is not one of positive/methylated, negative/unmethylated, unknown")


def parse_idh(value: str | None) -> str | None:
    """UCSF-PDGM writes ``wildtype`` or the variant (``IDH1 p.R132H``, ``mutated (NOS)``)."""
    if _is_missing(value):
        return None
    text = value.strip().lower()
    if text in {"wildtype", "wild-type", "wild type", "wt", "negative"}:
        return "wildtype"
    if "mut" in text or re.search(r"idh[12]", text) or text in {"positive", "mutant"}:
        return "mutant"
    raise ValueError(f"IDH {value!r} is neither wildtype nor a mutation")


def parse_diagnosis(value: str | None) -> str | None:
    """Kept as written (whitespace collapsed): task rules match it case-insensitively."""
    if _is_missing(value):
        return None
    return " ".join(value.split())


def parse_yes_no(value: str | None) -> bool | None:
    return _spelled(value, _YES_NO, f"{value!r} is not yes or no")


_BRATS21 = re.compile(r"(?:brats(?:20)?21[_-]?)?(\d{1,5})", re.IGNORECASE)


def parse_brats21_id(value: str | None) -> str | None:
    """``BraTS2021_00097`` as BraTS 2021 names its case folders (a bare number is accepted too)."""
    if _is_missing(value):
        return None
    match = _BRATS21.fullmatch(value.strip())
    if not match:
        raise ValueError(f"BraTS21 ID {value!r} is not BraTS2021_NNNNN")
    return f"BraTS2021_{int(match.group(1)):05d}"


def parse_text(value: str | None) -> str | None:
    """A label kept as written (whitespace collapsed), such as a BraTS 2021 cohort's name."""
    if _is_missing(value):
        return None
    return " ".join(value.split())


_PARSERS = {
    "sex": parse_sex,
    "age": parse_age,
    "who_grade": parse_who_grade,
    "mgmt": parse_mgmt,
    "idh": parse_idh,
    "diagnosis": parse_diagnosis,
    "biopsy_prior_to_imaging": parse_yes_no,
    "brats21_id": parse_brats21_id,
    "brats21_mgmt_cohort": parse_text,
}


def record_from_row(row: dict[str, str], columns: dict[str, str]) -> ClinicalRecord:
    """Normalize one CSV row; unparseable values become None plus a ClinicalProblem."""
    values: dict[str, object] = {}
    problems: list[ClinicalProblem] = []
    for name, parse in _PARSERS.items():
        column = columns.get(name, name)
        raw_value = row.get(column)
        try:
            values[name] = parse(raw_value)
        except ValueError as error:
            values[name] = None
            problems.append(ClinicalProblem(column, str(raw_value), str(error)))
    return ClinicalRecord(
        source_id=row[columns["id"]].strip(),
        sex=values["sex"],
        age=values["age"],
        who_grade=values["who_grade"],
        mgmt_methylated=values["mgmt"],
        idh=values["idh"],
        diagnosis=values["diagnosis"],
        biopsy_prior_to_imaging=values["biopsy_prior_to_imaging"],
        brats21_id=values["brats21_id"],
        brats21_mgmt_cohort=values["brats21_mgmt_cohort"],
        raw={key: (val or "") for key, val in row.items() if key is not None},
        problems=tuple(problems),
    )


def read_clinical_csv(path: Path, columns: dict[str, str]) -> list[ClinicalRecord]:
    """Read a clinical CSV whose header contains ``columns``' values (id column required)."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        if columns["id"] not in header:
            raise ValueError(f"{path}: clinical CSV has no {columns['id']!r} column (header: {header})")
        return [record_from_row(row, columns) for row in reader if (row.get(columns["id"]) or "").strip()]
