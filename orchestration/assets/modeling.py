"""Per-ring feature tables, then per-task splits, fitted models and evaluation reports."""


from typing import Sequence

import dagster as dg
import pandas as pd

from orchestration import pools
from orchestration.assets.imaging import clinical_edits
from orchestration.beta import beta_api
from orchestration.automation import AFTER_CASES, AFTER_SPLIT
from orchestration.assets.tables import tables_written
from orchestration.partitions import RingPartitions
from orchestration.resources import PipelineResource
from radiomics_core.evaluation.clinical_table import clinical_characteristics
from radiomics_core.tasks.selection import select_cases
from radiomics_core.evaluation.metrics import evaluate, selected_features_table
from radiomics_core.modeling.figures import figure_tables
from radiomics_core.modeling.fitting import fit_task_models
from radiomics_core.modeling.harmonization import harmonize_matrices, sites_without_training_rows
from radiomics_core.robustness.icc import keep_robust
from radiomics_core.tasks.config import TooFewCases, assign_splits_with_external, classifiers_lacking_cases
from radiomics_core.settings import Ring
from warehouse import queries



def feature_tables_asset(rings: RingPartitions) -> dg.AssetsDefinition:
    with beta_api():  # the partition mapping and backfill_policy
        return _feature_tables_asset(rings)


def _feature_tables_asset(rings: RingPartitions) -> dg.AssetsDefinition:
    with_ring = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="ring")

    @dg.asset(name="feature_tables", partitions_def=rings.rings, group_name="features", kinds={"parquet"},
              # ring_features for the lineage; voi_extraction (its producer, every patient in every
              # ring's table) so a backfill or automation tick from the patients reaches the tables.
              deps=[dg.AssetDep("ring_features", partition_mapping=with_ring),
                    dg.AssetDep("voi_extraction", partition_mapping=dg.AllPartitionMapping())],
              backfill_policy=dg.BackfillPolicy.single_run(), automation_condition=AFTER_CASES,
              io_manager_key="feature_tables_io")
    def feature_tables(context: dg.AssetExecutionContext, pipeline: PipelineResource) -> dict[str, pd.DataFrame]:
        """Each ring's features as a wide table (a row per patient, a column per sequence__feature),
        from the features stored with the current settings' identity and sequences."""
        identity = pipeline.settings.feature_identity
        tables = {ring: queries.feature_matrix(pipeline.warehouse().root, Ring.from_key(ring), identity,
                                               sequences=pipeline.settings.stored_sequences)
                  for ring in context.partition_keys}
        context.add_output_metadata({"patients": max((len(t) for t in tables.values()), default=0),
                                     "features": max((t.shape[1] for t in tables.values()), default=0),
                                     "feature_identity": identity})
        return tables
    return feature_tables


def _clinical(pipeline: PipelineResource) -> pd.DataFrame:
    root = pipeline.warehouse().root
    clinical = queries.table(root, "clinical")
    usable = queries.table(root, "patients", {"usable": True})["patient_id"]
    return clinical[clinical.patient_id.isin(usable)]


