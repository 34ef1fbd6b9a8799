"""PyRadiomics' texture matrices (GLCM, GLRLM, GLSZM, NGTDM, GLDM) computed over a VOI's voxels.

PyRadiomics' C functions (``radiomics._cmatrices``) visit every voxel of the VOI's bounding box
and find each voxel's coordinates with integer divisions; a ring is a thin shell whose box is the
tumor's box plus the ring, so most of that work is on voxels outside the VOI. Here the binned
image is padded by the largest neighbour distance and zeroed outside the mask (gray levels start
at 1, so 0 means "not in the VOI", and a neighbour beyond the box is never counted, as in the C
code), and the kernels visit only the VOI's voxels, in the C code's order, with neighbours at
fixed flat offsets. The angles are PyRadiomics' own (``generate_angles``), so matrices come out
element for element as the C functions make them. ``VoxelMatrices`` has the C module's call
signatures and is what our feature classes call; given a dict, it builds the padded VOI once for
all the classes of one (image, mask) pair.
"""

from __future__ import annotations

import functools
import logging

import numba
import numpy as np
from radiomics import cMatrices

logger = logging.getLogger(__name__)

# The feature classes' settings key of the object shared by one (image, mask) pair's classes
# (feature_classes.Discretization); its ``padded_vois`` dict is a VoxelMatrices store.
DISCRETIZATION_SETTING = "sharedDiscretization"

# cache=True keeps the compiled kernels next to this module: a new process loads them in
# milliseconds instead of compiling for seconds.
_jit = numba.njit(cache=True, nogil=True)


class PaddedVoi:
    """A VOI's binned image, 0 outside the mask, padded by ``pad`` voxels and flattened, with the
    flat indices of the VOI's voxels."""

    def __init__(self, image: np.ndarray, mask: np.ndarray, pad: int, voxels: np.ndarray | None = None,
                 ng: int | None = None) -> None:
        self.box_shape = image.shape
        self.pad = pad
        self.shape = tuple(s + 2 * pad for s in image.shape)
        # 16-bit levels when they fit (Ng is a few hundred at most with PyRadiomics' bin counts):
        # the kernels' reads at neighbour offsets stay in cache twice as often as with 32 bits.
        ng = int(image.max()) if ng is None else ng
        padded = np.zeros(self.shape, np.uint16 if ng < 2 ** 16 else np.int32)
        inner = padded[tuple(slice(pad, pad + s) for s in image.shape)]
        np.copyto(inner, image, where=mask, casting="unsafe")
        self.image = padded.ravel()
        # Gray levels start at 1, so the non-zero voxels are the mask's: given by the caller
        # when it has them from another image type of the same VOI. Ascending: the C loops' order.
        self.voxels = np.flatnonzero(self.image) if voxels is None else voxels

    def offsets(self, angles: np.ndarray) -> np.ndarray:
        """Flat offsets of the (Na, 3) angles (z, y, x) in the padded array."""
        strides = np.array([self.shape[1] * self.shape[2], self.shape[2], 1], np.int64)
        return angles.astype(np.int64) @ strides


@functools.cache
def log_fallback(what: str) -> None:
    """Say once per process that PyRadiomics' own code computes ``what``."""
    logger.info("%s: computed by PyRadiomics' own code (not rewritten here)", what)


def _angles(size: tuple[int, ...], distances, bidirectional: bool, force2D: bool, force2Ddimension: int) -> np.ndarray:
    return cMatrices.generate_angles(np.array(size), np.asarray(distances, dtype=int), bidirectional,
                                     bool(force2D), force2Ddimension)


@_jit
def _glcm(image, voxels, offsets, ng):
    na = offsets.size
    # Row and column 0 take the pairs with a neighbour outside the VOI (level 0): no branch.
    glcm = np.zeros((ng + 1, ng + 1, na))
    for i in voxels:
        gi = image[i]
        for a in range(na):
            glcm[gi, image[i + offsets[a]], a] += 1
    return glcm[1:, 1:].copy().reshape((1, ng, ng, na))


@_jit
def _glcm_compact(image, voxels, offsets, index, n):
    """GLCM counts (n, n, angles) indexed by present gray level: ``index`` maps a level to its row,
    and level 0 (outside the VOI) to row n, which is dropped."""
    na = offsets.size
    glcm = np.zeros((n + 1, n + 1, na))
    for i in voxels:
        gi = index[image[i]]
        for a in range(na):
            glcm[gi, index[image[i + offsets[a]]], a] += 1
    return glcm[:n, :n]


