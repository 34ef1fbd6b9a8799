"""PyRadiomics' GLSZM class with its matrix made only of the zone sizes present.

PyRadiomics' C function sizes the GLSZM by the largest zone (a real ring of 200k voxels with a
low-variance LoG image has zones of tens of thousands of voxels: Ng x 50,000 float64 counts),
and ``_calculateCoefficients`` then deletes the empty size columns again. Here the zones
(``voxel_matrices._glszm_zones``) are counted straight into a (present levels, present sizes)
matrix, which is exactly what PyRadiomics holds after its deletions: the same counts in the same
order, with ``jvector`` the present sizes. The coefficients are integer counts summed in floats
(exact in any order), so every feature is PyRadiomics' own code on the same arrays. Voxel-based
and 2D extraction keep PyRadiomics' path.
"""

from __future__ import annotations

import numpy
from radiomics.glszm import RadiomicsGLSZM

from radiomics_core.features.fast.voxel_matrices import (
    VoxelMatrices,
    log_fallback,
)


class FastGLSZM(RadiomicsGLSZM):
    # PyRadiomics' matrix (C functions); feature_classes gives its classes the voxel-list version.
    _pyradiomics_matrix = RadiomicsGLSZM._calculateMatrix
    _zone_sizes: numpy.ndarray | None = None

    def _calculateMatrix(self, voxelCoordinates=None):
        if voxelCoordinates is not None or self.imageArray.ndim != 3:
            log_fallback("GLSZM matrix, voxel-based or 2D")
            self._zone_sizes = None
            return self._pyradiomics_matrix(voxelCoordinates)
        matrices = VoxelMatrices.shared_by(self.settings)
        levels, sizes = matrices.glszm_zones(self.imageArray, self.maskArray, int(self.coefficients["Ng"]),
                                             self.settings.get("force2D", False),
                                             self.settings.get("force2Ddimension", 0))
        gray_levels = self.coefficients["grayLevels"]
        present = numpy.flatnonzero(numpy.bincount(sizes))
        row = numpy.zeros(int(gray_levels[-1]) + 1, numpy.int64)
        row[gray_levels] = numpy.arange(len(gray_levels))
        column = numpy.zeros(int(present[-1]) + 1, numpy.int64)
        column[present] = numpy.arange(len(present))
        counts = numpy.bincount(row[levels] * len(present) + column[sizes], minlength=len(gray_levels) * len(present))
        self._zone_sizes = present
        return counts.astype(numpy.float64).reshape((1, len(gray_levels), len(present)))

    def _calculateCoefficients(self):
        if self._zone_sizes is None:
            return super()._calculateCoefficients()
        # RadiomicsGLSZM._calculateCoefficients on a matrix without empty size columns: nothing
        # to delete, and jvector is the sizes present instead of 1 .. largest.
        ps = numpy.sum(self.P_glszm, 1)
        pg = numpy.sum(self.P_glszm, 2)
        ivector = self.coefficients["grayLevels"].astype(float)
        jvector = self._zone_sizes.astype(numpy.float64)
        nz = numpy.sum(self.P_glszm, (1, 2))
        nz[nz == 0] = 1
        np_ = numpy.sum(ps * jvector[None, :], 1)
        np_[np_ == 0] = 1
        self.coefficients.update(Np=np_, Nz=nz, ps=ps, pg=pg, ivector=ivector, jvector=jvector)
