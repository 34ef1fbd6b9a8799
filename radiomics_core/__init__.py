"""glioma-rings' science core: plain Python, no Dagster, DuckDB or Streamlit.

The notebook entry points (import them from their modules; this package imports nothing, so
``import radiomics_core.settings`` stays light):

- ``radiomics_core.settings``: ``Settings`` (validated project settings) and ``Ring``.
- ``radiomics_core.cohorts.layouts.read_cohort`` and ``cohorts.validation.validate_cohort``.
- ``radiomics_core.imaging.preprocessing.preprocess_case`` and ``imaging.rings.case_vois``.
- ``radiomics_core.features.extraction.extract_case_features`` (one pass per patient) and
  ``features.cohort.cohort_feature_matrices`` (a whole cohort, without Dagster).
- ``radiomics_core.tasks.config.preset`` / ``load_task`` and ``tasks.selection.select_cases``.
- ``radiomics_core.modeling.fitting.fit_task_models`` and ``evaluation.metrics.evaluate``.
"""
