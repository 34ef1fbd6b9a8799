"""LR, SVM and RF side by side: one fitted_models run fits every model once per classifier on the
same selected features, every stored table names the classifier of its rows, and the settings
(file and CLI) carry the list of classifiers."""

import dagster as dg
import pytest
import yaml
from sklearn.metrics import roc_auc_score

from warehouse.synthetic import build_warehouse
from cli.main import build_parser
from cli.project import pipeline_settings
from orchestration.resources import PipelineResource, settings_path
from cli.launcher import run_cohort
from radiomics_core.tasks.config import CLASSIFIERS
from warehouse import queries

RINGS = (1.0, 3.0)
MODELS = 1 + 2 * len(RINGS) + 2  # VOI_T, VOI_P and Combined per ring, Clinical, Clinical-Omics


@pytest.fixture(scope="module")
def models_run(tmp_path_factory):
    """The cohort-wide stages (feature tables, splits, fitted models, reports) through the runner,
    over a warehouse whose features are stored under the pipeline's own feature identity."""
    root = tmp_path_factory.mktemp("classifiers")
    pipeline = PipelineResource(cohort_dir=str(root / "cohort"), data_dir=str(root / "data"), params="demo",
                                rings_mm=list(RINGS), tasks=["grade"])
    build_warehouse(pipeline.warehouse().root, 48, rings=RINGS, tasks=(), feature_identity=pipeline.settings.feature_identity)
    instance = dg.DagsterInstance.ephemeral()
    summary = run_cohort(pipeline, instance, workers=1, patients=[])
    yield pipeline, summary
    instance.dispose()


@pytest.mark.slow
def test_one_run_evaluates_every_model_under_every_classifier(models_run):
    pipeline, summary = models_run
    assert not summary.failed, [(o.job, o.error) for o in summary.failed]
    root = pipeline.warehouse().root
    metrics = queries.table(root, "model_metrics", {"task": "grade"})
    assert set(metrics.classifier) == set(CLASSIFIERS)
    for classifier, rows in metrics.groupby("classifier"):
        assert len(rows) == 2 * MODELS, classifier  # every model on train and test
    predictions = queries.table(root, "predictions", {"task": "grade"})
    for row in metrics.itertuples():
        stored = predictions[(predictions.classifier == row.classifier) & (predictions.model == row.model)
                             & (predictions.split == row.split)
                             & ((predictions.ring_mm == row.ring_mm) if row.ring_mm == row.ring_mm
                                else predictions.ring_mm.isna())]
        assert len(stored) == row.n
        assert row.auc == pytest.approx(roc_auc_score(stored.label, stored.score)), row
    # Different final estimators: the test AUCs of one model are not all the same.
    test = metrics[metrics.split == "test"]
    assert test.groupby(["model", "ring_mm"], dropna=False).auc.nunique().max() > 1


@pytest.mark.slow
def test_the_classifiers_share_each_models_selected_features(models_run):
    pipeline, _ = models_run
    selected = queries.table(pipeline.warehouse().root, "selected_features", {"task": "grade"})
    features = selected.groupby(["model", "ring_mm", "classifier"], dropna=False).feature.apply(frozenset)
    for (model, ring), per_classifier in features.groupby(level=["model", "ring_mm"], dropna=False):
        assert len(per_classifier) == len(CLASSIFIERS), (model, ring)
        assert per_classifier.nunique() == 1, (model, ring, per_classifier.to_dict())


@pytest.mark.slow
def test_delong_compares_models_within_a_classifier_and_each_model_across_classifiers(models_run):
    pipeline, _ = models_run
    delong = queries.table(pipeline.warehouse().root, "delong_tests", {"task": "grade", "split": "test"})
    within = delong[delong.classifier == delong.classifier_b]
    across = delong[delong.classifier != delong.classifier_b]
    assert within.groupby("classifier").size().to_dict() == {c: MODELS * (MODELS - 1) // 2 for c in CLASSIFIERS}
    assert len(across) == MODELS * 3  # each model: LR-SVM, LR-RF, SVM-RF
    assert (across.model_a == across.model_b).all()
    assert ((across.ring_a == across.ring_b) | (across.ring_a.isna() & across.ring_b.isna())).all()


def test_an_old_settings_file_with_one_classifier_loads_as_a_list(tmp_path):
    path = settings_path(tmp_path)
    path.write_text(yaml.safe_dump({"cohort_dir": "cohort", "classifier": "svm"}), encoding="utf-8")
    loaded = PipelineResource.load(path)
    assert loaded.classifiers == ["svm"] and loaded.settings.task("grade").classifiers == ("svm",)
    loaded.settings.save(path)
    assert PipelineResource.load(path).classifiers == ["svm"]
    assert "classifier:" not in path.read_text(encoding="utf-8")


@pytest.mark.parametrize("options, expected", [
    ([], ["logistic", "svm", "random_forest"]),
    (["--classifier", "random_forest"], ["random_forest"]),
    (["--classifiers", "svm,logistic"], ["logistic", "svm"]),
])
def test_the_cli_takes_one_classifier_or_a_list(tmp_path, options, expected):
    args = build_parser().parse_args(["run", str(tmp_path), "--data-dir", str(tmp_path / "data"), *options])
    assert pipeline_settings(args).classifiers == expected


def test_the_cli_refuses_an_unknown_classifier(tmp_path):
    args = build_parser().parse_args(["run", str(tmp_path), "--data-dir", str(tmp_path / "data"),
                                      "--classifiers", "logistic,xgboost"])
    with pytest.raises(ValueError, match="unknown classifier 'xgboost'"):
        pipeline_settings(args)
