"""The pipeline's resources. ``PipelineResource`` is the project settings
(``radiomics_core.settings.Settings``) as Dagster run configuration: the UI shows and may
override its fields, and ``settings`` validates them through the same code that ``run`` and
``dev`` use, so a bad value is refused the same way everywhere."""

import functools
import json
from pathlib import Path

import dagster as dg

from radiomics_core.files.presets import is_file_source
from radiomics_core.settings import SETTINGS_FILE, Settings, settings_path  # noqa: F401 - re-exported
from warehouse.store import Warehouse

_DEFAULTS = Settings.__dataclass_fields__


class PipelineResource(dg.ConfigurableResource):
    cohort_dir: str
    layout: str | None = None  # None: detected
    data_dir: str = "data"
    warehouse_dir: str | None = None  # default: <data_dir>/warehouse
    sequences: list[str] = list(_DEFAULTS["sequences"].default)
    params: str = "default"  # a shipped set ('default', 'demo') or a path to a PyRadiomics YAML
    spacing_mm: float | None = 1.0
    normalization: str = "zscore"
    n4_bias_correction: bool = False
    brain_clip: bool = True  # rings never leave the case's brain
    registration: str = "none"  # "rigid": each sequence registered onto the T1c first
    rings_mm: list[float] = list(_DEFAULTS["rings_mm"].default)
    tasks: list[str] = list(_DEFAULTS["tasks"].default)
    # Task YAML files (the format of radiomics_core/tasks/presets/), each replacing the preset of its name.
    task_files: list[str] = []
    # On the selected features, side by side: "logistic" (the thesis' radscore), "svm", "random_forest".
    classifiers: list[str] = list(_DEFAULTS["classifiers"].default)
    max_voxels: int = 400_000_000  # per volume; larger ones fail validation instead of exhausting memory
    extraction_slots: int = 2  # pool limits (orchestration/pools.py), applied to the instance by the CLI
    model_fit_slots: int = 1
    download_slots: int = 2
    instance_postgres_url: str | None = None  # None: SQLite under DAGSTER_HOME
    # Each per-patient Slurm job's request (orchestration/slurm.py).
    slurm_cpus: int = 1
    slurm_memory_mb: int = 4096
    slurm_time_minutes: int = 60
    slurm_partition: str | None = None
    engine: str = "local"  # "slurm": each patient's extraction as a Slurm job (orchestration/slurm.py)
    robustness: bool = False  # perturbed features and their ICC (feature_robustness); ~6 extractions a patient
    rater_manifest: str | None = None  # CSV patient_id, rater, seg: inter-rater Dice and feature CV

    @classmethod
    def from_settings(cls, settings: Settings) -> "PipelineResource":
        return cls(**settings.to_dict())

    @classmethod
    def load(cls, path: Path) -> "PipelineResource":
        return cls.from_settings(Settings.load(path))

    @property
    def settings(self) -> Settings:
        """These fields as validated settings (raises SettingsError naming the bad key)."""
        return _validated(json.dumps({name: getattr(self, name) for name in type(self).model_fields}),
                          _file_versions([self.params, *self.task_files]))

    def warehouse(self) -> Warehouse:
        return _initialized(str(self.settings.warehouse_root))


def _file_versions(sources: list[str]) -> tuple:
    """(path, modification time) of each setting that names a file, so an edited parameter or
    task file is read again by a long-lived process (the daemon, the code server)."""
    versions = []
    for source in sources:
        path = Path(source)
        if is_file_source(source) and path.is_file():
            versions.append((source, path.stat().st_mtime_ns))
    return tuple(versions)


@functools.lru_cache(maxsize=32)
def _validated(fields_json: str, file_versions: tuple) -> Settings:
    # Settings are immutable; validating (which reads the parameter and task files) once per
    # distinct configuration and file version keeps each asset's access free.
    return Settings.from_dict(json.loads(fields_json), source="pipeline resource")


@functools.lru_cache(maxsize=32)
def _warehouse(root: str) -> Warehouse:
    return Warehouse(Path(root)).initialize()


def _initialized(root: str) -> Warehouse:
    """The warehouse at ``root``, initialized once per process (re-initialized if it was removed)."""
    warehouse = _warehouse(root)
    if not warehouse.database.exists():
        _warehouse.cache_clear()
        warehouse = _warehouse(root)
    return warehouse


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
        from radiomics_core.tcia.client import RetryPolicy, TciaClient

        attempts = min(self.retry_attempts, max_attempts or self.retry_attempts)
        return TciaClient(base_url=self.base_url, timeout_s=min(self.timeout_s, max_timeout_s or self.timeout_s),
                          retry=RetryPolicy(attempts=attempts, backoff_s=self.backoff_s))
