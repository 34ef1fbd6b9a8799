"""PyRadiomics' shape coefficients (mesh surface area, volume, maximum diameters) without its
O(n^2) diameter search.

``radiomics._cshape.calculate_coefficients`` runs marching cubes over the padded mask and then
compares every pair of mesh vertices for the four maximum diameters; on a ring (two surfaces,
~10^5 vertices) the pairs are nearly all of shape's time. ``mesh_coefficients`` is the same
marching cubes, same tables, same loop order and arithmetic, so surface area and volume are the
same sums; the diameters are the same maxima found on fewer candidates: a farthest pair of points
lies on their convex hull. Within one plane the hull's vertices are among each row's two
extreme vertices; in 3D among the planes' hull vertices, whose hull scipy's Qhull takes.
Vertices sit on a half-voxel grid, so they are kept as integer half-indices: exact hulls, and
the coordinate (h * 0.5) * spacing is the C code's (i + 0.5) * spacing to the bit.
"""

from __future__ import annotations

import numba
import numpy as np
from scipy.spatial import ConvexHull, QhullError

_jit = numba.njit(cache=True, nogil=True)

# Marching cubes tables of PyRadiomics 3.0.1 (radiomics/src/cshape.c, BSD-3-Clause; see
# tests/data/pyradiomics/LICENSE.pyradiomics.txt). Corners of a cube relative to its origin (z, y, x):
_GRID_ANGLES = np.array([(0, 0, 0), (0, 0, 1), (0, 1, 1), (0, 1, 0), (1, 0, 0), (1, 0, 1), (1, 1, 1), (1, 1, 0)],
                        np.int64)
# Edge midpoints, as half-voxel offsets (the C table's 0, 0.5, 1 doubled).
_EDGE_HALVES = np.array([(0, 0, 1), (0, 1, 2), (0, 2, 1), (0, 1, 0), (2, 0, 1), (2, 1, 2), (2, 2, 1), (2, 1, 0),
                         (1, 0, 0), (1, 0, 2), (1, 2, 2), (1, 2, 0)], np.int64)
