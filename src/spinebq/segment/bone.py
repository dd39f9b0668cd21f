"""Working grid, patient mask and the bone thresholds the segmentation stands on.

All segmentation steps run on a *working grid*: the CT block-averaged to about
:data:`WORK_SPACING_MM` (never finer than the input), which keeps a 512 x 512 x 400 CT to a few
million voxels. Labels come back to the CT's own grid in :mod:`spinebq.segment.core`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

#: Target voxel size of the working grid, mm (inputs coarser than this are used as they are).
WORK_SPACING_MM = 2.0
#: HU above which a voxel counts as bone at the outer surface of a vertebra (partial volume included).
BONE_EDGE_HU = 100.0
#: HU above which a voxel counts as dense (cortical or posterior-element) bone.
DENSE_BONE_HU = 200.0
#: HU of air/patient boundary.
PATIENT_HU = -400.0
#: HU above which a voxel is metal (DESIGN.md: never enters a bone-density ROI).
METAL_HU = 1400.0


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
    """Block-average ``hu`` to about ``target_mm`` voxels (edges padded by repetition).

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
    out_shape = tuple(-(-n // f) for n, f in zip(shape, factors))
    if factors == (1, 1, 1):
        work = np.asarray(hu, dtype=np.float32).copy()
    else:
        f0, f1, f2 = factors
        work = np.empty(out_shape, dtype=np.float32)
        # slab by slab along axis 2 to keep memory near one copy of the output
        for k0 in range(out_shape[2]):
            block = np.asarray(hu[:, :, k0 * f2:(k0 + 1) * f2], dtype=np.float32)
            pad = [(0, out_shape[0] * f0 - shape[0]), (0, out_shape[1] * f1 - shape[1]), (0, f2 - block.shape[2])]
            if any(p[1] for p in pad):
                block = np.pad(block, pad, mode="edge")
            work[:, :, k0] = block.reshape(out_shape[0], f0, out_shape[1], f1, f2).mean(axis=(1, 3, 4))
    spacing = tuple(float(s) * f for s, f in zip(spacing_mm, factors))
    return WorkGrid(work, factors, spacing, tuple(int(n) for n in shape))


def to_native(labels: np.ndarray, grid: WorkGrid) -> np.ndarray:
    """Bring a working-grid label map back to the CT grid (each working voxel fills its block)."""
    out = labels
    for axis, f in enumerate(grid.factors):
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
    for k in range(mask.shape[2]):
        mask[:, :, k] = ndimage.binary_fill_holes(mask[:, :, k])
    return mask


def fill_holes_axial(mask: np.ndarray) -> np.ndarray:
    """Fill holes slice by slice along axis 2 (axial slices of a canonical volume)."""
    out = np.empty_like(mask)
    for k in range(mask.shape[2]):
        out[:, :, k] = ndimage.binary_fill_holes(mask[:, :, k])
    return out


def ball(radius_mm: float, spacing_mm) -> np.ndarray:
    """Boolean ellipsoidal structuring element of ``radius_mm`` on a grid of ``spacing_mm``."""
    r = [max(0, int(np.floor(radius_mm / s))) for s in spacing_mm]
    grids = np.ogrid[tuple(slice(-n, n + 1) for n in r)]
    dist = sum((g * s / radius_mm) ** 2 for g, s in zip(grids, spacing_mm))
    return dist <= 1.0 + 1e-9