@_jit
def _neighbour_matrices(image, voxels, offsets, index, n, ng, alpha):
    """``_glcm_compact``, ``_gldm`` and ``_ngtdm`` in one visit of each voxel's neighbours:
    ``offsets`` are GLCM's one-way angles, and GLDM's and NGTDM's two-way angles are these and
    their opposites. Each matrix gets exactly the separate kernels' numbers: counts are integers,
    and NGTDM's neighbour sum is a sum of small integers in a float (exact in any order); its
    per-level sums of differences accumulate in the same voxel order."""
    na = offsets.size
    glcm = np.zeros((n + 1, n + 1, na))
    gldm = np.zeros((1, ng, 4 * na + 1))  # _gldm's shape: 2 x its 2 na angles + 1
    ngtdm = np.zeros((1, ng, 3))
    for g in range(ng):
        ngtdm[0, g, 2] = g + 1
    for i in voxels:
        gi = image[i]
        row = index[gi]
        count = 0.0
        total = 0.0
        dependent = 0
        for a in range(na):
            up = image[i + offsets[a]]
            down = image[i - offsets[a]]
            glcm[row, index[up], a] += 1
            count += (up != 0) + (down != 0)
            total += np.int64(up) + np.int64(down)
            if alpha == 0:
                dependent += (up == gi) + (down == gi)
            else:
                dependent += ((up != 0) & (abs(np.int64(gi) - np.int64(up)) <= alpha)) + (
                    (down != 0) & (abs(np.int64(gi) - np.int64(down)) <= alpha))
        diff = 0.0 if count == 0 else abs(gi - total / count)
        gldm[0, gi - 1, dependent] += 1
        ngtdm[0, gi - 1, 0] += 1
        ngtdm[0, gi - 1, 1] += diff
    return glcm[:n, :n], gldm, ngtdm


@_jit
def _ngtdm(image, voxels, offsets, ng):
    ngtdm = np.zeros((1, ng, 3))
    for g in range(ng):
        ngtdm[0, g, 2] = g + 1
    for i in voxels:
        count = 0.0
        total = 0.0
        for a in range(offsets.size):
            gj = image[i + offsets[a]]
            count += gj != 0  # branch-free; a neighbour outside the VOI adds 0 to the total
            total += gj
        diff = 0.0 if count == 0 else abs(image[i] - total / count)
        ngtdm[0, image[i] - 1, 0] += 1
        ngtdm[0, image[i] - 1, 1] += diff
    return ngtdm


@_jit
def _gldm(image, voxels, offsets, ng, alpha):
    gldm = np.zeros((1, ng, offsets.size * 2 + 1))
    for i in voxels:
        gi = image[i]
        dependent = 0
        for a in range(offsets.size):
            gj = image[i + offsets[a]]
            # Branch-free: neighbour levels are as unpredictable as the texture. With alpha = 0
            # (the default) a dependent neighbour has the same level, never 0 (outside).
            if alpha == 0:
                dependent += gj == gi
            else:
                dependent += (gj != 0) & (abs(np.int64(gi) - np.int64(gj)) <= alpha)
        gldm[0, gi - 1, dependent] += 1
    return gldm


@_jit
def _glszm_zones(image, voxels, offsets):
    """(gray level, size) of every 26-connected zone (neighbours by ``offsets``) of equal level."""
    unvisited = image.copy()  # a voxel is zeroed when its zone takes it
    stack = np.empty(voxels.size, np.int64)
    levels = np.empty(voxels.size, np.int64)
    sizes = np.empty(voxels.size, np.int64)
    zones = 0
    for start in voxels:
        if not unvisited[start]:
            continue
        level = image[start]
        unvisited[start] = 0
        stack[0] = start
        top = 1
        size = 0
        while top > 0:
            top -= 1
            k = stack[top]
            size += 1
            for a in range(offsets.size):
                j = k + offsets[a]
                if unvisited[j] == level:
                    unvisited[j] = 0
                    stack[top] = j
                    top += 1
        levels[zones] = level
        sizes[zones] = size
        zones += 1
    return levels[:zones], sizes[:zones]


