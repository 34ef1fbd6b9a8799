"""The real ``streamlit run`` server on localhost, loaded page by page in headless Chromium.

Two servers: one over the warehouse the real pipeline wrote (grade only, with images for the
viewer), one over a warehouse holding both tasks written with the warehouse's own writers
(warehouse/synthetic.py). The assertions read what a user sees: text, SVG chart labels, positions.
"""

import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pandas as pd
import pytest

from warehouse.synthetic import build_warehouse
from reporting.charts import model_order
from dashboard.state import PAGES
from tests.browser.conftest import CHROMIUM, dashboard_server
from warehouse import queries

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
RINGS = (1.0, 2.0, 3.0, 5.0, 10.0, 15.0)

pytestmark = [pytest.mark.slow, pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")]


@pytest.fixture(scope="module")
def server(pipeline_run):
    pipeline, _, _ = pipeline_run
    # --no-auth: these tests are about the pages; the login gate has its own tests.
    with dashboard_server(pipeline.warehouse().root, app_args=["--no-auth"]) as url:
        yield url


@pytest.fixture(scope="module")
def both_tasks(tmp_path_factory):
    """80 cases with grade and MGMT results; VOI_P 2 mm ranks every case backwards (AUC 0)."""
    return build_warehouse(tmp_path_factory.mktemp("browser") / "warehouse", 80, rings=RINGS,
                           zero_auc=("VOI_P", 2.0))


@pytest.fixture(scope="module")
def server_both(both_tasks):
    with dashboard_server(both_tasks, app_args=["--no-auth"]) as url:
        yield url


def _open(browser, url: str, heading: str, errors: list[str]):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    page.get_by_role("heading", name=heading).wait_for(timeout=30_000)
    _settle(page)
    return page


def _settle(page) -> None:
    """Wait until Streamlit finished the run (no running indicator) and charts drew."""
    # Streamlit shows its running indicator only after a short delay, so look twice.
    for _ in range(2):
        page.wait_for_timeout(700)
        page.wait_for_function("!document.querySelector('[data-testid^=\"stStatusWidgetRunning\"]')",
                               timeout=60_000)


def _screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _assert_clean(page, errors: list[str]) -> None:
    text = page.inner_text("body")
    assert "Traceback" not in text and page.locator("[data-testid='stException']").count() == 0, text[:2000]
    assert not errors, errors


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlparse(url).query)


def _choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the selectbox labelled ``label`` as a user does: open it, click the option."""
    page.get_by_role("combobox", name=label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()
    _settle(page)


def _tags(page) -> list[str]:
    """The values chosen in the page's multiselect, as its tags show them."""
    return page.locator("[data-testid='stMultiSelect'] [data-tag]").evaluate_all(
        "tags => tags.map(t => t.getAttribute('aria-label'))")


@pytest.mark.parametrize("page_title", PAGES)
def test_page_loads_in_a_real_browser(server, browser, page_title):
    errors: list[str] = []
    page = _open(browser, f"{server}/?page={page_title.replace(' ', '+')}", page_title, errors)
    _screenshot(page, f"pipeline_{page_title.lower().replace(' ', '_')}")
    if page_title == "Patient viewer":
        # The legend names each overlay's volume, and the image is drawn.
        page.locator("[data-testid='stImage'] img").wait_for(timeout=30_000)
        assert re.search(r"VOI_T \(tumour\): [\d,]+ mm(3|³)", page.inner_text("body"))
    _assert_clean(page, errors)
    page.close()


@pytest.mark.parametrize("task", ["grade", "mgmt"])
@pytest.mark.parametrize("page_title", [p for p in PAGES if p != "Patient viewer"])
def test_each_page_for_both_tasks(server_both, browser, page_title, task):
    errors: list[str] = []
    page = _open(browser, f"{server_both}/?page={page_title.replace(' ', '+')}&task={task}&split=test",
                 page_title, errors)
    _screenshot(page, f"{task}_{page_title.lower().replace(' ', '_')}")
    _assert_clean(page, errors)
    page.close()


@pytest.mark.parametrize("task", ["grade", "mgmt"])
def test_findings_sentence_names_a_ring_and_a_p_value(server_both, browser, task):
    errors: list[str] = []
    page = _open(browser, f"{server_both}/?page=Findings&task={task}&split=test", "Findings", errors)
    sentence = page.locator("strong", has_text="the best ring is").inner_text()
    page.close()
    assert re.search(r"the best ring is \d+ mm", sentence), sentence
    assert re.search(r"DeLong p (= \d\.\d{3}|< 0\.001)", sentence), sentence
    assert "VOI_T" in sentence


