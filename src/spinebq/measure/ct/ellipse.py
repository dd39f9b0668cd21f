"""The three-slice elliptical ROI method (``hu_2d``; Schreiber et al., JBJS Am 2011).

For each vertebra, three planes perpendicular to its own axis (below the superior endplate, at
mid-body, above the inferior endplate) are resampled from the CT. In each plane the largest ellipse
that fits inside the trabecular bone is found: the body section minus a cortical rim, with the
posterior part of the body (basivertebral venous plexus) left out. ``hu_2d`` is the mean of the three
ellipse means (docs/methods.md section 1.1; the fractions and margins are spinebq's documented defaults).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from spinebq.constants import METAL_HU
from spinebq.measure.ct.frame import VertebraFrame

#: Positions of the three planes as fractions of the body height from the inferior endplate,
#: in reporting order: below the superior endplate, mid-body, above the inferior endplate.
SLICE_FRACTIONS = (0.8, 0.5, 0.2)
CORTEX_MM = 3.0
POSTERIOR_CLIP_FRACTION = 0.2
MIN_ELLIPSE_AREA_MM2 = 50.0
PLANE_HALF_WIDTH_MM = 45.0


@dataclass
class EllipseRoi:
    """One plane's ellipse, in the vertebra's frame (mm) and its statistics."""

    position: str
    height_mm: float
    centre_mm: list[float]
    semi_axis_left_mm: float
    semi_axis_posterior_mm: float
    area_mm2: float
    mean_hu: float
    pixels: int
    reason: str | None = None


def body_height_range(body_points_mm: np.ndarray, frame: VertebraFrame, *, core_radius_mm: float = 8.0) -> tuple[float, float]:
    """Inferior and superior endplate positions along the frame's axis, from the body's central core."""
    rel = body_points_mm - frame.centre_mm
    along = rel @ frame.superior
    radial = np.linalg.norm(rel - along[:, None] * frame.superior, axis=1)
    core = along[radial <= core_radius_mm]
    if core.size < 10:
        core = along
    return float(core.min()), float(core.max())


def sample_plane(volume_array: np.ndarray, affine: np.ndarray, frame: VertebraFrame, height_mm: float, step_mm: float, order: int):
    """Resample ``volume_array`` on the plane at ``height_mm`` along the frame's axis.

    Returns the image (rows: posterior axis, columns: left axis) and the plane's coordinates.
    """
    offsets = np.arange(-PLANE_HALF_WIDTH_MM, PLANE_HALF_WIDTH_MM + step_mm / 2, step_mm)
    p, l = np.meshgrid(offsets, offsets, indexing="ij")
    points = frame.to_mm(np.full_like(p, height_mm), p, l)
    inverse = np.linalg.inv(affine)
    ijk = points @ inverse[:3, :3].T + inverse[:3, 3]
    values = ndimage.map_coordinates(volume_array, np.moveaxis(ijk, -1, 0), order=order, mode="constant", cval=0)
    return values, offsets


def largest_ellipse(region: np.ndarray, step_mm: float) -> tuple[float, float, float, float] | None:
    """Largest axis-aligned ellipse inside ``region``, centred on the region's centroid.

    Returns (centre_row, centre_col, semi_axis_rows_mm, semi_axis_cols_mm) in pixels and mm, or None.
    For each candidate semi-axis along the columns, the largest semi-axis along the rows that keeps
    every outside pixel outside the ellipse is computed in closed form; the pair with the largest
    area wins.
    """
    if region.sum() < 4:
        return None
    cr, cc = ndimage.center_of_mass(region)
    rows, cols = np.nonzero(~region)
    v = (rows - cr) * step_mm
    u = (cols - cc) * step_mm
    best = None
    for a in np.arange(step_mm, PLANE_HALF_WIDTH_MM, step_mm / 2):
        inside_band = np.abs(u) < a
        if not inside_band.any():
            b = PLANE_HALF_WIDTH_MM
        else:
            b = float(np.min(np.abs(v[inside_band]) / np.sqrt(1 - (u[inside_band] / a) ** 2)))
        if b < step_mm:
            break
        if best is None or a * b > best[2] * best[3]:
            best = (cr, cc, b, a)
    return best


def three_slice_rois(
    ct_array: np.ndarray,
    body: np.ndarray,
    affine: np.ndarray,
    frame: VertebraFrame,
    *,
    metal_hu: float = METAL_HU,
) -> list[EllipseRoi]:
    """Measure the three elliptical ROIs of one vertebral body.

    Parameters
    ----------
    ct_array : numpy.ndarray
        CT in HU on the grid of ``affine``.
    body : numpy.ndarray
        Boolean body mask on the same grid.
    affine : numpy.ndarray
        Voxel -> LPS mm.
    frame : VertebraFrame
        The vertebra's own axes.
    """
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    step = float(min(0.5, spacing.min()))
    points = np.argwhere(body) @ affine[:3, :3].T + affine[:3, 3]
    low, high = body_height_range(points, frame)
    # contiguous copies once, not one per resampled plane
    body_float = body.astype(np.float32)
    ct_array = np.ascontiguousarray(ct_array)
    rois = []
    for name, fraction in zip(("superior", "middle", "inferior"), SLICE_FRACTIONS):
        height = low + fraction * (high - low)
        section, offsets = sample_plane(body_float, affine, frame, height, step, order=1)
        section = section >= 0.5
        labelled, n = ndimage.label(section)
        if n == 0:
            rois.append(EllipseRoi(name, height, [], 0.0, 0.0, 0.0, float("nan"), 0, "the body does not cross this plane"))
            continue
        centre_label = labelled[len(offsets) // 2, len(offsets) // 2] or int(np.argmax(np.bincount(labelled[labelled > 0])))
        section = labelled == centre_label
        trabecular = ndimage.distance_transform_edt(section, sampling=step) > max(CORTEX_MM, float(spacing.max()) * 0.5)
        rows_present = np.flatnonzero(section.any(axis=1))
        if rows_present.size:
            depth = rows_present[-1] - rows_present[0] + 1
            trabecular[rows_present[-1] - int(POSTERIOR_CLIP_FRACTION * depth) + 1 :, :] = False
        ellipse = largest_ellipse(trabecular, step)
        if ellipse is None:
            rois.append(EllipseRoi(name, height, [], 0.0, 0.0, 0.0, float("nan"), 0,
                                   f"no trabecular bone left once the {CORTEX_MM:g} mm rim and the posterior "
                                   f"{POSTERIOR_CLIP_FRACTION:.0%} are excluded"))
            continue
        cr, cc, b_mm, a_mm = ellipse
        r = (np.arange(len(offsets))[:, None] - cr) * step
        c = (np.arange(len(offsets))[None, :] - cc) * step
        inside = (r / b_mm) ** 2 + (c / a_mm) ** 2 <= 1
        hu, _ = sample_plane(ct_array, affine, frame, height, step, order=1)
        values = hu[inside & (hu <= metal_hu)]
        area = float(np.pi * a_mm * b_mm)
        centre = frame.to_mm(height, offsets[0] + cr * step, offsets[0] + cc * step)
        reason = (None if area >= MIN_ELLIPSE_AREA_MM2 and values.size else
                  f"the largest ellipse covers {area:.0f} mm2, under the {MIN_ELLIPSE_AREA_MM2:g} mm2 minimum"
                  if area < MIN_ELLIPSE_AREA_MM2 else "every pixel of the ellipse is metal")
        mean = float(values.mean()) if reason is None else float("nan")
        rois.append(EllipseRoi(name, height, [round(float(x), 2) for x in centre], a_mm, b_mm, area, mean, int(values.size),
                               reason))
    return rois
