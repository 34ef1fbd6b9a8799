"""Every dashboard page on a warehouse written by the real pipeline, on one holding both tasks
(written with the warehouse's own writers, warehouse/synthetic.py), and on an empty one."""

import sys
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from warehouse.synthetic import build_warehouse
from reporting import charts
from dashboard.state import PAGES
from warehouse.store import Warehouse

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
# --no-auth: these tests are about the pages, not the login gate (tests of dashboard/auth cover it).
FLAGS = ["--no-auth"]


def run_app(warehouse: Path, params: dict | None = None) -> AppTest:
    """The app opened at a URL with ``params`` (page, task, split, models, patient)."""
    app = AppTest.from_file(APP, default_timeout=60)
    app.query_params.update(params or {})
    argv, sys.argv = sys.argv, ["app.py", "--warehouse", str(warehouse), *FLAGS]
    try:
        app.run()
    finally:
        sys.argv = argv
    return app


def open_page(warehouse: Path, page: str) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=60)
    argv, sys.argv = sys.argv, ["app.py", "--warehouse", str(warehouse), *FLAGS]
    try:
        app.run()
        app.sidebar.radio(key="page").set_value(page).run()
    finally:
        sys.argv = argv
    return app


def rerun(app: AppTest, warehouse: Path) -> AppTest:
    argv, sys.argv = sys.argv, ["app.py", "--warehouse", str(warehouse), *FLAGS]
    try:
        app.run()
    finally:
        sys.argv = argv
    return app


@pytest.fixture(scope="module")
def warehouse_root(pipeline_run):
    pipeline, _, _ = pipeline_run
    return pipeline.warehouse().root


@pytest.fixture(scope="module")
def both_tasks(tmp_path_factory):
    """A 80-case warehouse with grade and MGMT results; VOI_P 2 mm ranks every case backwards."""
    return build_warehouse(tmp_path_factory.mktemp("both") / "warehouse", 80, rings=(1.0, 2.0, 3.0, 5.0, 10.0, 15.0),
                           zero_auc=("VOI_P", 2.0))


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_each_page_renders_pipeline_results(warehouse_root, page):
    app = open_page(warehouse_root, page)
    assert not app.exception, [e.value for e in app.exception]
    assert [h.value for h in app.header] == [page]


@pytest.mark.parametrize("task", ["grade", "mgmt"])
@pytest.mark.parametrize("page", PAGES)
def test_each_page_renders_both_tasks(both_tasks, page, task):
    app = run_app(both_tasks, {"page": page, "task": task, "split": "test"})
    assert not app.exception, [e.value for e in app.exception]
    assert [h.value for h in app.header] == [page]
    if page not in ("Patient viewer", "Robustness", "Cohort overview"):  # pages of no task
        assert app.sidebar.selectbox(key="task").value == task


def test_findings_sentence_names_the_ring_and_p_values(both_tasks):
    app = run_app(both_tasks, {"page": "Findings", "task": "mgmt", "split": "test"})
    text = " ".join(m.value for m in app.markdown)
    assert "the best ring is" in text and " mm" in text and "DeLong p" in text
    # The MGMT test split is small (80 cases, 8:2): the page says so.
    assert any("fewer than 10" in w.value for w in app.warning)


def test_url_follows_every_change(both_tasks):
    app = run_app(both_tasks, {"page": "ROC curves", "task": "grade", "split": "test"})
    app.sidebar.selectbox(key="task").set_value("mgmt")
    app.sidebar.selectbox(key="split").set_value("train")
    rerun(app, both_tasks)
    models = app.multiselect(key="models")
    models.set_value(["VOI_T", "Combined 5 mm"])
    rerun(app, both_tasks)
    assert app.query_params["page"] == "ROC curves"
    assert (app.query_params["task"], app.query_params["split"]) == ("mgmt", "train")
    assert app.query_params["models"] == ["VOI_T", "Combined 5 mm"]
    # The task and split survive a visit to a page that does not show them.
    app.sidebar.radio(key="page").set_value("Cohort overview")
    rerun(app, both_tasks)
    app.sidebar.radio(key="page").set_value("Findings")
    rerun(app, both_tasks)
    assert app.sidebar.selectbox(key="task").value == "mgmt"
    assert app.query_params["page"] == "Findings"


