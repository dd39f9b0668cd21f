"""The caller's metal threshold reaches every ROI, region A included (issue 16).

On the synthetic phantom a 3000 HU screw runs through L4's left pedicle into the body, so L4's region A
(the mid-body slab) holds screw voxels and their blur. The default threshold leaves region A as it was
before the fix; a threshold low enough to take the blur out must change it, as it changes regions B and C.
"""
from __future__ import annotations

import pytest

from spinebq.constants import METAL_HU
from spinebq.measure.ct.levels import measure_ct
from spinebq.measure.ct.regional import RegionalOptions, measure_regional
from spinebq.synthetic.ct import make_ct_phantom

from .conftest import measured_documents

#: Region A of L4 with the default threshold, recorded before the fix (when region A always used 1400 HU).
L4_REGION_A_DEFAULT = {"hu_mean": 165.5659, "voxels": 4020, "points": 40701}
LOW_METAL_HU = 600.0


@pytest.fixture(scope="module")
def phantom():
    return make_ct_phantom(screw=True)


def _regional(phantom, metal_hu: float | None) -> dict:
    kwargs = {} if metal_hu is None else {"metal_hu": metal_hu}
    result = measure_ct(phantom.ct, phantom.labels, **kwargs)
    regional = measure_regional(phantom.ct, phantom.labels, result, RegionalOptions(trajectory="auto"), **kwargs)
    return measured_documents(result, regional)[0]


@pytest.fixture(scope="module")
def default(phantom):
    return _regional(phantom, None)


@pytest.fixture(scope="module")
def low(phantom):
    return _regional(phantom, LOW_METAL_HU)


def test_default_threshold_is_the_shared_constant_and_keeps_region_a(phantom, default):
    assert METAL_HU == 1400.0
    region = default["L4"]["regions"]["A"]
    for key, expected in L4_REGION_A_DEFAULT.items():
        assert region[key] == pytest.approx(expected, abs=1e-3), key
    assert _regional(phantom, METAL_HU)["L4"]["regions"] == default["L4"]["regions"]


def test_low_threshold_reaches_region_a(default, low):
    before, after = default["L4"]["regions"]["A"], low["L4"]["regions"]["A"]
    assert after["voxels"] < before["voxels"]
    assert after["points"] < before["points"]
    assert after["hu_mean"] < before["hu_mean"] - 5.0


def test_low_threshold_reaches_the_screw_rois(default, low):
    for side in ("left", "right"):
        assert low["L4"]["regions"]["B"][side]["points"] <= default["L4"]["regions"]["B"][side]["points"]
    before, after = default["L4"]["trajectories"]["left"], low["L4"]["trajectories"]["left"]
    assert after["hu_mean"] < before["hu_mean"]


def test_levels_without_metal_or_dense_bone_do_not_move(default, low):
    for name in ("L1", "L2", "L3", "L5"):
        assert low[name]["regions"]["A"] == default[name]["regions"]["A"], name
