"""Every dashboard page on a warehouse written by the real pipeline, and on an empty one."""

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from warehouse.store import Warehouse

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
PAGES = {
    "Cohort overview": "Cohort overview",
    "ROC curves": "ROC curves",
    "Model comparison": "Model comparison",
    "Clinical characteristics": "Clinical characteristics",
    "Patient viewer": "Patient viewer",
    "Features": "Features",
}


def open_page(warehouse: Path, page: str) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()  # first run with the default warehouse argument is harmless
    import sys
    argv, sys.argv = sys.argv, ["app.py", "--warehouse", str(warehouse)]
    try:
        app.run()
        app.sidebar.radio(key="page").set_value(page).run()
    finally:
        sys.argv = argv
    return app


@pytest.fixture(scope="module")
def warehouse_root(pipeline_run):
    pipeline, _, _ = pipeline_run
    return pipeline.warehouse().root


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_each_page_renders_pipeline_results(warehouse_root, page):
    app = open_page(warehouse_root, page)
    assert not app.exception, [e.value for e in app.exception]
    assert [h.value for h in app.header] == [PAGES[page]]


@pytest.mark.slow
def test_roc_page_draws_a_chart(warehouse_root):
    app = open_page(warehouse_root, "ROC curves")
    assert len(app.get("vega_lite_chart")) == 1


def test_roc_legend_carries_auc_and_interval():
    from dashboard.charts import roc_chart
    roc = pd.DataFrame({"model": "VOI_T", "ring_mm": [None] * 3, "fpr": [0, 0.5, 1], "tpr": [0, 0.8, 1],
                        "threshold": [1, 0.5, 0]})
    metrics = pd.DataFrame({"model": ["VOI_T"], "ring_mm": [None], "auc": [0.8123], "auc_low": [0.7], "auc_high": [0.9]})
    data = roc_chart(roc, metrics).to_dict()["datasets"]
    assert "VOI_T (AUC 0.812, 0.700-0.900)" in str(data)


@pytest.mark.slow
def test_overview_lists_the_failed_case_and_its_reason(warehouse_root):
    app = open_page(warehouse_root, "Cohort overview")
    shown = pd.concat([frame.value for frame in app.dataframe])
    assert "unreadable_file" in shown.to_string()


@pytest.mark.parametrize("page", PAGES)
def test_an_empty_warehouse_gives_a_helpful_page(tmp_path, page):
    Warehouse(tmp_path).initialize()
    app = open_page(tmp_path, page)
    assert not app.exception
    assert "No results yet" in [t.value for t in app.title]


def test_a_missing_warehouse_gives_a_helpful_page(tmp_path):
    app = open_page(tmp_path / "missing", "Cohort overview")
    assert not app.exception
    assert "Run `make demo`" in app.info[0].value


@pytest.mark.slow
def test_pipeline_writes_while_the_dashboard_is_open(warehouse_root):
    app = open_page(warehouse_root, "Model comparison")
    warehouse = Warehouse(warehouse_root)
    metrics = pd.read_parquet(warehouse.table_dir("model_metrics") / "grade.parquet")
    for _ in range(3):
        warehouse.write_partition("model_metrics", "grade", metrics)
        app.run()
        assert not app.exception
