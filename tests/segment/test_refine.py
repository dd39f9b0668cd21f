"""The body surface threshold of the built-in segmentation does not depend on the voxel size (issue 19f).

A sphere with a dense 1.5 mm shell (a vertebral body's cortex) is averaged into 3 mm voxels, as a 3 mm scanner
sees it, and that image is resampled to 0.7 mm by cubic B-spline (the real CT's case in
``tests/test_resampled_ct.py``). The half maximum read along the surface normals in millimetres is the same on both
grids; read on layers one voxel thick (the earlier rule) it falls far lower on the 0.7 mm voxels.

A cylinder between two discs, its ends part-way into a 3 mm voxel, checks the endplates' own threshold (issue 19o).
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from spinebq.image.resample import resample_volume
from spinebq.image.volume import Volume
from spinebq.segment.ct.refine import SHELL_PERCENTILE, endplate_thresholds_hu, refine_body, surface_threshold_hu

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


# A cylindrical body 28 mm tall between two discs: side wall of dense cortex, 1 mm endplates, marrow inside. Its ends
# lie 1 mm into a 3 mm voxel, so each end voxel holds 1 mm of disc, 1 mm of endplate and 1 mm of marrow: the
# partial-volume layer of the real 3 mm CT's endplates (benchmarks/ct.md, "Heights across label sources").
BODY_RADIUS_MM, WALL_MM, PLATE_MM = 16.0, 1.5, 1.0
BODY_BOTTOM_MM, BODY_TOP_MM = 16.0, 44.0
PLATE_HU, DISC_HU = 400.0, 80.0
LENGTH_MM = 60.0


def _body_between_discs():
    step, k = 0.5, 6
    x = (np.arange(int(SIDE_MM / step)) + 0.5) * step - SIDE_MM / 2.0
    z = (np.arange(int(LENGTH_MM / step)) + 0.5) * step
    r = np.hypot(x[:, None, None], x[None, :, None]) + 0.0 * z
    inside = (r < BODY_RADIUS_MM) & (z > BODY_BOTTOM_MM) & (z < BODY_TOP_MM)
    truth = np.where(r < BODY_RADIUS_MM, DISC_HU, TISSUE_HU)
    truth = np.where(inside, MARROW_HU, truth)
    truth = np.where(inside & ((z < BODY_BOTTOM_MM + PLATE_MM) | (z > BODY_TOP_MM - PLATE_MM)), PLATE_HU, truth)
    truth = np.where(inside & (r >= BODY_RADIUS_MM - WALL_MM), CORTEX_HU, truth)
    n = truth.shape
    coarse = truth.reshape(n[0] // k, k, n[1] // k, k, n[2] // k, k).mean(axis=(1, 3, 5)).astype(np.float32)
    ct = Volume(coarse, np.diag([3.0, 3.0, 3.0, 1.0]))
    return ct, resample_volume(ct, 0.7, order=3)


def _refined_column_height(ct: Volume, *, shell_only: bool = False, ends_everywhere: bool = False):
    """Refine the body as found on a 3 mm working grid (whole 3 mm voxels, 15-45 mm: the end voxels included); the
    refined body's height along its axis through its centre, mm, and the end thresholds. ``shell_only``: the shell's
    threshold everywhere (the earlier rule); ``ends_everywhere``: the end thresholds on this grid's central column
    whatever its slice thickness."""
    spacing = np.array(ct.spacing_mm)
    # the truth's coordinates of the voxel centres (the 3 mm voxel 0 spans 0-3 mm)
    centre = [ct.affine[i, i] * np.arange(ct.shape[i]) + ct.affine[i, 3] + 1.5 for i in range(3)]
    r = np.hypot(centre[0][:, None, None] - SIDE_MM / 2.0, centre[1][None, :, None] - SIDE_MM / 2.0)
    body = (r < BODY_RADIUS_MM) & (centre[2] > 15.0) & (centre[2] < 45.0)
    width = max(1, int(round(3.0 / spacing[0])))  # one working voxel
    core = ndimage.binary_erosion(body, iterations=width, border_value=1)
    band = ndimage.binary_dilation(body, iterations=width) & ~core
    allowed = np.ones(ct.shape, bool)
    ends = endplate_thresholds_hu(ct.array, body, spacing)
    i = int(np.argmin(np.abs(centre[0] - SIDE_MM / 2.0)))
    if shell_only:
        mask = core | (band & (ct.array >= surface_threshold_hu(ct.array, body, allowed, spacing)))
    elif ends_everywhere:
        lower = centre[2] < 0.5 * (BODY_BOTTOM_MM + BODY_TOP_MM)
        column = core[i, i] | (band[i, i] & (ct.array[i, i] >= np.where(lower, ends[0], ends[1])))
        return float(column.sum() * spacing[2]), ends
    else:
        mask, _ = refine_body(ct.array, body, core, band, allowed, spacing)
    return float(mask[i, i].sum() * spacing[2]), ends


def test_endplate_layer_is_kept_on_3_mm_slices():
    """Issue 19o: the end voxel holding 1 mm of disc, 1 mm of endplate and 1 mm of marrow reads 210 HU, below the
    shell's half maximum (about 250 HU), which dropped it: the body read 24 mm for its 28. Its own end threshold,
    half-way between the endplate and the disc, keeps it: 30 mm, each end within half a voxel of the truth. On the same
    image resampled to 0.7 mm the end thresholds read alike and put each end within 1 mm of the truth (there the
    refinement keeps the shell's threshold, ``ENDPLATE_VOXEL_MM``, and reaches the faint plates' half maximum column by
    column: ``test_faint_endplates_reach_their_half_maximum_on_thin_slices``)."""
    coarse, fine = _body_between_discs()
    truth_mm = BODY_TOP_MM - BODY_BOTTOM_MM
    end_voxel_hu = (PLATE_HU + MARROW_HU + DISC_HU) / 3.0
    height, ends = _refined_column_height(coarse)
    # on 3 mm voxels the plate is the end voxel and the disc the next one out
    assert ends == pytest.approx((0.5 * (end_voxel_hu + DISC_HU),) * 2, abs=1.0)
    assert abs(height - truth_mm) <= 3.0, height
    shell_height, _ = _refined_column_height(coarse, shell_only=True)
    assert truth_mm - shell_height > 3.0, shell_height
    # read along the normals in mm, the end thresholds on 0.7 mm voxels are alike, and place the ends as well
    fine_height, fine_ends = _refined_column_height(fine, ends_everywhere=True)
    assert fine_ends == pytest.approx(ends, abs=20.0)
    assert abs(fine_height - truth_mm) <= 2.0, fine_height


def test_faint_endplates_reach_their_half_maximum_on_thin_slices():
    """Issue 19 (L2's middle height at 0.7 mm): resampled to 0.7 mm, the plate seen on 3 mm voxels reads about 210 HU
    at its peak, under the shell's half maximum (about 250 HU), which left the body at 24.5 mm for its 28 and 30 at
    3 mm. Each end column now reaches the half maximum between its own plate and the disc beyond: the body reads
    within one 0.7 mm voxel at each end of the 3 mm body, each end within half a 3 mm voxel of the truth (the partial-volume
    voxel does not tell where in it the plate lies)."""
    coarse, fine = _body_between_discs()
    truth_mm = BODY_TOP_MM - BODY_BOTTOM_MM
    coarse_height, _ = _refined_column_height(coarse)
    fine_height, _ = _refined_column_height(fine)
    assert truth_mm - _refined_column_height(fine, shell_only=True)[0] > 3.0
    assert abs(fine_height - coarse_height) <= 2 * fine.spacing_mm[2] + 1e-9, (fine_height, coarse_height)
    assert abs(fine_height - truth_mm) <= 2 * 1.5, fine_height


def test_core_rim_gives_up_the_disc_beyond_an_endplate_on_thin_slices():
    """Issue 19p: on 0.7 mm voxels the body found on a coarse working grid reaches 6 mm past each end, so the core kept
    whatever its HU (one 2.8 mm working voxel inside it) holds about 3 mm of disc at each end and the body reads over
    32 mm for its 28. Given the core's rim, the refinement drops what lies on the disc's side of each endplate's peak
    and under the threshold (the plate, blurred by the 3 mm voxels it was seen on, reads under the shell's threshold);
    each end then reaches the faint plate's own half maximum, within half a 3 mm voxel of the truth; the marrow behind
    the endplates, darker than the threshold as well, stays."""
    _, fine = _body_between_discs()
    spacing = np.array(fine.spacing_mm)
    centre = [(np.arange(n) + 0.5) * s for n, s in zip(fine.shape, spacing)]
    r = np.hypot(centre[0][:, None, None] - SIDE_MM / 2.0, centre[1][None, :, None] - SIDE_MM / 2.0)
    body = (r < BODY_RADIUS_MM) & (centre[2] > BODY_BOTTOM_MM - 6.0) & (centre[2] < BODY_TOP_MM + 6.0)
    width = 4  # one 2.8 mm working voxel of 0.7 mm voxels
    core = ndimage.binary_erosion(body, iterations=width, border_value=1)
    band = ndimage.binary_dilation(body, iterations=width) & ~core
    rim = core & ~ndimage.binary_erosion(core, iterations=width, border_value=1)
    allowed = np.ones(fine.shape, bool)
    i = int(np.argmin(np.abs(centre[0] - SIDE_MM / 2.0)))
    truth_mm = BODY_TOP_MM - BODY_BOTTOM_MM
    kept_whole, _ = refine_body(fine.array, body, core, band, allowed, spacing)
    assert kept_whole[i, i].sum() * spacing[2] - truth_mm > 4.0
    refined, _ = refine_body(fine.array, body, core, band, allowed, spacing, rim)
    column = refined[i, i]
    ends_mm = centre[2][np.flatnonzero(column)[[0, -1]]] + np.array([-0.5, 0.5]) * spacing[2]
    assert np.all(np.abs(ends_mm - (BODY_BOTTOM_MM, BODY_TOP_MM)) <= 1.5), ends_mm
    assert column.sum() == np.ptp(np.flatnonzero(column)) + 1  # one piece
    inside = (centre[2] > BODY_BOTTOM_MM + 2.0) & (centre[2] < BODY_TOP_MM - 2.0)
    assert refined[i, i][inside].all()
