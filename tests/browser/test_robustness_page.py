"""The Robustness page in headless Chromium over the warehouse of the shared TCGA-LGG cases'
seven segmentations each (tests/conftest.py ``tcga_raters_run``): Dice and CV for every ring."""

import pytest

from tests.browser.conftest import CHROMIUM, dashboard_server
from tests.browser.test_browser import _assert_clean, _open, _screenshot

pytestmark = [pytest.mark.slow, pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")]


def test_the_robustness_page_shows_dice_and_cv_of_every_ring_of_the_tcga_cases(tcga_raters_run, browser):
    pipeline, _ = tcga_raters_run
    with dashboard_server(pipeline.warehouse().root, app_args=["--no-auth"]) as url:
        errors: list[str] = []
        page = _open(browser, f"{url}/?page=Robustness", "Robustness", errors)
        page.locator("svg").first.wait_for(timeout=30_000)
        _screenshot(page, "robustness_tcga_raters")
        text = page.inner_text("body")
        svg_text = " ".join(page.locator("svg text").all_text_contents())
        assert "Inter-rater Dice of VOI_T and every ring" in svg_text
        assert "Feature CV across segmentations, per VOI" in svg_text
        for voi in ("VOI_T", "1 mm", "3 mm"):
            assert voi in svg_text
        assert "2 patients, 7 segmentations each" in text
        # The ICC section says how to get it: this warehouse has no perturbation run.
        assert "robustness: true" in text
        _assert_clean(page, errors)
        page.close()