def test_a_url_with_unknown_values_falls_back(both_tasks):
    app = run_app(both_tasks, {"page": "Nope", "task": "idh", "split": "holdout", "models": ["VOI_T", "gone"]})
    assert not app.exception
    assert app.sidebar.selectbox(key="task").value == "grade"


def test_roc_legend_carries_auc_and_interval():
    roc = pd.DataFrame({"model": "VOI_T", "ring_mm": [None] * 3, "fpr": [0, 0.5, 1], "tpr": [0, 0.8, 1],
                        "threshold": [1, 0.5, 0]})
    metrics = pd.DataFrame({"model": ["VOI_T"], "ring_mm": [None], "auc": [0.8123], "auc_low": [0.7], "auc_high": [0.9]})
    data = charts.roc_chart(roc, metrics).to_dict()["datasets"]
    assert "VOI_T (AUC 0.812, 0.700-0.900)" in str(data)


def test_models_are_in_ring_order():
    frame = pd.DataFrame({"model": ["Combined", "VOI_P", "VOI_P", "VOI_T", "VOI_P", "Clinical"],
                          "ring_mm": [1.0, 10.0, 1.0, None, 5.0, None]})
    assert charts.model_order(frame) == ["VOI_T", "VOI_P 1 mm", "VOI_P 5 mm", "VOI_P 10 mm", "Combined 1 mm",
                                         "Clinical"]


def test_heatmap_prints_p_values_and_marks_undefined_ones():
    delong = pd.DataFrame({"split": "test", "model_a": ["VOI_T", "VOI_T"], "ring_a": [None, None],
                           "model_b": ["VOI_P", "VOI_P"], "ring_b": [10.0, 1.0], "z": [2.0, float("nan")],
                           "p_value": [0.0004, float("nan")]})
    frame, order = charts.delong_frame(delong, "test")
    assert order == ["VOI_T", "VOI_P 1 mm", "VOI_P 10 mm"]
    cell = frame.set_index(["a", "b"])
    assert cell.loc[("VOI_T", "VOI_P 10 mm"), "text"] == "<.001"
    assert cell.loc[("VOI_P 1 mm", "VOI_T"), "status"] == "undefined"
    assert cell.loc[("VOI_T", "VOI_T"), "status"] == "self"
    spec = charts.delong_heatmap(delong, "test").to_dict()
    assert all(layer["encoding"]["y"]["sort"] == order for layer in spec["layer"])
    assert spec["layer"][0]["encoding"]["y"]["axis"]["labelOverlap"] is False


def test_auc_axis_is_zero_to_one():
    metrics = pd.DataFrame({"model": ["VOI_T", "VOI_P", "VOI_P"], "ring_mm": [None, 1.0, 3.0], "split": "test",
                            "auc": [0.7, 0.0, 0.9], "auc_low": [0.6, 0.0, 0.8], "auc_high": [0.8, 0.0, 1.0], "n": 20})
    spec = charts.auc_by_ring_chart(metrics, "test").to_dict()
    scales = [layer["encoding"]["y"].get("scale") for layer in spec["layer"]]
    assert all(s == {"domain": [0, 1]} for s in scales)
    titles = {layer["encoding"]["y"].get("title") for layer in spec["layer"]}
    assert titles == {"AUC"}


def test_table_one_has_n_in_headers_and_a_footnote(both_tasks):
    from reporting.table_one import table_one
    from radiomics_core.tasks.config import class_names
    from warehouse import queries
    rows = queries.table(both_tasks, "clinical_characteristics", {"task": "grade"})
    splits = queries.table(both_tasks, "splits", {"task": "grade"})
    names = dict(enumerate(class_names("grade")))
    counts = splits.groupby(["split", "label"]).size().unstack().rename(columns=names)
    table, footnote = table_one(rows, counts, names)
    n = int(counts.loc["train", "WHO 4"])
    assert list(table.columns)[:4] == ["Variable", f"Train WHO 2-3 (N={int(counts.loc['train', 'WHO 2-3'])})",
                                       f"Train WHO 4 (N={n})", "p (train)"]
    assert table.columns[-1] == "p (train vs test)"
    assert table["Variable"].tolist()[0] == "Age (years), mean ± SD"
    assert table["Variable"].str.startswith("\u2003").sum() == 2  # the two sex levels, indented
    assert "p-values: a " in footnote