def _svg_axis_labels(page, prefix: str) -> list[dict]:
    """Text, opacity and size of each label of the SVG axes whose aria-label starts with ``prefix``."""
    return page.evaluate("""prefix => Array.from(document.querySelectorAll('g.role-axis'))
        .filter(g => (g.getAttribute('aria-label') || '').startsWith(prefix))
        .flatMap(g => Array.from(g.querySelectorAll('g.role-axis-label text')).map(t => {
            const box = t.getBoundingClientRect();
            return {text: t.textContent, opacity: getComputedStyle(t).opacity, height: box.height,
                    y: box.top + box.height / 2};
        }))""", prefix)


@pytest.mark.parametrize("task", ["grade", "mgmt"])
def test_heatmap_row_labels_all_render(server_both, both_tasks, browser, task):
    delong = queries.table(both_tasks, "delong_tests", {"task": task, "split": "test"})
    models = model_order(pd.DataFrame({"model": [*delong["model_a"], *delong["model_b"]],
                                       "ring_mm": [*delong["ring_a"], *delong["ring_b"]]}))
    errors: list[str] = []
    page = _open(browser, f"{server_both}/?page=Model+comparison&task={task}&split=test", "Model comparison", errors)
    page.locator("g.role-axis[aria-label^='Y-axis for a discrete scale']").first.scroll_into_view_if_needed()
    labels = _svg_axis_labels(page, "Y-axis for a discrete scale")
    cells = page.evaluate("Array.from(document.querySelectorAll('g.role-mark text')).map(t => t.textContent)")
    _screenshot(page, f"heatmap_{task}")
    page.close()
    assert [label["text"] for label in labels] == models  # every row, in ring order
    assert all(label["opacity"] != "0" and label["height"] > 0 for label in labels)
    assert any(re.fullmatch(r"\.\d{2,3}|<\.001|1\.00", c) for c in cells)  # p-values printed in cells


def test_an_auc_of_zero_is_drawn_at_zero(server_both, browser):
    errors: list[str] = []
    page = _open(browser, f"{server_both}/?page=Model+comparison&task=grade&split=test", "Model comparison", errors)
    # The AUC chart's horizontal grid lines (one per tick; Streamlit's theme draws no tick marks)
    # and its axis labels, bottom first: the bottom line is the 0.0 tick.
    axis = page.evaluate("""(() => {
        const chart = Array.from(document.querySelectorAll('.vega-embed')).find(e =>
            e.querySelector("g.role-axis[aria-label^=\\"Y-axis titled 'AUC'\\"]"));
        const centre = el => { const b = el.getBoundingClientRect(); return b.top + b.height / 2; };
        const grid = Array.from(chart.querySelectorAll('g.role-axis-grid line'))
            .filter(l => Number(l.getAttribute('x2')) > 0).map(centre).sort((a, b) => b - a);
        const labels = Array.from(chart.querySelectorAll("g.role-axis[aria-label^=\\"Y-axis titled 'AUC'\\"] "
            + "g.role-axis-label text")).map(t => ({text: t.textContent, y: centre(t)})).sort((a, b) => b.y - a.y);
        return {grid, labels: labels.map(l => l.text)};
    })()""")
    points = page.evaluate("""Array.from(document.querySelectorAll('g.mark-symbol path[aria-label]'))
        .filter(p => /ring_mm: 2(;|$)/.test(p.getAttribute('aria-label')) && /model: VOI_P/.test(p.getAttribute('aria-label')))
        .map(p => { const b = p.getBoundingClientRect(); return {label: p.getAttribute('aria-label'), y: b.top + b.height / 2}; })""")
    page.close()
    assert axis["labels"][0] == "0.0" and axis["labels"][-1] == "1.0", axis
    assert len(axis["grid"]) == len(axis["labels"]), axis
    assert len(points) == 1 and "AUC: 0;" in points[0]["label"], points
    assert abs(points[0]["y"] - axis["grid"][0]) < 1.5, (points, axis)


@pytest.mark.parametrize("task", ["grade", "mgmt"])
def test_table_one_has_n_in_its_headers(server_both, browser, task):
    errors: list[str] = []
    page = _open(browser, f"{server_both}/?page=Clinical+characteristics&task={task}", "Clinical characteristics",
                 errors)
    headers = page.locator("[data-testid='stTable'] th").all_inner_texts()
    body = page.inner_text("[data-testid='stTable']")
    footnote = page.get_by_text("p-values:").inner_text()
    page.close()
    with_n = [h for h in headers if re.search(r"\(N=\d+\)", h)]
    assert len(with_n) == 4, headers  # train and test, by class
    assert {"p (train)", "p (test)", "p (train vs test)"} <= set(headers), headers
    assert "Age (years), mean ± SD" in body and "Sex, n (%)" in body
    assert footnote.startswith("p-values: a ")


