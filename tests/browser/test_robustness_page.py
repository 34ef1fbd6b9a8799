"""The Robustness page in headless Chromium over the warehouse of the shared TCGA-LGG cases'
seven segmentations each (tests/conftest.py ``tcga_raters_run``): Dice and CV for every ring."""

import pytest

from radiomics_core.settings import rings_with_voi_t
from tests.browser.conftest import CHROMIUM, dashboard_server
from tests.browser.test_browser import _assert_clean, _open, _screenshot

pytestmark = [pytest.mark.slow, pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")]

DICE_TITLE = "Inter-rater Dice of VOI_T and every ring"
CV_TITLE = "Feature CV across segmentations, per VOI"


def _texts(page, title: str) -> list[str]:
    """The text elements of the one chart titled ``title``, in document order."""
    chart = page.locator("svg").filter(has_text=title)
    assert chart.count() == 1, f"{chart.count()} charts titled {title!r}"
    return [t.strip() for t in chart.locator("text").all_text_contents()]


def test_the_robustness_page_shows_dice_and_cv_of_every_ring_of_the_tcga_cases(tcga_raters_run, browser):
    pipeline, _ = tcga_raters_run
    vois = [ring.label for ring in rings_with_voi_t(pipeline.settings.rings_mm)]
    assert vois == ["VOI_T", "1 mm", "2 mm", "3 mm", "4 mm", "5 mm", "10 mm", "15 mm"]
    with dashboard_server(pipeline.warehouse().root, app_args=["--no-auth"]) as url:
        errors: list[str] = []
        page = _open(browser, f"{url}/?page=Robustness", "Robustness", errors)
        page.locator("svg").first.wait_for(timeout=30_000)
        page.locator("svg").filter(has_text=CV_TITLE).wait_for(timeout=30_000)
        _screenshot(page, "robustness_tcga_raters")
        text = page.inner_text("body")
        for title in (DICE_TITLE, CV_TITLE):
            labels = _texts(page, title)
            # Every VOI is an x-axis label of both charts (whole labels: "1 mm" is in "15 mm"), in ring order.
            assert [label for label in labels if label in vois] == vois, (title, labels)
        assert "2 patients, 7 segmentations each" in text
        # The ICC section says how to get it: this warehouse has no perturbation run.
        assert "robustness: true" in text
        _assert_clean(page, errors)
        page.close()
