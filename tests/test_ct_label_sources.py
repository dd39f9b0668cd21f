"""Issue 19: one body definition whatever the label source, on the real CT.

``spinebq ct CT`` (no labels), ``spinebq ct CT --labels S/vertebrae.nii.gz`` (the built-in segmentation written by
``spinebq segment`` and fed back) and TotalSegmentator's v1 and v2 labels must give the same numbers on L1-L5:
``hu_3d`` within 5 HU, heights within 3 mm (one voxel of this 3 mm CT), the same Genant grades.
"""
from __future__ import annotations

import math

import pytest

from spinebq.cli import main
from spinebq.pipeline import CtOptions, analyse_ct

from .conftest import measured_documents

LUMBAR = ("L1", "L2", "L3", "L4", "L5")
POSITIONS = ("anterior_mm", "middle_mm", "posterior_mm")


@pytest.fixture(scope="session")
def records(ts_dir, tmp_path_factory, builtin_ct_record, real_ct_record):
    """The CT measured four ways, screws planned automatically (no labels and TotalSegmentator v2: the shared runs)."""
    ct = str(ts_dir / "ct.nii.gz")
    segmentation = tmp_path_factory.mktemp("segment")
    assert main(["segment", ct, "--out", str(segmentation), "--no-preview"]) == 0
    auto = CtOptions(threads=1)
    return {
        "none": builtin_ct_record,
        "fed_back": analyse_ct(ct, str(segmentation / "vertebrae.nii.gz"), auto),
        "ts_v2": real_ct_record,
        "ts_v1": analyse_ct(ct, str(ts_dir / "seg_v1"), auto),
    }


def _levels(record) -> dict:
    return {v.level: v for v in record.vertebrae if v.level in LUMBAR}


def test_builtin_labels_fed_back_equal_no_labels(records):
    """The segmentation's own output, passed back with --labels, measures exactly what no labels measures."""
    none, fed_back = _levels(records["none"]), _levels(records["fed_back"])
    assert set(none) == set(fed_back) == set(LUMBAR)
    for level in LUMBAR:
        a, b = none[level], fed_back[level]
        assert a.hu == pytest.approx(b.hu, abs=1e-6)
        assert a.hu_2d == pytest.approx(b.hu_2d, abs=1e-6)
        assert a.genant_grade == b.genant_grade
        assert a.details["level_confidence"] == b.details["level_confidence"] > 0.7  # counted from the sacrum
        assert "level_unconfirmed" not in a.qc
        for key in POSITIONS:
            assert getattr(a.heights, key) == pytest.approx(getattr(b.heights, key), abs=1e-6)
        # no labels: pedicles are found in the whole vertebrae
        assert a.to_json()["pedicles"] == b.to_json()["pedicles"]
        for side in ("left", "right"):
            ta, tb = a.to_json()["trajectories"][side], b.to_json()["trajectories"][side]
            assert ta.get("reason") == tb.get("reason")
            if ta.get("entry_mm"):
                assert ta["entry_mm"] == pytest.approx(tb["entry_mm"], abs=1e-6)
                assert ta["diameter_mm"] == tb["diameter_mm"] and ta["length_mm"] == pytest.approx(tb["length_mm"])


@pytest.mark.parametrize("source", ["ts_v2", "ts_v1"])
def test_builtin_and_totalsegmentator_bodies_agree(records, source):
    """hu_3d within 5 HU and the same Genant grade on L1-L5."""
    ours, theirs = _levels(records["none"]), _levels(records[source])
    for level in LUMBAR:
        a, b = ours[level], theirs[level]
        assert math.isfinite(a.hu) and abs(a.hu - b.hu) <= 5.0, (level, a.hu, b.hu)
        assert a.genant_grade == b.genant_grade, (level, a.genant_grade, b.genant_grade)


@pytest.mark.parametrize("source", ["ts_v2", "ts_v1"])
def test_builtin_and_totalsegmentator_heights_agree(records, source):
    """Every height within 3 mm on L1-L5."""
    ours, theirs = _levels(records["none"]), _levels(records[source])
    for level in LUMBAR:
        a, b = ours[level], theirs[level]
        for key in POSITIONS:
            ha, hb = getattr(a.heights, key), getattr(b.heights, key)
            assert abs(ha - hb) <= 3.0, (level, key, ha, hb)