@pytest.mark.parametrize("model, ring, feature, expected", [
    ("VOI_T", None, "T1c__original_firstorder_Mean", ("radiomic", 0.0, "T1c", "original_firstorder_Mean")),
    ("VOI_P", 5.0, "FLAIR__original_glcm_Idm", ("radiomic", 5.0, "FLAIR", "original_glcm_Idm")),
    ("Combined", 5.0, "T:T2__original_firstorder_Mean", ("radiomic", 0.0, "T2", "original_firstorder_Mean")),
    ("Combined", 5.0, "P5:mask__original_shape_Sphericity", ("radiomic", 5.0, "mask", "original_shape_Sphericity")),
    ("Clinical-Omics", 3.0, "radscore", ("radscore", 3.0, "", "radscore")),
    ("Clinical", None, "age", ("clinical", None, "", "age")),
])
def test_every_model_kind_finds_its_feature_values(model, ring, feature, expected):
    from dashboard.views.features import feature_source
    assert feature_source(model, ring, feature) == expected


@pytest.mark.parametrize("model", ["VOI_T", "VOI_P 3 mm", "Combined 3 mm", "Clinical-Omics 3 mm"])
def test_features_page_plots_every_model_kind(both_tasks, model):
    app = run_app(both_tasks, {"page": "Features", "task": "grade", "split": "train"})
    app.selectbox(key="model").set_value(model)
    rerun(app, both_tasks)
    assert not app.exception, [e.value for e in app.exception]
    assert len(app.get("vega_lite_chart")) >= 2  # coefficients and at least one distribution


@pytest.mark.slow
def test_roc_page_draws_a_chart(warehouse_root):
    app = open_page(warehouse_root, "ROC curves")
    assert len(app.get("vega_lite_chart")) == 1


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
        rerun(app, warehouse_root)
        assert not app.exception


def test_feature_values_by_file_name_match_the_whole_table(both_tasks):
    """Reading one ring's (or one patient's) files gives the rows a scan of the view gives."""
    from warehouse import queries
    wanted = [(0.0, "T1c", "original_firstorder_Feature00"), (3.0, "FLAIR", "original_firstorder_Feature01")]
    every = pd.concat([queries.table(both_tasks, "features", {"ring_mm": r, "sequence": s, "feature": f})
                       for r, s, f in wanted])
    columns = ["patient_id", "ring_mm", "sequence", "feature", "value"]
    key = ["ring_mm", "patient_id"]
    fast = queries.feature_values(both_tasks, wanted)
    pd.testing.assert_frame_equal(fast.sort_values(key).reset_index(drop=True),
                                  every[columns].sort_values(key).reset_index(drop=True))
    some = ["SYN-0002", "SYN-0040"]
    assert sorted(queries.feature_values(both_tasks, wanted, some)["patient_id"]) == sorted(some * 2)
    assert queries.feature_values(both_tasks, wanted, []).empty
    volumes = queries.ring_volumes(both_tasks, "SYN-0002")
    assert sorted(volumes["ring_mm"]) == [0.0, 1.0, 2.0, 3.0, 5.0, 10.0, 15.0]


@pytest.mark.slow
def test_viewer_opens_the_linked_patient_and_centres_each_new_patient(warehouse_root):
    """?patient= opens that patient; changing patient moves the slice to the tumour's centre."""
    import SimpleITK as sitk

    from dashboard.views.viewer import tumour_centre
    work = Path(warehouse_root).parent / "work"
    app = run_app(warehouse_root, {"page": "Patient viewer", "patient": "UCSF-PDGM-0002"})
    assert not app.exception, [e.value for e in app.exception]
    assert app.selectbox(key="patient").value == "UCSF-PDGM-0002"
    app.slider(key="view_slice").set_value(0)
    rerun(app, warehouse_root)
    app.selectbox(key="patient").set_value("UCSF-PDGM-0004")
    rerun(app, warehouse_root)
    mask = sitk.GetArrayFromImage(sitk.ReadImage(str(work / "rings" / "UCSF-PDGM-0004" / "ring_T.nii.gz")))
    assert app.slider(key="view_slice").value == tumour_centre(mask.astype(bool), mask.shape[0]) != 0
    assert app.query_params["patient"] == "UCSF-PDGM-0004"
    assert "mm³" in " ".join(m.value for m in app.markdown)


