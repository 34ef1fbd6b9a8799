"""PyRadiomics' GLCM class with its features computed in one pass per angle.

PyRadiomics computes each GLCM feature with numpy over the whole (Ng, Ng, angles) matrix: with
~80 gray levels and 13 angles every feature makes several passes and temporaries over ~10^5
elements, and GLCM was ~45% of our extraction time. ``_angle_features`` computes every feature's
per-angle value in two passes over the matrix (numba), with PyRadiomics' formulas term for term:
gray levels as values (not indices), eps = numpy.spacing(1) inside the logarithms, Ng the
largest gray level in IDMN/IDN and in the sum/difference marginals, Correlation 1 where
sigma_x sigma_y = 0, IMC1 0 where max(HX, HY) = 0, IMC2 0 where HXY2 = HXY. The angle average is
numpy.nanmean, as in PyRadiomics, so an angle whose value is NaN is skipped the same way; Joint
Average is a plain mean, as there. Only the summation order differs (sequential here, pairwise in
numpy): ~1e-15 relative. The Maximal Correlation Coefficient is the second largest eigenvalue of
Q(i, j) = sum_k p(i,k) p(j,k) / (p_x(i) p_y(k)); PyRadiomics builds Q with a Python loop over k
and a general eigen-solver, here it is one batched product and a symmetric eigen-solver (same
value to ~1e-8 relative). Voxel-based extraction keeps PyRadiomics' methods.
tests/test_features.py and tests/test_fast_matrices.py check every feature against PyRadiomics.
"""

from __future__ import annotations

import logging

import numba
import numpy
from radiomics.glcm import RadiomicsGLCM

from radiomics_core.features.fast.voxel_matrices import (
    VoxelMatrices,
    log_fallback,
)

# Per-angle values, in this order, of the features computed by _angle_features.
_FEATURES = ("Autocorrelation", "ClusterProminence", "ClusterShade", "ClusterTendency", "Contrast", "Correlation",
             "DifferenceAverage", "DifferenceEntropy", "DifferenceVariance", "JointEnergy", "JointEntropy", "Imc1",
             "Imc2", "Idm", "Idmn", "Id", "Idn", "InverseVariance", "MaximumProbability", "SumAverage", "SumEntropy",
             "SumSquares", "JointAverage")
_ROW = {name: row for row, name in enumerate(_FEATURES)}


@numba.njit(cache=True, nogil=True)
def _angle_features(p_glcm, levels, ng, eps):
    """(features, angles) values, and p_x, p_y (levels, angles), of a normalized (levels, levels,
    angles) GLCM whose rows and columns are the gray levels ``levels``; ``ng`` the largest."""
    nl, _, na = p_glcm.shape
    out = numpy.empty((len(_FEATURES), na))
    px_all = numpy.zeros((nl, na))
    py_all = numpy.zeros((nl, na))
    for a in range(na):
        px = px_all[:, a]
        py = py_all[:, a]
        p_sum = numpy.zeros(2 * ng - 1)  # p_{x+y}(k), k = 2 .. 2 Ng
        p_diff = numpy.zeros(ng)  # p_{x-y}(k), k = 0 .. Ng - 1
        ux = uy = autocorrelation = contrast = energy = hxy = 0.0
        maximum = -numpy.inf
        for i in range(nl):
            li = levels[i]
            for j in range(nl):
                p = p_glcm[i, j, a]
                lj = levels[j]
                px[i] += p
                py[j] += p
                ux += li * p
                uy += lj * p
                autocorrelation += p * (li * lj)
                contrast += p * ((li - lj) * (li - lj))
                energy += p * p
                if p != 0:  # 0 * log2(eps) adds nothing; most of a GLCM is 0
                    hxy -= p * numpy.log2(p + eps)
                if p > maximum or p != p:
                    maximum = p
                p_sum[int(li + lj) - 2] += p
                p_diff[int(abs(li - lj))] += p
        prominence = shade = tendency = sigma_x2 = sigma_y2 = moment = hxy1 = hxy2 = 0.0
        for i in range(nl):
            li = levels[i]
            for j in range(nl):
                p = p_glcm[i, j, a]
                lj = levels[j]
                centered = li + lj - ux - uy
                squared = centered * centered
                tendency += p * squared
                shade += p * (squared * centered)
                prominence += p * (squared * squared)
                dx = li - ux
                dy = lj - uy
                sigma_x2 += p * (dx * dx)
                sigma_y2 += p * (dy * dy)
                moment += p * dx * dy
                product = px[i] * py[j]
                log_product = numpy.log2(product + eps)
                hxy1 -= p * log_product
                hxy2 -= product * log_product
        hx = hy = 0.0
        for i in range(nl):
            hx -= px[i] * numpy.log2(px[i] + eps)
            hy -= py[i] * numpy.log2(py[i] + eps)
        sigma = sigma_x2 ** 0.5 * sigma_y2 ** 0.5
        correlation = 1.0 if sigma == 0 else moment / (sigma + eps)
        div = max(hx, hy)
        imc1 = 0.0 if div == 0 else (hxy - hxy1) / div
        imc2 = 0.0 if hxy2 == hxy else (1 - numpy.e ** (-2 * (hxy2 - hxy))) ** 0.5
        difference_average = difference_entropy = idm = idmn = id_ = idn = inverse_variance = 0.0
        for k in range(ng):
            q = p_diff[k]
            difference_average += k * q
            difference_entropy -= q * numpy.log2(q + eps)
            idm += q / (1 + k * k)
            idmn += q / (1 + (k * k) / (ng * ng))
            id_ += q / (1 + k)
            idn += q / (1 + k / ng)
            if k > 0:
                inverse_variance += q / (k * k)
        difference_variance = 0.0
        for k in range(ng):
            difference_variance += p_diff[k] * ((k - difference_average) * (k - difference_average))
        sum_average = sum_entropy = 0.0
        for k in range(2 * ng - 1):
            q = p_sum[k]
            sum_average += (k + 2) * q
            sum_entropy -= q * numpy.log2(q + eps)
        values = (autocorrelation, prominence, shade, tendency, contrast, correlation, difference_average,
                  difference_entropy, difference_variance, energy, hxy, imc1, imc2, idm, idmn, id_, idn,
                  inverse_variance, maximum, sum_average, sum_entropy, sigma_x2, ux)
        for row in range(len(values)):
            out[row, a] = values[row]
    return out, px_all, py_all


