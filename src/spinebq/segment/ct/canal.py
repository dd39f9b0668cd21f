"""The spine's axis: the column of dense bone tracked slice by slice, the body centres in front of
it, and the spinal canal behind the bodies.

Tracking is a dynamic programme over axial slices: in each slice every position gets a score, the
path may move only a few mm from one slice to the next, and the path with the highest total score
wins. It cannot jump to the pelvis or a rib for one slice, and it bridges slices where the spine
looks weak (discs, partial volume). The score rewards the skeleton's left-right midline (bone mirrored on both
sides: ribs, transverse processes, iliac wings, hips), which holds the track on the sacrum in the pelvis, where the
hips hold far more dense bone than the sacrum and a track led by density alone wanders onto a hip.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from spinebq.segment.ct.bone import BONE_EDGE_HU, DENSE_BONE_HU, fill_holes, fill_holes_axial

#: How far (mm) the tracked column may move sideways per mm of height.
MAX_SLOPE = 0.7
#: Typical distance (mm) from the middle of the posterior bone column to the body centre.
BODY_OFFSET_MM = (8.0, 55.0)
#: Left-right smoothing (mm) of the dense-bone column: wide enough that paired structures (facets,
#: sacral alae) merge into one ridge on the midline instead of pulling the track to one side.
COLUMN_SIGMA_X_MM = 20.0
#: The column lies on the skeleton's left-right midline: bone at the same height on both sides between these
#: distances (mm) marks it (transverse processes and ribs above, the iliac wings and hips in the pelvis, where the
#: sacrum itself holds little dense bone and the hips a lot). The lower bound is twice :data:`COLUMN_SIGMA_X_MM`, so
#: that one wide bone is not its own mirror image.
MIRROR_MM = (40.0, 150.0)
#: Half-height (mm) of the window over which the canal front takes its most posterior position.
FRONT_WINDOW_MM = 5.0


@dataclass
class SpineAxis:
    """Per axial slice positions of the spine on the working grid (voxel indices, float).

    Attributes
    ----------
    column : numpy.ndarray
        (nz, 2) x, y of the dense-bone column (pedicles, facets, canal).
    body : numpy.ndarray
        (nz, 2) x, y of the vertebral body centre, smoothed.
    canal_front : numpy.ndarray
        (nz,) y of the anterior edge of the spinal canal (the posterior wall of the body); NaN where unknown.
    canal_centre : numpy.ndarray
        (nz, 2) x, y of the canal centre; NaN where unknown.
    canal_found : numpy.ndarray
        (nz,) bool, the canal was seen enclosed in that slice (others are interpolated).
    """

    column: np.ndarray
    body: np.ndarray
    canal_front: np.ndarray
    canal_centre: np.ndarray
    canal_found: np.ndarray


def track_path(score: np.ndarray, max_step_vox: tuple[int, int]) -> np.ndarray:
    """Best path through ``score`` (nx, ny, nz), one (x, y) per slice, moving at most ``max_step_vox`` per slice.

    Returns
    -------
    numpy.ndarray
        (nz, 2) int voxel indices.
    """
    nx, ny, nz = score.shape
    size = (2 * max_step_vox[0] + 1, 2 * max_step_vox[1] + 1)
    acc = np.empty(score.shape, dtype=np.float32)
    acc[:, :, 0] = score[:, :, 0]
    for k in range(1, nz):
        acc[:, :, k] = score[:, :, k] + ndimage.maximum_filter(acc[:, :, k - 1], size=size, mode="nearest")
    path = np.zeros((nz, 2), dtype=int)
    path[-1] = np.unravel_index(int(np.argmax(acc[:, :, -1])), (nx, ny))
    for k in range(nz - 1, 0, -1):
        x, y = path[k]
        x0, x1 = max(0, x - max_step_vox[0]), min(nx, x + max_step_vox[0] + 1)
        y0, y1 = max(0, y - max_step_vox[1]), min(ny, y + max_step_vox[1] + 1)
        window = acc[x0:x1, y0:y1, k - 1]
        i, j = np.unravel_index(int(np.argmax(window)), window.shape)
        path[k - 1] = (x0 + i, y0 + j)
    return path


def _max_step(spacing_mm) -> tuple[int, int]:
    dz = spacing_mm[2]
    return (max(1, int(round(MAX_SLOPE * dz / spacing_mm[0]))), max(1, int(round(MAX_SLOPE * dz / spacing_mm[1]))))


def find_axis(hu: np.ndarray, body_mask: np.ndarray, spacing_mm) -> SpineAxis:
    """Track the spine on the working grid.

    Parameters
    ----------
    hu : numpy.ndarray
        Working-grid HU, canonical orientation (axis 0 left, 1 posterior, 2 superior).
    body_mask : numpy.ndarray
        Patient mask (see :func:`spinebq.segment.ct.bone.patient_mask`).
    spacing_mm : sequence of float
        Working voxel size, mm.
    """
    sx, sy, sz = spacing_mm
    nx, ny, nz = hu.shape
    step = _max_step(spacing_mm)
    # 1. column of dense bone, wide in left-right so both facet columns merge, near the patient's midline
    dense = (hu > DENSE_BONE_HU).astype(np.float32)
    density = ndimage.gaussian_filter(dense, sigma=(COLUMN_SIGMA_X_MM / sx, 6.0 / sy, 6.0 / sz))
    xs = np.arange(nx)[:, None]
    ys = np.arange(ny)[None, :]
    score = np.empty_like(density)
    for k in range(nz):
        inside = body_mask[:, :, k]
        if inside.any():
            cols = np.flatnonzero(inside.any(axis=1))
            rows = np.flatnonzero(inside.any(axis=0))
            mid_x = 0.5 * (cols[0] + cols[-1])
            back_y = rows[-1]
            front_y = rows[0]
            depth = max(1, back_y - front_y)
        else:
            mid_x, back_y, depth = nx / 2, ny, ny
        dx_mm = (xs - mid_x) * sx
        # the spine sits near the midline, in the posterior half of the body outline
        prior = -0.15 * (dx_mm / 40.0) ** 2 - 0.15 * np.clip((back_y - ys) / depth - 0.55, 0, None) ** 2 * 4
        score[:, :, k] = density[:, :, k] + prior
    score += mirror_symmetry(density.max(axis=1), sx)[:, None, :]
    column = track_path(score, step).astype(float)
    del density, score, dense
    # 2. body centres: in front of the column, bone-edge material filled per slice
    bonefill = fill_holes_axial(hu > BONE_EDGE_HU).astype(np.float32)
    body_density = ndimage.gaussian_filter(bonefill, sigma=(8.0 / sx, 8.0 / sy, 4.0 / sz))
    score = np.full(hu.shape, -10.0, dtype=np.float32)
    lo = BODY_OFFSET_MM[0] / sy
    hi = BODY_OFFSET_MM[1] / sy
    for k in range(nz):
        cx, cy = column[k]
        band = (np.abs(xs - cx) * sx <= 15.0) & (ys <= cy - lo) & (ys >= cy - hi)
        score[:, :, k] = np.where(band, body_density[:, :, k], -10.0)
    body = track_path(score, step).astype(float)
    del body_density, score
    body = _smooth_path(body, 6.0 / sz)
    front, centre, found = find_canal(hu, body, column, spacing_mm)
    return SpineAxis(column=column, body=body, canal_front=front, canal_centre=centre, canal_found=found)


def mirror_symmetry(profile: np.ndarray, spacing_x_mm: float) -> np.ndarray:
    """How much bone lies mirrored about each x: max over offsets a in :data:`MIRROR_MM` of min(p(x - a), p(x + a)).

    Parameters
    ----------
    profile : numpy.ndarray
        (nx, nz) dense-bone density per x and slice (0 outside the image).
    spacing_x_mm : float
        Voxel size along x, mm.

    Returns
    -------
    numpy.ndarray
        (nx, nz); 0 where no offset keeps both mirror points in the image (an image narrower than 80 mm: all 0).
    """
    nx = profile.shape[0]
    out = np.zeros_like(profile)
    a0 = int(np.ceil(MIRROR_MM[0] / spacing_x_mm))
    a1 = min((nx + 1) // 2, int(np.floor(MIRROR_MM[1] / spacing_x_mm)) + 1)
    for a in range(a0, a1):
        # x runs over a .. nx - 1 - a, where both mirror points lie in the image
        np.maximum(out[a:nx - a], np.minimum(profile[:nx - 2 * a], profile[2 * a:]), out=out[a:nx - a])
    return out


def _smooth_path(path: np.ndarray, sigma_slices: float) -> np.ndarray:
    return np.stack([ndimage.gaussian_filter1d(path[:, i], sigma_slices, mode="nearest") for i in range(2)], axis=1)


def find_canal(hu: np.ndarray, body: np.ndarray, column: np.ndarray, spacing_mm) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Locate the spinal canal in each slice: the hole that the bony ring encloses behind the body.

    A slab of +-4 mm is projected first, because at 2-5 mm voxels the ring seldom closes in a single
    slice. Returns the canal front y, the canal centre (x, y) and whether it was found, per slice.
    """
    sx, sy, sz = spacing_mm
    nx, ny, nz = hu.shape
    half = max(1, int(round(4.0 / sz)))
    bone = hu > BONE_EDGE_HU
    slab = ndimage.maximum_filter1d(bone.view(np.uint8), 2 * half + 1, axis=2).astype(bool)
    front = np.full(nz, np.nan)
    centre = np.full((nz, 2), np.nan)
    pixel_mm2 = sx * sy
    box = int(np.ceil(40.0 / min(sx, sy)))
    for k in range(nz):
        bx, by = body[k]
        x0, x1 = max(0, int(bx) - box), min(nx, int(bx) + box + 1)
        y0, y1 = max(0, int(by) - box), min(ny, int(by) + 2 * box + 1)
        ring = slab[x0:x1, y0:y1, k]
        holes = fill_holes(ring) & ~ring
        labelled, n = ndimage.label(holes)
        if n == 0:
            continue
        idx = np.arange(1, n + 1)
        areas = ndimage.sum_labels(holes, labelled, idx) * pixel_mm2
        cms = np.array(ndimage.center_of_mass(holes, labelled, idx)).reshape(-1, 2) + (x0, y0)
        best, best_d = None, np.inf
        for i in range(n):
            if not 25.0 <= areas[i] <= 900.0:
                continue
            dx = (cms[i, 0] - bx) * sx
            dy = (cms[i, 1] - by) * sy
            if abs(dx) > 12.0 or not 8.0 <= dy <= 60.0:
                continue
            d = abs(dx) + abs(dy - 25.0) * 0.5
            if d < best_d:
                best, best_d = i, d
        if best is None:
            continue
        hole = labelled == best + 1
        cx = int(round(cms[best, 0] - x0))
        cols = hole[max(0, cx - 1): cx + 2]
        rows = np.flatnonzero(cols.any(axis=0))
        front[k] = y0 + rows.min() - 0.5
        centre[k] = cms[best]
    found = np.isfinite(front)
    if found.sum() >= 2:
        ks = np.arange(nz)
        known = np.flatnonzero(found)
        # robust: remove outliers against a running median before interpolating
        med = ndimage.median_filter(front[known], size=min(len(known), 5), mode="nearest")
        good = np.abs(front[known] - med) * sy <= 6.0
        known = known[good]
        found = np.zeros(nz, bool)
        found[known] = True
        front = np.interp(ks, known, front[known])
        # the basivertebral foramen notches the posterior wall at mid-body: keep the wall, not the notch
        front = ndimage.maximum_filter1d(front, 2 * max(1, int(round(FRONT_WINDOW_MM / sz))) + 1, mode="nearest")
        centre = np.stack([np.interp(ks, known, centre[known, i]) for i in range(2)], axis=1)
    return front, centre, found
