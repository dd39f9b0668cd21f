"""The study pipeline: records equal the CLI's documents, survive pickling and JSON, and numbers are unchanged."""
from __future__ import annotations

import json
import math
import pickle
from pathlib import Path

import pytest

from spinebq.cli import main
from spinebq.errors import OptionError
from spinebq.pipeline import CtOptions, MriOptions, analyse_ct, analyse_mri
from spinebq.records.ct import CtRecord
from spinebq.records.mri import MriRecord
from spinebq.records.regional import LevelRegional, PedicleRecord, RegionalSummary, TrajectoryRecord
from spinebq.report.files import to_jsonable

from .conftest import DATA, TS, need

#: Numbers spinebq wrote before the pipeline existed (commit 22d25b2); the file names the commands.
RECORDED = json.loads((Path(__file__).parent / "data" / "recorded_before_pipeline.json").read_text())
MRI = DATA / "lumbar_mri_t1"
CASES = ("case02", "case06", "case08", "case10")


def _same(a, b, path=""):
    """Assert two JSON values are equal, NaN/None alike, naming the first differing key."""
    if isinstance(a, dict):
        assert set(a) == set(b), (path, set(a) ^ set(b))
        for key in a:
            _same(a[key], b[key], f"{path}/{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{path}[{i}]")
    else:
        assert a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)), (path, a, b)


def _ct_numbers(document: dict) -> dict:
    keys = ("hu_3d", "hu_3d_voxels", "hu_2d", "vbmd_mg_cm3", "st_hu", "b_hu", "hu_ratio", "genant_grade", "body_volume_ml")
    return {"vertebrae": {n: {k: v.get(k) for k in keys} | {"region_A": (v.get("regions") or {}).get("A", {}).get("hu_mean")}
                          for n, v in document["vertebrae"].items()},
            "summary": {k: document["summary"].get(k) for k in ("hu", "hu_2d", "vbmd_mg_cm3", "acr_category", "fractured_levels")}}


def _mri_numbers(document: dict) -> dict:
    return {"vbq": document["vbq"], "s1_vbq": document["s1_vbq"], "pbq": document["pbq"],
            "csf_signal": document["csf"]["signal"],
            "body_signal": {n: v["body_signal"] for n, v in document["levels"].items()},
            "goutallier": {n: v["goutallier"] for n, v in document["muscle"].items()}}


def test_analyse_ct_equals_the_cli_document(real_ct_record, real_ct_run):
    """From Python, analyse_ct on the real CT gives the document `spinebq ct` writes for the same input."""
    out, printed = real_ct_run
    # the screen names each side left without a plan and says why (T11 and T12 are cut by the field of view)
    screen = printed.splitlines()
    assert any(line.startswith("T12 ") and line.endswith("L no plan; R no plan") for line in screen)
    # one reason is said once for the levels it holds for (with --trajectory none it was repeated for every level)
    assert "no plan: T11, T12: the vertebra is cut by the field of view" in screen
    written = json.loads((out / "measurements.json").read_text())
    ours = to_jsonable(real_ct_record.to_json())
    assert "outputs" not in ours  # nothing written yet
    written.pop("outputs")
    _same(ours, written)


def test_real_ct_numbers_unchanged_by_the_pipeline(real_ct_record):
    _same(to_jsonable(_ct_numbers(real_ct_record.to_json())), RECORDED["ct_real_total"])


def test_builtin_segmentation_numbers_unchanged_by_the_pipeline(builtin_ct_record):
    record = builtin_ct_record
    assert record.acquisition.labels["source"] == "spinebq segment (built-in)"
    _same(to_jsonable(_ct_numbers(record.to_json())), RECORDED["ct_real_builtin"])


def test_phantom_numbers_unchanged_by_the_pipeline(tmp_path):
    assert main(["phantom", "--out", str(tmp_path), "--rods"]) == 0
    record = analyse_ct(tmp_path / "ct.nii.gz", tmp_path / "labels.nii.gz",
                        CtOptions(calibration="phantom", phantom=str(tmp_path / "phantom_rods.json")))
    assert record.calibrated
    _same(to_jsonable(_ct_numbers(record.to_json())), RECORDED["ct_phantom_rods"])


def test_ct_record_survives_pickle_and_json(real_ct_record):
    document = to_jsonable(real_ct_record.to_json())
    shipped = pickle.loads(pickle.dumps(real_ct_record.without_images()))
    _same(to_jsonable(shipped.to_json()), document)
    again = CtRecord.from_json(json.loads(json.dumps(document)))
    _same(to_jsonable(again.to_json()), document)
    l1 = again.level("L1")
    assert l1.trabecular.voxels > 100 and l1.hu == l1.trabecular.mean
    assert again.summary.levels_used == ("L1", "L2", "L3", "L4")


def _round_trips(record, reader) -> dict:
    """``record`` survives pickling and ``reader(to_json())`` with the same document, keys in the same order."""
    document = to_jsonable(record.to_json())
    text = json.dumps(document)
    assert json.dumps(to_jsonable(pickle.loads(pickle.dumps(record)).to_json())) == text
    assert json.dumps(to_jsonable(reader(json.loads(text)).to_json())) == text
    return document