# Triangles (three edges each) per cube configuration; configurations above 127 are flipped.
_TRIANGLES = (
    (),
    (0, 8, 3),
    (1, 9, 0),
    (1, 8, 3, 1, 9, 8),
    (1, 2, 10),
    (0, 8, 3, 1, 2, 10),
    (9, 2, 10, 0, 2, 9),
    (2, 8, 3, 2, 10, 8, 10, 9, 8),
    (11, 2, 3),
    (11, 2, 0, 0, 8, 11),
    (1, 9, 0, 11, 2, 3),
    (11, 2, 1, 1, 9, 11, 9, 8, 11),
    (3, 10, 1, 11, 10, 3),
    (10, 1, 0, 0, 8, 10, 8, 11, 10),
    (9, 0, 3, 3, 11, 9, 11, 10, 9),
    (9, 8, 10, 11, 10, 8),
    (4, 7, 8),
    (0, 4, 3, 4, 7, 3),
    (1, 9, 0, 4, 7, 8),
    (1, 9, 4, 1, 4, 7, 1, 7, 3),
    (1, 2, 10, 4, 7, 8),
    (3, 4, 7, 3, 0, 4, 1, 2, 10),
    (9, 2, 10, 9, 0, 2, 4, 7, 8),
    (2, 10, 9, 2, 9, 7, 2, 7, 3, 4, 7, 9),
    (4, 7, 8, 11, 2, 3),
    (11, 4, 7, 11, 2, 4, 2, 0, 4),
    (1, 9, 0, 4, 7, 8, 11, 2, 3),
    (4, 7, 11, 9, 4, 11, 11, 2, 9, 1, 9, 2),
    (3, 10, 1, 11, 10, 3, 4, 7, 8),
    (11, 10, 1, 1, 4, 11, 1, 0, 4, 4, 7, 11),
    (4, 7, 8, 9, 0, 3, 3, 11, 9, 11, 10, 9),
    (4, 7, 11, 4, 11, 9, 9, 11, 10),
    (9, 5, 4),
    (9, 5, 4, 0, 8, 3),
    (0, 5, 4, 0, 1, 5),
    (8, 5, 4, 8, 3, 5, 3, 1, 5),
    (1, 2, 10, 9, 5, 4),
    (0, 8, 3, 1, 2, 10, 9, 5, 4),
    (2, 10, 5, 5, 4, 2, 2, 4, 0),
    (2, 10, 5, 3, 2, 5, 3, 5, 4, 8, 3, 4),
    (9, 5, 4, 11, 2, 3),
    (11, 2, 0, 0, 8, 11, 9, 5, 4),
    (0, 5, 4, 0, 1, 5, 11, 2, 3),
    (2, 1, 5, 2, 5, 8, 11, 2, 8, 5, 4, 8),
    (3, 10, 1, 11, 10, 3, 9, 5, 4),
    (5, 4, 9, 10, 1, 0, 0, 8, 10, 8, 11, 10),
    (5, 4, 0, 5, 0, 11, 10, 5, 11, 11, 0, 3),
    (5, 4, 8, 10, 5, 8, 11, 10, 8),
    (7, 8, 9, 5, 7, 9),
    (3, 0, 9, 5, 3, 9, 3, 5, 7),
    (7, 8, 0, 0, 1, 7, 7, 1, 5),
    (1, 5, 7, 1, 7, 3),
    (7, 8, 9, 5, 7, 9, 1, 2, 10),
    (1, 2, 10, 3, 0, 9, 3, 9, 5, 3, 5, 7),
    (0, 2, 8, 8, 2, 5, 8, 5, 7, 2, 10, 5),
    (2, 10, 5, 2, 5, 3, 3, 5, 7),
    (5, 7, 9, 7, 8, 9, 11, 2, 3),
    (5, 7, 9, 9, 7, 2, 2, 0, 9, 11, 2, 7),
    (11, 2, 3, 0, 1, 8, 1, 7, 8, 1, 5, 7),
    (2, 1, 11, 1, 7, 11, 1, 5, 7),
    (7, 8, 9, 5, 7, 9, 3, 10, 1, 11, 10, 3),
    (5, 7, 0, 5, 0, 9, 7, 11, 0, 10, 1, 0, 11, 10, 0),
    (11, 10, 0, 0, 3, 11, 10, 5, 0, 0, 7, 8, 5, 7, 0),
    (11, 10, 5, 5, 7, 11),
    (6, 5, 10),
    (0, 8, 3, 6, 5, 10),
    (1, 9, 0, 6, 5, 10),
    (1, 8, 3, 1, 9, 8, 6, 5, 10),
    (1, 6, 5, 1, 2, 6),
    (1, 6, 5, 1, 2, 6, 0, 8, 3),
    (9, 6, 5, 9, 0, 6, 0, 2, 6),
    (5, 9, 8, 5, 8, 2, 5, 2, 6, 8, 3, 2),
    (11, 2, 3, 6, 5, 10),
    (11, 2, 0, 0, 8, 11, 6, 5, 10),
    (1, 9, 0, 11, 2, 3, 6, 5, 10),
    (11, 2, 1, 1, 9, 11, 9, 8, 11, 6, 5, 10),
    (6, 3, 11, 6, 5, 3, 5, 1, 3),
    (0, 8, 11, 0, 11, 5, 0, 5, 1, 5, 11, 6),
    (6, 3, 11, 0, 3, 6, 0, 6, 5, 0, 5, 9),
    (6, 5, 9, 6, 9, 11, 11, 9, 8),
    (4, 7, 8, 6, 5, 10),
    (0, 4, 3, 4, 7, 3, 6, 5, 10),
    (1, 9, 0, 4, 7, 8, 6, 5, 10),
    (1, 9, 4, 1, 4, 7, 1, 7, 3, 6, 5, 10),
    (4, 7, 8, 1, 6, 5, 1, 2, 6),
    (0, 4, 3, 4, 7, 3, 1, 6, 5, 1, 2, 6),
    (4, 7, 8, 9, 6, 5, 9, 0, 6, 0, 2, 6),
    (7, 3, 9, 4, 7, 9, 3, 2, 9, 5, 9, 6, 2, 6, 9),
    (11, 2, 3, 4, 7, 8, 6, 5, 10),
    (11, 4, 7, 11, 2, 4, 2, 0, 4, 6, 5, 10),
    (1, 9, 0, 11, 2, 3, 4, 7, 8, 6, 5, 10),
    (4, 7, 11, 9, 4, 11, 11, 2, 9, 1, 9, 2, 6, 5, 10),
    (4, 7, 8, 6, 3, 11, 6, 5, 3, 5, 1, 3),
    (5, 1, 11, 5, 11, 6, 1, 0, 11, 4, 7, 11, 0, 4, 11),
    (4, 7, 8, 6, 3, 11, 0, 3, 6, 0, 6, 5, 0, 5, 9),
    (6, 5, 9, 6, 9, 11, 4, 7, 9, 7, 11, 9),
    (10, 4, 9, 6, 4, 10),
    (10, 4, 9, 6, 4, 10, 0, 8, 3),
    (0, 1, 10, 10, 6, 0, 6, 4, 0),
    (1, 8, 3, 1, 6, 8, 8, 6, 4, 6, 1, 10),
    (1, 4, 9, 1, 2, 4, 2, 6, 4),
    (1, 4, 9, 1, 2, 4, 2, 6, 4, 0, 8, 3),
    (0, 2, 4, 4, 2, 6),
    (8, 3, 2, 8, 2, 4, 4, 2, 6),
    (11, 2, 3, 10, 4, 9, 6, 4, 10),
    (11, 2, 0, 0, 8, 11, 10, 4, 9, 6, 4, 10),
    (11, 2, 3, 0, 1, 10, 10, 6, 0, 6, 4, 0),
    (6, 4, 1, 6, 1, 10, 1, 4, 8, 11, 2, 1, 1, 8, 11),
    (9, 6, 4, 3, 6, 9, 1, 3, 9, 11, 6, 3),
    (1, 8, 11, 0, 8, 1, 11, 6, 1, 1, 4, 9, 6, 4, 1),
    (6, 3, 11, 0, 3, 6, 6, 4, 0),
    (8, 6, 4, 6, 8, 11),
    (6, 7, 10, 7, 8, 10, 8, 9, 10),
    (6, 7, 10, 0, 10, 7, 0, 9, 10, 0, 7, 3),
    (6, 7, 10, 1, 10, 7, 1, 7, 8, 0, 1, 8),
    (6, 7, 10, 1, 10, 7, 1, 7, 3),
    (1, 2, 6, 1, 6, 8, 1, 8, 9, 6, 7, 8),
    (2, 6, 9, 1, 2, 9, 6, 7, 9, 3, 0, 9, 7, 3, 9),
    (0, 7, 8, 7, 0, 6, 6, 0, 2),
    (2, 7, 3, 2, 6, 7),
    (11, 2, 3, 6, 7, 10, 7, 8, 10, 8, 9, 10),
    (2, 0, 7, 11, 2, 7, 0, 9, 7, 6, 7, 10, 9, 10, 7),
    (6, 7, 10, 1, 10, 7, 1, 7, 8, 0, 1, 8, 11, 2, 3),
    (11, 2, 1, 1, 7, 11, 10, 6, 1, 1, 6, 7),
    (8, 9, 6, 6, 7, 8, 1, 6, 9, 11, 6, 3, 1, 3, 6),
    (0, 9, 1, 6, 7, 11),
    (0, 7, 8, 7, 0, 6, 0, 3, 11, 11, 6, 0),
    (6, 7, 11),
)
_TRI_TABLE = np.full((128, 15), -1, np.int64)
for _index, _edges in enumerate(_TRIANGLES):
    _TRI_TABLE[_index, :len(_edges)] = _edges


