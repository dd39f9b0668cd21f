"""Issue 19: every level checked against the image and its neighbours (spinebq.measure.ct.plausibility.check_levels).

TotalSegmentator's labels of the real CT, with one level's mask moved onto a disc, into soft tissue, or doubled in
height, must flag that level ``labels_implausible`` (with the reason) and keep it out of the summary; the unmodified
labels (v1 and v2), the built-in segmentation and the phantom raise no flag on any lumbar level.
"""
from __future__ import annotations

import numpy as np
import pytest

from spinebq.anatomy import VERSE_IDS
from spinebq.image.labelmap import LabelMap
from spinebq.io.labels import load_labels
from spinebq.io.volume import load_volume
from spinebq.measure.ct.levels import measure_ct

LUMBAR = ("L1", "L2", "L3", "L4", "L5")


@pytest.fixture(scope="module")
def real(ts_dir):
    ct = load_volume(ts_dir / "ct.nii.gz", expect_modality="CT")
    return ct, load_labels(ts_dir / "seg_v2" / "total.nii.gz", ct)


def _with(labels: LabelMap, array: np.ndarray) -> LabelMap:
    return LabelMap(array, labels.affine, labels.metadata, labels.content, labels.scheme, labels.source, labels.scheme_note)


def _moved(labels: LabelMap, level: str, shift_voxels: tuple[int, int, int]) -> LabelMap:
    """``level``'s mask moved by whole voxels (over whatever was there); its old place becomes background."""
    vid = VERSE_IDS[level]
    array = labels.array.copy()
    where = np.argwhere(array == vid)
    array[array == vid] = 0
    new = where + np.asarray(shift_voxels)
    keep = np.all((new >= 0) & (new < np.asarray(array.shape)), axis=1)
    array[tuple(new[keep].T)] = vid
    return _with(labels, array)


def _doubled(labels: LabelMap, level: str) -> LabelMap:
    """``level``'s mask stretched to twice its height (upwards, over the level above)."""
    vid = VERSE_IDS[level]
    array = labels.array.copy()
    where = np.argwhere(array == vid)
    bottom = where[:, 2].min()
    for i, j, k in where:
        top = bottom + 2 * (k - bottom)
        array[i, j, k:min(top + 2, array.shape[2])] = vid
    return _with(labels, array)


def _spacing_voxels(result, a: str, b: str, ct) -> float:
    return float(np.linalg.norm(result.frames[a].centre_mm - result.frames[b].centre_mm)) / ct.spacing_mm[2]


def _flagged(result, level: str) -> bool:
    entry = result.vertebrae[level]
    return "labels_implausible" in entry["qc"] and bool(entry["plausibility"]["reasons"])


def test_unmodified_real_labels_raise_no_flag(real, ts_dir):
    ct, v2 = real
    for labels in (v2, load_labels(ts_dir / "seg_v1", ct)):
        result = measure_ct(ct, labels, threads=1)
        for level in LUMBAR:
            entry = result.vertebrae[level]
            assert "labels_implausible" not in entry["qc"], (level, entry["plausibility"])
            assert entry["plausibility"]["plausible"] and 0.5 <= entry["level_confidence"] <= 1.0
        assert result.summary["levels_used"] == ["L1", "L2", "L3", "L4"]


@pytest.mark.parametrize("change", ["onto_disc", "soft_tissue", "doubled"])
def test_a_misplaced_mask_is_flagged_and_left_out(real, change):
    ct, labels = real
    if change == "onto_disc":  # half the spacing between L3 and L4 down: centred on the L3/L4 disc
        plain = measure_ct(ct, labels, threads=1)
        step = int(round(_spacing_voxels(plain, "L3", "L4", ct) / 2))
        changed = _moved(labels, "L3", (0, 0, -step))
    elif change == "soft_tissue":  # 60 mm in front of the spine, in the abdomen
        changed = _moved(labels, "L3", (0, -int(round(60 / ct.spacing_mm[1])), 0))
    else:
        changed = _doubled(labels, "L3")
    result = measure_ct(ct, changed, threads=1)
    entry = result.vertebrae["L3"]
    assert _flagged(result, "L3"), entry.get("plausibility")
    assert entry["labels_check"] and entry["level_confidence"] <= 0.3
    assert "L3" not in result.summary["levels_used"] and "labels_implausible" in result.summary["levels_skipped"]["L3"]


def test_builtin_segmentation_raises_no_flag(builtin_ct_record):
    for v in builtin_ct_record.vertebrae:
        if v.level in LUMBAR:
            assert "labels_implausible" not in v.qc, (v.level, v.details["plausibility"])
            assert v.details["plausibility"]["plausible"]


def test_phantom_raises_no_flag(phantom):
    result = measure_ct(phantom.ct, phantom.labels, threads=1)
    for level in LUMBAR:
        assert "labels_implausible" not in result.vertebrae[level]["qc"], result.vertebrae[level]["plausibility"]
