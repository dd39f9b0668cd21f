"""Resampling a Volume or a LabelMap onto an isotropic grid that covers the same box (edge to edge).

Used to compare measurements of one CT across voxel sizes (a 3 mm CT and the same CT at 0.7 mm).
"""
from __future__ import annotations

import dataclasses

import numpy as np
from scipy import ndimage

from spinebq.image.labelmap import LabelMap
from spinebq.image.volume import Volume


def resampled_grid(volume: Volume, spacing_mm: float) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Affine and shape of an isotropic grid of ``spacing_mm`` covering the same box as ``volume``.

    The box is the image's voxel edges: the first new voxel's outer edge lies on the first old voxel's outer
    edge along each axis, and there are ``round(n * spacing / spacing_mm)`` new voxels per axis.
    """
    old = np.array(volume.spacing_mm)
    shape = tuple(int(round(n * s / spacing_mm)) for n, s in zip(volume.shape, old))
    directions = volume.affine[:3, :3] / old
    affine = np.eye(4)
    affine[:3, :3] = directions * spacing_mm
    affine[:3, 3] = volume.affine[:3, 3] + directions @ ((spacing_mm - old) / 2)
    return affine, shape


def _old_index_map(volume: Volume, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Diagonal scale and offset taking a new voxel index to an old (fractional) one (axes kept as they are)."""
    to_old = np.linalg.inv(volume.affine) @ affine
    return np.diag(to_old[:3, :3]).copy(), to_old[:3, 3].copy()


def resample_volume(volume: Volume, spacing_mm: float, *, order: int = 1) -> Volume:
    """``volume`` interpolated onto an isotropic grid of ``spacing_mm`` covering the same box.

    ``order`` is the spline order of :func:`scipy.ndimage.affine_transform`: 1 trilinear (default), 3 cubic
    B-spline (what nnU-Net and TotalSegmentator use for images), 0 nearest voxel. Trilinear interpolation averages
    each new voxel over old voxels up to one old voxel away, so upsampling blurs edges (the cortex) further than
    the old voxels did; the cubic B-spline interpolates with less smoothing. Beyond the outermost voxel centres the
    edge value is held.
    """
    affine, shape = resampled_grid(volume, spacing_mm)
    scale, offset = _old_index_map(volume, affine)
    array = ndimage.affine_transform(np.asarray(volume.array, dtype=np.float32), scale, offset, output_shape=shape,
                                     order=order, mode="nearest")
    return Volume(array, affine, dict(volume.metadata))


def resample_labels(labels: LabelMap, spacing_mm: float, *, smooth: bool = True) -> LabelMap:
    """``labels`` on an isotropic grid of ``spacing_mm`` covering the same box (see :func:`resampled_grid`).

    Parameters
    ----------
    labels : LabelMap
    spacing_mm : float
    smooth : bool
        True (default): each label's indicator function is interpolated trilinearly and the label kept where it
        reaches 0.5, the outline a segmentation of the finer image would draw (the same outline
        :func:`spinebq.measure.ct.sampling.sample_mask` reads on the old grid). False: nearest voxel, which keeps the old voxels' blocks.
    """
    affine, shape = resampled_grid(labels, spacing_mm)
    scale, offset = _old_index_map(labels, affine)
    if not smooth:
        array = ndimage.affine_transform(labels.array, scale, offset, output_shape=shape, order=0, mode="nearest")
        return dataclasses.replace(labels, array=array.astype(labels.array.dtype), affine=affine,
                                   metadata=dict(labels.metadata))
    out = np.zeros(shape, dtype=labels.array.dtype)
    ids = np.asarray(labels.array)
    for value, box in enumerate(ndimage.find_objects(np.clip(ids, 0, None).astype(np.int32)), start=1):
        if box is None:
            continue
        # the label's box one old voxel wider, and the new voxels whose centres fall inside it
        lo = np.array([max(b.start - 1, 0) for b in box])
        hi = np.array([min(b.stop + 1, n) for b, n in zip(box, ids.shape)])
        new_lo = np.maximum(np.ceil((lo - offset) / scale), 0).astype(int)
        new_hi = np.minimum(np.floor((hi - 1 - offset) / scale) + 1, shape).astype(int)
        if np.any(new_hi <= new_lo):
            continue
        indicator = (ids[tuple(slice(a, b) for a, b in zip(lo, hi))] == value).astype(np.float32)
        part = ndimage.affine_transform(indicator, scale, offset + scale * new_lo - lo,
                                        output_shape=tuple(new_hi - new_lo), order=1, mode="nearest")
        target = out[tuple(slice(a, b) for a, b in zip(new_lo, new_hi))]
        target[part >= 0.5] = value
    return dataclasses.replace(labels, array=out, affine=affine, metadata=dict(labels.metadata))
