"""Sub-regions of each vertebra: 1 body, 2 left pedicle, 3 right pedicle, 4 posterior arch, 5 canal.

The body comes from the disc-split body column. The rest of a vertebra is split around its canal:
the pedicles are the bone beside the canal between the body's posterior wall and the canal's middle
(left = patient left, axis 0 increasing), everything behind is the posterior arch (laminae, facets,
transverse and spinous processes). The canal is the enclosed hole behind the bodies.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from spinebq.segment.ct.bone import BONE_EDGE_HU, fill_holes
from spinebq.segment.ct.canal import SpineAxis

BODY, PEDICLE_LEFT, PEDICLE_RIGHT, ARCH, CANAL = 1, 2, 3, 4, 5
SUBREGION_NAMES = {BODY: "vertebral_body", PEDICLE_LEFT: "pedicle_left", PEDICLE_RIGHT: "pedicle_right",
                   ARCH: "posterior_arch", CANAL: "spinal_canal"}
#: Half-width (mm) beside the canal centre within which bone can be pedicle.
PEDICLE_HALF_WIDTH_MM = 26.0


def split_subregions(hu: np.ndarray, spacing_mm, bodies: np.ndarray, whole: np.ndarray, axis: SpineAxis) -> np.ndarray:
    """Sub-region map (uint8) on the working grid from body and whole-vertebra labels."""
    sx, sy, sz = spacing_mm
    nx, ny, nz = hu.shape
    out = np.zeros(hu.shape, np.uint8)
    out[bodies > 0] = BODY
    xs = np.arange(nx)[:, None]
    ys = np.arange(ny)[None, :]
    rest = (whole > 0) & (bodies == 0)
    labelled_z = np.flatnonzero((whole > 0).any(axis=(0, 1)))
    if len(labelled_z) == 0:
        return out
    half = max(1, int(round(4.0 / sz)))
    for k in range(labelled_z[0], labelled_z[-1] + 1):
        if not np.isfinite(axis.canal_front[k]):
            out[:, :, k][rest[:, :, k]] = ARCH
            continue
        cx, cy = axis.canal_centre[k]
        front = axis.canal_front[k]
        depth = max(2.0, 2.0 * (cy - front))
        pedicle_y = (ys >= front - 1.0) & (ys <= front + 0.6 * depth)
        near = np.abs(xs - cx) * sx <= PEDICLE_HALF_WIDTH_MM
        r = rest[:, :, k]
        ped = r & pedicle_y & near
        out[:, :, k][ped & (xs > cx)] = PEDICLE_LEFT
        out[:, :, k][ped & (xs <= cx)] = PEDICLE_RIGHT
        out[:, :, k][r & ~ped] = ARCH
        # canal: the hole enclosed by the vertebrae (projected over a few mm), not bone
        ring = (whole[:, :, max(0, k - half):k + half + 1] > 0).any(axis=2)
        holes = fill_holes(ring) & ~ring
        labelled, n = ndimage.label(holes)
        if n:
            i, j = int(round(cx)), int(round(cy))
            if 0 <= i < nx and 0 <= j < ny and labelled[i, j] > 0:
                hole = labelled == labelled[i, j]
                if hole.sum() * sx * sy <= 900.0:
                    out[:, :, k][hole & (hu[:, :, k] <= BONE_EDGE_HU) & (out[:, :, k] == 0)] = CANAL
    return out
