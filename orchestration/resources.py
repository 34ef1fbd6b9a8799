"""The pipeline's one resource: where the cohort, the warehouse and the work files live, and the
science settings. It is also the project settings file (``<data_dir>/glioma-rings.yaml``):
``glioma-rings run`` writes it, ``dev``, the UI, the sensors and the automation read it, so every
run of a project uses the same rings, sequences, parameters and classifiers."""


import hashlib
import json
from dataclasses import asdict, replace
from pathlib import Path

import dagster as dg
import yaml

from radiomics_core.cohort import Cohort, CohortConfig, read_cohort
from radiomics_core.features import PYRADIOMICS_VERSION, SHAPE_SEQUENCE, ExtractionParams
from radiomics_core.preprocessing import PreprocessConfig
from radiomics_core.selection import CLASSIFIERS, classifier_order
from radiomics_core.tasks import TASKS, TaskConfig, load_task
from radiomics_core.validation import ValidationConfig
from warehouse.store import Warehouse


class PipelineResource(dg.ConfigurableResource):
    cohort_dir: str
    layout: str | None = None  # None: detected
    data_dir: str = "data"
    warehouse_dir: str | None = None  # default: <data_dir>/warehouse
    sequences: list[str] = ["T1", "T1c", "T2", "FLAIR"]
    params: str = "default"  # a shipped set ('default', 'demo') or a path to a PyRadiomics YAML
    spacing_mm: float | None = 1.0
    normalization: str = "zscore"
    n4_bias_correction: bool = False
    brain_clip: bool = True  # clip rings to the brain mask when the case has one
    rings_mm: list[float] = [1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 15.0]
    tasks: list[str] = ["grade", "mgmt"]
    # Task YAML files (the format of radiomics_core/task_presets/), each replacing the preset of its name.
    task_files: list[str] = []
    # On the selected features, side by side: "logistic" (the thesis' radscore), "svm", "random_forest".
    classifiers: list[str] = ["logistic", "svm", "random_forest"]
    max_voxels: int = 400_000_000  # per volume; larger ones fail validation instead of exhausting memory

    def save(self, path: Path) -> Path:
        """Write the settings file (atomically: the UI may be reading it)."""
        from radiomics_core.atomic_files import atomic_write_text

        text = "# glioma-rings project settings: written by `glioma-rings run`, read by `dev` and the UI.\n"
        text += yaml.safe_dump(self.settings(), sort_keys=False)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(Path(path), text)
        return Path(path)

    @classmethod
    def load(cls, path: Path) -> "PipelineResource":
        fields = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        if "classifier" in fields:  # a file from before classifiers were fitted side by side
            old = fields.pop("classifier")
            fields.setdefault("classifiers", [old] if old else list(CLASSIFIERS))
        return cls(**fields)

    def settings(self) -> dict:
        return {name: getattr(self, name) for name in type(self).model_fields}

    def settings_path(self) -> Path:
        return settings_path(self.data_dir)

    def preprocessing_identity(self) -> str:
        """A hash of every setting that changes the normalized images."""
        return _digest({"preprocess": asdict(self.preprocess_config()), "brain_clip": self.brain_clip,
                        "normalized_dtype": "float32"})

    def feature_identity(self) -> str:
        """A hash of every setting that changes a feature value: preprocessing, ring geometry and
        the PyRadiomics parameters and version. Stored with every feature row (``params_hash``)."""
        return _digest({"preprocessing": self.preprocessing_identity(), "params": self.extraction_params().hash,
                        "pyradiomics": PYRADIOMICS_VERSION})

    def stored_sequences(self) -> list[str]:
        """The ``sequence`` values a patient's features are stored under: the settings' sequences,
        plus ``mask`` for shape features when the parameters enable shape."""
        classes = self.extraction_params().content.get("featureClass") or {}
        return [*self.sequences, *([SHAPE_SEQUENCE] if any(c.startswith("shape") for c in classes) else [])]

    def cohort(self) -> Cohort:
        config = CohortConfig(layout=self.layout, sequences=tuple(self.sequences))
        return read_cohort(Path(self.cohort_dir), config)

    def warehouse(self) -> Warehouse:
        root = Path(self.warehouse_dir) if self.warehouse_dir else Path(self.data_dir) / "warehouse"
        return Warehouse(root).initialize()

    def work_dir(self, *parts: str) -> Path:
        return Path(self.data_dir, "work", *parts)

    def validation_config(self) -> ValidationConfig:
        return ValidationConfig(max_voxels=self.max_voxels)

    def task(self, name: str) -> TaskConfig:
        """The task's preset, or the task file of that name (``task_files``)."""
        files = {task.name: task for task in map(load_task, self.task_files)}
        return replace(files.get(name, TASKS[name]), classifiers=tuple(classifier_order(self.classifiers)))

    def extraction_params(self) -> ExtractionParams:
        return ExtractionParams.load(self.params)

    def preprocess_config(self) -> PreprocessConfig:
        return PreprocessConfig(spacing_mm=self.spacing_mm, normalization=self.normalization,
                                n4_bias_correction=self.n4_bias_correction)


class TciaResource(dg.ConfigurableResource):
    """Where the TCIA sensor looks (NBIA REST API v4), where its runs land downloads, how they retry."""

    base_url: str = "https://services.cancerimagingarchive.net/nbia-api/services/v4"
    collection: str = "TCGA-GBM"
    modality: str = "MR"
    landing_dir: str = "data/landing/tcia"
    since: str = ""  # YYYY-MM-DD: the first poll asks for changes since then; empty: the whole collection
    # Set both to turn a patient's landed series into a manifest row of cohort_dir once a NIfTI
    # segmentation named for the patient is in segmentation_dir (empty: series only land).
    cohort_dir: str = ""
    segmentation_dir: str = ""
    # Download only series whose SeriesDescription names T1, T1c, T2 or FLAIR (the default
    # sequence rule): a TCGA-GBM study also holds localizers, DWI, perfusion and more.
    # DICOM-SEG series (a study's segmentation) are downloaded either way.
    structural_only: bool = True
    # The collection whose new versions tcia_release_sensor reports (NIfTI-only collections such
    # as UCSF-PDGM are not in NBIA: TCIA's public collections listing states their version).
    release_collection: str = "UCSF-PDGM"
    listing_url: str = "https://cancerimagingarchive.net/api/v2"
    timeout_s: float = 120.0
    retry_attempts: int = 5
    backoff_s: float = 2.0

    def client(self, max_attempts: int | None = None, max_timeout_s: float | None = None):
        from radiomics_core.tcia import RetryPolicy, TciaClient

        attempts = min(self.retry_attempts, max_attempts or self.retry_attempts)
        return TciaClient(base_url=self.base_url, timeout_s=min(self.timeout_s, max_timeout_s or self.timeout_s),
                          retry=RetryPolicy(attempts=attempts, backoff_s=self.backoff_s))


SETTINGS_FILE = "glioma-rings.yaml"


def settings_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / SETTINGS_FILE


def _digest(content: dict) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:16]
