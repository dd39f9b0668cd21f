"""Facet columns split between the two vertebrae that form them (built-in segmentation, known synthetic truth)."""
from __future__ import annotations

import numpy as np
from skimage.segmentation import watershed

from spinebq.segment.ct.canal import SpineAxis
from spinebq.segment.ct.vertebrae import FACET_ZONE_MM, split_facet_columns

SPACING_MM = (2.0, 2.0, 2.0)


def _facet_column():
    """A left facet column on a 2 mm grid: the lower vertebra's superior articular process rising from its pedicle,
    the upper one's inferior articular process hanging from its lamina, touching at the joint with no gap to see.

    The lower process is brighter (600 HU) than the upper one (400 HU) and the upper lamina joins its process through
    darker bone (150 HU, a thin pars), so a watershed on the HU image floods the whole column from the lower vertebra.
    Returns the HU image, the watershed seeds (1 lower, 2 upper), the bone, the true labels and the canal axis.
    """
    shape = (40, 30, 40)
    hu = np.zeros(shape, np.float32)
    truth = np.zeros(shape, np.int16)
    seeds = np.zeros(shape, np.int16)
    column = (slice(28, 31), slice(17, 21))  # x 16-22 mm left of the canal centre (x 20), behind it (y 15)
    # lower vertebra: its arch seed (pedicle) below, its superior process rising to the joint at z 19/20
    seeds[column + (slice(4, 9),)] = 1
    truth[column + (slice(4, 20),)] = 1
    hu[column + (slice(4, 20),)] = 600.0
    # upper vertebra: its arch seed (lamina) above, a thin pars, its inferior process hanging down to the joint
    seeds[column + (slice(31, 36),)] = 2
    truth[column + (slice(20, 36),)] = 2
    hu[column + (slice(20, 36),)] = 400.0
    hu[column + (slice(28, 31),)] = 150.0
    axis = SpineAxis(column=np.full((shape[2], 2), 20.0), body=np.full((shape[2], 2), 20.0),
                     canal_front=np.full(shape[2], 10.0), canal_centre=np.full((shape[2], 2), [20.0, 15.0]),
                     canal_found=np.ones(shape[2], bool))
    return hu, seeds, truth > 0, truth, axis


def test_facet_column_goes_back_to_the_vertebra_each_process_grows_from():
    hu, seeds, bone, truth, axis = _facet_column()
    whole = watershed(-hu, markers=seeds, mask=bone).astype(np.int16)
    # the HU flood gives the upper vertebra's inferior process to the lower vertebra (the fault this step corrects)
    upper_process = truth == 2
    assert (whole[upper_process] == 1).sum() >= 8 * 12
    split_facet_columns(whole, seeds, bone, axis, SPACING_MM)
    assert np.array_equal(whole, truth)


def test_bone_outside_the_facet_zone_keeps_its_flood():
    """A column on the midline (a spinous process) or beyond the pedicles' reach (a transverse process) is left alone."""
    hu, seeds, bone, truth, axis = _facet_column()
    far = int(np.ceil(FACET_ZONE_MM[1] / SPACING_MM[0])) + 1  # voxels beyond the zone's outer edge
    moved = [np.roll(a, far - 8, axis=0) for a in (hu, seeds, bone)]
    whole = watershed(-moved[0], markers=moved[1], mask=moved[2]).astype(np.int16)
    before = whole.copy()
    split_facet_columns(whole, moved[1], moved[2], axis, SPACING_MM)
    assert np.array_equal(whole, before)
