"""The project's settings: one typed, frozen, validated object, and the ``Ring`` value type.

``Settings`` is what ``glioma-rings run`` writes to ``<data_dir>/glioma-rings.yaml`` and what
``dev``, the Dagster UI, its sensors and its automation read back, so every run of a project uses
the same rings, sequences, parameters and classifiers. Constructing one validates everything
(positive rings, known tasks and classifiers, task files, the PyRadiomics parameters against
PyRadiomics' own schema), so a bad setting is refused before any run starts, naming the file and
the key. It owns the one identity hash stored with every feature row (``feature_identity``).

A ``Ring`` is VOI_T (0 mm) or the peritumoral band up to ``mm`` outside it. It alone formats and
parses its label ("VOI_T", "3 mm"), its partition key ("T", "3"), its warehouse key
("<patient>__3"), its mask file and its Combined-model column prefix ("P3:"); nothing else
builds or splits those strings.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Iterable

import yaml


SETTINGS_FILE = "glioma-rings.yaml"
SEQUENCES = ("T1", "T1c", "T2", "FLAIR")
NORMALIZATIONS = ("zscore", "none")


VOI_T_KEY = "T"


ENGINES = ("local", "slurm")  # where a patient's extraction runs


class SettingsError(ValueError):
    """A setting that cannot work; the message names the file (or option) and the key."""


@dataclass(frozen=True, order=True)
class Ring:
    """VOI_T (``mm == 0``) or the peritumoral ring VOI_P of ``mm`` millimetres."""

    mm: float

    def __post_init__(self) -> None:
        mm = float(self.mm)
        if not mm >= 0 or mm == float("inf"):
            raise SettingsError(f"ring {self.mm!r} mm: a ring's distance must be a positive number of mm")
        object.__setattr__(self, "mm", mm)

    @classmethod
    def voi_t(cls) -> "Ring":
        return cls(0.0)

    @classmethod
    def of(cls, mm: float | str) -> "Ring":
        """A peritumoral ring of ``mm`` > 0 (what a user writes in ``--rings`` or ``rings_mm``)."""
        try:
            value = float(mm)
        except (TypeError, ValueError):
            raise SettingsError(f"ring {mm!r}: a ring's distance must be a positive number of mm") from None
        if not value > 0:
            raise SettingsError(f"ring {mm!r} mm: a ring's distance must be a positive number of mm")
        return cls(value)

    @classmethod
    def from_key(cls, key: str) -> "Ring":
        """The ring of a partition key ("T" or "3")."""
        return cls.voi_t() if key == VOI_T_KEY else cls.of(key)

    @property
    def is_voi_t(self) -> bool:
        return self.mm == 0

    @property
    def key(self) -> str:
        """The ring dimension's partition key: "T" for VOI_T, else the distance ("3", "2.5")."""
        return VOI_T_KEY if self.is_voi_t else f"{self.mm:g}"

    @property
    def label(self) -> str:
        """How tables and charts name it: "VOI_T" or "3 mm"."""
        return "VOI_T" if self.is_voi_t else f"{self.mm:g} mm"

    @property
    def column_prefix(self) -> str:
        """How a Combined model names this VOI's columns: "T:" (VOI_T) or "P3:" (the 3 mm ring)."""
        return f"{VOI_T_KEY}:" if self.is_voi_t else f"P{self.key}:"

    @classmethod
    def from_column(cls, column: str) -> "Ring | None":
        """The VOI a Combined model's column comes from, or None for a column without a prefix."""
        prefix, colon, _ = column.partition(":")
        if not colon:
            return None
        return cls.voi_t() if prefix == VOI_T_KEY else cls.of(prefix.removeprefix("P"))

    @property
    def mask_file(self) -> str:
        """The ring's mask file in a patient's folder of ``work/rings``."""
        return f"ring_{self.key}.nii.gz"

    def warehouse_key(self, patient_id: str) -> str:
        """The warehouse partition of this patient's ring (features, ring_volumes)."""
        return f"{patient_id}__{self.key}"

    def __str__(self) -> str:
        return self.label


