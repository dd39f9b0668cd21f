"""Working grid, patient mask and the bone thresholds the segmentation stands on.

All segmentation steps run on a *working grid*: the CT block-averaged to about
:data:`WORK_SPACING_MM` (never finer than the input), which keeps a 512 x 512 x 400 CT to a few
million voxels. Labels come back to the CT's own grid in :mod:`spinebq.segment.ct.core`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from spinebq.constants import BONE_EDGE_HU  # noqa: F401 (the segmentation modules import it from here)

#: Target voxel size of the working grid, mm (inputs coarser than this are used as they are).
WORK_SPACING_MM = 2.0
#: HU above which a voxel counts as dense (cortical or posterior-element) bone.
DENSE_BONE_HU = 200.0
#: HU of air/patient boundary.
PATIENT_HU = -400.0


@dataclass
class WorkGrid:
    """The CT on the working grid.

    Attributes
    ----------
    hu : numpy.ndarray
        float32 HU on the working grid (block means of the CT).
    factors : tuple of int
        Block size along each axis (working voxel = ``factors`` CT voxels).
    spacing_mm : tuple of float
        Working voxel size, mm.
    native_shape : tuple of int
        Shape of the CT.
    """

    hu: np.ndarray
    factors: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]
    native_shape: tuple[int, int, int]


def block_factors(spacing_mm, target_mm: float = WORK_SPACING_MM) -> tuple[int, int, int]:
    """Integer block sizes that bring ``spacing_mm`` closest to ``target_mm`` without going above it by much."""
    return tuple(max(1, int(np.floor(target_mm / float(s) + 0.25))) for s in spacing_mm)


def to_working_grid(hu: np.ndarray, spacing_mm, target_mm: float = WORK_SPACING_MM) -> WorkGrid:
    """Block-average ``hu`` to about ``target_mm`` voxels (a short last block averages the voxels it has).

    Parameters
    ----------
    hu : numpy.ndarray
        CT values in HU, canonical orientation.
    spacing_mm : sequence of float
        Voxel size of ``hu``, mm.
    target_mm : float
        Wanted working voxel size, mm.
    """
    factors = block_factors(spacing_mm, target_mm)
    shape = hu.shape
    if factors == (1, 1, 1):
        work = np.asarray(hu, dtype=np.float32).copy()
    else:
        # block sums by strided additions, a slab of rows at a time (a few copies of one slab in
        # memory); the last block of an axis holds the remaining voxels and is averaged over those
        out_shape = tuple(-(-n // f) for n, f in zip(shape, factors))
        work = np.empty(out_shape, dtype=np.float32)
        rows = factors[0] * 16
        for i0 in range(0, shape[0], rows):
            block = hu[i0:i0 + rows]
            for axis, f in enumerate(factors):
                block = _block_sum(block, f, axis)
            work[i0 // factors[0]:i0 // factors[0] + block.shape[0]] = block
        counts = np.ones(1, dtype=np.float32)
        for axis, (n, f) in enumerate(zip(shape, factors)):
            per_block = np.full(out_shape[axis], f, dtype=np.float32)
            per_block[-1] = n - (out_shape[axis] - 1) * f
            counts = counts * per_block.reshape([-1 if a == axis else 1 for a in range(3)])
        work /= counts
    spacing = tuple(float(s) * f for s, f in zip(spacing_mm, factors))
    return WorkGrid(work, factors, spacing, tuple(int(n) for n in shape))


def _block_sum(x: np.ndarray, f: int, axis: int) -> np.ndarray:
    """Sums of consecutive blocks of ``f`` elements along ``axis`` (float32; the last block may be short)."""
    if f == 1:
        return np.asarray(x, dtype=np.float32)
    n = x.shape[axis]
    shape = list(x.shape)
    shape[axis] = -(-n // f)
    out = np.zeros(shape, dtype=np.float32)
    for j in range(f):
        part = x[(slice(None),) * axis + (slice(j, None, f),)]
        out[(slice(None),) * axis + (slice(0, part.shape[axis]),)] += part
    return out


def to_native(labels: np.ndarray, grid: WorkGrid) -> np.ndarray:
    """Bring a working-grid label map back to the CT grid (each working voxel fills its block)."""
    out = labels
    for axis in (2, 1, 0):
        f = grid.factors[axis]
        if f > 1:
            out = np.repeat(out, f, axis=axis)
    return np.ascontiguousarray(out[: grid.native_shape[0], : grid.native_shape[1], : grid.native_shape[2]])


def patient_mask(hu: np.ndarray) -> np.ndarray:
    """Boolean mask of the patient's body: the largest object above :data:`PATIENT_HU`, holes filled per slice."""
    mask = hu > PATIENT_HU
    labelled, n = ndimage.label(mask)
    if n > 1:
        sizes = np.bincount(labelled.ravel())
        sizes[0] = 0
        mask = labelled == int(np.argmax(sizes))
    return fill_holes_2d(mask, 2)


def fill_holes_2d(mask: np.ndarray, axis: int) -> np.ndarray:
    """Fill holes in every 2D slice perpendicular to ``axis``, all slices in one labelling pass.

    A hole is background that does not reach the edge of its slice (4-connected in the slice, as
    :func:`scipy.ndimage.binary_fill_holes` does for a 2D image).
    """
    mask = np.asarray(mask, dtype=bool)
    structure = np.zeros((3, 3, 3), bool)
    plane = [1, 1, 1]
    plane[axis] = slice(None)
    cross = ndimage.generate_binary_structure(2, 1)
    index = [slice(None)] * 3
    index[axis] = 1
    structure[tuple(index)] = cross
    labelled, n = ndimage.label(~mask, structure=structure)
    if n == 0:
        return mask.copy()
    edge = np.zeros(n + 1, bool)
    for a in range(3):
        if a == axis:
            continue
        for end in (0, -1):
            face = np.take(labelled, end, axis=a)
            edge[face] = True
    edge[0] = True
    return mask | ~edge[labelled]


def fill_holes(mask2d: np.ndarray) -> np.ndarray:
    """:func:`scipy.ndimage.binary_fill_holes` of a 2D image, by one labelling pass instead of iterated dilations."""
    return fill_holes_2d(np.asarray(mask2d, dtype=bool)[:, :, None], 2)[:, :, 0]


def fill_holes_axial(mask: np.ndarray) -> np.ndarray:
    """Fill holes slice by slice along axis 2 (axial slices of a canonical volume)."""
    return fill_holes_2d(mask, 2)


def ball(radius_mm: float, spacing_mm) -> np.ndarray:
    """Boolean ellipsoidal structuring element of ``radius_mm`` on a grid of ``spacing_mm``."""
    r = [max(0, int(np.floor(radius_mm / s))) for s in spacing_mm]
    grids = np.ogrid[tuple(slice(-n, n + 1) for n in r)]
    dist = sum((g * s / radius_mm) ** 2 for g, s in zip(grids, spacing_mm))
    return dist <= 1.0 + 1e-9
