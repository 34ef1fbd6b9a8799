"""PyRadiomics' texture feature classes, discretizing each VOI's filtered image once.

Every PyRadiomics feature class bins the image itself when it is built (``_applyBinning``), so
first order, GLCM, GLRLM, GLSZM, GLDM and NGTDM bin the same pixels six times per VOI and image
type, each time through ``getBinEdges``, which runs Python's builtin min/max over the array. The
classes here are PyRadiomics' own (GLCM is ``FastGLCM``) with one change: given a
``Discretization`` in their settings, the first class to bin stores PyRadiomics' result and the
others reuse it. ``Discretization`` must be new for every (image, mask) pair.
"""

from __future__ import annotations

import functools

import numpy as np
from radiomics import getFeatureClasses, imageoperations

from radiomics_core.fast_glcm import FastGLCM

DISCRETIZATION_SETTING = "sharedDiscretization"


class Discretization:
    """The binned image, gray levels and Ng of one (image, mask) pair, computed on first use."""

    def __init__(self) -> None:
        self._binned: tuple[np.ndarray, np.ndarray, int] | None = None

    def of(self, matrix: np.ndarray, mask: np.ndarray, settings: dict) -> tuple[np.ndarray, np.ndarray, int]:
        if self._binned is None:
            binned, _ = imageoperations.binImage(matrix, mask, **settings)
            levels = np.unique(binned[mask])
            self._binned = (binned, levels, int(np.max(levels)))
        return self._binned


class _SharedBinning:
    def _applyBinning(self, matrix):
        shared = self.settings.get(DISCRETIZATION_SETTING)
        if shared is None:
            return super()._applyBinning(matrix)
        settings = {k: v for k, v in self.settings.items() if k != DISCRETIZATION_SETTING}
        binned, levels, ng = shared.of(matrix, self.maskArray, settings)
        # Copies: first order writes NaN into its array, and no class may see another's edits.
        self.coefficients["grayLevels"] = levels.copy()
        self.coefficients["Ng"] = ng
        return binned.copy()


@functools.cache
def texture_classes() -> dict[str, type]:
    """Feature class by PyRadiomics name (without shape), each sharing one ``Discretization``."""
    bases = {**getFeatureClasses(), "glcm": FastGLCM}
    return {name: type(f"Shared{base.__name__}", (_SharedBinning, base), {})
            for name, base in bases.items() if not name.startswith("shape")}