def test_contrast_phase_does_not_depend_on_the_label_source(records):
    phases = {name: record.summary.contrast_phase for name, record in records.items()}
    assert len(set(phases.values())) == 1, phases


def test_s1_is_not_graded_and_coarse_voxels_carry_a_caveat(records):
    """S1 gets heights but no Genant grade; on this 3 mm CT every grade says the voxels are coarse."""
    for record in records.values():
        s1 = record.level("S1")
        assert s1.genant_grade is None and "not graded" in s1.regional.genant["reason"]
        assert "S1" not in (record.summary.fractured_levels or [])
        for level in LUMBAR:
            assert "3.0 mm" in record.level(level).regional.genant["caveat"]


def test_a_moderate_grade_needs_two_sagittal_planes():
    from spinebq.measure.ct.heights import Heights, genant_grade

    # one plane of five shows a 33 % wedge (a partial-volume plane at the edge): graded 1, said why
    one = Heights(20.0, 25.0, 30.0, 5, per_plane=((20.0, 25.0, 30.0),) + ((28.0, 27.0, 30.0),) * 4)
    graded = genant_grade(one, [30.0])
    assert graded["genant_grade"] == 1 and graded["planes_showing_moderate_deformity"] == 1 and graded["plane_note"]
    # the same wedge on three planes stays grade 2
    three = Heights(20.0, 25.0, 30.0, 5, per_plane=((20.0, 25.0, 30.0),) * 3 + ((28.0, 27.0, 30.0),) * 2)
    graded = genant_grade(three, [30.0])
    assert graded["genant_grade"] == 2 and graded["deformity_type"] == "wedge" and graded["plane_note"] is None


def test_a_calibration_phantom_has_no_spine(tmp_path, capsys):
    """The real QRM thorax phantom CT: no vertebra is measured, the command says there is no spine (exit 2)."""
    from .conftest import DATA, need

    phantom = need(DATA / "qrm_phantom_ct" / "dicom")
    assert main(["ct", str(phantom), "--out", str(tmp_path / "out"), "--no-pictures"]) == 2
    assert "no spine found" in capsys.readouterr().err
    assert not (tmp_path / "out" / "measurements.json").exists()


@pytest.mark.parametrize("name, slices, truth, from_ribs", [
    # z slices of the real CT (TotalSegmentator v2 labels: S1 37-52, L5 42-58, L4 55-68, L1 86-103, T12 97-111)
    ("cropped above the sacrum", (53, 112), ("T12", "L1", "L2", "L3", "L4", "L5"), True),
    ("cropped to T12-L3", (67, 104), ("T12", "L1", "L2", "L3"), False),
])
def test_without_the_sacrum_no_level_is_a_confident_name(ts_dir, name, slices, truth, from_ribs):
    """Every level is named truly or flagged level_unconfirmed, and unconfirmed levels stay out of the summary.
    Above the sacrum the T12 ribs name the levels: L1 is screened (tests/segment/test_ribs.py checks each name)."""
    from spinebq.io.volume import load_volume

    ct = load_volume(ts_dir / "ct.nii.gz").crop((slice(None), slice(None), slice(*slices)))
    record = analyse_ct(ct, None, CtOptions(threads=1, trajectory="none"))
    for vertebra in record.vertebrae:
        assert vertebra.level in truth or "level_unconfirmed" in vertebra.qc, (name, vertebra.level, vertebra.qc)
        assert 0.0 <= vertebra.details["level_confidence"] <= 1.0
    unconfirmed = {v.level for v in record.vertebrae if "level_unconfirmed" in v.qc}
    assert not unconfirmed & set(record.summary.levels_used)
    if from_ribs:
        assert not unconfirmed and "L1" in record.summary.levels_used, (name, record.summary.levels_used)