@pytest.mark.parametrize("task", ["grade", "mgmt"])
@pytest.mark.parametrize("model", ["VOI_T", "VOI_P 3 mm", "Combined 3 mm"])
def test_features_page_plots_every_model_kind(server_both, both_tasks, browser, model, task):
    selected = queries.table(both_tasks, "selected_features", {"task": task})
    errors: list[str] = []
    page = _open(browser, f"{server_both}/?page=Features&task={task}&split=train&model={model.replace(' ', '+')}",
                 "Features", errors)
    titles = _chart_titles(page)
    _screenshot(page, f"features_{task}_{model.replace(' ', '_')}")
    _assert_clean(page, errors)
    page.close()
    name, ring = model.split(" ")[0], (float(model.split(" ")[1]) if " " in model else None)
    rows = selected[(selected["model"] == name) & (selected["ring_mm"].isna() if ring is None
                                                   else selected["ring_mm"] == ring)]
    assert any(t.startswith(f"{model}: selected features") for t in titles), titles
    plotted = [t for t in titles if t in set(rows["feature"])]
    assert plotted, titles  # at least one distribution by class was drawn


def _chart_titles(page) -> list[str]:
    """The titles Vega drew into the page's SVG charts (what a reader sees above each figure)."""
    page.wait_for_function("document.querySelectorAll('.vega-embed svg').length > 0", timeout=30_000)
    return page.evaluate("Array.from(document.querySelectorAll('.vega-embed g.role-title text'))"
                         ".map(t => t.textContent)")


def _has(titles: list[str], prefix: str) -> bool:
    return any(t.startswith(prefix) for t in titles)


@pytest.mark.parametrize("task", ["grade", "mgmt"])
@pytest.mark.parametrize("model", ["VOI_T", "VOI_P 3 mm", "Combined 3 mm", "Clinical-Omics 3 mm"])
def test_features_page_draws_the_models_figures(server_both, browser, model, task):
    errors: list[str] = []
    page = _open(browser, f"{server_both}/?page=Features&task={task}&split=train&model={model.replace(' ', '+')}",
                 "Features", errors)
    titles = _chart_titles(page)
    downloads = page.get_by_role("button", name="SVG").count()
    _screenshot(page, f"figures_{task}_{model.replace(' ', '_')}")
    _assert_clean(page, errors)
    page.close()
    assert _has(titles, f"Correlation of selected features: {model} ({task})"), titles
    if model.startswith("Clinical-Omics"):
        assert _has(titles, f"Nomogram: {model} ({task})"), titles
        assert not _has(titles, "LASSO"), titles  # the stacked model has no LASSO step
    else:
        assert _has(titles, f"LASSO cross-validation: {model} ({task})"), titles
        assert _has(titles, f"LASSO coefficient path: {model} ({task})"), titles
        assert not _has(titles, "Nomogram"), titles
    assert downloads >= 3  # every figure has its PNG/SVG export


@pytest.mark.parametrize("task", ["grade", "mgmt"])
def test_comparison_page_draws_calibration_and_decision_references(server_both, browser, task):
    errors: list[str] = []
    page = _open(browser, f"{server_both}/?page=Model+comparison&task={task}&split=test", "Model comparison", errors)
    page.get_by_text(f"Decision curves ({task}, test)").first.scroll_into_view_if_needed()
    titles = _chart_titles(page)
    legends = page.evaluate("Array.from(document.querySelectorAll('.vega-embed g.role-legend-label text'))"
                            ".map(t => t.textContent)")
    _screenshot(page, f"calibration_decision_{task}")
    _assert_clean(page, errors)
    page.close()
    assert _has(titles, f"Calibration ({task}, test)") and _has(titles, f"Decision curves ({task}, test)"), titles
    assert {"Treat all", "Treat none"} <= set(legends), legends
    # Slope and intercept, each with its 95% interval, whole (not cut off by the legend's width).
    number = r"-?\d+\.\d{2}"
    interval = rf"(?:{number}(?:-| to ){number}|undefined)"
    assert any(re.search(rf"\(slope {number}, {interval}; intercept {number}, {interval}\)", text)
               for text in legends), legends


