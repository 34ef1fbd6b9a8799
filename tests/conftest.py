from __future__ import annotations

import pytest

from tests.builders import DATA


@pytest.fixture(scope="session")
def pyradiomics_data():
    """The real PyRadiomics MR samples (brain1, brain2) and their baselines, shipped in tests/data."""
    return DATA / "pyradiomics"