@_jit
def _glrlm(image, voxels, offsets, steps, box_low, box_high, shape, ng, nr):
    """Runs along each angle; ``steps`` (Na, 3) are the angles, box_low/high the unpadded box."""
    na = offsets.size
    glrlm = np.zeros((1, ng, nr, na))
    counts = glrlm[0]
    multi_element = np.zeros(na, np.bool_)
    # Voxel-major: a voxel's 13 predecessors are near each other in memory.
    for i in voxels:
        level = image[i]
        for a in range(na):
            off = offsets[a]
            previous = image[i - off]
            if previous == level:
                continue  # not the first voxel of its run
            length = 1
            j = i + off
            while image[j] == level:
                length += 1
                j += off
            if previous or length > 1 or image[j]:
                multi_element[a] = True
            counts[level - 1, length - 1, a] += 1
    for a in range(na):
        if not multi_element[a]:
            # PyRadiomics drops an angle whose every line through the box holds at most one VOI
            # voxel. No two voxels were adjacent along it; look for two on one line further apart.
            if not _any_line_with_two(image, voxels, offsets[a], steps[a], box_low, box_high, shape):
                counts[:, 0, a] = 0
    return glrlm


@_jit
def _any_line_with_two(image, voxels, off, step, box_low, box_high, shape):
    for i in voxels:
        z = i // (shape[1] * shape[2])
        y = (i // shape[2]) % shape[1]
        x = i % shape[2]
        j = i
        while True:
            z += step[0]
            y += step[1]
            x += step[2]
            if (z < box_low[0] or z > box_high[0] or y < box_low[1] or y > box_high[1]
                    or x < box_low[2] or x > box_high[2]):
                break
            j += off
            if image[j]:
                return True
    return False


class VoxelMatrices:
    """``radiomics._cmatrices``' calculate_* functions. Voxel-based calls (a kernel per voxel) and
    2D arrays go to the C functions, which this module does not replace. ``store``, when given,
    keeps the padded VOI for the next call on the same (image, mask) pair."""

    def __init__(self, store: dict | None = None, voxel_store: dict | None = None,
                 fuse_alpha: float | None = None) -> None:
        self.store = store
        self.voxel_store = voxel_store
        # Not None: GLDM (with this alpha) and NGTDM will be asked for on the same (image, mask)
        # pair and settings, so GLCM's call counts them too (``_neighbour_matrices``) and leaves
        # them in ``store``.
        self.fuse = fuse_alpha is not None and store is not None
        self.fuse_alpha = fuse_alpha

    @classmethod
    def shared_by(cls, settings: dict) -> VoxelMatrices:
        """The instance for a feature class's settings: with its ``Discretization``'s stores."""
        shared = settings.get(DISCRETIZATION_SETTING)
        if shared is None:
            return cls()
        return cls(shared.padded_vois, shared.voi_store, settings.get("gldm_a", 0) if shared.fuse_neighbours else None)

    def _voi(self, image: np.ndarray, mask: np.ndarray, pad: int, ng: int | None = None) -> PaddedVoi:
        if self.store is None:
            return PaddedVoi(image, mask, pad, ng=ng)
        if pad not in self.store:
            key = ("voxels", pad)
            voxels = None if self.voxel_store is None else self.voxel_store.get(key)
            self.store[pad] = PaddedVoi(image, mask, pad, voxels, ng)
            if self.voxel_store is not None:
                self.voxel_store[key] = self.store[pad].voxels
        return self.store[pad]

    def glcm_by_level(self, image, mask, distances, levels, force2D, force2Ddimension) -> np.ndarray:
        """(levels, levels, angles) GLCM counts of the present ``levels`` only: calculate_glcm's
        matrix with PyRadiomics' deletion of absent levels already done."""
        angles = _angles(image.shape, distances, False, force2D, force2Ddimension)
        ng = int(levels[-1])
        voi = self._voi(image, mask, int(np.max(distances)), ng)
        index = np.full(ng + 1, len(levels), np.int64)
        index[levels] = np.arange(len(levels))
        index[0] = len(levels)
        offsets = voi.offsets(angles)
        if self.fuse:
            two_way = _angles(image.shape, distances, True, force2D, force2Ddimension)
            if sorted(map(tuple, two_way)) == sorted(map(tuple, np.concatenate([angles, -angles]))):
                alpha = int(self.fuse_alpha)
                glcm, gldm, ngtdm = _neighbour_matrices(voi.image, voi.voxels, offsets, index, len(levels), ng, alpha)
                key = (tuple(np.asarray(distances).tolist()), ng, bool(force2D), int(force2Ddimension))
                self.store[("gldm", *key, alpha)] = gldm
                self.store[("ngtdm", *key)] = ngtdm
                return glcm
        return _glcm_compact(voi.image, voi.voxels, offsets, index, len(levels))

    def calculate_glcm(self, image, mask, distances, Ng, force2D, force2Ddimension, *voxel_based):
        if voxel_based or image.ndim != 3:
            log_fallback("GLCM matrix, voxel-based or 2D")
            return cMatrices.calculate_glcm(image, mask, distances, Ng, force2D, force2Ddimension, *voxel_based)
        angles = _angles(image.shape, distances, False, force2D, force2Ddimension)
        voi = self._voi(image, mask, int(np.max(distances)), Ng)
        return _glcm(voi.image, voi.voxels, voi.offsets(angles), Ng), angles

    def calculate_ngtdm(self, image, mask, distances, Ng, force2D, force2Ddimension, *voxel_based):
        if voxel_based or image.ndim != 3:
            log_fallback("NGTDM matrix, voxel-based or 2D")
            return cMatrices.calculate_ngtdm(image, mask, distances, Ng, force2D, force2Ddimension, *voxel_based)
        key = ("ngtdm", tuple(np.asarray(distances).tolist()), int(Ng), bool(force2D), int(force2Ddimension))
        if self.store is not None and key in self.store:
            return self.store.pop(key)
        angles = _angles(image.shape, distances, True, force2D, force2Ddimension)
        voi = self._voi(image, mask, int(np.max(distances)), Ng)
        return _ngtdm(voi.image, voi.voxels, voi.offsets(angles), Ng)

    def calculate_gldm(self, image, mask, distances, Ng, alpha, force2D, force2Ddimension, *voxel_based):
        if voxel_based or image.ndim != 3:
            log_fallback("GLDM matrix, voxel-based or 2D")
            return cMatrices.calculate_gldm(image, mask, distances, Ng, alpha, force2D, force2Ddimension,
                                            *voxel_based)
        key = ("gldm", tuple(np.asarray(distances).tolist()), int(Ng), bool(force2D), int(force2Ddimension), int(alpha))
        if self.store is not None and key in self.store:
            return self.store.pop(key)
        angles = _angles(image.shape, distances, True, force2D, force2Ddimension)
        voi = self._voi(image, mask, int(np.max(distances)), Ng)
        return _gldm(voi.image, voi.voxels, voi.offsets(angles), Ng, int(alpha))

    def glszm_zones(self, image, mask, ng, force2D, force2Ddimension) -> tuple[np.ndarray, np.ndarray]:
        """(gray level, size) of every zone, in the C function's order of discovery."""
        angles = _angles(image.shape, [1], True, force2D, force2Ddimension)
        voi = self._voi(image, mask, 1, ng)
        return _glszm_zones(voi.image, voi.voxels, voi.offsets(angles))

    def calculate_glszm(self, image, mask, Ng, Ns, force2D, force2Ddimension, *voxel_based):
        if voxel_based or image.ndim != 3:
            log_fallback("GLSZM matrix, voxel-based or 2D")
            return cMatrices.calculate_glszm(image, mask, Ng, Ns, force2D, force2Ddimension, *voxel_based)
        angles = _angles(image.shape, [1], True, force2D, force2Ddimension)
        voi = self._voi(image, mask, 1, Ng)
        levels, sizes = _glszm_zones(voi.image, voi.voxels, voi.offsets(angles))
        # The C function sizes the matrix by the largest zone found.
        largest = int(sizes.max())
        counts = np.bincount((levels - 1) * largest + sizes - 1, minlength=Ng * largest)
        return counts.astype(np.float64).reshape((1, Ng, largest))

    def calculate_glrlm(self, image, mask, Ng, Nr, force2D, force2Ddimension, *voxel_based):
        if voxel_based or image.ndim != 3:
            log_fallback("GLRLM matrix, voxel-based or 2D")
            return cMatrices.calculate_glrlm(image, mask, Ng, Nr, force2D, force2Ddimension, *voxel_based)
        angles = _angles(image.shape, [1], False, force2D, force2Ddimension)
        voi = self._voi(image, mask, 1, Ng)
        low = np.full(3, voi.pad, np.int64)
        high = low + np.array(voi.box_shape, np.int64) - 1
        matrix = _glrlm(voi.image, voi.voxels, voi.offsets(angles), angles.astype(np.int64), low, high,
                        np.array(voi.shape, np.int64), Ng, int(Nr))
        return matrix, angles