def test_labels_shifted_by_one_level_are_flagged_and_left_out(ts_dir, tmp_path, records):
    """TotalSegmentator's v2 labels with every vertebra named as the one above it (S1 called L5, L5 called L4 ...)."""
    import nibabel as nib
    import numpy as np

    image = nib.load(ts_dir / "seg_v2" / "total.nii.gz")
    ids = np.asarray(image.dataobj).astype(np.int16)
    shifted = np.where((ids >= 26) & (ids <= 33), ids + 1, ids).astype(np.int16)  # total ids: 26 S1, 27 L5 ... 33 T11
    nib.save(nib.Nifti1Image(shifted, image.affine), tmp_path / "total.nii.gz")
    record = analyse_ct(str(ts_dir / "ct.nii.gz"), str(tmp_path / "total.nii.gz"), CtOptions(threads=1, trajectory="none"))
    for level in ("L1", "L2", "L3", "L4", "L5"):
        vertebra = record.level(level)
        assert "labels_implausible" in vertebra.qc and "shifted" in vertebra.details["labels_check"], level
    assert record.summary.levels_used == () and record.summary.levels_skipped["L1"] == "labels_implausible"
    # the true labels pass the same check
    for source in ("ts_v2", "ts_v1"):
        assert not any("labels_implausible" in v.qc for v in records[source].vertebrae), source


def test_planned_screws_have_standard_sizes_and_never_breach(records, phantom):
    """Every automatic plan (traditional and cortical) on the real CT and the phantom: standard diameter and length,
    no pedicle_wall_breach (a narrower screw, or no plan, instead)."""
    from spinebq.measure.ct.levels import measure_ct
    from spinebq.measure.ct.regional import measure_regional
    from spinebq.measure.ct.plans import STANDARD_DIAMETERS_MM, STANDARD_LENGTHS_MM

    phantom_result = measure_ct(phantom.ct, phantom.labels)
    phantom_documents, _ = measured_documents(phantom_result, measure_regional(phantom.ct, phantom.labels, phantom_result))
    documents = {f"{name} {v.level}": v.to_json() for name in ("none", "fed_back", "ts_v2") for v in records[name].vertebrae}
    documents.update({f"phantom {n}": v for n, v in phantom_documents.items()})
    planned = 0
    for where, entry in documents.items():
        for key in ("trajectories", "trajectories_cortical"):
            for side, screw in (entry.get(key) or {}).items():
                if not screw.get("entry_mm"):
                    continue
                planned += 1
                assert "pedicle_wall_breach" not in screw["warnings"], (where, key, side, screw["notes"])
                assert screw["diameter_mm"] in STANDARD_DIAMETERS_MM, (where, key, side, screw["diameter_mm"])
                assert min(abs(screw["length_mm"] - v) for v in STANDARD_LENGTHS_MM) < 0.01, (where, key, side)
    lumbar_ts = [records["ts_v2"].level(level).trajectories[side] for level in LUMBAR for side in ("left", "right")]
    assert all(screw.measured for screw in lumbar_ts)  # on TotalSegmentator's labels every lumbar pedicle is planned
    assert planned >= 30
    # the real CT's L1 left pedicle (isthmus about 9 mm) was planned 7 x 56.3 mm through its wall: now it is planned in the
    # bone the image shows (a 7.5 x 40 mm screw at 5 degrees); every plan is sized (downsized when needed) to keep bone around it
    l1_left = records["ts_v2"].level("L1").trajectories["left"]
    assert l1_left.length_mm < 56.0
    assert all(any("mm of bone around it" in note for note in screw.notes) for screw in lumbar_ts)


#: One standard screw diameter step (mm) and the largest medial-angle difference (degrees) allowed between the plans made
#: without labels and with TotalSegmentator's: within 10 degrees on L1-L5 (their published ranges span 10-15 degrees; L5's
#: 20). The built-in L5 right differed by 16 degrees until the built-in segmentation split the facet columns where the
#: two articular processes meet (`segment.ct.vertebrae.split_facet_columns`): its HU watershed had given L4's right
#: inferior articular process to L5 and L5's isthmus was found in that column (benchmarks/ct.md, "Why L5 and S1 are
#: planned differently without labels").
DIAMETER_STEP_MM = 0.5
MEDIAL_TOLERANCE_DEG = {"L1": 10.0, "L2": 10.0, "L3": 10.0, "L4": 10.0, "L5": 10.0}


