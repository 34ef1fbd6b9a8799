"""Cohorts and cases from the layouts users download: UCSF-PDGM, BraTS 2021/2023, a manifest CSV.

Discovery only looks at file names and the clinical CSV; reading voxels is validation's job
(``radiomics_core.cohorts.validation``). Every problem becomes a ``CaseIssue`` for its own patient.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from radiomics_core.cohorts.clinical import (
    GENERIC_COLUMNS,
    UCSF_COLUMNS,
    ClinicalRecord,
    read_clinical_csv,
    record_from_row,
)
from radiomics_core.cohorts.ids import safe_partition_key
from radiomics_core.cohorts.issues import CaseIssue, IssueKind, Severity

SEQUENCES = ("T1", "T1c", "T2", "FLAIR")
LAYOUTS = ("ucsf-pdgm", "brats2021", "brats2023", "manifest")
MANIFEST = "manifest.csv"  # at a cohort's root: the manifest layout, or cases added to a folder layout


@dataclass(frozen=True)
class LabelScheme:
    """Which label values a segmentation may hold and which of them form the tumor (VOI_T)."""

    name: str
    allowed: frozenset[int]
    tumor: frozenset[int]


# UCSF-PDGM and BraTS 2021 use BraTS' legacy labels (1 NCR, 2 ED, 4 ET); some UCSF releases
# write 3 for enhancing, so 3 is accepted there too. BraTS 2023 GLI moved ET to 3.
UCSF_LABELS = LabelScheme("brats-legacy", frozenset({0, 1, 2, 3, 4}), frozenset({1, 2, 3, 4}))
BRATS2021_LABELS = LabelScheme("brats2021", frozenset({0, 1, 2, 4}), frozenset({1, 2, 4}))
BRATS2023_LABELS = LabelScheme("brats2023", frozenset({0, 1, 2, 3}), frozenset({1, 2, 3}))


@dataclass(frozen=True)
class Case:
    """One exam: its volumes by sequence, its segmentation, optional brain mask and clinical row."""

    patient_id: str  # safe as a Dagster partition key and a file name
    source_id: str  # as the collection spells it
    layout: str
    folder: Path
    images: dict[str, Path]
    segmentation: Path | None
    labels: LabelScheme
    brain_mask: Path | None = None
    clinical: ClinicalRecord | None = None

    def files(self) -> dict[str, Path]:
        """Every file of the case keyed by role (sequence name, 'segmentation', 'brain_mask')."""
        roles = dict(self.images)
        if self.segmentation is not None:
            roles["segmentation"] = self.segmentation
        if self.brain_mask is not None:
            roles["brain_mask"] = self.brain_mask
        return roles


@dataclass
class Cohort:
    """The cases found under one folder plus the problems found while finding them."""

    root: Path
    layout: str
    cases: list[Case]
    issues: list[CaseIssue] = field(default_factory=list)

    def case(self, patient_id: str) -> Case:
        for case in self.cases:
            if case.patient_id == patient_id:
                return case
        raise KeyError(f"no patient {patient_id!r} in cohort {self.root}")

    def issues_for(self, patient_id: str) -> list[CaseIssue]:
        return [issue for issue in self.issues if issue.patient_id == patient_id]


@dataclass(frozen=True)
class CohortConfig:
    """How to read a cohort folder."""

    layout: str | None = None  # None: detect from the folder's contents
    sequences: tuple[str, ...] = SEQUENCES
    clinical_csv: Path | None = None  # None: look for one at the cohort root


# --- layout detection -------------------------------------------------------------------------

_UCSF_DIR = re.compile(r"^(UCSF-PDGM-\d{3,4}(?:_FU\w+)?)_nifti$")
_BRATS21_DIR = re.compile(r"^(BraTS2021_\d{5})$")
_BRATS23_DIR = re.compile(r"^(BraTS-GLI-\d{5}-\d{3})$")
_DIR_PATTERNS = {"ucsf-pdgm": _UCSF_DIR, "brats2021": _BRATS21_DIR, "brats2023": _BRATS23_DIR}
_MAX_DEPTH = 3  # package roots such as "PKG - UCSF-PDGM-v3-20230111/UCSF-PDGM-v3/"


def _case_folders(root: Path, pattern: re.Pattern[str]) -> list[Path]:
    found: list[Path] = []
    level = [root]
    for _ in range(_MAX_DEPTH):
        next_level: list[Path] = []
        for folder in level:
            for child in sorted(folder.iterdir()):
                if not child.is_dir():
                    continue
                if pattern.match(child.name):
                    found.append(child)
                else:
                    next_level.append(child)
        level = next_level
    return found


def detect_layout(root: Path) -> str:
    """Name the layout of ``root`` or raise ValueError saying what was looked for."""
    root = Path(root)
    if root.is_file() and root.suffix.lower() == ".csv":
        return "manifest"
    if not root.is_dir():
        raise ValueError(f"{root}: cohort folder does not exist")
    counts = {name: len(_case_folders(root, pattern)) for name, pattern in _DIR_PATTERNS.items()}
    best = max(counts, key=counts.get)
    # Case folders win over a manifest.csv beside them: read_cohort adds the manifest's rows
    # (cases landed from TCIA, say) to a folder layout's cases.
    if counts[best] == 0 and (root / MANIFEST).is_file():
        return "manifest"
    if counts[best] == 0:
        raise ValueError(
            f"{root}: no cases found. Expected UCSF-PDGM-XXXX_nifti/, BraTS2021_NNNNN/ or "
            "BraTS-GLI-NNNNN-NNN/ folders, or a manifest.csv; pass --layout to choose one."
        )
    return best


def read_cohort(root: Path, config: CohortConfig = CohortConfig()) -> Cohort:
    """Find every case under ``root`` in the configured (or detected) layout."""
    return _read_cohort(Path(root), config, config.layout or detect_layout(Path(root)))[0]


def _read_cohort(root: Path, config: CohortConfig, layout: str
                 ) -> tuple[Cohort, Path | None, dict[str, ClinicalRecord]]:
    """The cohort, its clinical CSV and that CSV's records by patient id (none for a manifest)."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    clinical_path, clinical = None, {}
    if layout == "manifest":
        manifest = root if root.is_file() else root / MANIFEST
        cohort = _read_manifest(manifest, config)
    else:
        clinical_path, by_key, clinical_issues = _clinical_records(root, layout, config)
        clinical = {safe_partition_key(k): r for k, r in by_key.items()}
        cohort = _read_folders(root, layout, config, clinical_path, by_key, clinical_issues)
        if (root / MANIFEST).is_file():
            cohort = _with_manifest_cases(cohort, _read_manifest(root / MANIFEST, config), clinical, clinical_path)
    cohort.cases.sort(key=lambda case: case.patient_id)
    _flag_duplicates(cohort)
    return cohort, clinical_path, clinical