@pytest.mark.parametrize("task", ["grade", "mgmt"])
def test_each_classifier_draws_its_own_calibration_and_decision_curves(server_both, browser, task):
    errors: list[str] = []
    page = _open(browser, f"{server_both}/?page=Model+comparison&task={task}&split=test", "Model comparison", errors)
    legends = {}
    for classifier in ("logistic", "svm", "random_forest"):
        _choose(page, "Classifier", classifier)
        page.get_by_text(f"Decision curves ({task}, test)").first.scroll_into_view_if_needed()
        titles = _chart_titles(page)
        assert _has(titles, f"Calibration ({task}, test)") and _has(titles, f"Decision curves ({task}, test)"), titles
        assert _query(page.url)["classifier"] == [classifier]
        legends[classifier] = page.evaluate(
            "Array.from(document.querySelectorAll('.vega-embed g.role-legend-label text'))"
            ".map(t => t.textContent).filter(t => t.includes('slope'))")
        _screenshot(page, f"calibration_{task}_{classifier}")
    _assert_clean(page, errors)
    page.close()
    # Each classifier's probabilities are its own, so are the calibration slopes in the legend.
    assert all(legends.values()) and len({tuple(v) for v in legends.values()}) == 3, legends


@pytest.mark.parametrize("task", ["grade", "mgmt"])
def test_the_report_draws_every_figure_offline(both_tasks, browser, tmp_path, task):
    from reporting.report import write_report

    report = write_report(both_tasks, task, tmp_path / f"{task}.html")
    page = browser.new_page(viewport={"width": 1200, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(report.as_uri())
    page.wait_for_selector("#figures svg, #figures canvas", timeout=30_000)
    page.wait_for_timeout(500)
    titles = page.evaluate("Array.from(document.querySelectorAll('#figures g.role-title text')).map(t => t.textContent)")
    page.screenshot(path=str(ARTIFACTS / f"report_{task}_figures.png"), full_page=True)
    page.close()
    assert not errors, errors
    for classifier in ("logistic regression", "SVM (linear)", "random forest"):  # each classifier's own
        assert f"Calibration (test), {classifier}" in titles and f"Decision curves (test), {classifier}" in titles
    for title in ("Nomogram: Clinical-Omics 3 mm", "LASSO cross-validation: VOI_T", "LASSO coefficient path: VOI_T",
                  "Correlation of selected features: VOI_T"):  # the selection's, once
        assert titles.count(title) == 1, (title, titles)


def test_a_copied_url_restores_task_split_and_models(server_both, browser):
    errors: list[str] = []
    page = _open(browser, f"{server_both}/?page=ROC+curves", "ROC curves", errors)
    _choose(page, "Task", "mgmt")
    _choose(page, "Split", "train")
    before = _tags(page)
    page.get_by_role("button", name=f"Remove {before[0]}", exact=True).click()  # as a user removes a model
    _settle(page)
    chosen = _tags(page)
    assert chosen == before[1:]
    copied = page.url
    page.close()
    query = _query(copied)
    assert query["task"] == ["mgmt"] and query["split"] == ["train"] and query["page"] == ["ROC curves"]
    assert query["models"] == chosen

    reopened = _open(browser, copied, "ROC curves", errors)  # a new session: only the URL carries the view
    restored = (reopened.get_by_role("combobox", name="Task", exact=True).input_value(),
                reopened.get_by_role("combobox", name="Split", exact=True).input_value(), _tags(reopened))
    reopened.reload()
    reopened.get_by_role("heading", name="ROC curves").wait_for(timeout=30_000)
    _settle(reopened)
    reloaded = (reopened.get_by_role("combobox", name="Task", exact=True).input_value(),
                reopened.get_by_role("combobox", name="Split", exact=True).input_value(), _tags(reopened))
    _assert_clean(reopened, errors)
    reopened.close()
    assert restored == ("mgmt", "train", chosen)
    assert reloaded == ("mgmt", "train", chosen)


def test_the_evaluation_report_opens_in_a_browser(pipeline_run, browser):
    pipeline, _, _ = pipeline_run
    ARTIFACTS.mkdir(exist_ok=True)
    report = pipeline.settings.work_dir("reports", "grade.html").resolve()
    page = browser.new_page(viewport={"width": 1200, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(report.as_uri())
    page.get_by_role("heading", name="glioma-rings evaluation: grade").wait_for(timeout=30_000)
    page.wait_for_selector("#figures canvas, #figures svg", timeout=30_000)  # Vega drew offline
    page.screenshot(path=str(ARTIFACTS / "report_grade.png"), full_page=True)
    page.close()
    assert not errors, errors
    assert report.with_name("grade_roc_test.svg").exists() and report.with_name("grade_roc_test.png").exists()