@_jit
def _marching_cubes(mask, spacing, grid, edges, table):
    """(surface area, volume, vertex half-indices (n, 3)) as cshape.c's calculate_coefficients."""
    size_z, size_y, size_x = mask.shape
    area = 0.0
    volume = 0.0
    vertices = np.empty((4096, 3), np.int64)
    count = 0
    half = edges.astype(np.float64) * 0.5  # the C table's vertList
    a = np.empty(3)
    b = np.empty(3)
    c = np.empty(3)
    corner = (np.int64(6), np.int64(4), np.int64(3))  # corners whose edges 6, 7, 11 carry stored vertices
    stored = (np.int64(6), np.int64(7), np.int64(11))
    for iz in range(size_z - 1):
        for iy in range(size_y - 1):
            for ix in range(size_x - 1):
                cube = 0
                for k in range(8):
                    if mask[iz + grid[k, 0], iy + grid[k, 1], ix + grid[k, 2]]:
                        cube |= 1 << k
                sign = 1.0
                if cube & 0x80:
                    cube ^= 0xFF
                    sign = -1.0
                if cube == 0:
                    continue
                for t in range(3):
                    if cube & (1 << corner[t]):
                        if count == vertices.shape[0]:
                            grown = np.empty((2 * count, 3), np.int64)
                            grown[:count] = vertices
                            vertices = grown
                        vertices[count, 0] = 2 * iz + edges[stored[t], 0]
                        vertices[count, 1] = 2 * iy + edges[stored[t], 1]
                        vertices[count, 2] = 2 * ix + edges[stored[t], 2]
                        count += 1
                t = 0
                while t < 15 and table[cube, t] >= 0:
                    for d in range(3):
                        origin = (iz, iy, ix)[d]
                        a[d] = (origin + half[table[cube, t], d]) * spacing[d]
                        b[d] = (origin + half[table[cube, t + 1], d]) * spacing[d]
                        c[d] = (origin + half[table[cube, t + 2], d]) * spacing[d]
                    cross0 = a[1] * b[2] - b[1] * a[2]
                    cross1 = a[2] * b[0] - b[2] * a[0]
                    cross2 = a[0] * b[1] - b[0] * a[1]
                    volume += sign * (cross0 * c[0] + cross1 * c[1] + cross2 * c[2])
                    for d in range(3):
                        a[d] -= c[d]
                        b[d] -= c[d]
                    cross0 = a[1] * b[2] - b[1] * a[2]
                    cross1 = a[2] * b[0] - b[2] * a[0]
                    cross2 = a[0] * b[1] - b[0] * a[1]
                    area += 0.5 * np.sqrt(cross0 * cross0 + cross1 * cross1 + cross2 * cross2)
                    t += 3
    return area, volume / 6, vertices[:count]


