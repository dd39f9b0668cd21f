"""Issue 19: the real CT (3 mm, TotalSegmentator v2 labels) and the same CT resampled to 0.7 mm give the same numbers.

The lumbar spine of the TotalSegmentator example CT is resampled from 3 mm to 0.7 mm. The resampled labels are the
smoothed indicator of each label read at 0.5 (the outline a segmentation of the finer image draws), the CT is
interpolated by cubic B-spline (as nnU-Net and TotalSegmentator resample images). A trilinear CT with nearest-voxel
labels is checked too: trilinear interpolation averages each new voxel over old voxels up to 3 mm away, so the
cortical shell reaches 3 mm further into the trabecular ROI and hu_3d reads 3-8 HU higher (benchmarks/ct.md, "One CT,
every label source", has the table and the measurement that shows it: the same ROI read on both images).
The crop is the benchmark's; 3 mm is no multiple of 0.7 mm, and moving the crop by a 3 mm voxel or two moves L3's
difference between 2.0 and 5.9 HU (its dense inferior endplate lies exactly one 3 mm voxel inside the body's face).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from spinebq.anatomy import VERSE_IDS, VERSE_NAMES
from spinebq.image.labelmap import LabelMap
from spinebq.io.labels import load_labels
from spinebq.io.volume import load_volume, save_nifti
from spinebq.image.resample import resample_labels, resample_volume, resampled_grid
from spinebq.pipeline import CtOptions, analyse_ct
from spinebq.segment.ct.core import segment_ct
from spinebq.segment.ct.labelling import LEVEL_UNCONFIRMED
from spinebq.segment.ct.ribs import TP_MAX_PATH_MM

LUMBAR = ("L1", "L2", "L3", "L4", "L5")
POSITIONS = ("anterior_mm", "middle_mm", "posterior_mm")
#: x, y, z voxels of the 3 mm CT: L1-L5 with the aorta and IVC in front of them (benchmarks/ct_label_sources.py).
BOX = (slice(25, 95), slice(20, 101), slice(0, None))
#: x, y, z voxels of the 3 mm CT: L3 (cut) to the sacrum with both iliac crests. At 0.7 mm the left transverse process
#: of L5 meets the ilium here, and the bone it reaches first beyond the sacrum's share (the top of the iliac crest) once
#: read as a 125 mm rib on L5.
CREST_BOX = (slice(12, 112), slice(0, 101), slice(30, 80))


@pytest.fixture(scope="session")
def lumbar(ts_dir):
    ct = load_volume(ts_dir / "ct.nii.gz")
    labels = load_labels(ts_dir / "seg_v2" / "total.nii.gz", ct)
    return ct.crop(BOX), LabelMap.of(labels.crop(BOX), content=labels.content)


@pytest.fixture(scope="session")
def fine(lumbar):
    """The crop resampled to 0.7 mm: the CT by cubic B-spline, the labels smooth."""
    ct, labels = lumbar
    return resample_volume(ct, 0.7, order=3), resample_labels(labels, 0.7)


@pytest.fixture(scope="session")
def resampled_records(lumbar, fine):
    """The crop measured at 3 mm, at 0.7 mm (cubic CT, smooth labels; both with screws planned) and at 0.7 mm
    (trilinear CT, nearest labels)."""
    ct, labels = lumbar
    planning = CtOptions(threads=1)
    return {
        "3 mm": analyse_ct(ct, labels, planning),
        "cubic": analyse_ct(*fine, planning),
        "trilinear": analyse_ct(resample_volume(ct, 0.7), resample_labels(labels, 0.7, smooth=False),
                                CtOptions(threads=1, trajectory="none")),
    }


def test_resampled_grid_covers_the_same_box(lumbar, fine):
    """The 0.7 mm grid's outer voxel edges lie on the 3 mm grid's (a voxel's worth of shift would move every height)."""
    ct, labels = lumbar
    affine, shape = resampled_grid(ct, 0.7)
    assert shape == tuple(int(round(n * 3.0 / 0.7)) for n in ct.shape)
    first_edge_old = ct.affine[:3, 3] - 1.5
    first_edge_new = affine[:3, 3] - 0.35
    assert np.allclose(first_edge_old, first_edge_new)
    fine_labels = fine[1]  # resample_labels(labels, 0.7)
    for vid in (20, 22, 24):  # L1, L3, L5: the smooth label holds the same volume within 3 %
        coarse_ml = float((labels.array == vid).sum()) * 27.0
        fine_ml = float((fine_labels.array == vid).sum()) * 0.343
        assert fine_ml == pytest.approx(coarse_ml, rel=0.03), vid


def _same_hu_and_heights(a, b) -> None:
    """hu_3d within 5 HU, heights within 3 mm (issue 19's done-when)."""
    assert math.isfinite(a.hu) and abs(a.hu - b.hu) <= 5.0, (a.level, a.hu, b.hu)
    for key in POSITIONS:
        ha, hb = getattr(a.heights, key), getattr(b.heights, key)
        assert abs(ha - hb) <= 3.0, (a.level, key, ha, hb)


def test_cubic_resampling_keeps_hu_heights_grades_and_phase(resampled_records):
    """Issue 19 done-when: hu_3d within 5 HU, heights within 3 mm, the same Genant grades and contrast phase, L1-L5."""
    coarse, fine = resampled_records["3 mm"], resampled_records["cubic"]
    for level in LUMBAR:
        a, b = coarse.level(level), fine.level(level)
        _same_hu_and_heights(a, b)
        assert a.genant_grade == b.genant_grade == 0, (level, a.genant_grade, b.genant_grade)
    coarse_contrast, fine_contrast = coarse.summary.regional.contrast, fine.summary.regional.contrast
    assert coarse_contrast["phase"] == fine_contrast["phase"] == "unenhanced"
    for vessel in ("aorta_hu", "ivc_hu"):
        assert abs(coarse_contrast[vessel] - fine_contrast[vessel]) <= 10.0, vessel
    assert "caveat" in coarse.level("L2").regional.genant and "caveat" not in fine.level("L2").regional.genant


def test_trilinear_resampling_keeps_heights_grades_and_phase(resampled_records):
    """Trilinear CT, nearest-voxel labels: heights within 3 mm, the same grades and phase; hu_3d higher by the blur."""
    coarse, fine = resampled_records["3 mm"], resampled_records["trilinear"]
    for level in LUMBAR:
        a, b = coarse.level(level), fine.level(level)
        assert abs(a.hu - b.hu) <= 7.0, (level, a.hu, b.hu)
        for key in POSITIONS:
            assert abs(getattr(a.heights, key) - getattr(b.heights, key)) <= 3.0, (level, key)
        assert a.genant_grade == b.genant_grade == 0, level
    coarse_contrast, fine_contrast = coarse.summary.regional.contrast, fine.summary.regional.contrast
    assert coarse_contrast["phase"] == fine_contrast["phase"] == "unenhanced"
    for vessel in ("aorta_hu", "ivc_hu"):
        assert abs(coarse_contrast[vessel] - fine_contrast[vessel]) <= 10.0, vessel


def _true_name(vertebrae: np.ndarray, level: str, truth: np.ndarray) -> str | None:
    """TotalSegmentator's name of the vertebra the built-in segmentation calls ``level`` (majority overlap)."""
    inside = truth[vertebrae == VERSE_IDS[level]]
    inside = inside[inside > 0]
    if inside.size == 0:
        return None
    ids, counts = np.unique(inside, return_counts=True)
    return VERSE_NAMES[int(ids[np.argmax(counts)])]


def test_builtin_segmentation_at_07mm_separates_l5_from_s1(fine, no_labels_records):
    """No labels, the crop at 0.7 mm: the L5-S1 disc is found (the spine is tracked on the midline into the pelvis,
    not along the hip), L5 and S1 are separate vertebrae and L1-L5 carry their true names, confirmed."""
    labels = fine[1]
    result = no_labels_records[1].images.segmentation  # segment_ct(fine[0]), as analyse_ct ran it
    assert result.info["discs"] == 6, result.info
    assert list(result.levels) == ["T12", "L1", "L2", "L3", "L4", "L5", "S1"]
    assert result.info["method"] == "sacrum and last rib agree (5 lumbar vertebrae)"
    for level in ("L1", "L2", "L3", "L4", "L5", "S1"):
        assert _true_name(result.labels.array, level, labels.array) == level, level
    for level in LUMBAR:
        entry = result.levels[level]
        assert LEVEL_UNCONFIRMED not in entry["qc"] and entry["confidence"] >= 0.85, (level, entry["qc"])
        # an adult lumbar body: 38-43 ml at 3 mm; L5 joined to S1 held 61 ml
        assert 30.0 <= entry["body_volume_ml"] <= 55.0, (level, entry["body_volume_ml"])


def test_l5_transverse_process_is_no_rib_at_07mm(ts_dir):
    """L3-sacrum with both iliac crests at 0.7 mm: L5's processes reach the ilium, yet each side of L5 owns only the
    bone joined to it through its own share, a transverse process; the levels counted from the sacrum stay confirmed."""
    ct = resample_volume(load_volume(ts_dir / "ct.nii.gz").crop(CREST_BOX), 0.7, order=3)
    result = segment_ct(ct)
    assert list(result.levels)[-3:] == ["L4", "L5", "S1"] and result.info["landmarks"]["rib_bearing"] == []
    for side in ("left", "right"):
        bone = result.levels["L5"]["lateral_processes"][side]
        assert bone["kind"] == "transverse_process" and bone["path_mm"] < TP_MAX_PATH_MM, (side, bone)
    assert all(LEVEL_UNCONFIRMED not in entry["qc"] for entry in result.levels.values()), result.info["method"]


@pytest.fixture(scope="session")
def no_labels_records(lumbar, fine):
    """The crop measured with no labels (the built-in segmentation) at 3 mm and resampled (cubic) to 0.7 mm, screws
    planned."""
    planning = CtOptions(threads=1)
    return analyse_ct(lumbar[0], None, planning), analyse_ct(fine[0], None, planning)


def _lumbar_with(marked: str, mark) -> list:
    """L1-L5 as test parameters, ``mark`` (an expected failure) on ``marked``."""
    return [pytest.param(level, marks=mark) if level == marked else level for level in LUMBAR]


@pytest.mark.parametrize("level", LUMBAR)
def test_builtin_bodies_do_not_depend_on_the_voxel_size(no_labels_records, level):
    """No labels at 0.7 mm: hu_3d within 5 HU, heights within 3 mm of no labels at 3 mm.

    The body surface's half-maximum threshold is read along the surface normals in millimetres
    (``refine.surface_threshold_hu``); read on layers one voxel thick it fell 43-62 HU lower on 0.7 mm voxels and
    the bodies grew by 9-17 % (hu_3d 10-14 HU higher on these levels). L5 holds since the column is tracked on the
    midline and the L5-S1 disc is found at 0.7 mm (before, L5 and S1 were one 61 ml segment). L3 holds since the
    core's rim gives up the disc beyond an endplate (``refine._beyond_endplate``; before, L3 read 124.7 HU against
    118.0 at 3 mm).
    """
    coarse, fine_record = no_labels_records
    _same_hu_and_heights(coarse.level(level), fine_record.level(level))


_L1_BACK_AND_ENDS = pytest.mark.xfail(strict=True, reason=(
    "The 0.7 mm L1 body holds 42.0 ml against 39.4 ml at 3 mm (6.5 %): 4.3 % from its back and sides (its outline "
    "0.3-0.7 mm outside the 3 mm one there: the pedicle roots join the body on the 2.1 mm working grid) and 2 % since "
    "its faint endplates reach their half maximum (``refine._faint_plate_ends``); TotalSegmentator v2's L1 holds 40.9 "
    "ml at 3 mm and 40.2 ml at 0.7 mm (benchmarks/ct.md, \"Faint endplates on thin slices\")"))


@pytest.mark.parametrize("level", _lumbar_with("L1", _L1_BACK_AND_ENDS))
def test_builtin_body_volumes_do_not_depend_on_the_voxel_size(no_labels_records, level):
    """No labels at 0.7 mm: body volume within 6 % of no labels at 3 mm (bodies that grew on thin slices read hu_3d
    higher)."""
    a, b = (record.level(level) for record in no_labels_records)
    assert b.body_volume_ml == pytest.approx(a.body_volume_ml, rel=0.06), (a.body_volume_ml, b.body_volume_ml)


# The same comparison on the whole CT (other working-grid blocks and neighbours than the crop) is measured by
# ``python benchmarks/ct_label_sources.py --resampled-only`` (its 0.7 mm run takes 45 s, which the suite's 15 minutes
# no longer hold): L1-L4 within 4.6 HU and 1.8 mm; L5 129.8 HU and a posterior height of 25.7 mm at 0.7 mm against
# 136.7 HU and 29.2 mm at 3 mm (issue 19, open; benchmarks/ct.md, "The core's rim at the ends").


@pytest.mark.parametrize("level", LUMBAR)
def test_no_labels_and_totalsegmentator_agree_at_07mm(resampled_records, no_labels_records, level):
    """Issue 19 done-when, "the same after resampling" read across label sources: on the 0.7 mm CT, no labels and
    TotalSegmentator v2's labels (resampled smooth) give hu_3d within 5 HU, heights within 3 mm, the same grade."""
    a, b = resampled_records["cubic"].level(level), no_labels_records[1].level(level)
    _same_hu_and_heights(a, b)
    assert a.genant_grade == b.genant_grade == 0, (a.genant_grade, b.genant_grade)


#: Standard diameters step by 0.5 mm (measure/ct/plans.py); one step apart is one size apart.
DIAMETER_STEP_MM = 0.5
#: Largest medial-angle difference allowed between the 3 mm and the 0.7 mm plan of a side (the label-source tests'
#: tolerance, tests/test_ct_label_sources.py).
MEDIAL_TOLERANCE_DEG = 10.0


@pytest.fixture(scope="session")
def planned(fine, resampled_records, no_labels_records, tmp_path_factory):
    """Automatic screw plans on the crop at 3 mm and at 0.7 mm, with TotalSegmentator v2's labels and with none; and
    with none on the 0.7 mm crop saved as a whole-HU int16 NIfTI and read back, as a thin-slice CT comes."""
    int16_file = save_nifti(fine[0], tmp_path_factory.mktemp("int16") / "ct.nii.gz", dtype=np.int16)
    coarse = no_labels_records[0]
    return {
        "totalsegmentator": (resampled_records["3 mm"], resampled_records["cubic"]),
        "no labels": no_labels_records,
        "no labels, int16 file": (coarse, analyse_ct(load_volume(int16_file), None, CtOptions(threads=1))),
    }


@pytest.mark.parametrize("source", ["totalsegmentator", "no labels", "no labels, int16 file"])
@pytest.mark.parametrize("level", LUMBAR + ("S1",))
def test_screw_plans_do_not_depend_on_the_voxel_size(planned, source, level):
    """Issue 19: the same trajectories after resampling to 0.7 mm. Both sides are planned on both grids, the diameter
    within one standard size, the medial angle within MEDIAL_TOLERANCE_DEG, in the bone the image shows (at least
    90 %) and with no pedicle wall breach."""
    coarse, fine_record = planned[source]
    for side in ("left", "right"):
        a, b = (record.level(level).trajectories[side] for record in (coarse, fine_record))
        assert a.measured and b.measured, (side, a.reason, b.reason)
        assert abs(a.diameter_mm - b.diameter_mm) <= DIAMETER_STEP_MM + 1e-9, (side, a.diameter_mm, b.diameter_mm)
        assert abs(a.medial_angle_deg - b.medial_angle_deg) <= MEDIAL_TOLERANCE_DEG, (
            side, a.medial_angle_deg, b.medial_angle_deg)
        for screw in (a, b):
            assert screw.inside_bone_fraction >= 0.9 and "pedicle_wall_breach" not in screw.warnings, (
                side, screw.inside_bone_fraction, screw.warnings)