class FastGLCM(RadiomicsGLCM):
    def __init__(self, inputImage, inputMask, **kwargs):
        super().__init__(inputImage, inputMask, **kwargs)
        # PyRadiomics names a class's logger after its module; keep ours under "radiomics" so
        # PyRadiomics' log settings (features.py keeps errors only) apply to it too.
        self.logger = logging.getLogger("radiomics.glcm")

    # PyRadiomics' matrix (C functions); feature_classes gives its classes the voxel-list version.
    _pyradiomics_matrix = RadiomicsGLCM._calculateMatrix

    def _calculateMatrix(self, voxelCoordinates=None):
        if voxelCoordinates is not None or self.weightingNorm is not None or self.imageArray.ndim != 3:
            log_fallback("GLCM matrix with weightingNorm, voxel-based or 2D")
            return self._pyradiomics_matrix(voxelCoordinates)
        # RadiomicsGLCM._calculateMatrix with the counts made per present gray level, so there is
        # nothing to delete: symmetrize, drop empty angles, normalize per angle, as there.
        matrices = VoxelMatrices.shared_by(self.settings)
        counts = matrices.glcm_by_level(self.imageArray, self.maskArray, numpy.array(self.settings.get("distances", [1])),
                                        self.coefficients["grayLevels"], self.settings.get("force2D", False),
                                        self.settings.get("force2Ddimension", 0))
        p_glcm = counts[None]
        if self.symmetricalGLCM:
            p_glcm = p_glcm + numpy.transpose(p_glcm, (0, 2, 1, 3))
        sums = numpy.sum(p_glcm, (1, 2))
        if p_glcm.shape[3] > 1:
            empty = numpy.where(numpy.sum(sums, 0) == 0)
            if len(empty[0]) > 0:
                p_glcm = numpy.delete(p_glcm, empty, 3)
                sums = numpy.delete(sums, empty, 1)
        sums[sums == 0] = numpy.nan
        p_glcm /= sums[:, None, None, :]
        return p_glcm

    def _calculateCoefficients(self):
        if self.P_glcm.shape[0] != 1:  # voxel-based: one matrix per voxel, PyRadiomics' code
            log_fallback("GLCM features, voxel-based")
            self._angle_values = None
            return super()._calculateCoefficients()
        levels = self.coefficients["grayLevels"].astype(float)
        eps = numpy.spacing(1)
        values, px, py = _angle_features(numpy.ascontiguousarray(self.P_glcm[0]), levels,
                                         int(self.coefficients["Ng"]), eps)
        self._angle_values = values
        # One nanmean over the angles for all features (PyRadiomics: one call per feature).
        self._angle_means = numpy.nanmean(values, 1)
        self.coefficients.update(eps=eps, px=px[None, :, None, :], py=py[None, None, :, :])

    def _feature(self, name: str):
        if self._angle_values is None:
            return getattr(super(), f"get{name}FeatureValue")()
        if name == "JointAverage":
            return numpy.array([self._angle_values[_ROW[name]].mean()])
        return self._angle_means[_ROW[name], None]

    def getMCCFeatureValue(self):
        if self._angle_values is not None:
            return self._mcc()
        px = self.coefficients["px"]  # (Nv, Ng, 1, Na)
        py = self.coefficients["py"]  # (Nv, 1, Ng, Na)
        p = numpy.moveaxis(self.P_glcm, -1, 1)  # (Nv, Na, i, k)
        row = numpy.moveaxis(px[:, :, 0, :], -1, 1)[..., :, None]  # p_x(i)
        column = numpy.moveaxis(py[:, 0, :, :], -1, 1)[..., None, :]  # p_y(k)
        # Q = D^-1 M with D = diag(p_x) and M symmetric, so Q has the eigenvalues of the
        # symmetric D^-1/2 M D^-1/2: eigvalsh instead of a general eigvals. Dropping eps only
        # matters where p_x(i) p_y(k) ~ 1e-16, far below any GLCM's smallest probability.
        scale = numpy.where(row > 0, 1.0 / numpy.sqrt(numpy.where(row > 0, row, 1.0)), 0.0)  # (Nv, Na, i, 1)
        weighted = p * scale / numpy.sqrt(numpy.where(column > 0, column, numpy.inf))
        eigenvalues = numpy.linalg.eigvalsh(weighted @ numpy.swapaxes(weighted, -1, -2))
        if eigenvalues.shape[2] < 2:
            return 1  # flat region, as PyRadiomics returns
        mcc = numpy.sqrt(eigenvalues[:, :, -2])
        return numpy.nanmean(mcc, 1).real


    def _mcc(self):
        # As below, with the weighted matrix built by _mcc_weights in one pass.
        weighted = _mcc_weights(numpy.ascontiguousarray(self.P_glcm[0]), self.coefficients["px"][0, :, 0, :],
                                self.coefficients["py"][0, 0, :, :])
        if weighted.shape[1] < 2:
            return 1  # flat region, as PyRadiomics returns
        if numpy.array_equal(weighted, numpy.swapaxes(weighted, -1, -2)):
            # A symmetric GLCM (PyRadiomics' default) gives a symmetric W (p_x = p_y, summed in the
            # same order), and W W^T = W^2 has the eigenvalues of W squared: the second largest
            # is the second largest |eigenvalue of W|, without the product.
            magnitudes = numpy.sort(numpy.abs(numpy.linalg.eigvalsh(weighted)), axis=-1)
            return numpy.nanmean(magnitudes[None, :, -2], 1)
        eigenvalues = numpy.linalg.eigvalsh(weighted @ numpy.swapaxes(weighted, -1, -2))
        return numpy.nanmean(numpy.sqrt(eigenvalues[None, :, -2]), 1)