def rings_with_voi_t(rings_mm: Iterable[float]) -> tuple[Ring, ...]:
    """VOI_T, then the rings in increasing distance (each once)."""
    return (Ring.voi_t(), *sorted({Ring.of(d) for d in rings_mm}))


@dataclass(frozen=True)
class Settings:
    """Everything a run of the project needs to know; validated on construction."""

    cohort_dir: str
    layout: str | None = None  # None: detected
    data_dir: str = "data"
    warehouse_dir: str | None = None  # default: <data_dir>/warehouse
    sequences: tuple[str, ...] = SEQUENCES
    params: str = "default"  # a shipped set ('default', 'demo') or a path to a PyRadiomics YAML
    spacing_mm: float | None = 1.0
    normalization: str = "zscore"
    n4_bias_correction: bool = False
    brain_clip: bool = True  # rings never leave the case's brain
    # "rigid": register each sequence onto the T1c first (native-space studies); "none": as they lie.
    registration: str = "none"
    rings_mm: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 15.0)
    tasks: tuple[str, ...] = ("grade", "mgmt")
    # Task YAML files (the format of radiomics_core/tasks/presets/), each replacing the preset of its name.
    task_files: tuple[str, ...] = ()
    # On the selected features, side by side: "logistic" (the thesis' radscore), "svm", "random_forest".
    classifiers: tuple[str, ...] = ("logistic", "svm", "random_forest")
    max_voxels: int = 400_000_000  # per volume; larger ones fail validation instead of exhausting memory
    # How many steps of each kind may run at once across all runs (Dagster pools; defaults for 2 cores).
    extraction_slots: int = 2  # a patient's rings and PyRadiomics: one core and up to ~3 GiB each
    model_fit_slots: int = 1  # a task's cross-validated selection and classifiers
    download_slots: int = 2  # TCIA series downloads (NBIA asks for few parallel clients)
    # The Dagster instance's storage (runs, events, schedules) on PostgreSQL, e.g.
    # "postgresql://dagster@db-host:5432/dagster" (a password belongs in ~/.pgpass or PGPASSWORD,
    # not in this file); None: SQLite under DAGSTER_HOME, for one machine.
    instance_postgres_url: str | None = None
    # What each per-patient Slurm job asks for (sbatch --cpus-per-task, --mem, --time, --partition).
    slurm_cpus: int = 1
    slurm_memory_mb: int = 4096
    slurm_time_minutes: int = 60
    slurm_partition: str | None = None  # None: the cluster's default partition
    # Where each patient's extraction runs: "local" (in its Dagster run's process) or "slurm"
    # (one Slurm job per patient, slurm_* above, through Dagster Pipes).
    engine: str = "local"
    # The robustness assets: every patient's VOI_T perturbed (radiomics_core.robustness), its
    # features re-extracted per perturbation (about 6 extractions a patient), ICC per feature.
    robustness: bool = False
    # A CSV (patient_id, rater, seg) naming several segmentations of some cases: their Dice per
    # VOI and each feature's coefficient of variation across them (radiomics_core.robustness.raters).
    rater_manifest: str | None = None
    source: str = field(default="settings", compare=False)  # where they came from, for messages

    def __post_init__(self) -> None:
        from radiomics_core.cohorts.layouts import LAYOUTS
        from radiomics_core.tasks.config import CLASSIFIERS, TASK_PRESETS, classifier_order

        where = self.source
        set_ = functools.partial(object.__setattr__, self)
        set_("sequences", tuple(str(s) for s in self.sequences))
        set_("tasks", tuple(str(t) for t in self.tasks))
        set_("task_files", tuple(str(f) for f in self.task_files))
        if self.layout is not None and self.layout not in LAYOUTS:
            raise SettingsError(f"{where}: layout {self.layout!r} is not one of {', '.join(LAYOUTS)}")
        try:
            rings = sorted({Ring.of(d) for d in self.rings_mm})
        except SettingsError as error:
            raise SettingsError(f"{where}: rings_mm: {error}") from None
        set_("rings_mm", tuple(r.mm for r in rings))
        if not self.sequences:
            raise SettingsError(f"{where}: sequences: name at least one sequence")
        unknown = sorted(set(self.tasks) - set(TASK_PRESETS))
        if unknown:  # no task at all is allowed: the imaging and features only
            raise SettingsError(f"{where}: tasks: unknown {unknown}; tasks are {', '.join(TASK_PRESETS)}")
        set_("tasks", tuple(t for t in TASK_PRESETS if t in self.tasks))
        try:
            set_("classifiers", tuple(classifier_order(self.classifiers)))
        except ValueError as error:
            raise SettingsError(f"{where}: classifiers: {error}") from None
        if not self.classifiers:
            raise SettingsError(f"{where}: classifiers: name at least one of {', '.join(CLASSIFIERS)}")
        if self.normalization not in NORMALIZATIONS:
            raise SettingsError(f"{where}: normalization {self.normalization!r} is not one of {', '.join(NORMALIZATIONS)}")
        if self.registration not in ("none", "rigid"):
            raise SettingsError(f"{where}: registration {self.registration!r} is not one of none, rigid")
        if self.spacing_mm is not None and not float(self.spacing_mm) > 0:
            raise SettingsError(f"{where}: spacing_mm must be positive (or null: keep the scans' grid)")
        if int(self.max_voxels) <= 0:
            raise SettingsError(f"{where}: max_voxels must be positive")
        for name in ("extraction_slots", "model_fit_slots", "download_slots"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise SettingsError(f"{where}: {name} must be a whole number of at least 1")
        url = self.instance_postgres_url
        if url is not None and not str(url).startswith(("postgresql://", "postgres://", "postgresql+psycopg2://")):
            raise SettingsError(f"{where}: instance_postgres_url {url!r} is not a postgresql:// URL "
                                "(or null: the SQLite instance under DAGSTER_HOME)")
        if self.engine not in ENGINES:
            raise SettingsError(f"{where}: engine {self.engine!r} is not one of {', '.join(ENGINES)}")
        for name in ("slurm_cpus", "slurm_memory_mb", "slurm_time_minutes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise SettingsError(f"{where}: {name} must be a positive whole number, not {value!r}")
        for path in self.task_files:
            if self.task_file(path).name not in TASK_PRESETS:  # the name is the partition and the selection recipe
                raise SettingsError(f"{path}: a task file replaces a preset, so its name is one of {', '.join(TASK_PRESETS)}")
        if self.rater_manifest is not None and not Path(self.rater_manifest).is_file():
            raise SettingsError(f"{where}: rater_manifest {self.rater_manifest!r} is not a file")
        self.extraction_params  # loads and validates the parameter file once

    # -- the settings file --------------------------------------------------------------------

    @classmethod
    def from_dict(cls, content: dict[str, Any], source: str = "settings") -> "Settings":
        content = dict(content)
        if "classifier" in content:  # a file from before classifiers were fitted side by side
            old = content.pop("classifier")
            content.setdefault("classifiers", [old] if old else list(cls.classifiers))
        allowed = {f.name for f in fields(cls)} - {"source"}
        unknown = sorted(set(content) - allowed)
        if unknown:
            raise SettingsError(f"{source}: unknown settings {unknown}; settings are {sorted(allowed)}")
        if "cohort_dir" not in content:
            raise SettingsError(f"{source}: cohort_dir is missing")
        for name in ("sequences", "rings_mm", "tasks", "task_files", "classifiers"):
            if name in content:
                if not isinstance(content[name], (list, tuple)):
                    raise SettingsError(f"{source}: {name} must be a list")
                content[name] = tuple(content[name])
        return cls(**content, source=source)

    @classmethod
    def load(cls, path: str | Path) -> "Settings":
        try:
            content = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as error:
            raise SettingsError(f"{path}: not a YAML file: {error}") from None
        if not isinstance(content, dict):
            raise SettingsError(f"{path}: the settings file must be a mapping of setting: value")
        return cls.from_dict(content, source=str(path))

    def to_dict(self) -> dict[str, Any]:
        """The settings as the settings file writes them (plain YAML types)."""
        out = asdict(self)
        out.pop("source")
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    def save(self, path: str | Path | None = None) -> Path:
        """Write the settings file (atomically: the UI may be reading it)."""
        from radiomics_core.files.atomic import atomic_write_text

        path = Path(path) if path else self.settings_path
        text = "# glioma-rings project settings: written by `glioma-rings run`, read by `dev` and the UI.\n"
        text += yaml.safe_dump(self.to_dict(), sort_keys=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, text)
        return path

    def updated(self, **changes: Any) -> "Settings":
        return replace(self, **changes)

    # -- derived values -----------------------------------------------------------------------

    @property
    def settings_path(self) -> Path:
        return settings_path(self.data_dir)

    @property
    def warehouse_root(self) -> Path:
        return Path(self.warehouse_dir) if self.warehouse_dir else Path(self.data_dir) / "warehouse"

    def work_dir(self, *parts: str) -> Path:
        return Path(self.data_dir, "work", *parts)

    @property
    def rings(self) -> tuple[Ring, ...]:
        """VOI_T, then the rings in increasing distance: the ring dimension of the UI's grid."""
        return rings_with_voi_t(self.rings_mm)

    @functools.cached_property
    def extraction_params(self):
        """The PyRadiomics parameter set, read and checked against PyRadiomics' schema once."""
        from radiomics_core.features.extraction import ExtractionParams

        return ExtractionParams.load(self.params)

    def task_file(self, path: str):
        from radiomics_core.tasks.config import load_task

        return load_task(path)

    def task(self, name: str):
        """The task's preset, or the task file of that name (``task_files``), with these classifiers."""
        from radiomics_core.tasks.config import preset

        files = {task.name: task for task in map(self.task_file, self.task_files)}
        return replace(files.get(name) or preset(name), classifiers=self.classifiers)

    def preprocess_config(self):
        from radiomics_core.imaging.preprocessing import PreprocessConfig

        return PreprocessConfig(spacing_mm=self.spacing_mm, normalization=self.normalization,
                                n4_bias_correction=self.n4_bias_correction, registration=self.registration)

    def validation_config(self):
        from radiomics_core.cohorts.validation import ValidationConfig

        return ValidationConfig(max_voxels=self.max_voxels)

    def cohort(self):
        from radiomics_core.cohorts.layouts import CohortConfig, read_cohort

        return read_cohort(Path(self.cohort_dir), CohortConfig(layout=self.layout, sequences=self.sequences))

    @property
    def stored_sequences(self) -> list[str]:
        """The ``sequence`` values a patient's features are stored under: the settings' sequences,
        plus ``mask`` for shape features when the parameters enable shape."""
        from radiomics_core.features.extraction import SHAPE_SEQUENCE

        classes = self.extraction_params.content.get("featureClass") or {}
        return [*self.sequences, *([SHAPE_SEQUENCE] if any(c.startswith("shape") for c in classes) else [])]

    # -- identities ---------------------------------------------------------------------------

    @property
    def preprocessing_identity(self) -> str:
        """A hash of every setting that changes the normalized images."""
        return _digest({"preprocess": asdict(self.preprocess_config()), "brain_clip": self.brain_clip,
                        "normalized_dtype": "float32", "brain": "layout mask, else derived from the sequences"})

    @property
    def feature_identity(self) -> str:
        """A hash of every setting that changes a feature value: preprocessing, ring geometry and
        the PyRadiomics parameters and version. Stored with every feature row (``feature_identity``)."""
        from radiomics_core.features.extraction import PYRADIOMICS_VERSION

        return _digest({"preprocessing": self.preprocessing_identity, "params": self.extraction_params.hash,
                        "pyradiomics": PYRADIOMICS_VERSION})


def settings_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / SETTINGS_FILE


def _digest(content: dict) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:16]
