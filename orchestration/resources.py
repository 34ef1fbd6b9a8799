"""The pipeline's one resource: where the cohort, the warehouse and the work files live, and the
science settings. Dagster config, not globals: change it in the launchpad or in definitions."""


from dataclasses import replace
from pathlib import Path

import dagster as dg

from radiomics_core.cohort import Cohort, CohortConfig, read_cohort
from radiomics_core.features import ExtractionParams
from radiomics_core.preprocessing import PreprocessConfig
from radiomics_core.tasks import TASKS, TaskConfig
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
    classifier: str = "logistic"  # on the selected features: "logistic" (the thesis), "svm", "random_forest"
    max_voxels: int = 400_000_000  # per volume; larger ones fail validation instead of exhausting memory

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
        return replace(TASKS[name], classifier=self.classifier)

    def extraction_params(self) -> ExtractionParams:
        return ExtractionParams.load(self.params)

    def preprocess_config(self) -> PreprocessConfig:
        return PreprocessConfig(spacing_mm=self.spacing_mm, normalization=self.normalization,
                                n4_bias_correction=self.n4_bias_correction)


class TciaResource(dg.ConfigurableResource):
    """Where the TCIA poller looks (NBIA REST API v4) and where it lands downloads."""

    base_url: str = "https://services.cancerimagingarchive.net/nbia-api/services/v4"
    collection: str = "TCGA-GBM"
    modality: str = "MR"
    landing_dir: str = "data/landing/tcia"
