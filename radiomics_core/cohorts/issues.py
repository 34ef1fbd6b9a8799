"""Problems found in a case, reported per patient instead of crashing the cohort."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum


class IssueKind(str, Enum):
    MISSING_FILE = "missing_file"
    UNREADABLE_FILE = "unreadable_file"
    NOT_3D = "not_3d"
    NON_FINITE_VOXELS = "non_finite_voxels"
    GEOMETRY_MISMATCH = "geometry_mismatch"
    EMPTY_TUMOR_LABEL = "empty_tumor_label"
    UNKNOWN_LABEL_VALUES = "unknown_label_values"
    MISSING_SEQUENCE = "missing_sequence"
    MISSING_SEGMENTATION = "missing_segmentation"
    DUPLICATE_PATIENT_ID = "duplicate_patient_id"
    CLINICAL_WITHOUT_IMAGES = "clinical_without_images"
    IMAGES_WITHOUT_CLINICAL = "images_without_clinical"
    BAD_CLINICAL_VALUE = "bad_clinical_value"
    UNSAFE_PATH = "unsafe_path"
    TOO_LARGE = "too_large"
    PROCESSING_ERROR = "processing_error"
    RESAMPLED = "resampled"  # a volume on another grid of the same patient space: resampled
    NO_BRAIN = "no_brain"  # no brain mask and none derivable: rings are not clipped


class Severity(str, Enum):
    ERROR = "error"  # the case cannot be processed
    WARNING = "warning"  # the case is processed; the user should know
    WAITING = "waiting"  # the case is not complete yet (its segmentation is to come); not a failure


@dataclass(frozen=True)
class CaseIssue:
    """One problem with one patient's data: who, which file, what, and what to do."""

    patient_id: str
    kind: IssueKind
    message: str
    path: str = ""
    severity: Severity = Severity.ERROR
    stage: str = "ingest"

    def as_dict(self) -> dict[str, str]:
        row = asdict(self)
        row["kind"] = self.kind.value
        row["severity"] = self.severity.value
        return row

    def __str__(self) -> str:
        where = f" [{self.path}]" if self.path else ""
        return f"{self.patient_id}{where}: {self.kind.value}: {self.message}"


class CaseError(Exception):
    """Raised when a case cannot be processed; carries the issues that explain why."""

    def __init__(self, issues: list[CaseIssue]):
        self.issues = issues
        super().__init__("; ".join(str(issue) for issue in issues))
