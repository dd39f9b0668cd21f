"""Separate the vertebral body from the posterior elements of a whole-vertebra mask.

The spinal canal is the hole that the vertebral ring (body, pedicles, laminae) encloses in an axial
slice. Everything anterior to the canal's anterior edge, the posterior wall of the body, is body.
Slices where the ring is open use the cut of the nearest slice where it was closed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

#: Smallest cross-section (mm^2) of a hole that counts as the spinal canal.
MIN_CANAL_AREA_MM2 = 25.0
#: A slice's canal front further than this from the median over the slices (mm) is not the canal.
CUT_OUTLIER_MM = 6.0


@dataclass
class BodySeparation:
    """Result of :func:`separate_body`.

    Attributes
    ----------
    body : numpy.ndarray
        Boolean mask of the vertebral body on the input grid.
    canal_slices : int
        Axial slices in which an enclosed spinal canal was found.
    method : str
        ``"canal"`` (posterior wall from the enclosed canal) or ``"none"`` (no canal found;
        the mask is returned unchanged and flagged).
    """

    body: np.ndarray
    canal_slices: int
    method: str


def separate_body(mask: np.ndarray, spacing_mm: tuple[float, float, float]) -> BodySeparation:
    """Cut the posterior elements off a whole-vertebra mask in canonical LPS orientation.

    Parameters
    ----------
    mask : numpy.ndarray
        Boolean 3D mask of one vertebra; axis 1 runs anterior -> posterior, axis 2 is the slice axis.
    spacing_mm : tuple of float
        Voxel size along each axis, mm.
    """
    pixel_area = spacing_mm[0] * spacing_mm[1]
    cuts = _canal_fronts(mask, pixel_area)
    slices = np.flatnonzero(mask.any(axis=(0, 1)))
    found = np.isfinite(cuts)
    method = "canal"
    if found.any():
        # a hole inside the body (the basivertebral foramen, a gap in the label) is not the canal: a slice's cut
        # further than CUT_OUTLIER_MM from the median cut is dropped and takes its neighbours' cut
        median = float(np.median(cuts[found]))
        found &= np.abs(cuts - median) * spacing_mm[1] <= CUT_OUTLIER_MM
        # slices without a closed ring take the cut of the nearest slice with one
        known = np.flatnonzero(found)
        nearest = known[np.abs(slices[:, None] - known[None, :]).argmin(axis=1)]
        cuts[slices] = cuts[nearest]
    else:
        # the ring closes over the height of the vertebra even when no single slice shows it closed
        projected_cut = _canal_fronts(mask.any(axis=2)[:, :, None], pixel_area)[0]
        if np.isnan(projected_cut):
            return BodySeparation(mask.copy(), 0, "none")
        cuts[slices] = projected_cut
        method = "projected_canal"
    rows = np.arange(mask.shape[1])[None, :, None]
    cut = np.where(np.isfinite(cuts), cuts, -1)[None, None, :]
    body = mask & (rows < cut)
    labelled, n = ndimage.label(body)
    if n > 1:
        sizes = ndimage.sum_labels(body, labelled, index=np.arange(1, n + 1))
        body = labelled == (int(np.argmax(sizes)) + 1)
    return BodySeparation(body, int(found.sum()), method)


#: In-plane (4-connected) neighbours only: holes are filled and labelled slice by slice.
_IN_PLANE = np.zeros((3, 3, 3), dtype=bool)
_IN_PLANE[:, :, 1] = ndimage.generate_binary_structure(2, 1)


def _canal_fronts(mask: np.ndarray, pixel_area_mm2: float) -> np.ndarray:
    """Per slice (axis 2), the row of the anterior edge of the largest enclosed hole of the ring; NaN where none."""
    # holes: background components of a slice that do not reach the slice's edge
    labelled, n = ndimage.label(~mask, structure=_IN_PLANE)
    edge = np.unique(np.concatenate([labelled[[0, -1]].ravel(), labelled[:, [0, -1]].ravel()]))
    areas_mm2 = np.bincount(labelled.ravel(), minlength=n + 1)[1:] * pixel_area_mm2
    areas_mm2[edge[edge > 0] - 1] = 0.0
    fronts = np.full(mask.shape[2], np.nan)
    biggest = np.zeros(mask.shape[2])
    for area_mm2, box in zip(areas_mm2, ndimage.find_objects(labelled)):
        k = box[2].start
        if area_mm2 > biggest[k]:
            biggest[k] = area_mm2
            fronts[k] = box[1].start
    fronts[biggest < MIN_CANAL_AREA_MM2] = np.nan
    return fronts
