"""PyRadiomics' feature classes as extraction uses them: one discretization per VOI and image
type, and the slow parts replaced by code that gives the same values.

Every PyRadiomics feature class bins the image itself when it is built (``_applyBinning``), so
first order, GLCM, GLRLM, GLSZM, GLDM and NGTDM bin the same pixels six times per VOI and image
type. Given a ``Discretization`` in their settings, the first class to bin stores the result and
the others reuse it (with the padded VOI the matrix kernels share); ``Discretization`` must be
new for every (image, mask) pair. Each class is PyRadiomics' own, subclassed: its texture
matrix is counted over the VOI's voxels (``voxel_matrices``; GLCM, GLDM and NGTDM in one visit
of the neighbours), GLCM and GLRLM features come from one pass per angle (``glcm``, ``glrlm``),
GLSZM's matrix holds only the zone sizes present (``glszm``), shape's mesh diameters come from
convex hulls (``shape_mesh``), first order's percentiles from one partition, its moments without
``numpy.power`` and its reductions without NaN scans on a voxel array without NaN. Extraction
hands the classes ``VoiArray`` boxes (numpy views of the filtered image, read-only) instead of
SimpleITK crops that each class would copy into arrays again. Everything else, and every setting
these do not cover, is PyRadiomics' code.
"""

from __future__ import annotations

import functools
import sys
import types

import numba
import numpy as np
import SimpleITK as sitk
from radiomics import base, getFeatureClasses, imageoperations
from radiomics.firstorder import RadiomicsFirstOrder
from radiomics.glcm import RadiomicsGLCM
from radiomics.glszm import RadiomicsGLSZM
from radiomics.shape import RadiomicsShape

from radiomics_core.features.fast.glcm import FastGLCM
from radiomics_core.features.fast.glrlm import FastGLRLM
from radiomics_core.features.fast.glszm import FastGLSZM
from radiomics_core.features.fast.shape_mesh import mesh_coefficients
from radiomics_core.features.fast.voxel_matrices import (
    DISCRETIZATION_SETTING,
    VoxelMatrices,
)


class Discretization:
    """The binned image, gray levels and Ng of one (image, mask) pair, computed on first use.
    ``voi_store``, when given, is kept by the caller for one VOI across image types (what depends
    on the mask alone: the padded VOI's voxel indices). ``fuse_neighbours``: GLCM, GLDM and NGTDM
    are all enabled, so their matrices are counted in one pass (``VoxelMatrices``)."""

    def __init__(self, voi_store: dict | None = None, fuse_neighbours: bool = False) -> None:
        self._binned: tuple[np.ndarray, np.ndarray, int] | None = None
        self.padded_vois: dict = {}  # VoxelMatrices' store: one padded VOI per padding
        self.voi_store = voi_store
        self.fuse_neighbours = fuse_neighbours

    def of(self, matrix: np.ndarray, mask: np.ndarray, settings: dict) -> tuple[np.ndarray, np.ndarray, int]:
        if self._binned is None:
            binned = _binned_image(matrix, mask, settings)
            # The levels present, sorted, as numpy.unique finds them; bin indices are small
            # non-negative integers, so counting beats unique's sort or hash.
            levels = np.flatnonzero(np.bincount(binned[mask]))
            # Shared by the six classes, read-only so that none can edit another's input.
            binned.setflags(write=False)
            self._binned = (binned, levels, int(np.max(levels)))
        return self._binned


class VoiArray:
    """A VOI's box of an image (or of its mask) as a numpy array, handed to the feature classes
    in place of the SimpleITK crop they would convert with ``GetArrayFromImage`` (a copy per
    class: six per VOI and image type). Read-only: the classes share it."""

    def __init__(self, array: np.ndarray, spacing: tuple[float, ...]) -> None:
        self.array = array
        self.array.setflags(write=False)
        self._spacing = tuple(spacing)

    def label_mask(self, label: int) -> np.ndarray:
        """The boolean (array == label), read-only, computed once."""
        cache = self.__dict__.setdefault("_label_masks", {})
        if label not in cache:
            cache[label] = self.array == label
            cache[label].setflags(write=False)
        return cache[label]

    def GetSpacing(self) -> tuple[float, ...]:
        return self._spacing

    def GetSize(self) -> tuple[int, ...]:
        return self.array.shape[::-1]


class _ArraysOrImages:
    """``SimpleITK`` as radiomics.base uses it, taking a ``VoiArray`` as its array."""

    def __getattr__(self, name):
        return getattr(sitk, name)

    @staticmethod
    def GetArrayFromImage(image):
        return image.array if isinstance(image, VoiArray) else sitk.GetArrayFromImage(image)


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
    binned[mask] = _digitize_evenly(values, np.asarray(edges, dtype=np.result_type(edges[0], edges[-1])))
    return binned