@_jit
def _squared_distance(p, q, spacing):
    # cshape.c's arithmetic: coordinates (h * 0.5) * spacing, squared differences summed in order.
    total = 0.0
    for d in range(3):
        diff = (p[d] * 0.5) * spacing[d] - (q[d] * 0.5) * spacing[d]
        total += diff * diff
    return total


@_jit
def _cross(o_r, o_f, a_r, a_f, b_r, b_f):
    return (a_r - o_r) * (b_f - o_f) - (a_f - o_f) * (b_r - o_r)


@_jit
def _plane_hulls(vertices, axis, size):
    """Each plane's (normal to ``axis``) convex hull vertices, as rows of ``vertices``, and the plane's
    start in the returned list: (hull vertex indices, plane starts)."""
    other = [d for d in range(3) if d != axis]
    row_axis, col_axis = other[0], other[1]
    planes, rows = size[axis], size[row_axis]
    low = np.full((planes, rows), -1, np.int64)  # index of the row's leftmost vertex
    high = np.full((planes, rows), -1, np.int64)
    for n in range(vertices.shape[0]):
        p, r, f = vertices[n, axis], vertices[n, row_axis], vertices[n, col_axis]
        if low[p, r] < 0 or f < vertices[low[p, r], col_axis]:
            low[p, r] = n
        if high[p, r] < 0 or f > vertices[high[p, r], col_axis]:
            high[p, r] = n
    hull = np.empty(2 * vertices.shape[0] + 2, np.int64)
    starts = np.zeros(planes + 1, np.int64)
    chain = np.empty(2 * rows + 2, np.int64)
    points = np.empty(2 * rows, np.int64)
    total = 0
    for p in range(planes):
        # Candidates sorted by (row, column): each row's leftmost then rightmost vertex.
        m = 0
        for r in range(rows):
            if low[p, r] >= 0:
                points[m] = low[p, r]
                m += 1
                if high[p, r] != low[p, r]:
                    points[m] = high[p, r]
                    m += 1
        # Andrew's monotone chain: lower then upper hull.
        k = 0
        for s in range(m):
            q = points[s]
            while k >= 2 and _cross(vertices[chain[k - 2], row_axis], vertices[chain[k - 2], col_axis],
                                    vertices[chain[k - 1], row_axis], vertices[chain[k - 1], col_axis],
                                    vertices[q, row_axis], vertices[q, col_axis]) <= 0:
                k -= 1
            chain[k] = q
            k += 1
        lower = k + 1
        for s in range(m - 2, -1, -1):
            q = points[s]
            while k >= lower and _cross(vertices[chain[k - 2], row_axis], vertices[chain[k - 2], col_axis],
                                        vertices[chain[k - 1], row_axis], vertices[chain[k - 1], col_axis],
                                        vertices[q, row_axis], vertices[q, col_axis]) <= 0:
                k -= 1
            chain[k] = q
            k += 1
        if m == 1:
            k = 1
        elif k > 1:
            k -= 1  # the last point repeats the first
        for s in range(k):
            hull[total] = chain[s]
            total += 1
        starts[p + 1] = total
    return hull[:total], starts


