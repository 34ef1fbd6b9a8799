"""The project settings a command works with: the data folder's settings file, then the command's options."""

from __future__ import annotations

import argparse
from pathlib import Path

from radiomics_core.files.presets import is_file_source
from radiomics_core.settings import Settings, settings_path


def project_settings(args: argparse.Namespace) -> Settings:
    """The data dir's settings file (if any) updated with the command's options, validated
    (raises SettingsError, a ValueError, naming the file or option and the key)."""
    data_dir = Path(args.data_dir).resolve()
    saved = settings_path(data_dir)
    fields = Settings.load(saved).to_dict() if saved.is_file() else {}
    fields.update({"cohort_dir": str(Path(args.cohort_dir).resolve()), "data_dir": str(data_dir)})
    if getattr(args, "layout", None):
        fields["layout"] = args.layout
    if args.params:
        fields["params"] = str(Path(args.params).resolve()) if is_file_source(args.params) else args.params
    if getattr(args, "warehouse", None):
        fields["warehouse_dir"] = str(Path(args.warehouse).resolve())
    if getattr(args, "rings", None):
        fields["rings_mm"] = [v.strip() for v in args.rings.split(",")]
    if getattr(args, "sequences", None):
        fields["sequences"] = args.sequences.split(",")
    if getattr(args, "engine", None):
        fields["engine"] = args.engine
    if getattr(args, "registration", None):
        fields["registration"] = args.registration
    if getattr(args, "task", None):
        fields["tasks"] = [args.task]
    if getattr(args, "task_file", None):
        fields["task_files"] = [task_file_setting(f) for f in args.task_file]
    if getattr(args, "classifier", None):
        fields["classifiers"] = [args.classifier]
    if getattr(args, "classifiers", None):
        fields["classifiers"] = [c.strip() for c in args.classifiers.split(",") if c.strip()]
    return Settings.from_dict(fields, source=f"{saved} and the command's options" if saved.is_file() else "options")


def task_file_setting(source: str) -> str:
    """A ``--task-file`` as the settings keep it: a shipped preset's name (``grade-who2021``, also
    given as ``grade-who2021.yaml``) as that name, a user's file as its absolute path."""
    from radiomics_core.tasks.config import shipped_preset

    return shipped_preset(source) or str(Path(source).resolve())


def pipeline_settings(args: argparse.Namespace):
    """The project settings as the pipeline's Dagster resource."""
    from orchestration.resources import PipelineResource

    return PipelineResource.from_settings(project_settings(args))