def test_table_one_exports_as_latex_and_markdown(both_tasks):
    from reporting.table_one import latex as _latex, table_one
    from radiomics_core.tasks.config import class_names
    from warehouse import queries
    rows = queries.table(both_tasks, "clinical_characteristics", {"task": "mgmt"})
    splits = queries.table(both_tasks, "splits", {"task": "mgmt"})
    names = dict(enumerate(class_names("mgmt")))
    counts = splits.groupby(["split", "label"]).size().unstack().rename(columns=names)
    table, footnote = table_one(rows, counts, names)
    latex = _latex(table, footnote)
    assert latex.startswith("\\begin{tabular}") and "\\quad F" in latex and "$\\pm$" in latex
    assert "Test methylated (N=" in table.to_markdown(index=False)


def test_charts_export_as_svg_and_png():
    """What the PNG/SVG buttons produce: vl-convert renders the dashboard's own specs."""
    import vl_convert
    metrics = pd.DataFrame({"model": ["VOI_T", "VOI_P"], "ring_mm": [None, 3.0], "split": "test",
                            "auc": [0.7, 0.8], "auc_low": [0.6, 0.7], "auc_high": [0.8, 0.9], "n": 20})
    spec = charts.auc_by_ring_chart(metrics, "test").to_json()
    assert "VOI_T (tumour only) 0.700" in vl_convert.vegalite_to_svg(spec)
    assert vl_convert.vegalite_to_png(spec)[:8] == b"\x89PNG\r\n\x1a\n"


def test_findings_sentence_with_undefined_intervals_and_p_values():
    from dashboard.views.findings import comparisons, sentence
    nan = float("nan")
    metrics = pd.DataFrame({"model": ["VOI_T", "VOI_P", "VOI_P"], "ring_mm": [nan, 3.0, 10.0],
                            "auc": [0.5, 1.0, 0.8], "auc_low": [nan, nan, 0.6], "auc_high": [nan, nan, 1.0]})
    delong = pd.DataFrame({"model_a": ["VOI_T", "VOI_P"], "ring_a": [nan, 3.0], "model_b": ["VOI_P", "VOI_P"],
                           "ring_b": [3.0, 10.0], "p_value": [nan, 0.0004]})
    best, table = comparisons(metrics, delong)
    text = sentence(best, table, "test", None)
    assert "the best ring is 3 mm" in text and "95% CI undefined" in text and "nan" not in text
    assert "VOI_T 0.500 (DeLong p undefined)" in text and "VOI_P 10 mm 0.800 (DeLong p < 0.001)" in text
    assert "could not be tested against the tumour alone" in text


def test_overview_lists_a_case_waiting_for_segmentation_apart_from_failures(tmp_path):
    """The rows tcia_series writes (orchestration/assets/tcia.py record_outcome) for a waiting
    and a failed TCIA case, beside one landed patient."""
    from radiomics_core.cohorts.issues import CaseIssue, IssueKind, Severity
    from warehouse import records

    warehouse = Warehouse(tmp_path).initialize()
    warehouse.write_partition("patients", "TCGA-06-0001", pd.DataFrame([{
        "patient_id": "TCGA-06-0001", "source_id": "TCGA-06-0001", "layout": "manifest", "folder": "cohort",
        "usable": True, "updated_at": pd.Timestamp("2026-11-26")}]))
    waiting = CaseIssue("TCGA-02-0003", IssueKind.MISSING_SEGMENTATION, "waiting for segmentation: put "
                        "TCGA-02-0003.nii.gz in segs", "segs", Severity.WAITING, "tcia")
    failed = CaseIssue("TCGA-08-0002", IssueKind.PROCESSING_ERROR, "missing slice", stage="tcia")
    for issue in (waiting, failed):
        warehouse.write_partition("case_issues", f"{issue.patient_id}__tcia", records.issue_rows([issue], "tcia"))
    app = open_page(tmp_path, "Cohort overview")
    assert not app.exception
    assert "Waiting for segmentation" in [h.value for h in app.subheader]
    assert "1 case(s) waiting for segmentation" in " ".join(i.value for i in app.info)
    waiting_table, failures_table = (frame.value for frame in app.dataframe[-2:])
    assert list(waiting_table["patient_id"]) == ["TCGA-02-0003"]
    assert list(failures_table["patient_id"]) == ["TCGA-08-0002"]