def test_without_labels_every_lumbar_side_and_s1_is_planned_as_with_totalsegmentator(records):
    """Issue 19 item 1: no labels plans L1-L5 on both sides and S1 like TotalSegmentator v2 does: the diameter within one
    standard size, the medial angle within MEDIAL_TOLERANCE_DEG, in the bone the image shows, no breach."""
    none, ts = records["none"], records["ts_v2"]
    for level in LUMBAR:
        for side in ("left", "right"):
            ours, theirs = (r.level(level).trajectories[side] for r in (none, ts))
            assert ours.measured and theirs.measured, (level, side, ours.reason, theirs.reason)
            assert abs(ours.diameter_mm - theirs.diameter_mm) <= DIAMETER_STEP_MM + 1e-9, (level, side, ours.diameter_mm,
                                                                                           theirs.diameter_mm)
            assert abs(ours.medial_angle_deg - theirs.medial_angle_deg) <= MEDIAL_TOLERANCE_DEG[level], (
                level, side, ours.medial_angle_deg, theirs.medial_angle_deg)
            for screw in (ours, theirs):
                assert screw.inside_bone_fraction >= 0.9 and "pedicle_wall_breach" not in screw.warnings, (level, side)
    for side in ("left", "right"):
        s1 = none.level("S1").trajectories[side]
        assert s1.measured and s1.source == "auto_sacral", (side, s1.reason)
        assert s1.inside_bone_fraction >= 0.9 and "pedicle_wall_breach" not in s1.warnings, side


#: Largest distance (mm) between the axes of the plans made without labels and with TotalSegmentator v2 where they
#: pass closest: less than half the planned screws' diameter (6.5-7.5 mm), so the two screws overlap there.
AXIS_DISTANCE_MM = 3.0


def _closest_approach_mm(a, b) -> float:
    """Shortest distance between the two screws' axes (entry to tip), read every 0.25 mm along each."""
    import numpy as np

    def points(screw):
        entry, target = np.asarray(screw.entry_mm), np.asarray(screw.target_mm)
        steps = int(np.linalg.norm(target - entry) / 0.25) + 1
        return entry + np.linspace(0.0, 1.0, steps)[:, None] * (target - entry)

    pa, pb = points(a), points(b)
    return float(np.linalg.norm(pa[:, None, :] - pb[None, :, :], axis=-1).min())


_L5_RIGHT_HIGH = pytest.mark.xfail(strict=True, reason=(
    "No labels, L5 right: the isthmus section tracked behind the pedicle holds the superior articular process above "
    "it (22 mm tall), its centre sits 10.9 mm above the body's centre; the screw, moved 1.5 mm caudal to keep out of "
    "L4's articular process, passes 6.4 mm above TotalSegmentator v2's; cut at the body's top the section gives an axis "
    "2.8 mm away but a 15 degree plan against TotalSegmentator's 31. TotalSegmentator's isthmus centre lies in the "
    "pedicle's fatty core, which the built-in label leaves out (its cortical ring open by two voxels on 3 mm slices) "
    "(benchmarks/ct.md, \"Where the no-labels L5 right isthmus lies\" and \"the pedicle's marrow\")"))


@pytest.mark.parametrize("level_side", [
    pytest.param(f"{level} {side}", marks=_L5_RIGHT_HIGH) if (level, side) == ("L5", "right") else f"{level} {side}"
    for level in LUMBAR for side in ("left", "right")])
def test_without_labels_the_screw_runs_where_totalsegmentators_does(records, level_side):
    """Issue 19 done-when, "the same trajectories": besides angle and size (above), the two axes come within
    AXIS_DISTANCE_MM of each other (on the real CT 0.5-1.4 mm on every other side), not one above the other."""
    level, side = level_side.split()
    ours, theirs = (records[name].level(level).trajectories[side] for name in ("none", "ts_v2"))
    distance = _closest_approach_mm(ours, theirs)
    assert distance <= AXIS_DISTANCE_MM, (level, side, round(distance, 2))


def test_s1_plans_agree_whatever_the_label_source(records):
    """Issue 19n: S1 is planned with one breach test for every label source (``sacral_breaches``: the medial and lateral
    walls and the whole screw in the bone the image shows, the tip short of the anterior cortex; not the lumbar test of
    the part behind the body, which a label with a body sub-region got and one without did not). No labels, the
    built-in labels fed back and TotalSegmentator v1 and v2 plan both S1 sides within one standard diameter and
    MEDIAL_TOLERANCE_DEG["L5"] degrees of each other, within one standard length of 50 mm, none breaching."""
    from spinebq.measure.ct.plans import SACRAL_MAX_LENGTH_MM

    for side in ("left", "right"):
        plans = {name: record.level("S1").trajectories[side] for name, record in records.items()}
        for name, screw in plans.items():
            assert screw.measured and screw.source == "auto_sacral", (side, name, screw.reason)
            assert screw.length_mm >= SACRAL_MAX_LENGTH_MM - 5.0 - 1e-6, (side, name, screw.length_mm)
            assert screw.inside_bone_fraction >= 0.9, (side, name, screw.inside_bone_fraction)
            assert not {"pedicle_wall_breach", "tip_outside_vertebra"} & set(screw.warnings), (side, name, screw.warnings)
        diameters = [screw.diameter_mm for screw in plans.values()]
        medials = [screw.medial_angle_deg for screw in plans.values()]
        assert max(diameters) - min(diameters) <= DIAMETER_STEP_MM + 1e-9, (side, diameters)
        assert max(medials) - min(medials) <= MEDIAL_TOLERANCE_DEG["L5"], (side, medials)