def test_regional_records_survive_pickle_and_json(real_ct_record):
    """Screws, pedicles, regions, levels and the summary part of the regional stage, on the real CT with
    TotalSegmentator v2 labels and automatic plans: every record's document comes back byte for byte."""
    measured = {"trajectories": 0, "trajectories_cortical": 0}
    for vertebra in real_ct_record.vertebrae:
        level = vertebra.regional
        assert level is not None, vertebra.level
        document = _round_trips(level, LevelRegional.from_json)
        for key in ("trajectories", "trajectories_cortical"):
            for screw in (getattr(level, key) or {}).values():
                _round_trips(screw, TrajectoryRecord.from_json)
                measured[key] += screw.measured
        for pedicle in (level.pedicles or {}).values():
            _round_trips(pedicle, PedicleRecord.from_json)
        # the record's keys are the document's keys of the level, as analyse_ct writes them
        assert {k: v for k, v in to_jsonable(vertebra.to_json()).items() if k in LevelRegional.KEYS} == document
    # L1-L5 traditional and S1 sacral on both sides; the cortical plans that fit
    assert measured["trajectories"] == 12 and measured["trajectories_cortical"] >= 1
    _round_trips(real_ct_record.summary.regional, RegionalSummary.from_json)

    l3 = real_ct_record.level("L3")
    left = l3.trajectories["left"]
    assert left.measured and left.source == "auto_traditional" and left.stats.voxels > 50
    assert left.rectangle_2d.stats.voxels > 0 and left.shell.outer_radius_mm > left.shell.inner_radius_mm
    assert l3.regions.C["left"].stats == left.stats and l3.regions.C["left"].points is None  # the corridor is the screw
    assert l3.regions.A.points > l3.regions.A.stats.voxels > 100 and l3.pedicles["left"].found
    assert l3.st_hu == pytest.approx((left.rectangle_hu + l3.trajectories["right"].rectangle_hu) / 2)
    t12 = real_ct_record.level("T12")  # cut by the field of view: nothing planned, and it says why
    assert not t12.trajectories["left"].measured and "field of view" in t12.trajectories["left"].reason
    assert t12.regions.B["left"].stats is None and t12.regional.pedicles is None and t12.regional.fracture is None
    s1 = real_ct_record.level("S1")
    assert s1.trajectories["left"].source == "auto_sacral"
    assert s1.regional.trajectories_cortical["left"].reason == "no cortical bone trajectory for S1"


def test_keys_a_record_does_not_know_are_kept():
    """A helper that grows a key (a new measure of the screw or the pedicle) loses nothing through the records."""
    screw = {"source": "file", "entry_mm": [1.0, 2.0, 3.0], "target_mm": [1.0, 2.0, 43.0], "diameter_mm": 6.0,
             "length_mm": 40.0, "medial_angle_deg": 0.0, "sagittal_angle_deg": 0.0, "hu_mean": 150.0,
             "hu_median": 140.0, "hu_sd": 30.0, "voxels": 120, "points": 1000, "metal_points_excluded": 0,
             "vbmd_mg_cm3": None, "shell": None, "pedicle_part": None, "body_part": None, "rectangle_2d": None,
             "inside_vertebra_fraction": 1.0, "inside_body_fraction": 0.5, "notes": [], "warnings": [],
             "pullout_n": 812.5}
    record = TrajectoryRecord.from_json(screw)
    assert record.extra == {"pullout_n": 812.5} and record.to_json() == screw and list(record.to_json()) == list(screw)
    missing = {"hu_mean": None, "voxels": 0, "reason": "no plan", "plan_id": 7}
    assert TrajectoryRecord.from_json(missing).to_json() == missing
    pedicle = {"found": False, "reason": "no canal", "isthmus_mm": None, "isthmus_width_mm": math.nan,
               "isthmus_height_mm": math.nan, "medial_angle_deg": math.nan, "sagittal_angle_deg": math.nan,
               "cortex_mm": 1.2}
    assert PedicleRecord.from_json(pedicle).extra == {"cortex_mm": 1.2}
    assert list(PedicleRecord.from_json(pedicle).to_json()) == list(pedicle)


def test_the_regional_stage_leaves_the_ct_result_unchanged(phantom):
    """measure_regional returns its record; the measure_ct result it reads is not edited."""
    import copy

    from spinebq.measure.ct.levels import measure_ct
    from spinebq.measure.ct.regional import RegionalOptions, measure_regional

    result = measure_ct(phantom.ct, phantom.labels)
    before = copy.deepcopy((result.vertebrae, result.summary, result.method))
    regional = measure_regional(phantom.ct, phantom.labels, result, RegionalOptions(trajectory="auto"))
    _same(to_jsonable((result.vertebrae, result.summary, result.method)), to_jsonable(before))
    assert regional.levels["L3"].trajectories["left"].measured and "st_hu" in regional.summary.to_json()


