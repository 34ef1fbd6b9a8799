"""Per-ring feature tables, then per-task splits, fitted models and evaluation reports."""


import pickle

import warnings

import dagster as dg
import pandas as pd

from orchestration.assets.imaging import ring_features
from orchestration.partitions import ring_mm, rings_partitions, tasks_partitions
from orchestration.resources import PipelineResource
from radiomics_core.clinical_table import clinical_characteristics
from radiomics_core.evaluation import evaluate, selected_features_table
from radiomics_core.modeling import fit_task_models
from radiomics_core.tasks import assign_splits
from warehouse import queries

with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.BetaWarning)
    RING_OF_PATIENT_RING = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="ring")
CLASS_NAMES = {"grade": ("WHO 2-3", "WHO 4"), "mgmt": ("unmethylated", "methylated")}


def _wide_path(pipeline: PipelineResource, ring: str):
    return pipeline.work_dir("feature_tables", f"ring_{ring}.parquet")


@dg.asset(partitions_def=rings_partitions, group_name="features", kinds={"duckdb", "parquet"},
          deps=[dg.AssetDep(ring_features, partition_mapping=RING_OF_PATIENT_RING)])
def feature_tables(context: dg.AssetExecutionContext, pipeline: PipelineResource) -> dg.MaterializeResult:
    """One ring's features as a wide table (a row per patient, a column per sequence__feature)."""
    ring = context.partition_key
    params_hash = pipeline.extraction_params().hash
    wide = queries.feature_matrix(pipeline.warehouse().root, ring_mm(ring), params_hash)
    path = _wide_path(pipeline, ring)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".partial")
    wide.to_parquet(tmp)
    tmp.replace(path)
    return dg.MaterializeResult(metadata={"patients": len(wide), "features": wide.shape[1],
                                          "params_hash": params_hash, "path": str(path)})


def _clinical(pipeline: PipelineResource) -> pd.DataFrame:
    root = pipeline.warehouse().root
    clinical = queries.table(root, "clinical")
    usable = queries.table(root, "patients", {"usable": True})["patient_id"]
    return clinical[clinical.patient_id.isin(usable)]


@dg.asset(partitions_def=tasks_partitions, group_name="models", deps=[feature_tables], kinds={"duckdb"})
def splits(context: dg.AssetExecutionContext, pipeline: PipelineResource) -> dg.MaterializeResult:
    """Stratified, seeded train/test split of the task's patients; earlier assignments never move."""
    task = pipeline.task(context.partition_key)
    warehouse = pipeline.warehouse()
    labels = task.labels(_clinical(pipeline))
    existing = queries.table(warehouse.root, "splits", {"task": task.name})
    split = assign_splits(labels, task, existing.set_index("patient_id")["split"] if len(existing) else None)
    rows = pd.DataFrame({"task": task.name, "patient_id": labels.index, "label": labels.values, "split": split.values})
    warehouse.write_partition("splits", task.name, rows)
    counts = rows.groupby(["split", "label"]).size()
    return dg.MaterializeResult(metadata={"patients": len(rows), "counts": str(counts.to_dict())})


def _model_path(pipeline: PipelineResource, task: str):
    return pipeline.work_dir("models", f"{task}.pkl")


@dg.asset(partitions_def=tasks_partitions, group_name="models", deps=[splits, feature_tables], kinds={"sklearn"})
def fitted_models(context: dg.AssetExecutionContext, pipeline: PipelineResource) -> dg.MaterializeResult:
    """VOI_T, VOI_P(d), Combined(d), Clinical and Clinical-Omics fitted on the training split."""
    task = pipeline.task(context.partition_key)
    warehouse = pipeline.warehouse()
    split_rows = queries.table(warehouse.root, "splits", {"task": task.name}).set_index("patient_id")
    if split_rows.empty or split_rows.label.nunique() < 2:
        raise dg.Failure(description=f"task {task.name}: needs patients of both classes (have {len(split_rows)})")
    matrices = {}
    for ring in rings_partitions.get_partition_keys():
        path = _wide_path(pipeline, ring)
        if ring_mm(ring) in [0.0, *pipeline.rings_mm] and path.exists():
            matrices[ring_mm(ring)] = pd.read_parquet(path)
    if 0.0 not in matrices:
        raise dg.Failure(description="no VOI_T feature table yet; materialize feature_tables first")
    models = fit_task_models(task, split_rows.label, split_rows.split, matrices, _clinical(pipeline))
    path = _model_path(pipeline, task.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".partial")
    tmp.write_bytes(pickle.dumps(models))
    tmp.replace(path)
    warehouse.write_partition("selected_features", task.name, selected_features_table(task.name, models))
    context.log.info(f"{task.name}: fitted {len(models)} models on {int((split_rows.split == 'train').sum())} cases")
    return dg.MaterializeResult(metadata={
        "models": len(models),
        "selected": str({f"{m.model} {m.ring_mm or ''}".strip(): len(m.coefficients) for m in models}),
    })


@dg.asset(partitions_def=tasks_partitions, group_name="models", deps=[fitted_models], kinds={"duckdb", "html"})
def evaluation_reports(context: dg.AssetExecutionContext, pipeline: PipelineResource) -> dg.MaterializeResult:
    """Metrics, ROC points, DeLong tests, calibration, decision curves, the clinical table and an
    HTML report for one task."""
    from dashboard.report import write_report

    task = pipeline.task(context.partition_key)
    warehouse = pipeline.warehouse()
    models = pickle.loads(_model_path(pipeline, task.name).read_bytes())
    split_rows = queries.table(warehouse.root, "splits", {"task": task.name}).set_index("patient_id")
    tables = evaluate(task.name, models, split_rows.label, split_rows.split)
    clinical = _clinical(pipeline)
    tables["clinical_characteristics"] = clinical_characteristics(
        task.name, clinical[clinical.patient_id.isin(split_rows.index)], split_rows.label, split_rows.split,
        CLASS_NAMES[task.name])
    for table, frame in tables.items():
        warehouse.write_partition(table, task.name, frame)
    report = write_report(warehouse.root, task.name, pipeline.work_dir("reports", f"{task.name}.html"))
    test = tables["model_metrics"].query("split == 'test'")
    best = test.sort_values("auc", ascending=False).head(1)
    return dg.MaterializeResult(metadata={
        "report": dg.MetadataValue.path(str(report)),
        "best_test_model": f"{best.model.iloc[0]} {best.ring_mm.iloc[0]}" if len(best) else "none",
        "best_test_auc": float(best.auc.iloc[0]) if len(best) else float("nan"),
        "test_auc_by_model": dg.MetadataValue.md(test[["model", "ring_mm", "auc", "auc_low", "auc_high"]]
                                                 .round(3).to_markdown(index=False)),
    })