def test_s1_carries_no_lumbar_pedicle_numbers(records):
    """S1's pedicle is short and wide and merges with the ala: the lumbar pedicle model found a 5-6 mm "isthmus" 43 mm
    beside the midline there, shown as "pedicle isthmus 6.0 / 5.0 mm" and as S1's region B. For every label source
    S1's pedicles and region B are missing with the reason, its screws are still planned; L1-L5 keep theirs."""
    from spinebq.measure.ct.regional import SACRAL_PEDICLE_REASON

    for name, record in records.items():
        s1 = record.level("S1")
        assert s1.isthmus_widths_mm == {"left": None, "right": None}, name
        for side in ("left", "right"):
            assert not s1.pedicles[side].found and s1.pedicles[side].reason == SACRAL_PEDICLE_REASON, (name, side)
            region_b = s1.regions.B[side]
            assert region_b.hu_mean is None or math.isnan(region_b.hu_mean), (name, side)
            assert region_b.reason == SACRAL_PEDICLE_REASON, (name, side)
            assert s1.trajectories[side].measured, (name, side)
        for level in LUMBAR:
            assert all(w is not None for w in record.level(level).isthmus_widths_mm.values()), (name, level)


def test_plans_stay_out_of_the_next_vertebra_and_the_rest_are_flagged(records):
    """Every plan records its share in the other vertebrae's labels, warned where it holds more than one voxel (27 mm^3
    on this 3 mm CT). L1-L5 plans keep out of them (the facet joint above, which a construct may end below): without
    labels the L5 right plan ran through L4's inferior articular process (2.7 % of it, its first 9 mm) and now passes
    1.5 mm lower. S1 plans do not avoid L5 (S1's facet with L5 lies inside every construct holding an S1 screw) and are
    warned: the no-labels S1 left plan, 2.0 % in L5's label."""
    voxel_mm3 = 27.0  # the 3 mm CT's
    for name, record in records.items():
        for level in LUMBAR + ("S1",):
            for side, screw in record.level(level).trajectories.items():
                fraction = screw.adjacent_vertebra_fraction
                assert fraction is not None and 0.0 <= fraction < 0.05, (name, level, side, fraction)
                volume_mm3 = fraction * math.pi * (screw.diameter_mm / 2) ** 2 * screw.length_mm  # the cylinder's
                flagged = "touches_adjacent_vertebra" in screw.warnings
                if abs(volume_mm3 - voxel_mm3) > 0.05 * voxel_mm3:  # the sampled cylinder holds its volume within 1 %
                    assert flagged == (volume_mm3 > voxel_mm3), (name, level, side, volume_mm3, flagged)
                assert not (flagged and level in LUMBAR), (name, level, side, screw.notes)
    l5_right = records["none"].level("L5").trajectories["right"]
    assert any("1.5 mm caudal" in note and "or the next vertebra" in note for note in l5_right.notes), l5_right.notes
    s1_left = records["none"].level("S1").trajectories["left"]
    assert "touches_adjacent_vertebra" in s1_left.warnings
    assert any("in L5's label" in note and "facet joint" in note for note in s1_left.notes), s1_left.notes


