"""Issue 19: levels named from the last rib where the sacrum is out of view; never a wrong name marked sure.

The real TotalSegmentator example CT (3 mm, T12 to the sacrum; TotalSegmentator v2's labels as the truth) is cut
as a chest or thoracolumbar CT would be: just above the sacrum, to T12-L3, and to L2-L5 (no rib, no sacrum). The
synthetic phantom has a pair of ribs on T12 (known truth: they reach 95 mm from the midline).
"""
from __future__ import annotations

import numpy as np
import pytest

from spinebq.segment.ct.core import segment_ct
from spinebq.segment.ct.labelling import LEVEL_UNCONFIRMED, Landmarks, name_segments
from spinebq.segment.ct.ribs import RIB_MIN_PATH_MM, TP_MAX_PATH_MM, LateralBone
from spinebq.vocabulary import LateralProcess, Side

#: z slices of the real CT kept by each crop (TotalSegmentator v2: S1 37-52, L5 42-58, L4 55-68, L3 65-79,
#: L2 75-91, L1 86-103, T12 97-111).
CROPS = {
    "full": (0, 112),
    "above the sacrum": (53, 112),
    "T12-L3": (67, 104),
    "L2-L5": (53, 86),
}


@pytest.fixture(scope="module")
def crops(real_ct, references):
    out = {}
    for name, (k0, k1) in CROPS.items():
        box = (slice(None), slice(None), slice(k0, k1))
        out[name] = (segment_ct(real_ct.crop(box)), references["total"][box])
    return out


def _true_name(result, level: str, truth: np.ndarray) -> str | None:
    """The TotalSegmentator name of the vertebra the built-in segmentation calls ``level`` (majority overlap)."""
    from spinebq.anatomy import VERSE_IDS, VERSE_NAMES

    inside = truth[result.vertebrae.array == VERSE_IDS[level]]
    inside = inside[inside > 0]
    if inside.size == 0:
        return None
    ids, counts = np.unique(inside, return_counts=True)
    return VERSE_NAMES[int(ids[np.argmax(counts)])]


@pytest.mark.parametrize("crop", list(CROPS))
def test_no_wrong_name_is_marked_sure(crops, crop):
    """Every level of every crop carries its true name, or is flagged level_unconfirmed."""
    result, truth = crops[crop]
    assert result.levels, crop
    for level, entry in result.levels.items():
        true = _true_name(result, level, truth)
        if LEVEL_UNCONFIRMED not in entry["qc"]:
            assert true == level, (crop, level, true, result.info["method"])


def test_the_ribs_name_the_levels_above_the_sacrum(crops):
    """Cut just above the sacrum: the T12 ribs (both sides) name T12-L5 without the sacrum, none unconfirmed."""
    result, truth = crops["above the sacrum"]
    assert list(result.levels) == ["T12", "L1", "L2", "L3", "L4", "L5"]
    assert all(LEVEL_UNCONFIRMED not in entry["qc"] for entry in result.levels.values())
    assert all(_true_name(result, level, truth) == level for level in result.levels)
    assert "last rib-bearing" in result.info["method"] and result.info["landmarks"]["rib_bearing"] == ["T12"]
    t12, l1 = result.levels["T12"]["lateral_processes"], result.levels["L1"]["lateral_processes"]
    assert all(t12[side]["kind"] == "rib" and t12[side]["path_mm"] >= RIB_MIN_PATH_MM for side in ("left", "right"))
    assert all(l1[side]["kind"] == "transverse_process" and l1[side]["path_mm"] < TP_MAX_PATH_MM
               for side in ("left", "right"))
    # counted from one landmark: less sure than with both
    assert max(entry["confidence"] for entry in result.levels.values()) <= 0.8


def test_full_ct_sacrum_and_ribs_agree(crops):
    result, _ = crops["full"]
    assert list(result.levels) == ["T12", "L1", "L2", "L3", "L4", "L5", "S1"]
    assert result.info["method"] == "sacrum and last rib agree (5 lumbar vertebrae)"
    assert all(LEVEL_UNCONFIRMED not in entry["qc"] for entry in result.levels.values())
    for level in ("L1", "L2", "L3", "L4", "L5"):  # every lumbar transverse process is told from a rib
        sides = result.levels[level]["lateral_processes"]
        assert all(sides[side]["kind"] == "transverse_process" for side in ("left", "right")), (level, sides)


def test_without_sacrum_or_rib_every_level_is_unconfirmed(crops):
    """L2-L5 only (the crop removes the ribs and the sacrum) and T12-L3 (T12 cut above its rib necks)."""
    for crop in ("L2-L5", "T12-L3"):
        result, _ = crops[crop]
        assert all(LEVEL_UNCONFIRMED in entry["qc"] for entry in result.levels.values()), (crop, result.levels)
        assert any(LEVEL_UNCONFIRMED in q for q in result.info["qc"]), crop


def test_phantom_ribs_name_the_levels_without_the_sacrum(phantom):
    """The phantom's T12 ribs (truth: from 42 to 95 mm lateral) are found; cut above S1 the levels keep their names."""
    labels = phantom.labels.array
    top_of_s1 = int(np.argwhere(labels == 26)[:, 2].max())
    box = (slice(None), slice(None), slice(top_of_s1 + 1, labels.shape[2]))
    result = segment_ct(phantom.ct.crop(box))
    assert list(result.levels) == ["T12", "L1", "L2", "L3", "L4", "L5"]
    assert all(LEVEL_UNCONFIRMED not in entry["qc"] for entry in result.levels.values())
    for side in ("left", "right"):
        rib = result.levels["T12"]["lateral_processes"][side]
        assert rib["kind"] == "rib" and rib["reach_mm"] == pytest.approx(95.0, abs=3.0), rib
        assert result.levels["L1"]["lateral_processes"][side]["kind"] == "transverse_process"


