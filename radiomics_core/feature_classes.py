"""PyRadiomics' texture feature classes, discretizing each VOI's filtered image once.

Every PyRadiomics feature class bins the image itself when it is built (``_applyBinning``), so
first order, GLCM, GLRLM, GLSZM, GLDM and NGTDM bin the same pixels six times per VOI and image
type, each time through ``getBinEdges``, which runs Python's builtin min/max over the array. The
classes here are PyRadiomics' own (GLCM is ``FastGLCM``) with two changes: given a
``Discretization`` in their settings, the first class to bin stores the result and the others
reuse it; and first order's moments multiply instead of calling ``numpy.power``.
``Discretization`` must be new for every (image, mask) pair.
"""

from __future__ import annotations

import functools
import sys
import types

import numpy as np
from radiomics import getFeatureClasses, imageoperations
from radiomics.firstorder import RadiomicsFirstOrder
from radiomics.shape import RadiomicsShape

from radiomics_core.fast_glcm import FastGLCM
from radiomics_core.shape_mesh import mesh_coefficients
from radiomics_core.voxel_matrices import VoxelMatrices

DISCRETIZATION_SETTING = "sharedDiscretization"


class Discretization:
    """The binned image, gray levels and Ng of one (image, mask) pair, computed on first use."""

    def __init__(self) -> None:
        self._binned: tuple[np.ndarray, np.ndarray, int] | None = None

    def of(self, matrix: np.ndarray, mask: np.ndarray, settings: dict) -> tuple[np.ndarray, np.ndarray, int]:
        if self._binned is None:
            binned = _binned_image(matrix, mask, settings)
            levels = np.unique(binned[mask])
            self._binned = (binned, levels, int(np.max(levels)))
        return self._binned


def _binned_image(matrix: np.ndarray, mask: np.ndarray, settings: dict) -> np.ndarray:
    """PyRadiomics' ``binImage`` inside the mask; for a fixed bin width its ``getBinEdges`` with
    numpy's min/max instead of Python's builtin ones, which iterate the array element by element.
    The arithmetic is PyRadiomics' own, so the edges are the same numbers."""
    if settings.get("binCount") is not None:
        return imageoperations.binImage(matrix, mask, **settings)[0]
    width = settings.get("binWidth", 25)
    values = matrix[mask]
    minimum, maximum = values.min(), values.max()
    edges = np.arange(minimum - (minimum % width), maximum + 2 * width, width)
    if len(edges) == 1:  # flat region: one bin, as PyRadiomics makes it
        edges = [edges[0] - 0.5, edges[0] + 0.5]
    binned = np.zeros(matrix.shape, dtype="int")
    binned[mask] = np.digitize(values, edges)
    return binned


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


class FastFirstOrder(RadiomicsFirstOrder):
    @staticmethod
    def _moment(a, moment=1):
        # RadiomicsFirstOrder._moment (skewness: 2 and 3, kurtosis: 2 and 4) without numpy.power.
        centered = a - np.nanmean(a, 1, keepdims=True)
        power = centered * centered
        if moment == 3:
            power = power * centered
        elif moment == 4:
            power = power * power
        elif moment != 2:
            return RadiomicsFirstOrder._moment(a, moment)
        return np.nanmean(power, 1)


def _rebound(method: types.FunctionType, **replacements) -> types.FunctionType:
    """PyRadiomics' own method with some of its module's globals replaced: the same calls and the
    same post-processing, only the replaced C functions differ."""
    namespace = {**sys.modules[method.__module__].__dict__, **replacements}
    return types.FunctionType(method.__code__, namespace, method.__name__, method.__defaults__, method.__closure__)


class _MeshShape:
    """``radiomics.cShape`` as ``RadiomicsShape`` calls it, with the fast diameters."""

    calculate_coefficients = staticmethod(mesh_coefficients)


class FastShape(RadiomicsShape):
    """PyRadiomics' 3D shape class; its mesh coefficients come from ``shape_mesh``."""

    _initSegmentBasedCalculation = _rebound(RadiomicsShape._initSegmentBasedCalculation, cShape=_MeshShape)


@functools.cache
def texture_classes() -> dict[str, type]:
    """Feature class by PyRadiomics name (without shape), each sharing one ``Discretization``."""
    bases = {**getFeatureClasses(), "glcm": FastGLCM, "firstorder": FastFirstOrder}
    classes = {}
    for name, base in bases.items():
        if name.startswith("shape"):
            continue
        body = {}
        if name in ("glcm", "glrlm", "glszm", "ngtdm", "gldm"):
            # The matrix counted over the VOI's voxels; PyRadiomics' post-processing (empty gray
            # levels and angles dropped, weighting, normalization) is unchanged.
            body["_calculateMatrix"] = _rebound(base._calculateMatrix, cMatrices=VoxelMatrices)
        classes[name] = type(f"Shared{base.__name__}", (_SharedBinning, base), body)
    return classes