def _chart_titles(app: AppTest) -> list[str]:
    """The titles of the page's Altair charts, from their Vega-Lite specs."""
    import json

    titles = []
    for chart in app.get("vega_lite_chart"):
        title = json.loads(chart.proto.spec).get("title", "")
        titles.append(title.get("text", "") if isinstance(title, dict) else title)
    return titles


@pytest.mark.parametrize("task", ["grade", "mgmt"])
@pytest.mark.parametrize("model, expected", [
    ("VOI_T", ["LASSO cross-validation: VOI_T", "LASSO coefficient path: VOI_T", "Correlation of selected features: VOI_T"]),
    ("VOI_P 3 mm", ["LASSO cross-validation: VOI_P 3 mm", "LASSO coefficient path: VOI_P 3 mm",
                    "Correlation of selected features: VOI_P 3 mm"]),
    ("Combined 3 mm", ["LASSO cross-validation: Combined 3 mm", "Correlation of selected features: Combined 3 mm"]),
    ("Clinical-Omics 3 mm", ["Nomogram: Clinical-Omics 3 mm", "Correlation of selected features: Clinical-Omics 3 mm"]),
])
def test_features_page_shows_each_models_figures(both_tasks, task, model, expected):
    app = run_app(both_tasks, {"page": "Features", "task": task, "split": "train", "model": model})
    assert not app.exception, [e.value for e in app.exception]
    titles = _chart_titles(app)
    for prefix in expected:
        assert any(t.startswith(prefix) for t in titles), (prefix, titles)
    if not model.startswith("Clinical-Omics"):
        assert not any(t.startswith("Nomogram") for t in titles), titles


@pytest.mark.parametrize("classifier, axis", [("logistic", "Coefficient (standardized features)"),
                                               ("random_forest", "Impurity importance")])
def test_the_selected_features_axis_names_what_the_classifier_stores(both_tasks, classifier, axis):
    import json

    app = run_app(both_tasks, {"page": "Features", "task": "grade", "split": "train", "model": "VOI_T",
                               "classifier": classifier})
    assert not app.exception, [e.value for e in app.exception]
    [bars] = [json.loads(chart.proto.spec) for title, chart in zip(_chart_titles(app), app.get("vega_lite_chart"))
              if title.startswith("VOI_T: selected features")]
    assert bars["encoding"]["x"]["title"] == axis


@pytest.mark.parametrize("task", ["grade", "mgmt"])
def test_comparison_page_has_calibration_slopes_and_decision_references(both_tasks, task):
    import json

    app = run_app(both_tasks, {"page": "Model comparison", "task": task, "split": "test"})
    assert not app.exception, [e.value for e in app.exception]
    specs = {t: json.loads(c.proto.spec) for t, c in zip(_chart_titles(app), app.get("vega_lite_chart"))}
    calibration = json.dumps(specs[f"Calibration ({task}, test)"])
    decision = json.dumps(specs[f"Decision curves ({task}, test)"])
    assert "slope" in calibration and "intercept" in calibration
    # Each model's slope and intercept carry their stored 95% intervals.
    from warehouse import queries
    stored = charts.with_labels(queries.table(both_tasks, "model_metrics",
                                              {"task": task, "split": "test", "classifier": "logistic"}))
    voi_t = stored.set_index("label").loc["VOI_T"]
    low, high = voi_t["calibration_slope_low"], voi_t["calibration_slope_high"]
    assert f"slope {voi_t['calibration_slope']:.2f}, {charts.format_ci(low, high, 2)};" in calibration
    assert "Treat all" in decision and "Treat none" in decision


REPORT_FIGURES = ("Calibration (test)", "Decision curves (test)", "Nomogram: Clinical-Omics 3 mm",
                  "LASSO cross-validation: VOI_T", "LASSO coefficient path: VOI_T",
                  "Correlation of selected features: VOI_T", "LASSO cross-validation: Combined 3 mm")