@numba.njit(cache=True, nogil=True)
def _digitize_evenly(values, edges):
    """numpy.digitize(values, edges) for increasing, evenly spaced edges: the bin is guessed from
    the spacing and settled by the same comparisons digitize makes (edges[k-1] <= v < edges[k]),
    instead of a binary search per value."""
    n = edges.size
    out = np.empty(values.size, np.int64)
    if n < 2:
        for t in range(values.size):
            out[t] = 1 if values[t] >= edges[0] else 0
        return out
    start = float(edges[0])
    width = float(edges[1]) - start
    for t in range(values.size):
        v = values[t]
        if v != v:  # NaN sorts last, as in numpy
            out[t] = n
            continue
        k = int(min(max((float(v) - start) / width + 1.0, 0.0), float(n)))
        while k > 0 and v < edges[k - 1]:
            k -= 1
        while k < n and v >= edges[k]:
            k += 1
        out[t] = k
    return out


@functools.cache
def _class_feature_names(cls: type) -> dict[str, bool]:
    return super(_SharedBinning, cls).getFeatureNames()


class _SharedBinning:
    @classmethod
    def getFeatureNames(cls):
        # PyRadiomics lists a class's features with inspect.getmembers for every instance (~0.5 ms).
        return dict(_class_feature_names(cls))

    def _applyBinning(self, matrix):
        shared = self.settings.get(DISCRETIZATION_SETTING)
        if shared is None:
            return super()._applyBinning(matrix)
        settings = {k: v for k, v in self.settings.items() if k != DISCRETIZATION_SETTING}
        binned, levels, ng = shared.of(matrix, self.maskArray, settings)
        self.coefficients["grayLevels"] = levels.copy()
        self.coefficients["Ng"] = ng
        return binned


_PERCENTILES = (10, 25, 75, 90)


class FastFirstOrder(RadiomicsFirstOrder):
    _no_nan = False  # set per VOI by _initCalculation

    def __init__(self, inputImage, inputMask, **kwargs):
        if kwargs.get(DISCRETIZATION_SETTING) is None:
            super().__init__(inputImage, inputMask, **kwargs)
            return
        # RadiomicsFirstOrder.__init__ without its copy of the image for binning: the shared
        # binning only reads it.
        super(RadiomicsFirstOrder, self).__init__(inputImage, inputMask, **kwargs)
        self.pixelSpacing = inputImage.GetSpacing()
        self.voxelArrayShift = kwargs.get("voxelArrayShift", 0)
        self.discretizedImageArray = self._applyBinning(self.imageArray)

    def _percentile(self, q: int) -> np.ndarray:
        # PyRadiomics calls nanpercentile (a NaN scan, apply_along_axis, a partition) seven times;
        # a segment's voxel array is one row without NaN, where one percentile call over the four
        # q gives the same order statistics and the same interpolation.
        values = self.targetVoxelArray
        if values.shape[0] != 1 or np.isnan(values).any():
            return np.nanpercentile(values, q, axis=1)
        cache = self.__dict__.setdefault("_percentile_cache", {})
        if not cache:
            cache.update(zip(_PERCENTILES, np.percentile(values[0], _PERCENTILES)))
        return np.array([cache[q]])

    def _initCalculation(self, voxelCoordinates=None):
        if voxelCoordinates is not None:
            return super()._initCalculation(voxelCoordinates)
        # RadiomicsFirstOrder._initCalculation with the level counts by bincount, not numpy.unique.
        self.targetVoxelArray = self.imageArray[self.maskArray].astype("float").reshape((1, -1))
        self._no_nan = not np.isnan(self.targetVoxelArray).any()
        counts = np.bincount(self.discretizedImageArray[self.maskArray])
        p_i = counts[counts > 0].reshape((1, -1))
        sum_bins = np.sum(p_i, 1, keepdims=True).astype("float")
        sum_bins[sum_bins == 0] = 1
        self.coefficients["p_i"] = p_i.astype("float") / sum_bins

    def get10PercentileFeatureValue(self):
        return self._percentile(10)

    def get90PercentileFeatureValue(self):
        return self._percentile(90)

    def getInterquartileRangeFeatureValue(self):
        return self._percentile(75) - self._percentile(25)

    def _moment(self, a, moment=1):
        # RadiomicsFirstOrder._moment (skewness: 2 and 3, kurtosis: 2 and 4) without numpy.power,
        # and with numpy.mean for the voxel array without NaN (see _without_nan_scans).
        mean = np.mean if self._no_nan and a is self.targetVoxelArray else np.nanmean
        centered = a - mean(a, 1, keepdims=True)
        power = centered * centered
        if moment == 3:
            power = power * centered
        elif moment == 4:
            power = power * power
        elif moment != 2:
            return RadiomicsFirstOrder._moment(a, moment)
        return mean(power, 1)