@_jit
def _max_in_planes(vertices, hull, starts, spacing):
    best = 0.0
    for p in range(starts.size - 1):
        for s in range(starts[p], starts[p + 1]):
            for t in range(s + 1, starts[p + 1]):
                distance = _squared_distance(vertices[hull[s]], vertices[hull[t]], spacing)
                best = max(best, distance)
    return best


@_jit
def _max_pairs(vertices, candidates, spacing):
    best = 0.0
    for s in range(candidates.size):
        for t in range(s + 1, candidates.size):
            distance = _squared_distance(vertices[candidates[s]], vertices[candidates[t]], spacing)
            best = max(best, distance)
    return best


def mesh_diameters(vertices: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """Maximum 2D diameters (slice, column, row) and 3D diameter of the vertex set, as cshape.c's
    calculate_meshDiameter returns them."""
    diameters = np.zeros(4)
    if len(vertices) < 2:
        return diameters
    size = vertices.max(axis=0) + 1
    slice_hulls = None
    for axis in range(3):
        hull, starts = _plane_hulls(vertices, axis, size)
        diameters[axis] = _max_in_planes(vertices, hull, starts, spacing)
        if axis == 0:
            slice_hulls = hull
    # Every vertex of the 3D hull is a vertex of its slice's hull.
    candidates = np.unique(slice_hulls)
    try:
        physical = vertices[candidates] * 0.5 * spacing
        candidates = candidates[ConvexHull(physical).vertices]
    except (QhullError, ValueError):
        pass  # flat or tiny vertex sets: compare every candidate pair
    diameters[3] = _max_pairs(vertices, candidates, spacing)
    return np.sqrt(diameters)


def mesh_coefficients(mask: np.ndarray, spacing: np.ndarray) -> tuple[float, float, np.ndarray]:
    """``cShape.calculate_coefficients(mask, spacing)``: (surface area, volume, diameters)."""
    mask = np.ascontiguousarray(mask, dtype=np.uint8)
    spacing = np.ascontiguousarray(spacing, dtype=np.float64)
    area, volume, vertices = _marching_cubes(mask, spacing, _GRID_ANGLES, _EDGE_HALVES, _TRI_TABLE)
    return area, volume, mesh_diameters(vertices, spacing)
