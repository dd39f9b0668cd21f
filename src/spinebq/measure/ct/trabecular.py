"""The 3D trabecular ROI of a vertebral body and its HU statistics (``hu_3d``).

The distance-based presets (``3dhu``, ``bonescreen``) define the ROI in millimetres: the points deeper than
``erosion_mm`` inside the body's outline. On voxels coarser than :data:`SUBVOXEL_STEP_MM` each voxel is weighted
by the fraction of it inside that ROI (its sub-voxel points read against the mask's smooth outline), so a 3 mm CT
measures the same region as a thin-slice one instead of keeping or dropping whole 27 mm^3 voxels; on finer voxels
the weights are 0 or 1 and the ROI is the plain Euclidean erosion.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import ndimage, signal

from spinebq.constants import METAL_HU
from spinebq.measure.ct.presets import Erosion, Preset


#: Sub-voxel step (mm) at which the distance-based ROI is evaluated on coarser voxels.
SUBVOXEL_STEP_MM = 1.0


def trabecular_weights(
    body: np.ndarray,
    spacing_mm: tuple[float, float, float],
    preset: Preset,
    *,
    source_axes: np.ndarray | None = None,
) -> np.ndarray:
    """Fraction (0-1, float32) of each voxel inside the preset's trabecular ROI.

    The distance-based presets give partial weights on voxels coarser than :data:`SUBVOXEL_STEP_MM`
    (see :func:`distance_erosion_weights`); the voxel-kernel presets reproduce their tools and give 0 or 1.
    Parameters as :func:`trabecular_roi`.
    """
    if preset.erosion is Erosion.DISTANCE:
        return distance_erosion_weights(body, spacing_mm, preset.erosion_mm)
    return trabecular_roi(body, spacing_mm, preset, source_axes=source_axes).astype(np.float32)


def trabecular_roi(
    body: np.ndarray,
    spacing_mm: tuple[float, float, float],
    preset: Preset,
    *,
    source_axes: np.ndarray | None = None,
) -> np.ndarray:
    """Return the trabecular ROI inside a body mask, as the preset defines it (voxel centres; see also
    :func:`trabecular_weights`).

    Parameters
    ----------
    body : numpy.ndarray
        Boolean mask of one vertebral body, canonical LPS axes.
    spacing_mm : tuple of float
        Voxel size per axis, mm.
    preset : Preset
        ROI definition (see :mod:`spinebq.measure.ct.presets`).
    source_axes : numpy.ndarray, optional
        nibabel orientation transform from the file's voxel axes to the canonical ones. Only the
        ``totalsegmentator`` kernel needs it: that kernel is not symmetric, so reproducing
        TotalSegmentator exactly means applying it along the file's own axes.
    """
    if preset.erosion is Erosion.DISTANCE:
        return distance_erosion(body, spacing_mm, preset.erosion_mm)
    if preset.erosion is Erosion.TOTALSEGMENTATOR_KERNEL:
        kernel = totalsegmentator_kernel(spacing_mm, preset.erosion_mm, source_axes)
        return kernel_erosion(body, kernel)
    return comp2comp_roi(body, spacing_mm)


def distance_erosion(mask: np.ndarray, spacing_mm: tuple[float, float, float], depth_mm: float) -> np.ndarray:
    """Keep the voxels whose centre is farther than ``depth_mm`` from the outside of ``mask``.

    A Euclidean erosion by a ball of radius ``depth_mm`` that is the same on any voxel size.
    """
    if not mask.any():
        return mask.copy()
    box = ndimage.find_objects(mask.astype(np.uint8))[0]
    padded = np.pad(mask[box], 1)
    distance = ndimage.distance_transform_edt(padded, sampling=spacing_mm)[1:-1, 1:-1, 1:-1]
    out = np.zeros_like(mask)
    out[box] = distance > depth_mm
    return out


def distance_erosion_weights(mask: np.ndarray, spacing_mm: tuple[float, float, float], depth_mm: float,
                             step_mm: float = SUBVOXEL_STEP_MM) -> np.ndarray:
    """Fraction of each voxel of ``mask`` deeper than ``depth_mm`` inside the mask's smooth outline.

    Each voxel is split into ``ceil(spacing / step_mm)`` sub-voxels per axis; the mask is read at their centres by
    linear interpolation (inside where it reaches 0.5, the outline :func:`~spinebq.measure.ct.sampling.sample_mask`
    reads), their depth is the Euclidean distance (mm) to the nearest sub-voxel outside, and a voxel's weight is the
    share of its sub-voxels deeper than ``depth_mm``. Voxels outside ``mask`` weigh 0. On voxels no coarser than
    ``step_mm`` this is :func:`distance_erosion` as 0/1.

    Examples
    --------
    A 3 mm grid: a slab 7 voxels (21 mm) thick, eroded by 3 mm, keeps 15 mm, i.e. 5 voxels' worth.

    >>> slab = np.zeros((9, 9, 9), bool); slab[1:8, 1:8, 1:8] = True
    >>> w = distance_erosion_weights(slab, (3.0, 3.0, 3.0), 3.0)
    >>> float(w[4, 4, 1:8].sum()), float(w[4, 4, 2])
    (5.0, 1.0)
    """
    factors = [max(1, math.ceil(s / step_mm - 1e-9)) for s in spacing_mm]
    if max(factors) == 1:
        return distance_erosion(mask, spacing_mm, depth_mm).astype(np.float32)
    weights = np.zeros(mask.shape, dtype=np.float32)
    if not mask.any():
        return weights
    box = ndimage.find_objects(mask.astype(np.uint8))[0]
    padded = np.pad(mask[box], 1).astype(np.float32)
    # sub-voxel m along an axis of factor k sits at voxel index m / k + (1 / k - 1) / 2
    fine = ndimage.affine_transform(padded, [1.0 / k for k in factors], [(1.0 / k - 1) / 2 for k in factors],
                                    output_shape=tuple(n * k for n, k in zip(padded.shape, factors)), order=1,
                                    mode="nearest")
    sub_spacing = [s / k for s, k in zip(spacing_mm, factors)]
    deep = ndimage.distance_transform_edt(fine >= 0.5, sampling=sub_spacing) > depth_mm
    shape = [x for n, k in zip(padded.shape, factors) for x in (n, k)]
    share = deep.reshape(shape).mean(axis=(1, 3, 5), dtype=np.float32)[1:-1, 1:-1, 1:-1]
    weights[box] = share * mask[box]
    return weights


def kernel_erosion(mask: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Binary erosion by an odd-sized centred ``kernel``, outside the array counting as background.

    Equal to ``scipy.ndimage.binary_erosion(mask, structure=kernel)``, computed as an FFT
    correlation of the background with the kernel, which is much faster for large kernels.
    """
    half = np.array(kernel.shape) // 2
    outside = np.pad(~mask, [(h, h) for h in half], constant_values=True).astype(np.float32)
    hits = signal.fftconvolve(outside, kernel[::-1, ::-1, ::-1].astype(np.float32), mode="same")
    inner = tuple(slice(h, h + n) for h, n in zip(half, mask.shape))
    return (hits[inner] < 0.5) & mask