def task_assets(tasks: dg.StaticPartitionsDefinition, after: Sequence[dg.AssetKey] = ()) -> list[dg.AssetsDefinition]:
    """``splits``, ``fitted_models`` and ``evaluation_reports`` over the settings' tasks; the models
    also wait for ``after`` (``feature_robustness`` when on: a task's ``min_icc`` reads it)."""

    @dg.asset(partitions_def=tasks, group_name="models", kinds={"duckdb"},
              deps=[dg.AssetDep("feature_tables", partition_mapping=dg.AllPartitionMapping())],
              automation_condition=AFTER_CASES, metadata={"warehouse_tables": "splits, selection_flow, clinical"})
    def splits(context: dg.AssetExecutionContext, pipeline: PipelineResource) -> dg.MaterializeResult:
        """The exams the task's rules select (and why the others are left out, ``selection_flow``,
        naming the preset or task file the rules came from), split train/test: stratified,
        seeded; earlier assignments never move. Clinical rows edited in the cohort's sheet since
        the scans were read are stored first, so a corrected grade or MGMT status reaches the
        labels (``new_cases_sensor`` requests this run)."""
        task = pipeline.settings.task(context.partition_key)
        warehouse = pipeline.warehouse()
        try:
            edited = clinical_edits(pipeline)
        except ValueError as error:  # the cohort folder moved or is not mounted: the warehouse suffices
            context.log.warning(f"clinical rows as stored: the cohort could not be read ({error})")
            edited = {}
        for patient_id, rows in edited.items():
            warehouse.write_partition("clinical", patient_id, rows)
        if edited:
            context.log.info(f"clinical rows edited in the cohort: {', '.join(sorted(edited))}")
        selection = select_cases(task, queries.table(warehouse.root, "clinical"),
                                 queries.table(warehouse.root, "patients"))
        warehouse.write_partition("selection_flow", task.name, selection.flow)
        labels = selection.labels
        existing = queries.table(warehouse.root, "splits", {"task": task.name})
        split = assign_splits_with_external(labels, task, queries.table(warehouse.root, "patients"),
                                            existing.set_index("patient_id")["split"] if len(existing) else None)
        rows = pd.DataFrame({"task": task.name, "patient_id": labels.index, "label": labels.values, "split": split.values})
        warehouse.write_partition("splits", task.name, rows)
        counts = rows.groupby(["split", "label"]).size()
        excluded = selection.flow.groupby("reason", sort=False).n_excluded.sum()
        excluded = excluded[excluded > 0]
        tables_written(context)
        return dg.MaterializeResult(metadata={"preset": task.preset, "patients": len(rows),
                                              "counts": str(counts.to_dict()), "excluded": str(excluded.to_dict()),
                                              "clinical_rows_edited": ", ".join(sorted(edited)) or "none"})

    @dg.asset(partitions_def=tasks, group_name="models", deps=[splits, *after], kinds={"sklearn"},
              ins={"feature_tables": dg.AssetIn(partition_mapping=dg.AllPartitionMapping())},
              automation_condition=AFTER_SPLIT, pool=pools.MODEL_FITS, io_manager_key="models_io",
              metadata={"warehouse_tables": "selected_features, lasso_cv, lasso_path, feature_correlation, nomogram"})
    def fitted_models(context: dg.AssetExecutionContext, pipeline: PipelineResource,
                      feature_tables: dict[str, pd.DataFrame]) -> list:
        """VOI_T, VOI_P(d), Combined(d), Clinical and Clinical-Omics fitted on the training split,
        once per classifier of the settings (each model's feature selection shared by them)."""
        task = pipeline.settings.task(context.partition_key)
        warehouse = pipeline.warehouse()
        split_rows = queries.table(warehouse.root, "splits", {"task": task.name}).set_index("patient_id")
        matrices = {Ring.from_key(ring).mm: table for ring, table in feature_tables.items() if len(table)}
        if 0.0 not in matrices:
            raise dg.Failure(description="no VOI_T feature table yet; materialize feature_tables first")
        robust: dict[str, object] = {}
        if task.min_icc is not None:
            try:
                matrices = keep_robust(matrices, queries.feature_robustness(
                    warehouse.root, pipeline.settings.feature_identity), task.min_icc)
            except ValueError as error:
                raise dg.Failure(description=f"task {task.name}: {error}", allow_retries=False) from None
            context.log.info(f"{task.name}: ICC >= {task.min_icc:g}: " + ", ".join(
                f"{Ring(r).label} {m.shape[1]}" for r, m in matrices.items()) + " features kept")
            robust = {"min_icc": task.min_icc, "features_kept_by_min_icc": dg.MetadataValue.json(
                {Ring(r).label: int(m.shape[1]) for r, m in matrices.items()})}
        harmonized: dict[str, object] = {}
        if task.harmonize:
            sites = queries.table(warehouse.root, "patients").set_index("patient_id")[task.harmonize]
            labelled = {r: m.loc[m.index.intersection(split_rows.index)] for r, m in matrices.items()}
            train = split_rows.index[split_rows.split == "train"]
            trained = sorted(set(sites.reindex(train).astype(str)))
            if len(trained) < 2:
                raise dg.Failure(description=f"task {task.name}: harmonize: {task.harmonize}, but every training "
                                             f"exam is of {', '.join(trained) or 'no site'}: one site has nothing "
                                             "to harmonize; set harmonize: null in the task file", allow_retries=False)
            try:
                matrices = harmonize_matrices(labelled, sites, train)
            except ValueError as error:
                raise dg.Failure(description=f"task {task.name}: harmonize: {task.harmonize}: {error}",
                                 allow_retries=False) from None
            unseen = sites_without_training_rows(sites, matrices[0.0].index, train)
            if unseen:
                # An external cohort from a new hospital: its site effect cannot be estimated
                # without fitting on its rows (docs/method.md), so they enter the models as extracted.
                context.log.warning(f"{task.name}: no training exam of {task.harmonize} " + ", ".join(
                    f"{site} ({n} exams)" for site, n in unseen.items()) + ": left unharmonized (no site effect)")
            harmonized = {"harmonized_by": task.harmonize, "harmonized_sites": ", ".join(trained),
                          "sites_not_harmonized": dg.MetadataValue.json(unseen)}
        try:
            models = fit_task_models(task, split_rows.label, split_rows.split, matrices, _clinical(pipeline))
        except TooFewCases as reason:
            # The reason is the whole story (counts per class and what is needed): no retry helps.
            raise dg.Failure(description=str(reason), allow_retries=False) from None
        warehouse.write_partition("selected_features", task.name, selected_features_table(task.name, models))
        for table, frame in figure_tables(task.name, models).items():
            warehouse.write_partition(table, task.name, frame)
        context.log.info(f"{task.name}: fitted {len(models)} models on {int((split_rows.split == 'train').sum())} cases")
        # A classifier that needs more cases than there are is left out: its reason, one line each.
        usable = models[0].scores.index
        not_fitted = classifiers_lacking_cases(task, split_rows.label.loc[usable], split_rows.split.loc[usable])
        for reason in not_fitted.values():
            context.log.warning(reason)
        context.add_output_metadata({
            "models": len(models),
            "classifiers": ", ".join(dict.fromkeys(m.classifier for m in models)),
            "classifiers_not_fitted": "\n".join(not_fitted.values()) or "none",  # one line each
            # The same for every classifier (one selection per model).
            "selected": str({f"{m.model} {m.ring_mm or ''}".strip(): len(m.coefficients) for m in models}),
            **robust, **harmonized,
        })
        tables_written(context)
        return models

    @dg.asset(partitions_def=tasks, group_name="models", kinds={"duckdb", "html"},
              automation_condition=AFTER_SPLIT,
              metadata={"warehouse_tables": "model_metrics, roc_points, delong_tests, calibration, decision_curve, "
                                            "predictions, clinical_characteristics"})
    def evaluation_reports(context: dg.AssetExecutionContext, pipeline: PipelineResource,
                           fitted_models: list) -> dg.MaterializeResult:
        """Metrics, ROC points, DeLong tests, calibration, decision curves, the clinical table and an
        HTML report for one task."""
        from reporting.report import write_report

        task = pipeline.settings.task(context.partition_key)
        warehouse = pipeline.warehouse()
        split_rows = queries.table(warehouse.root, "splits", {"task": task.name}).set_index("patient_id")
        tables = evaluate(task.name, fitted_models, split_rows.label, split_rows.split)
        clinical = _clinical(pipeline)
        tables["clinical_characteristics"] = clinical_characteristics(
            task.name, clinical[clinical.patient_id.isin(split_rows.index)], split_rows.label, split_rows.split,
            task.class_names)
        for table, frame in tables.items():
            warehouse.write_partition(table, task.name, frame)
        report = write_report(warehouse.root, task.name, pipeline.settings.work_dir("reports", f"{task.name}.html"))
        test = tables["model_metrics"].query("split == 'test'")
        best = test.sort_values("auc", ascending=False).head(1)
        tables_written(context)
        return dg.MaterializeResult(metadata={
            "report": dg.MetadataValue.path(str(report)),
            "best_test_model": (f"{best.model.iloc[0]} {best.ring_mm.iloc[0]} ({best.classifier.iloc[0]})"
                                if len(best) else "none"),
            "best_test_auc": float(best.auc.iloc[0]) if len(best) else float("nan"),
            "test_auc_by_model": dg.MetadataValue.md(
                test[["model", "ring_mm", "classifier", "auc", "auc_low", "auc_high"]].round(3).to_markdown(index=False)),
        })

    return [splits, fitted_models, evaluation_reports]