@numba.njit(cache=True, nogil=True)
def _mcc_weights(p_glcm, px, py):
    """(angles, i, k) p(i, k) / sqrt(p_x(i) p_y(k)), 0 where p_x(i) or p_y(k) is 0. Computed as
    p(i, k) (r(i) c(k)) with r = 1 / sqrt(p_x), c = 1 / sqrt(p_y), so that a symmetric GLCM
    (p_x = p_y) gives an exactly symmetric result."""
    nl, _, na = p_glcm.shape
    weighted = numpy.zeros((na, nl, nl))
    row = numpy.zeros(nl)
    column = numpy.zeros(nl)
    for a in range(na):
        for i in range(nl):
            row[i] = 1.0 / numpy.sqrt(px[i, a]) if px[i, a] > 0 else 0.0
            column[i] = 1.0 / numpy.sqrt(py[i, a]) if py[i, a] > 0 else 0.0
        for i in range(nl):
            for k in range(nl):
                weighted[a, i, k] = p_glcm[i, k, a] * (row[i] * column[k])
    return weighted


def _getter(name: str):
    def get(self):
        return self._feature(name)

    get.__name__ = f"get{name}FeatureValue"
    get.__doc__ = getattr(RadiomicsGLCM, get.__name__).__doc__
    return get


for _name in _FEATURES:
    setattr(FastGLCM, f"get{_name}FeatureValue", _getter(_name))
