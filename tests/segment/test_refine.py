"""The body surface threshold of the built-in segmentation does not depend on the voxel size (issue 19f).

A sphere with a dense 1.5 mm shell (a vertebral body's cortex) is averaged into 3 mm voxels, as a 3 mm scanner
sees it, and that image is resampled to 0.7 mm by cubic B-spline (the real CT's case in
``tests/test_resampled_ct.py``). The half maximum read along the surface normals in millimetres is the same on both
grids; read on layers one voxel thick (the earlier rule) it falls far lower on the 0.7 mm voxels.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from spinebq.image.resample import resample_volume
from spinebq.image.volume import Volume
from spinebq.segment.ct.refine import SHELL_PERCENTILE, surface_threshold_hu

RADIUS_MM, SHELL_MM, SIDE_MM = 15.0, 1.5, 48.0
CORTEX_HU, MARROW_HU, TISSUE_HU = 700.0, 150.0, 40.0


def _images():
    step = 0.5  # the truth on 0.5 mm voxels, averaged into 3 mm blocks
    n = int(SIDE_MM / step)
    centre = SIDE_MM / 2.0
    x = (np.arange(n) + 0.5) * step - centre
    r = np.sqrt(x[:, None, None] ** 2 + x[None, :, None] ** 2 + x[None, None, :] ** 2)
    truth = np.where(r < RADIUS_MM - SHELL_MM, MARROW_HU, np.where(r < RADIUS_MM, CORTEX_HU, TISSUE_HU))
    k = 6
    coarse = truth.reshape(n // k, k, n // k, k, n // k, k).mean(axis=(1, 3, 5)).astype(np.float32)
    ct = Volume(coarse, np.diag([3.0, 3.0, 3.0, 1.0]))
    return ct, resample_volume(ct, 0.7, order=3)


def _sphere(shape, spacing_mm: float, radius_mm: float) -> np.ndarray:
    x = (np.arange(shape[0]) + 0.5) * spacing_mm - SIDE_MM / 2.0
    r = np.sqrt(x[:, None, None] ** 2 + x[None, :, None] ** 2 + x[None, None, :] ** 2)
    return r < radius_mm


def _one_voxel_layers(hu: np.ndarray, body: np.ndarray) -> float:
    """The earlier rule: half maximum of the outer layer's percentile and the next layer's median."""
    shell = body & ~ndimage.binary_erosion(body, border_value=1)
    outside = ndimage.binary_dilation(body) & ~body
    return 0.5 * (float(np.percentile(hu[shell], SHELL_PERCENTILE)) + float(np.median(hu[outside])))


def test_threshold_is_the_same_on_3_mm_and_0_7_mm_voxels():
    """The 0.7 mm body as found may end on the cortex or 1.5 mm beyond it (on the cortex's blurred outer flank)."""
    coarse, fine = _images()
    body = _sphere(coarse.shape, 3.0, RADIUS_MM)
    reference = surface_threshold_hu(coarse.array, body, np.ones(coarse.shape, bool), coarse.spacing_mm)
    # between the tissue and the partial-volume cortex of the 3 mm voxels
    assert TISSUE_HU + 100.0 < reference < CORTEX_HU - 200.0
    earlier_reference = _one_voxel_layers(coarse.array, body)
    for radius_mm in (RADIUS_MM, RADIUS_MM + 1.5):
        body = _sphere(fine.shape, 0.7, radius_mm)
        threshold = surface_threshold_hu(fine.array, body, np.ones(fine.shape, bool), fine.spacing_mm)
        assert threshold == pytest.approx(reference, abs=10.0), (radius_mm, threshold, reference)
    # the earlier rule read the outer layer on the flank: about 100 HU lower
    assert _one_voxel_layers(fine.array, body) < earlier_reference - 50.0
