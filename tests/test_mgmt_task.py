"""The MGMT task end to end, as a user runs it: `glioma-rings run --task mgmt` on a cohort of
glioblastomas whose methylated tumors carry a planted T1c rise in the 0-3 mm band
(radiomics_core.cohorts.synthetic). The known answer: the close rings find it, VOI_T does not, and the wide
rings, mostly background, rank lower."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from cli.main import main
from radiomics_core.cohorts.synthetic import DemoConfig, write_demo_cohort
from warehouse import queries

pytestmark = pytest.mark.slow
CLOSE, WIDE = (1.0, 3.0), (10.0, 15.0)


@pytest.fixture(scope="module")
def mgmt_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("mgmt")
    truth = write_demo_cohort(root / "cohort", DemoConfig(patients=30, seed=4, glioblastoma_only=True),
                              progress=False)
    mp = pytest.MonkeyPatch()
    mp.setenv("DAGSTER_HOME", str(root / "home"))
    try:
        status = main(["run", str(root / "cohort"), "--data-dir", str(root / "data"), "--task", "mgmt",
                       "--sequences", "T1c", "--rings", ",".join(f"{r:g}" for r in CLOSE + WIDE),
                       "--params", "demo", "--classifier", "logistic", "--workers", "2", "--in-process"])
    finally:
        mp.undo()
    return status, truth, root / "data" / "warehouse"


def _test_metrics(warehouse):
    metrics = queries.table(warehouse, "model_metrics")
    return metrics[(metrics.task == "mgmt") & (metrics.split == "test")]


def test_the_mgmt_run_succeeds_with_the_8_to_2_split_of_its_glioblastomas(mgmt_run):
    status, truth, warehouse = mgmt_run
    assert status == 0
    splits = queries.table(warehouse, "splits")
    splits = splits[splits.task == "mgmt"]
    methylated = {p.folder_id for p in truth if p.mgmt_methylated}
    assert len(splits) == 30
    assert {p: int(p in methylated) for p in splits.patient_id} == dict(zip(splits.patient_id, splits.label))
    assert (splits.split == "test").sum() == 6 and splits[splits.split == "test"].label.sum() == 3


def test_the_close_rings_recover_the_planted_signal_and_voi_t_does_not(mgmt_run):
    _, _, warehouse = mgmt_run
    metrics = _test_metrics(warehouse)
    combined = metrics[metrics.model == "Combined"].set_index("ring_mm")["auc"]
    voi_t = metrics[metrics.model == "VOI_T"]["auc"].iloc[0]
    assert combined.loc[list(CLOSE)].min() >= voi_t + 0.2, (combined.to_dict(), voi_t)
    assert combined.loc[list(CLOSE)].mean() > combined.loc[list(WIDE)].mean(), combined.to_dict()


def test_stored_mgmt_aucs_are_those_of_the_stored_predictions(mgmt_run):
    _, _, warehouse = mgmt_run
    predictions = queries.table(warehouse, "predictions")
    predictions = predictions[(predictions.task == "mgmt") & (predictions.split == "test")]
    for row in _test_metrics(warehouse).itertuples():
        same_ring = predictions.ring_mm.isna() if np.isnan(row.ring_mm) else predictions.ring_mm == row.ring_mm
        rows = predictions[(predictions.model == row.model) & same_ring]
        if "classifier" in predictions and "classifier" in row._fields:
            rows = rows[rows.classifier == row.classifier]
        assert row.auc == pytest.approx(roc_auc_score(rows.label, rows.score), abs=1e-12), (row.model, row.ring_mm)
