"""``spinebq ct --trajectory``: the new keys in measurements.json and the plan given back as a file."""
from __future__ import annotations

import json

import numpy as np
import pytest

from spinebq.cli import main


@pytest.fixture(scope="module")
def auto_run(ts_dir, real_ct_run):
    """The arguments of ``spinebq ct`` on the real CT with TotalSegmentator labels and its folder (the shared run)."""
    out, _ = real_ct_run
    args = ["ct", str(ts_dir / "ct.nii.gz"), "--labels", str(ts_dir / "seg_v2" / "total.nii.gz"), "--out", str(out)]
    return args, out


def test_measurements_json_has_the_issue_keys_and_keeps_the_old_ones(auto_run):
    _, out = auto_run
    doc = json.loads((out / "measurements.json").read_text())
    l3 = doc["vertebrae"]["L3"]
    for key in ("hu_3d", "hu_2d", "vbmd_mg_cm3", "qc", "regions", "trajectories", "st_hu", "b_hu", "hu_ratio",
                "heights_mm", "genant_grade"):
        assert key in l3, key
    for side in ("left", "right"):
        tr = l3["trajectories"][side]
        for key in ("entry_mm", "target_mm", "diameter_mm", "length_mm", "hu_mean", "voxels"):
            assert tr[key] is not None, (side, key)
        # a cortical plan, or (issue 19) the reason there is none: no standard screw passes without breaching
        cortical = l3["trajectories_cortical"][side]
        assert cortical.get("source") == "auto_cortical" or "no plan" in cortical["reason"]
    assert set(l3["heights_mm"]) == {"anterior", "middle", "posterior"}
    assert set(l3["regions"]) == {"A", "B", "C"}
    assert doc["summary"]["contrast"]["phase"] == "unenhanced"
    assert "regional" in doc["method"]
    assert (out / "trajectory_L3.png").stat().st_size > 20_000
    csv = (out / "measurements.csv").read_text().splitlines()
    assert "hu_ratio" in csv[0] and "height_anterior_mm" in csv[0]


def test_the_written_plan_given_back_measures_the_same_corridors(auto_run, tmp_path):
    args, out = auto_run
    plan = out / "trajectories.json"
    again = tmp_path / "again"
    assert main(args[:-2] + ["--out", str(again), "--trajectory", str(plan)]) == 0
    first = json.loads((out / "measurements.json").read_text())["vertebrae"]
    second = json.loads((again / "measurements.json").read_text())["vertebrae"]
    for level in ("L1", "L2", "L3", "L4", "L5"):
        for side in ("left", "right"):
            a, b = first[level]["trajectories"][side], second[level]["trajectories"][side]
            assert b["source"] == "file"
            assert np.allclose(a["entry_mm"], b["entry_mm"], atol=0.01) and np.allclose(a["target_mm"], b["target_mm"], atol=0.01)
            assert b["hu_mean"] == pytest.approx(a["hu_mean"], abs=0.05)
            assert b["rectangle_2d"]["hu_mean"] == pytest.approx(a["rectangle_2d"]["hu_mean"], abs=0.05)
        assert second[level]["hu_ratio"] == pytest.approx(first[level]["hu_ratio"], abs=1e-3)


def test_bad_trajectory_argument_is_one_sentence(ts_dir, tmp_path, capsys):
    code = main(["ct", str(ts_dir / "ct.nii.gz"), "--labels", str(ts_dir / "seg_v2" / "total.nii.gz"),
                 "--out", str(tmp_path), "--trajectory", str(tmp_path / "missing.json")])
    assert code == 2
    assert "missing.json" in capsys.readouterr().err


def test_postop_needs_from_screws(ts_dir, tmp_path, capsys):
    code = main(["ct", str(ts_dir / "ct.nii.gz"), "--labels", str(ts_dir / "seg_v2" / "total.nii.gz"),
                 "--out", str(tmp_path), "--postop", str(ts_dir / "ct.nii.gz")])
    assert code == 2
    assert "--postop" in capsys.readouterr().err


def test_hand_edited_screws_that_lie_elsewhere_are_not_used_and_said(auto_run, tmp_path, capsys):
    """A user's edits of the written plan: L4's left screw named L3, L4's two screws with their sides swapped, a screw
    for T8 (not in the image) and one wholly outside the image. None is measured for the level and side it names
    (before, L3's st_hu and hu_ratio came from L4's screw, the swapped and T8 screws passed silently and the outside
    one printed as a 0 % screw); the JSON lists every screw not used with its reason, and so does the screen."""
    args, out = auto_run
    planned = {(s["level"], s["side"]): s for s in json.loads((out / "trajectories.json").read_text())["screws"]}
    l4_left, l4_right = planned[("L4", "left")], planned[("L4", "right")]
    edited = [dict(l4_left, level="L3"), dict(l4_left, side="right"), dict(l4_right, side="left"),
              dict(l4_left, level="T8"), dict(planned[("L2", "left")], entry=[500, 500, 500], target=[520, 520, 520]),
              planned[("L1", "left")]]
    path = tmp_path / "edited.json"
    path.write_text(json.dumps({"screws": edited}))
    capsys.readouterr()
    assert main(args[:-2] + ["--out", str(tmp_path / "out"), "--trajectory", str(path), "--no-pictures"]) == 0
    screen = capsys.readouterr().out
    doc = json.loads((tmp_path / "out" / "measurements.json").read_text())
    vertebrae, account = doc["vertebrae"], doc["summary"]["trajectory_file"]
    assert (account["file"], account["screws"], account["used"]) == ("edited.json", 6, 1)
    reasons = {(s["level"], s["side"]): s["reason"] for s in account["not_used"]}
    assert set(reasons) == {("L3", "left"), ("L4", "right"), ("L4", "left"), ("T8", "left"), ("L2", "left")}
    assert "L4's label" in reasons[("L3", "left")]
    assert "patient's left" in reasons[("L4", "right")] and "patient's right" in reasons[("L4", "left")]
    assert "T8" in reasons[("T8", "left")] and "outside the image" in reasons[("L2", "left")]
    for (level, side), reason in reasons.items():
        assert reason in screen, reason
        if level in vertebrae:  # missing for the level and side it names, with the reason
            tr = vertebrae[level]["trajectories"][side]
            assert tr["hu_mean"] is None and tr["reason"] == reason
    for level in ("L2", "L3", "L4"):
        assert vertebrae[level]["st_hu"] is None and vertebrae[level]["hu_ratio"] is None, level
    assert vertebrae["L1"]["trajectories"]["left"]["source"] == "file" and vertebrae["L1"]["st_hu"] is not None