def _landmarks(kinds: dict[int, tuple[LateralProcess, LateralProcess]], sacral=()) -> Landmarks:
    lateral = {s: {Side.LEFT: LateralBone(left, 30.0), Side.RIGHT: LateralBone(right, 30.0)}
               for s, (left, right) in kinds.items()}
    return Landmarks(sacral=list(sacral), rib_bearing=sorted(s for s, k in kinds.items() if LateralProcess.RIB in k),
                     lateral=lateral)


RIB, TP, AMB = LateralProcess.RIB, LateralProcess.TRANSVERSE_PROCESS, LateralProcess.AMBIGUOUS


@pytest.mark.parametrize("case, kinds, sacral, sure", [
    ("ribs on the top one, processes below", {1: (TP, TP), 2: (TP, TP), 3: (RIB, RIB)}, (), True),
    ("a rib on one side, a process on the other", {1: (TP, TP), 2: (TP, TP), 3: (RIB, TP)}, (), False),
    ("the one below the rib not clearly lumbar", {1: (TP, TP), 2: (TP, AMB), 3: (RIB, RIB)}, (), False),
    ("processes on both sides above the rib", {1: (TP, TP), 2: (RIB, RIB), 3: (TP, TP)}, (), False),
    ("sacrum and rib agree", {1: (TP, TP), **{s: (TP, TP) for s in range(2, 7)}, 7: (RIB, RIB)}, (1,), True),
    ("six lumbar-type vertebrae", {1: (TP, TP), **{s: (TP, TP) for s in range(2, 8)}, 8: (RIB, RIB)}, (1,), False),
    ("four lumbar-type vertebrae", {1: (TP, TP), **{s: (TP, TP) for s in range(2, 6)}, 6: (RIB, RIB)}, (1,), False),
])
def test_naming_rules(case, kinds, sacral, sure):
    """Where the rib or the two anchors leave doubt, every level is level_unconfirmed, with the reason said."""
    present = sorted(kinds)
    naming = name_segments(present, _landmarks(kinds, sacral), {})
    unconfirmed = [s for s in present if LEVEL_UNCONFIRMED in naming.flags[s]]
    if sure:
        assert not unconfirmed, (case, naming.flags)
        t12 = max(s for s in present if RIB in kinds[s])
        assert naming.names[t12] == "T12", (case, naming.names)
    else:
        assert unconfirmed == present, (case, naming.flags)
        assert any(LEVEL_UNCONFIRMED in q for q in naming.global_flags), case


def test_labels_shifted_by_one_are_flagged_without_the_sacrum(real_ct, references):
    """TotalSegmentator's labels cut above the sacrum, every vertebra named as the one below it: the names counted
    from the ribs in the image flag them; the true labels pass."""
    from spinebq.image.labelmap import LabelMap
    from spinebq.measure.ct.plausibility import check_level_names

    k0, k1 = CROPS["above the sacrum"]
    box = (slice(None), slice(None), slice(k0, k1))
    ct = real_ct.crop(box)
    truth = references["total"][box]
    # T12 called L1 ... L5 called S1
    shifted = np.where((truth >= 19) & (truth <= 24), truth + 1, truth).astype(np.int16)
    check = check_level_names(ct, LabelMap(shifted, ct.affine.copy(), {}))
    assert "last rib" in check.method
    for level in ("L2", "L3", "L4"):  # true L1, L2, L3: whole and named sure in the image
        assert level in check.implausible and "shifted" in check.implausible[level], (level, check)
    assert not check_level_names(ct, LabelMap(truth.astype(np.int16), ct.affine.copy(), {})).implausible


def test_ribs_erased_leave_no_sure_name_without_the_sacrum(real_ct, references):
    """The real CT with the bone beside T12 erased (as if its ribs were missed): above the sacrum nothing is named
    sure; with the sacrum the levels are counted from it and stay right."""
    from spinebq.image.volume import Volume

    hu = real_ct.array.copy()
    t12 = np.argwhere(references["total"] == 19)
    centre_x = int(round(t12[:, 0].mean()))
    near_ribs = np.zeros(hu.shape, bool)
    near_ribs[:, :, 88:] = True
    near_ribs[centre_x - 10:centre_x + 11] = False  # keep the vertebra (30 mm either side of its middle)
    hu[near_ribs & (hu > 100)] = 40.0
    erased = Volume(hu, real_ct.affine.copy(), dict(real_ct.metadata))
    k0, k1 = CROPS["above the sacrum"]
    box = (slice(None), slice(None), slice(k0, k1))
    above = segment_ct(erased.crop(box))
    assert not above.info["landmarks"]["rib_bearing"]
    assert all(LEVEL_UNCONFIRMED in entry["qc"] for entry in above.levels.values()), above.levels
    whole = segment_ct(erased)
    assert "counted up from the sacrum" in whole.info["method"]
    for level, entry in whole.levels.items():
        assert LEVEL_UNCONFIRMED not in entry["qc"] and _true_name(whole, level, references["total"]) == level