@pytest.mark.parametrize("task", ["grade", "mgmt"])
def test_report_has_every_figure_with_png_and_svg(both_tasks, tmp_path, task):
    from reporting.report import write_report

    report = write_report(both_tasks, task, tmp_path / f"{task}.html")
    text = report.read_text(encoding="utf-8")
    for title in REPORT_FIGURES:
        assert title in text, title
    for name in ("calibration_test", "decision_curve_test", "nomogram", "lasso_cv_VOI_T", "lasso_path_VOI_T",
                 "correlation_VOI_T"):
        assert (tmp_path / f"{task}_{name}.svg").stat().st_size and (tmp_path / f"{task}_{name}.png").stat().st_size
    # The exported SVG carries the references and the slope, not only the HTML.
    assert "Treat all" in (tmp_path / f"{task}_decision_curve_test.svg").read_text(encoding="utf-8")
    assert "slope" in (tmp_path / f"{task}_calibration_test.svg").read_text(encoding="utf-8")


@pytest.mark.parametrize("task", ["grade", "mgmt"])
def test_clinical_page_shows_the_selection_flow_that_the_splits_add_up_to(both_tasks, task):
    from warehouse import queries

    app = run_app(both_tasks, {"page": "Clinical characteristics", "task": task})
    assert not app.exception, [e.value for e in app.exception]
    assert f"Selection flow: {task}" in [h.value for h in app.subheader]
    flow = app.dataframe[-1].value
    splits = queries.table(both_tasks, "splits", {"task": task})
    assert flow["Exams in"].iloc[0] == 80 and flow["Exams out"].iloc[-1] == len(splits)
    assert (flow["Exams in"] - flow["Excluded"]).equals(flow["Exams out"])


def test_report_lists_the_selection_flow(both_tasks, tmp_path):
    from reporting.report import write_report

    text = write_report(both_tasks, "mgmt", tmp_path / "mgmt.html").read_text(encoding="utf-8")
    flow = text[text.index("<h2>Selection flow</h2>"):]
    assert "Excluded because" in flow and "Excluded: methylated" in flow and "selected" in flow


def _metrics_table(app: AppTest) -> pd.DataFrame:
    return next(frame.value for frame in app.dataframe if {"label", "auc", "auc_low"} <= set(frame.value.columns))


def test_the_classifier_picked_in_the_sidebar_filters_the_metrics_and_lives_in_the_url(both_tasks):
    from warehouse import queries
    app = run_app(both_tasks, {"page": "Model comparison", "task": "grade", "split": "test"})
    picker = app.sidebar.selectbox(key="classifier")
    assert picker.value == "logistic" and list(picker.options) == ["logistic", "svm", "random_forest"]
    shown = {}
    for classifier in ("logistic", "svm", "random_forest"):
        app.sidebar.selectbox(key="classifier").set_value(classifier)
        rerun(app, both_tasks)
        assert not app.exception, [e.value for e in app.exception]
        assert app.query_params["classifier"] == classifier
        table = _metrics_table(app).set_index("label")
        stored = charts.with_labels(queries.table(both_tasks, "model_metrics",
                                                  {"task": "grade", "split": "test", "classifier": classifier}))
        assert table["auc"].to_dict() == stored.set_index("label")["auc"].round(3).to_dict()
        shown[classifier] = table["auc"]
    assert not shown["logistic"].equals(shown["svm"]) and not shown["svm"].equals(shown["random_forest"])
    # Another page opened from the URL shows the same classifier's numbers.
    roc = run_app(both_tasks, {"page": "ROC curves", "task": "grade", "split": "test", "classifier": "svm",
                               "models": ["VOI_T"]})
    assert roc.sidebar.selectbox(key="classifier").value == "svm"
    voi_t = shown["svm"]["VOI_T"]
    assert f"VOI_T (AUC {voi_t:.3f}" in str(roc.get("vega_lite_chart")[0].proto.spec)


def test_the_comparison_page_compares_the_classifiers_model_by_model(both_tasks):
    app = run_app(both_tasks, {"page": "Model comparison", "task": "mgmt", "split": "test"})
    table = next(frame.value for frame in app.dataframe if "model" in frame.value.columns
                 and "AUC svm" in frame.value.columns)
    assert list(table.columns) == ["model", "AUC logistic", "AUC svm", "AUC random_forest",
                                   "DeLong p logistic vs svm", "DeLong p logistic vs random_forest",
                                   "DeLong p svm vs random_forest"]
    assert table["model"].iloc[0] == "VOI_T" and (table["DeLong p logistic vs svm"] != "").all()


