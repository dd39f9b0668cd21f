"""Point sampling of images in patient millimetres: the ROIs of pedicles, screws and regions.

Screw corridors are a few millimetres wide, often no more than two voxels of a routine CT. Their ROIs
are therefore clouds of points on a fine grid (``step_mm`` well below the voxel size) in patient
coordinates. HU come from trilinear interpolation, masks from linear interpolation of the mask read
at 0.5, so an ROI follows the geometry it was drawn with, not the voxel staircase. The number of
distinct CT voxels the points fall in is reported as ``voxels``.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from spinebq.constants import ROI_STEP_MM


def to_index(affine: np.ndarray, points_mm: np.ndarray) -> np.ndarray:
    """Fractional voxel indices (..., 3) of LPS points (..., 3) for a 4 x 4 voxel -> mm affine."""
    return _to_index_rows(affine, points_mm).T.reshape(np.shape(points_mm))


def _to_index_rows(affine: np.ndarray, points_mm: np.ndarray) -> np.ndarray:
    """Voxel indices as a (3, n) array (what ``map_coordinates`` takes), computed row by row (fast)."""
    inverse = np.linalg.inv(affine)
    flat = np.asarray(points_mm, dtype=float).reshape(-1, 3)
    x, y, z = flat[:, 0], flat[:, 1], flat[:, 2]
    return np.stack([inverse[c, 0] * x + inverse[c, 1] * y + inverse[c, 2] * z + inverse[c, 3] for c in range(3)])


def sample_values(array: np.ndarray, affine: np.ndarray, points_mm: np.ndarray, *, order: int = 1,
                  outside: float = np.nan) -> np.ndarray:
    """Values of ``array`` at LPS points (trilinear for ``order=1``, nearest for ``order=0``).

    Points outside the array get ``outside``.
    """
    points_mm = np.asarray(points_mm, dtype=float)
    rows = _to_index_rows(affine, points_mm)
    values = ndimage.map_coordinates(np.asarray(array, dtype=np.float32), rows, order=order, mode="constant", cval=0.0)
    values = values.astype(float)
    out = np.zeros(values.shape, bool)
    for c in range(3):
        out |= (rows[c] < -0.5) | (rows[c] > array.shape[c] - 0.5)
    values[out] = outside
    return values.reshape(points_mm.shape[:-1])


def sample_mask(mask: np.ndarray, affine: np.ndarray, points_mm: np.ndarray) -> np.ndarray:
    """True where the linearly interpolated mask is at least 0.5 (the mask's smooth outline)."""
    return sample_values(mask.astype(np.float32), affine, points_mm, order=1, outside=0.0) >= 0.5


def voxel_count(affine: np.ndarray, points_mm: np.ndarray) -> int:
    """Number of distinct voxels (nearest centre) that the points fall in."""
    if len(points_mm) == 0:
        return 0
    ijk = np.round(to_index(affine, np.asarray(points_mm).reshape(-1, 3))).astype(np.int64)
    ijk -= ijk.min(axis=0)
    span = ijk.max(axis=0) + 1
    keys = (ijk[:, 0] * span[1] + ijk[:, 1]) * span[2] + ijk[:, 2]
    return int(np.unique(keys).size)


def orthonormal_pair(direction: np.ndarray, hint: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors perpendicular to ``direction`` and to each other; the first closest to ``hint``."""
    d = direction / np.linalg.norm(direction)
    hint = np.array([0.0, 0.0, 1.0]) if hint is None else np.asarray(hint, dtype=float)
    u = hint - (hint @ d) * d
    if np.linalg.norm(u) < 1e-6:
        u = np.array([1.0, 0.0, 0.0]) - d[0] * d
    u /= np.linalg.norm(u)
    return u, np.cross(d, u)


def cylinder_points(start_mm, end_mm, radius_outer_mm: float, *, radius_inner_mm: float = 0.0,
                    step_mm: float = ROI_STEP_MM, up: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points of a solid cylinder (or a shell when ``radius_inner_mm > 0``) from ``start_mm`` to ``end_mm``.

    Returns
    -------
    points : numpy.ndarray
        (n, 3) LPS mm on a square grid of ``step_mm`` in each cross-section, every ``step_mm`` along the axis.
    t_mm : numpy.ndarray
        Distance of each point along the axis from ``start_mm``.
    radial_mm : numpy.ndarray
        Distance of each point from the axis.
    """
    start, end = np.asarray(start_mm, dtype=float), np.asarray(end_mm, dtype=float)
    length = float(np.linalg.norm(end - start))
    if length == 0 or radius_outer_mm <= radius_inner_mm:
        return np.zeros((0, 3)), np.zeros(0), np.zeros(0)
    d = (end - start) / length
    u, v = orthonormal_pair(d, up)
    t = np.arange(step_mm / 2, length, step_mm)
    grid = np.arange(-radius_outer_mm + step_mm / 2, radius_outer_mm, step_mm)
    a, b = np.meshgrid(grid, grid, indexing="ij")
    r = np.hypot(a, b)
    keep = (r <= radius_outer_mm) & (r > radius_inner_mm)
    a, b, r = a[keep], b[keep], r[keep]
    points = start + t[:, None, None] * d + a[None, :, None] * u + b[None, :, None] * v
    return points.reshape(-1, 3), np.repeat(t, a.size), np.tile(r, t.size)


def value_statistics(values: np.ndarray) -> dict:
    """Mean, median, SD and count of finite values; NaN statistics when there are none."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return {"mean": math.nan, "median": math.nan, "sd": math.nan, "n": 0}
    return {"mean": float(values.mean()), "median": float(np.median(values)),
            "sd": float(values.std(ddof=1)) if values.size > 1 else 0.0, "n": int(values.size)}