@dataclass(frozen=True)
class CohortMetadata:
    """Every exam a cohort names, read without opening an image: its cases (found by file name)
    and the rows of its clinical sheet, each exam with its clinical record (None: no row)."""

    root: Path
    layout: str
    clinical_csv: Path | None
    records: dict[str, ClinicalRecord | None]  # patient_id -> record, sorted by patient_id
    with_images: frozenset[str]  # the exams with a case (folder or manifest row) under root
    # patient_id -> its case's layout (manifest rows beside case folders are "manifest");
    # an exam of the clinical sheet alone is of ``layout``.
    layouts: dict[str, str] = field(default_factory=dict)

    def layout_of(self, patient_id: str) -> str:
        return self.layouts.get(patient_id, self.layout)


def read_cohort_metadata(root: Path, config: CohortConfig = CohortConfig()) -> CohortMetadata:
    """The exams ``root`` names, from file names and its clinical sheet alone. ``root`` may be a
    cohort folder, a folder holding only the clinical sheet (read in the layout whose id column
    its header has: UCSF-PDGM's ``ID``, else ``patient_id``), a manifest, or a clinical sheet."""
    root = Path(root)
    if root.is_file() and root.suffix.lower() == ".csv" and not _is_manifest(root):
        return _sheet_metadata(root.parent, replace(config, clinical_csv=root), config.layout)
    layout = config.layout
    if layout is None:
        try:
            layout = detect_layout(root)
        except ValueError:
            if not root.is_dir():
                raise
            return _sheet_metadata(root, config, None)
    cohort, clinical_path, clinical = _read_cohort(root, config, layout)
    metadata = _metadata(cohort.root, layout, clinical_path, {case.patient_id: case.clinical for case in cohort.cases},
                         clinical)
    return replace(metadata, layouts={case.patient_id: case.layout for case in cohort.cases})


