"""Built-in segmentation on the synthetic phantom (spinebq.phantom.ct): known truth, no real data needed."""
from __future__ import annotations

import numpy as np
import pytest

from spinebq.anatomy import VERSE_IDS

phantom = pytest.importorskip("spinebq.phantom.ct")

LEVELS = ("T12", "L1", "L2", "L3", "L4", "L5")


def _body_dice(result, p) -> dict:
    v, s = result.vertebrae.array, result.subregions.array
    tl, ts = p.labels.array, p.subregions.array
    out = {}
    for name in LEVELS:
        a = (v == VERSE_IDS[name]) & (s == 1)
        b = (tl == VERSE_IDS[name]) & (ts == 1)
        out[name] = float(2 * (a & b).sum() / max(1, a.sum() + b.sum()))
    return out


@pytest.fixture(scope="module")
def plain():
    from spinebq.segment.core import segment_ct

    p = phantom.make_ct_phantom()
    return p, segment_ct(p.ct)


def test_upper_levels_found(plain):
    p, result = plain
    d = _body_dice(result, p)
    for name in ("T12", "L1", "L2"):
        assert d[name] >= 0.85, d


@pytest.mark.xfail(reason="issue 3 phantom target (Dice >= 0.95 per body, levels right with noise/tilt/screw) "
                          "not reached yet: the phantom's wide transverse processes pass as ribs and the lower "
                          "levels shift; see benchmarks/segment.md", strict=False)
@pytest.mark.parametrize("kw", [{}, {"noise_hu": 30.0, "seed": 1}, {"tilt_deg": 10.0}, {"screw": True}])
def test_phantom_target(kw):
    from spinebq.segment.core import segment_ct

    p = phantom.make_ct_phantom(**kw)
    result = segment_ct(p.ct)
    d = _body_dice(result, p)
    assert all(v >= 0.95 for v in d.values()), d