def test_the_report_shows_each_classifiers_figures_and_metrics(both_tasks, tmp_path):
    from reporting.report import write_report
    report = write_report(both_tasks, "grade", tmp_path / "grade.html")
    text = report.read_text(encoding="utf-8")
    for label in ("logistic regression", "SVM (linear)", "random forest"):
        assert f"<h2>Metrics: {label}</h2>" in text
    # The thesis' classifier keeps the plain figure names; the others' carry their classifier.
    for name in ("roc_test", "auc_by_ring", "delong_test", "calibration_test", "decision_curve_test"):
        for suffix in ("", "_svm", "_random_forest"):
            assert (tmp_path / f"grade_{name}{suffix}.svg").exists(), name + suffix
    assert "ROC curves (test), random forest" in (tmp_path / "grade_roc_test_random_forest.svg").read_text(encoding="utf-8")
    assert (tmp_path / "grade_auc_by_classifier.png").exists()


def test_a_task_without_models_still_shows_why_on_the_clinical_page(tmp_path):
    from radiomics_core.tasks.selection import select_cases
    from radiomics_core.tasks.config import preset

    warehouse = Warehouse(tmp_path).initialize()
    warehouse.write_partition("patients", "UCSF-PDGM-0001", pd.DataFrame([{
        "patient_id": "UCSF-PDGM-0001", "source_id": "UCSF-PDGM-001", "layout": "ucsf-pdgm", "folder": "/c",
        "usable": True, "updated_at": pd.Timestamp("2026-01-01")}]))
    clinical = pd.DataFrame([{"patient_id": "UCSF-PDGM-0001", "age": 60.0, "who_grade": 4, "mgmt_methylated": None,
                              "diagnosis": "Glioblastoma, IDH-wildtype", "idh": "wildtype"}])
    warehouse.write_partition("selection_flow", "mgmt", select_cases(preset("mgmt"), clinical).flow)
    app = run_app(tmp_path, {"page": "Clinical characteristics", "task": "mgmt"})
    assert not app.exception, [e.value for e in app.exception]
    assert "No clinical table for mgmt yet" in app.info[0].value
    flow = app.dataframe[-1].value
    assert flow["Excluded because"].iloc[-2] == "mgmt_methylated unknown or outside both classes"
    assert flow["Excluded: no label"].sum() == 1 and flow["Exams out"].iloc[-1] == 0


def test_decision_chart_draws_treat_all_from_the_table_and_treat_none_at_zero():
    thresholds = [0.1, 0.3, 0.5, 0.7, 0.9]
    prevalence = 0.4
    treat_all = [prevalence - (1 - prevalence) * t / (1 - t) for t in thresholds]
    frame = pd.DataFrame([{"task": "grade", "model": m, "ring_mm": None, "split": "test", "threshold": t,
                           "net_benefit": nb, "treat_all": a}
                          for m, shift in (("VOI_T", 0.0), ("Clinical", 0.05))
                          for t, a in zip(thresholds, treat_all) for nb in [max(a, 0) + shift]])
    chart = charts.decision_curve_chart(frame, "Decision curves")
    spec = chart.to_dict()
    rows = pd.DataFrame(next(iter(spec["datasets"].values())))
    drawn = rows[rows["curve"] == "Treat all"].set_index("threshold")["net_benefit"]
    floor = spec["encoding"]["y"]["scale"]["domain"][0]
    # Treat all as stored, down to the axis floor (below it the line leaves the plot); treat none at 0.
    expected = pd.Series(treat_all, index=thresholds)
    assert drawn.to_dict() == pytest.approx(expected[expected >= floor].to_dict())
    assert (rows.loc[rows["curve"] == "Treat none", "net_benefit"] == 0).all()
    assert set(rows.loc[rows["curve"] == "Treat none", "threshold"]) == set(thresholds)
    assert spec["encoding"]["color"]["scale"]["domain"] == ["VOI_T", "Clinical", "Treat all", "Treat none"]