def totalsegmentator_kernel(
    spacing_mm: tuple[float, float, float], erosion_mm: float, source_axes: np.ndarray | None = None
) -> np.ndarray:
    """TotalSegmentator's "ellipsoid" erosion element, rebuilt and mapped onto canonical axes.

    TotalSegmentator evaluates the ellipsoid x^2/r^2 + ... <= 1 (r = erosion_mm / spacing per axis)
    on offsets -r, -r + 1, ..., which are not integers unless r is. On 3 mm voxels with a 4 mm
    radius the offsets are -1.33, -0.33, 0.67, 1.67 and only a 2 x 2 x 2 block is inside, i.e. a
    one-sided one-voxel peel (docs/methods.md section 1.3). SciPy places the origin of an even-sized element at
    its index ``size // 2``. This function returns the same set of integer voxel offsets as an
    odd-sized, centred element, expressed along the canonical axes.
    """
    radii = [erosion_mm / s for s in spacing_mm]
    if source_axes is None:
        source_axes = np.array([[0, 1], [1, 1], [2, 1]])
    # the kernel is defined on the file's axes: row i of source_axes is (canonical axis, sign) of file axis i
    radii_src = [radii[int(source_axes[i, 0])] for i in range(3)]
    grids = [np.arange(-r, r + 1) for r in radii_src]
    inside = (
        grids[0][:, None, None] ** 2 / radii_src[0] ** 2
        + grids[1][None, :, None] ** 2 / radii_src[1] ** 2
        + grids[2][None, None, :] ** 2 / radii_src[2] ** 2
    ) <= 1
    offsets = np.argwhere(inside) - np.array([g.size // 2 for g in grids])  # scipy's origin convention
    canonical = np.zeros_like(offsets)
    for src_axis in range(3):
        axis, sign = int(source_axes[src_axis, 0]), int(source_axes[src_axis, 1])
        canonical[:, axis] = sign * offsets[:, src_axis]
    offsets = canonical
    half = np.abs(offsets).max(axis=0)
    kernel = np.zeros(tuple(2 * half + 1), dtype=bool)
    kernel[tuple((offsets + half).T)] = True
    return kernel


def comp2comp_roi(body: np.ndarray, spacing_mm: tuple[float, float, float]) -> np.ndarray:
    """Comp2Comp's elliptical sub-ROI of a body mask, in canonical LPS axes.

    In a slab of +-3.75 mm around the body's craniocaudal middle, each axial slice gets an ellipse
    centred at the left-right middle and at 42 % of the anteroposterior depth from the anterior edge
    (58 % from the posterior edge), with semi-axes of 32.5 % of the width and 25 % of the depth; the
    ellipse is intersected with the body eroded by two 6-connected iterations (one when slices are
    3 mm or thicker).
    """
    iterations = 1 if spacing_mm[2] >= 3.0 else 2
    eroded = ndimage.binary_erosion(body, structure=ndimage.generate_binary_structure(3, 1), iterations=iterations)
    slices = np.flatnonzero(body.any(axis=(0, 1)))
    roi = np.zeros_like(body)
    if slices.size == 0:
        return roi
    middle_mm = 0.5 * (slices[0] + slices[-1]) * spacing_mm[2]
    for k in slices:
        if abs(k * spacing_mm[2] - middle_mm) > 3.75 + 1e-6:
            continue
        cols = np.flatnonzero(body[:, :, k].any(axis=1))
        rows = np.flatnonzero(body[:, :, k].any(axis=0))
        width, depth = cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1
        centre_i = 0.5 * (cols[0] + cols[-1])
        centre_j = rows[0] + 0.42 * depth
        i = np.arange(body.shape[0])[:, None]
        j = np.arange(body.shape[1])[None, :]
        ellipse = ((i - centre_i) / (0.325 * width)) ** 2 + ((j - centre_j) / (0.25 * depth)) ** 2 <= 1
        roi[:, :, k] = ellipse & eroded[:, :, k]
    return roi


def roi_statistics(ct: np.ndarray, roi: np.ndarray, *, metal_hu: float = METAL_HU) -> dict:
    """Mean, median, SD and voxel count of ``ct`` inside ``roi``, metal excluded.

    ``roi`` is a boolean mask or the voxel weights of :func:`trabecular_weights`: the statistics are then weighted
    (mean, lower weighted median, SD with the weights as voxel counts) and ``voxels`` is their sum, rounded.
    Returns NaN statistics (never 0) when no voxel remains.

    Examples
    --------
    >>> ct = np.array([100.0, 200.0, 300.0, 5000.0])
    >>> roi_statistics(ct, np.array([1.0, 1.0, 0.5, 1.0]))["mean"]
    180.0
    """
    weights = np.asarray(roi, dtype=np.float64)
    inside = weights > 0
    values, weights = ct[inside].astype(np.float64), weights[inside]
    metal = values > metal_hu
    values, weights = values[~metal], weights[~metal]
    total = float(weights.sum())
    if values.size == 0:
        return {"mean": float("nan"), "median": float("nan"), "sd": float("nan"), "voxels": 0, "metal_voxels": int(metal.sum())}
    if np.all(weights == 1.0):
        median = float(np.median(values))
        sd = float(values.std(ddof=1)) if values.size > 1 else float("nan")
        mean = float(values.mean())
    else:
        mean = float(np.average(values, weights=weights))
        order = np.argsort(values, kind="stable")
        cumulative = np.cumsum(weights[order])
        median = float(values[order][np.searchsorted(cumulative, 0.5 * total)])
        sd = float(math.sqrt(np.sum(weights * (values - mean) ** 2) / (total - 1))) if total > 1 else float("nan")
    return {"mean": mean, "median": median, "sd": sd, "voxels": int(round(total)), "metal_voxels": int(metal.sum())}