@pytest.mark.parametrize("case", CASES)
def test_analyse_mri_equals_the_cli_document_and_numbers_unchanged(case, tmp_path):
    image, labels = need(MRI / f"{case}_t1.nii.gz"), need(MRI / f"{case}_bodies_verse.nii.gz")
    # with --include-phi the CLI writes the input paths as the library records them (without, their roles)
    assert main(["mri", str(image), "--labels", str(labels), "--out", str(tmp_path), "--no-figures",
                 "--include-phi"]) == 0
    written = json.loads((tmp_path / "mri.json").read_text())
    record = analyse_mri(image, labels=labels)
    document = to_jsonable(record.to_json())
    written.pop("outputs")
    _same(document, written)
    _same(_mri_numbers(document), RECORDED[f"mri_{case}_labels"])
    shipped = pickle.loads(pickle.dumps(record.without_images()))
    _same(to_jsonable(shipped.to_json()), document)
    _same(to_jsonable(MriRecord.from_json(json.loads(json.dumps(document))).to_json()), document)


def test_automatic_mri_numbers_unchanged_by_the_pipeline():
    record = analyse_mri(need(MRI / "case06_t1.nii.gz"), options=MriOptions())
    assert record.roi_method == "automatic"
    _same(to_jsonable(_mri_numbers(record.to_json())), RECORDED["mri_case06_auto"])


def test_a_bodies_map_gives_the_bodies_while_the_whole_labels_still_give_pedicles_and_screws():
    """``--labels total.nii.gz --bodies vertebrae_body.nii.gz``: each level's body is the map's body (its volume is
    the map's voxels of the level), and the whole-vertebra labels still give pedicles, screws, st_hu and hu_ratio at
    L1-L5 (before, the map cut the labels to the bodies: every level had "no plan: the labels hold
    only the vertebral bodies"). Without labels the map, which names no level, is refused."""
    from spinebq.anatomy import VERSE_IDS
    from spinebq.io.labels import keep_bodies
    from spinebq.measure.ct.levels import BODY_MAP_METHOD

    options = CtOptions(bodies=str(need(TS / "seg_v2" / "vertebrae_body.nii.gz")))
    record = analyse_ct(TS / "ct.nii.gz", TS / "seg_v2" / "total.nii.gz", options)
    ct, labels = record.images.ct, record.images.labels
    bodies = keep_bodies(labels.array, options.bodies, ct)
    for level in ("L1", "L2", "L3", "L4", "L5"):
        vertebra = record.level(level)
        assert vertebra.details["body_method"] == BODY_MAP_METHOD
        assert vertebra.body_volume_ml == pytest.approx((bodies == VERSE_IDS[level]).sum() * ct.voxel_volume_ml)
        assert {side: p.found for side, p in vertebra.pedicles.items()} == {"left": True, "right": True}, level
        assert all(tr.measured for tr in vertebra.trajectories.values()), level
        assert math.isfinite(vertebra.st_hu) and vertebra.hu_ratio == pytest.approx(vertebra.st_hu / vertebra.b_hu)
    with pytest.raises(OptionError) as caught:
        analyse_ct(TS / "ct.nii.gz", None, options)
    assert caught.value.parameter == "bodies"


@pytest.mark.parametrize("changes, parameter", [
    ({"metal_hu": float("nan")}, "metal_hu"),
    ({"screw_diameter_mm": 0.0}, "screw_diameter_mm"),
    ({"shell_mm": -5.0}, "shell_mm"),
    ({"summary_levels": ("L1", "X9")}, "summary_levels"),
    ({"calibration": "phantom"}, "phantom"),
    ({"trajectory": "sideways"}, "trajectory"),
])
def test_bad_options_name_their_parameter(changes, parameter):
    with pytest.raises(OptionError) as caught:
        CtOptions(**changes)
    assert caught.value.parameter == parameter


def test_options_are_frozen_and_picklable():
    options = CtOptions(metal_hu=1200.0)
    assert pickle.loads(pickle.dumps(options)) == options
    with pytest.raises(AttributeError):
        options.metal_hu = 3.0  # type: ignore[misc]


def test_the_sagittal_picture_fills_only_the_rois_of_measured_levels(real_ct_record):
    """The real CT's T12 (cut by the field of view, hu_3d n/a in the table) was drawn with a filled 3D ROI like
    the measured levels beside its "T12 n/a" label; the picture now fills only the ROIs whose value was reported."""
    from spinebq.anatomy import VERSE_IDS
    import numpy as np

    from spinebq.report.ct_outputs import measured_rois

    result = real_ct_record.images.result
    t12 = real_ct_record.level("T12")
    assert t12.hu is None or t12.hu != t12.hu  # not reported: cut by the field of view
    assert (result.trabecular == VERSE_IDS["T12"]).any()
    shown = measured_rois(result)
    assert not (shown == VERSE_IDS["T12"]).any()
    for level in ("L1", "L2", "L3", "L4", "L5"):
        assert np.array_equal(shown == VERSE_IDS[level], result.trabecular == VERSE_IDS[level]), level