def test_screws_drawn_on_labels_shifted_by_one_level_are_not_inside_bone(ts_dir, tmp_path, records):
    """Issue 19 item 2: TotalSegmentator's v2 labels moved caudally by one level (the L2-L3 centroid distance), and the
    screws a planner following those masks would draw (the true plans moved with them): the masks say the screws are
    inside the vertebra, the bone in the image says most are not. Plans made on the shifted labels stay in bone."""
    import json

    import numpy as np

    from spinebq.anatomy import VERSE_IDS
    from spinebq.image.labelmap import LabelMap
    from spinebq.io.labels import load_labels
    from spinebq.io.volume import load_volume
    from spinebq.measure.ct.levels import measure_ct
    from spinebq.measure.ct.regional import RegionalOptions, measure_regional

    ct = load_volume(ts_dir / "ct.nii.gz")
    labels = load_labels(ts_dir / "seg_v2" / "total.nii.gz", ct)
    z = {level: np.argwhere(labels.array == VERSE_IDS[level])[:, 2].mean() for level in ("L2", "L3")}
    step = int(round(z["L2"] - z["L3"]))  # voxels along the (superior) third axis: about 11 on this 3 mm CT
    array = np.zeros_like(labels.array)
    array[:, :, :-step] = labels.array[:, :, step:]
    shifted = LabelMap(array, labels.affine, labels.metadata, labels.content, labels.scheme, labels.source, labels.scheme_note)
    moved = [{"level": level, "side": side, "diameter_mm": tr.diameter_mm,
              "entry": list(np.asarray(tr.entry_mm) - [0, 0, 3.0 * step]),
              "target": list(np.asarray(tr.target_mm) - [0, 0, 3.0 * step])}
             for level in LUMBAR for side, tr in records["ts_v2"].level(level).trajectories.items()]
    (tmp_path / "moved.json").write_text(json.dumps({"screws": moved}))
    result = measure_ct(ct, shifted, threads=1)
    screws = measure_regional(ct, shifted, result, RegionalOptions(trajectory=str(tmp_path / "moved.json")))
    label, bone = [], []
    for level in LUMBAR:
        for side in ("left", "right"):
            tr = screws.levels[level].trajectories[side]
            label.append(tr.inside_vertebra_fraction)
            bone.append(tr.inside_bone_fraction)
    assert min(label) >= 0.9  # the masks moved with the screws: "inside the vertebra"
    assert np.mean(bone) <= 0.8 and sum(b < 0.9 for b in bone) >= 6, bone  # the image: mostly disc and soft tissue
    planned = measure_regional(ct, shifted, measure_ct(ct, shifted, threads=1), RegionalOptions(trajectory="auto"))
    for level in LUMBAR:
        for side, tr in planned.levels[level].trajectories.items():
            if tr.measured:
                assert tr.inside_bone_fraction >= 0.9 and "pedicle_wall_breach" not in tr.warnings, (level, side)


def test_a_missing_three_slice_hu_says_why(records):
    """hu_2d is missing where one of the three planes holds no ellipse (no labels: S1's inferior plane holds no
    trabecular bone once the rim is left out); the level then says which plane and why (it said nothing and its QC
    read ok). A measured hu_2d carries no reason; a level cut by the field of view keeps its QC reason."""
    import math

    missing = 0
    for name, record in records.items():
        for vertebra in record.vertebrae:
            reason = vertebra.details.get("hu_2d_reason")
            if math.isfinite(vertebra.hu_2d) or "cut_by_field_of_view" in vertebra.qc:
                assert reason is None, (name, vertebra.level, reason)
                continue
            missing += 1
            assert reason and "plane:" in reason, (name, vertebra.level, vertebra.details.get("hu_2d_areas_mm2"))
    assert records["none"].level("S1").details["hu_2d_reason"].startswith("inferior plane: no trabecular bone")
    assert missing >= 1


def test_vertebrae_file_without_its_subregions_says_so(phantom, tmp_path):
    """``spinebq segment``'s vertebrae.nii.gz copied away from its subregions.nii.gz is measured as any other label
    source (its bodies cut from the labels), which can give other numbers than no labels (the real CT's L1 hu_3d 121.3
    against 123.4): the run says so first, before it measures."""
    from spinebq.io.volume import save_nifti

    said = []

    class Stop(Exception):
        pass

    def listen(message: str) -> None:
        said.append(message)
        raise Stop

    labels = save_nifti(phantom.labels, tmp_path / "vertebrae.nii.gz")
    with pytest.raises(Stop):
        analyse_ct(phantom.ct, labels, progress=listen)
    assert said[0].startswith(f"no subregions.nii.gz beside {labels}")
    save_nifti(phantom.subregions, tmp_path / "subregions.nii.gz")
    said.clear()
    with pytest.raises(Stop):
        analyse_ct(phantom.ct, labels, progress=listen)
    assert said[0].startswith("bodies and level checks from spinebq segment's files beside")