def _voxel_matrices(method: types.FunctionType) -> types.FunctionType:
    """PyRadiomics' own ``_calculateMatrix`` calling ``VoxelMatrices`` instead of its C module, with
    the padded VOI shared by the classes of one ``Discretization``. The post-processing (empty
    gray levels and angles dropped, weighting, normalization) is PyRadiomics' code."""

    def _calculateMatrix(self, voxelCoordinates=None):
        matrices = VoxelMatrices.shared_by(self.settings)
        return _rebound(method, cMatrices=matrices)(self, voxelCoordinates)

    return _calculateMatrix


def _rebound(method: types.FunctionType, **replacements) -> types.FunctionType:
    """PyRadiomics' own method with some of its module's globals replaced: the same calls and the
    same post-processing, only the replaced C functions differ."""
    namespace = {**sys.modules[method.__module__].__dict__, **replacements}
    return types.FunctionType(method.__code__, namespace, method.__name__, method.__defaults__, method.__closure__)


class _NoNanNumpy:
    """numpy for a voxel array known to hold no NaN: its nan-functions are the plain ones, the
    same reductions over the same values without the NaN scan and copy they make first."""

    nanmean = staticmethod(np.mean)
    nansum = staticmethod(np.sum)
    nanmin = staticmethod(np.min)
    nanmax = staticmethod(np.max)
    nanstd = staticmethod(np.std)
    nanmedian = staticmethod(np.median)
    nanpercentile = staticmethod(np.percentile)

    def __getattr__(self, name):
        return getattr(np, name)


def _without_nan_scans(name: str) -> types.FunctionType:
    """PyRadiomics' first-order getter ``name``, calling the plain reductions when the VOI's
    voxel array has no NaN (a segment of a finite image: always, in extraction)."""
    original = getattr(RadiomicsFirstOrder, name)
    plain = _rebound(original, numpy=_NoNanNumpy())

    def get(self):
        return plain(self) if self._no_nan else original(self)

    # Its attributes too: PyRadiomics marks deprecated features (StandardDeviation) on the function.
    return functools.update_wrapper(get, original)


for _name in dir(RadiomicsFirstOrder):
    # RobustMeanAbsoluteDeviation sets voxels to NaN itself and needs nanmean.
    if (_name.startswith("get") and _name.endswith("FeatureValue") and _name not in FastFirstOrder.__dict__
            and _name != "getRobustMeanAbsoluteDeviationFeatureValue"):
        setattr(FastFirstOrder, _name, _without_nan_scans(_name))


def _rebound_base(method: types.FunctionType) -> types.FunctionType:
    return _rebound(method, sitk=_ArraysOrImages())


class _ArrayBase(base.RadiomicsFeaturesBase):
    """PyRadiomics' base class reading ``VoiArray`` inputs without a copy. Placed after each
    PyRadiomics class in the MRO, so their ``super().__init__`` calls land here."""

    __init__ = _rebound_base(base.RadiomicsFeaturesBase.__init__)
    _pyradiomics_segment = _rebound_base(base.RadiomicsFeaturesBase._initSegmentBasedCalculation)

    def _initSegmentBasedCalculation(self):
        if not isinstance(self.inputMask, VoiArray):
            return self._pyradiomics_segment()
        # PyRadiomics' (mask == label), made once per VOI for all its classes and image types.
        self.maskArray = self.inputMask.label_mask(self.label)
        return None


class _MeshShape:
    """``radiomics.cShape`` as ``RadiomicsShape`` calls it, with the fast diameters."""

    calculate_coefficients = staticmethod(mesh_coefficients)


class FastShape(RadiomicsShape):
    """PyRadiomics' 3D shape class; its mesh coefficients come from ``shape_mesh``."""

    _initSegmentBasedCalculation = _rebound(RadiomicsShape._initSegmentBasedCalculation, cShape=_MeshShape)


@functools.cache
def texture_classes() -> dict[str, type]:
    """Feature class by PyRadiomics name (without shape), each sharing one ``Discretization``."""
    bases = {**getFeatureClasses(), "glcm": FastGLCM, "glrlm": FastGLRLM, "glszm": FastGLSZM,
             "firstorder": FastFirstOrder}
    classes = {}
    for name, feature_class in bases.items():
        if name.startswith("shape"):
            continue
        body = {}
        if name == "glcm":  # FastGLCM counts by level itself; other settings take PyRadiomics' path
            body["_pyradiomics_matrix"] = _voxel_matrices(RadiomicsGLCM._calculateMatrix)
        elif name == "glszm":  # so does FastGLSZM
            body["_pyradiomics_matrix"] = _voxel_matrices(RadiomicsGLSZM._calculateMatrix)
        elif name in ("glrlm", "ngtdm", "gldm"):
            body["_calculateMatrix"] = _voxel_matrices(feature_class._calculateMatrix)
        classes[name] = type(f"Shared{feature_class.__name__}", (_SharedBinning, feature_class, _ArrayBase), body)
    return classes
