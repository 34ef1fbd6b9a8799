"""PyRadiomics' GLRLM class with its features computed in one pass per angle.

PyRadiomics computes each of the 16 GLRLM features with numpy over the (Ng, Nr, angles) run
length matrix, several passes and temporaries each. ``_angle_features`` computes every feature's
per-angle value from the same matrix and coefficients (Nr per angle, gray levels ``ivector``,
run lengths ``jvector`` after PyRadiomics drops the empty ones) in one numba pass, with
PyRadiomics' formulas term for term; the angle average is numpy.nanmean, as there. Only the
summation order differs (~1e-15 relative). Voxel-based extraction keeps PyRadiomics' methods.
"""

from __future__ import annotations

import numba
import numpy
from radiomics.glrlm import RadiomicsGLRLM

_FEATURES = ("ShortRunEmphasis", "LongRunEmphasis", "GrayLevelNonUniformity", "GrayLevelNonUniformityNormalized",
             "RunLengthNonUniformity", "RunLengthNonUniformityNormalized", "RunPercentage", "GrayLevelVariance",
             "RunVariance", "RunEntropy", "LowGrayLevelRunEmphasis", "HighGrayLevelRunEmphasis",
             "ShortRunLowGrayLevelEmphasis", "ShortRunHighGrayLevelEmphasis", "LongRunLowGrayLevelEmphasis",
             "LongRunHighGrayLevelEmphasis")
_ROW = {name: row for row, name in enumerate(_FEATURES)}


@numba.njit(cache=True, nogil=True)
def _angle_features(p_glrlm, ivector, jvector, runs, eps):
    """(features, angles) values of a (levels, run lengths, angles) GLRLM; ``runs`` is PyRadiomics'
    Nr per angle (NaN for an angle without runs)."""
    ng, nr, na = p_glrlm.shape
    out = numpy.empty((len(_FEATURES), na))
    for a in range(na):
        n_runs = runs[a]
        pr = numpy.zeros(nr)
        pg = numpy.zeros(ng)
        entropy = srlgle = srhgle = lrlgle = lrhgle = 0.0
        for i in range(ng):
            i2 = ivector[i] ** 2
            for j in range(nr):
                p = p_glrlm[i, j, a]
                pr[j] += p
                pg[i] += p
                j2 = jvector[j] ** 2
                normalized = p / n_runs
                entropy -= normalized * numpy.log2(normalized + eps)
                srlgle += p / (i2 * j2)
                srhgle += p * i2 / j2
                lrlgle += p * j2 / i2
                lrhgle += p * (j2 * i2)
        sre = lre = rln = n_voxels = u_j = 0.0
        for j in range(nr):
            j2 = jvector[j] ** 2
            sre += pr[j] / j2
            lre += pr[j] * j2
            rln += pr[j] ** 2
            n_voxels += pr[j] * jvector[j]
            u_j += pr[j] / n_runs * jvector[j]
        rv = 0.0
        for j in range(nr):
            rv += pr[j] / n_runs * (jvector[j] - u_j) ** 2
        gln = lglre = hglre = u_i = 0.0
        for i in range(ng):
            i2 = ivector[i] ** 2
            gln += pg[i] ** 2
            lglre += pg[i] / i2
            hglre += pg[i] * i2
            u_i += pg[i] / n_runs * ivector[i]
        glv = 0.0
        for i in range(ng):
            glv += pg[i] / n_runs * (ivector[i] - u_i) ** 2
        values = (sre / n_runs, lre / n_runs, gln / n_runs, gln / n_runs ** 2, rln / n_runs, rln / n_runs ** 2,
                  n_runs / n_voxels, glv, rv, entropy, lglre / n_runs, hglre / n_runs, srlgle / n_runs,
                  srhgle / n_runs, lrlgle / n_runs, lrhgle / n_runs)
        for row in range(len(values)):
            out[row, a] = values[row]
    return out


class FastGLRLM(RadiomicsGLRLM):
    def _calculateCoefficients(self):
        super()._calculateCoefficients()
        self._angle_means = None
        if self.P_glrlm.shape[0] == 1:  # voxel-based: one matrix per voxel, PyRadiomics' code
            values = _angle_features(numpy.ascontiguousarray(self.P_glrlm[0]), self.coefficients["ivector"],
                                     self.coefficients["jvector"], self.coefficients["Nr"][0].astype(float),
                                     numpy.spacing(1))
            self._angle_means = numpy.nanmean(values, 1)

    def _feature(self, name: str):
        if self._angle_means is None:
            return getattr(super(), f"get{name}FeatureValue")()
        return self._angle_means[_ROW[name], None]


def _getter(name: str):
    def get(self):
        return self._feature(name)

    get.__name__ = f"get{name}FeatureValue"
    get.__doc__ = getattr(RadiomicsGLRLM, get.__name__).__doc__
    return get


for _name in _FEATURES:
    setattr(FastGLRLM, f"get{_name}FeatureValue", _getter(_name))