def _header(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return next(csv.reader(handle), [])


def _is_manifest(path: Path) -> bool:
    header = _header(path)
    return "patient_id" in header and "seg" in header


def _sheet_metadata(root: Path, config: CohortConfig, layout: str | None) -> CohortMetadata:
    """A clinical sheet without images: its rows are the exams (ids as the layout keys them)."""
    for candidate in [layout] if layout else ["ucsf-pdgm", "brats2021"]:
        path, columns = _find_clinical_csv(root, candidate, config)
        if path is not None and columns["id"] in _header(path):
            _, by_key, _ = _clinical_records(root, candidate, replace(config, clinical_csv=path))
            return _metadata(root, candidate, path, {}, {safe_partition_key(k): r for k, r in by_key.items()})
    raise ValueError(f"{root}: no cases and no clinical sheet found (a CSV with a {UCSF_COLUMNS['id']!r} "
                     f"or {GENERIC_COLUMNS['id']!r} column)")


def _metadata(root: Path, layout: str, clinical_path: Path | None, cases: dict[str, ClinicalRecord | None],
              clinical: dict[str, ClinicalRecord]) -> CohortMetadata:
    records = {**clinical, **cases}  # a case's own record (a manifest row's columns) wins
    return CohortMetadata(root, layout, clinical_path, dict(sorted(records.items())), frozenset(cases))


# --- folder layouts ----------------------------------------------------------------------------

_FILE_SUFFIXES = {
    "ucsf-pdgm": ({"T1": "T1", "T1c": "T1c", "T2": "T2", "FLAIR": "FLAIR"}, "tumor_segmentation", "brain_segmentation"),
    "brats2021": ({"T1": "t1", "T1c": "t1ce", "T2": "t2", "FLAIR": "flair"}, "seg", None),
    "brats2023": ({"T1": "t1n", "T1c": "t1c", "T2": "t2w", "FLAIR": "t2f"}, "seg", None),
}
_LAYOUT_LABELS = {"ucsf-pdgm": UCSF_LABELS, "brats2021": BRATS2021_LABELS, "brats2023": BRATS2023_LABELS}
_SEP = {"ucsf-pdgm": "_", "brats2021": "_", "brats2023": "-"}


def ucsf_key(identifier: str) -> str:
    """Match UCSF-PDGM ids across the CSV (3 digits) and folders (4 digits) on the integer."""
    match = re.match(r"^UCSF-PDGM-(\d+)(_FU\w+)?", identifier.strip())
    if not match:
        return identifier.strip()
    return f"UCSF-PDGM-{int(match.group(1)):04d}{match.group(2) or ''}"


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


def _find_clinical_csv(root: Path, layout: str, config: CohortConfig) -> tuple[Path | None, dict[str, str]]:
    columns = UCSF_COLUMNS if layout == "ucsf-pdgm" else GENERIC_COLUMNS
    if config.clinical_csv is not None:
        return Path(config.clinical_csv), columns
    for candidate in sorted(p for p in root.glob("*.csv") if p.name != MANIFEST):
        if columns["id"] in _header(candidate):
            return candidate, columns
    return None, columns


def _clinical_key(layout: str):
    return ucsf_key if layout == "ucsf-pdgm" else str.strip


def _clinical_records(root: Path, layout: str, config: CohortConfig
                      ) -> tuple[Path | None, dict[str, ClinicalRecord], list[CaseIssue]]:
    """The folder layout's clinical CSV, its records by matching key, and its duplicate rows."""
    key = _clinical_key(layout)
    clinical_path, columns = _find_clinical_csv(root, layout, config)
    clinical: dict[str, ClinicalRecord] = {}
    issues: list[CaseIssue] = []
    if clinical_path is not None:
        for record in read_clinical_csv(clinical_path, columns):
            record_key = key(record.source_id)
            if record_key in clinical:
                issues.append(CaseIssue(safe_partition_key(record_key), IssueKind.DUPLICATE_PATIENT_ID,
                                        f"clinical CSV has more than one row for {record.source_id}; keep one",
                                        str(clinical_path)))
            clinical[record_key] = record
    return clinical_path, clinical, issues


def _read_folders(root: Path, layout: str, config: CohortConfig, clinical_path: Path | None,
                  clinical: dict[str, ClinicalRecord], clinical_issues: list[CaseIssue]) -> Cohort:
    """The layout's case folders, matched to ``clinical`` (``_clinical_records``, read once by
    ``read_cohort`` for the folders and the manifest rows beside them)."""
    suffixes, seg_suffix, brain_suffix = _FILE_SUFFIXES[layout]
    sep = _SEP[layout]
    key = _clinical_key(layout)
    issues = list(clinical_issues)

    cases: list[Case] = []
    matched: set[str] = set()
    for folder in _case_folders(root, _DIR_PATTERNS[layout]):
        source_id = _DIR_PATTERNS[layout].match(folder.name).group(1)
        patient_id = safe_partition_key(key(source_id))

        def path_for(suffix: str) -> Path:
            return folder / f"{source_id}{sep}{suffix}.nii.gz"

        images = {seq: path_for(suffixes[seq]) for seq in config.sequences if seq in suffixes}
        for seq in config.sequences:
            if seq not in suffixes:
                issues.append(CaseIssue(patient_id, IssueKind.MISSING_SEQUENCE,
                                        f"layout {layout} has no sequence named {seq}", str(folder)))
        brain = path_for(brain_suffix) if brain_suffix else None
        record = clinical.get(key(source_id))
        matched.add(key(source_id))
        if clinical_path is not None and record is None:
            issues.append(CaseIssue(patient_id, IssueKind.IMAGES_WITHOUT_CLINICAL,
                                    f"no row for {source_id} in the clinical CSV; add one to use this case in models",
                                    str(clinical_path), Severity.WARNING))
        cases.append(Case(patient_id, source_id, layout, folder, images, path_for(seg_suffix),
                          _LAYOUT_LABELS[layout], brain if brain and brain.exists() else None, record))
        issues.extend(_file_issues(cases[-1], root))
        if record is not None:
            issues.extend(_clinical_issues(patient_id, record, clinical_path))
    for record_key, record in clinical.items():
        if record_key in matched:
            continue
        issues.append(CaseIssue(safe_partition_key(record_key), IssueKind.CLINICAL_WITHOUT_IMAGES,
                                f"clinical row {record.source_id} has no image folder under {root}",
                                str(clinical_path), Severity.WARNING))
    return Cohort(root, layout, cases, issues)


def _file_issues(case: Case, root: Path) -> list[CaseIssue]:
    issues: list[CaseIssue] = []
    for role, path in case.files().items():
        if path.is_symlink() and not _inside(path, root):
            issues.append(CaseIssue(case.patient_id, IssueKind.UNSAFE_PATH,
                                    f"{role} is a link to {path.resolve()}, outside the cohort folder; copy the file in instead",
                                    str(path)))
        elif not path.exists():
            kind = IssueKind.MISSING_SEGMENTATION if role == "segmentation" else (
                IssueKind.MISSING_SEQUENCE if role in case.images else IssueKind.MISSING_FILE)
            issues.append(CaseIssue(case.patient_id, kind, f"{role} file is missing", str(path)))
    return issues


def _clinical_issues(patient_id: str, record: ClinicalRecord, path: Path | None) -> list[CaseIssue]:
    return [
        CaseIssue(patient_id, IssueKind.BAD_CLINICAL_VALUE,
                  f"column {problem.column!r}: {problem.message}; it is treated as unknown",
                  str(path or ""), Severity.WARNING)
        for problem in record.problems
    ]


# --- manifest ----------------------------------------------------------------------------------

_LABEL_SCHEMES = {"brats-legacy": UCSF_LABELS, "brats2021": BRATS2021_LABELS, "brats2023": BRATS2023_LABELS}


def _read_manifest(manifest: Path, config: CohortConfig) -> Cohort:
    """A CSV with patient_id, one column per sequence, seg, brain_mask and clinical columns.

    Paths are relative to the manifest's folder; a path to a folder is read as a DICOM series.
    An optional ``labels`` column names the label scheme (default: brats-legacy).
    """
    if not manifest.is_file():
        raise ValueError(f"{manifest}: manifest file does not exist")
    root = manifest.parent
    with open(manifest, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "patient_id" not in rows[0] or "seg" not in rows[0]:
        raise ValueError(f"{manifest}: a manifest needs the columns patient_id and seg (and one per sequence)")
    cases: list[Case] = []
    issues: list[CaseIssue] = []
    for row in rows:
        source_id = (row.get("patient_id") or "").strip()
        patient_id = safe_partition_key(source_id)

        def resolve(value: str | None) -> Path | None:
            return (root / value.strip()) if value and value.strip() else None

        images: dict[str, Path] = {}
        for seq in config.sequences:
            path = resolve(row.get(seq))
            if path is None:
                issues.append(CaseIssue(patient_id, IssueKind.MISSING_SEQUENCE,
                                        f"manifest gives no file for sequence {seq}", str(manifest)))
            else:
                images[seq] = path
        scheme = _LABEL_SCHEMES.get((row.get("labels") or "brats-legacy").strip(), UCSF_LABELS)
        record = record_from_row(row, GENERIC_COLUMNS) if any(
            row.get(col) for col in ("sex", "age", "who_grade", "mgmt_methylated", "idh")) else None
        case = Case(patient_id, source_id, "manifest", root, images, resolve(row.get("seg")), scheme,
                    resolve(row.get("brain_mask")), record)
        cases.append(case)
        issues.extend(_file_issues(case, root))
        if case.segmentation is None:
            issues.append(CaseIssue(patient_id, IssueKind.MISSING_SEGMENTATION,
                                    "manifest gives no segmentation (seg column)", str(manifest)))
        for role, path in case.files().items():
            if not _inside(path, root) and not path.is_symlink():
                issues.append(CaseIssue(patient_id, IssueKind.UNSAFE_PATH,
                                        f"{role} path leaves the manifest's folder; keep cohort files under {root}",
                                        str(path)))
        if record is not None:
            issues.extend(_clinical_issues(patient_id, record, manifest))
    return Cohort(root, "manifest", cases, issues)


def _with_manifest_cases(folders: Cohort, manifest: Cohort, clinical: dict[str, ClinicalRecord],
                         clinical_path: Path | None) -> Cohort:
    """A folder layout's cases plus its manifest's. A manifest row naming a case folder's images
    replaces that folder case: the row is the user's explicit choice (its clinical columns,
    its sequences), and the same exam must not become two cases. A manifest row without clinical
    columns takes its patient's row of the cohort's clinical CSV (``clinical``, by patient id),
    so one clinical sheet can cover the folders and the cases landed beside them."""
    named = {path.resolve() for case in manifest.cases for path in case.images.values()}
    replaced = {case.patient_id for case in folders.cases
                if any(path.resolve() in named for path in case.images.values())}
    added = [case if case.clinical is not None or case.patient_id not in clinical
             else replace(case, clinical=clinical[case.patient_id]) for case in manifest.cases]
    matched = {case.patient_id for case in added if case.patient_id in clinical}
    cases = [case for case in folders.cases if case.patient_id not in replaced] + added
    issues = [issue for issue in folders.issues if issue.patient_id not in replaced
              and not (issue.patient_id in matched and issue.kind == IssueKind.CLINICAL_WITHOUT_IMAGES)]
    issues += [issue for pid in sorted(matched) for issue in _clinical_issues(pid, clinical[pid], clinical_path)]
    return Cohort(folders.root, folders.layout, cases, issues + manifest.issues)


def _flag_duplicates(cohort: Cohort) -> None:
    counts = Counter(case.patient_id for case in cohort.cases)
    for case in cohort.cases:
        if counts[case.patient_id] > 1:
            cohort.issues.append(CaseIssue(case.patient_id, IssueKind.DUPLICATE_PATIENT_ID,
                                           f"{counts[case.patient_id]} cases share this patient id; keep one folder or rename",
                                           str(case.folder)))

