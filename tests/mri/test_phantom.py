"""The MR phantom: VBQ, S1-VBQ and PBQ within 1 % of the truth, Goutallier grades right, QC flags."""
from __future__ import annotations

import json

import numpy as np
import pytest


def test_vbq_within_one_percent(phantom, phantom_result):
    truth = phantom[2]
    d = phantom_result.data
    assert d["vbq"] == pytest.approx(truth["vbq"], rel=0.01)
    assert d["s1_vbq"] == pytest.approx(truth["s1_vbq"], rel=0.01)
    assert d["csf"]["signal"] == pytest.approx(truth["signal_csf"], rel=0.01)
    assert d["csf"]["level"] == "L3"
    assert d["vbq_levels_used"] == ["L1", "L2", "L3", "L4"]


def test_pbq_within_one_percent(phantom, phantom_result):
    truth = phantom[2]
    d = phantom_result.data
    assert d["pbq"] == pytest.approx(truth["pbq"], rel=0.01)
    for lv in ("L1", "L2", "L3", "L4"):
        for side in ("left", "right"):
            assert d["levels"][lv][f"pedicle_signal_{side}"] == pytest.approx(truth["pedicle_signal"][lv], rel=0.01)


def test_body_signals_and_lesion_flag(phantom, phantom_result):
    truth = phantom[2]
    d = phantom_result.data
    for lv in ("L1", "L2", "L3", "L4", "L5", "S1"):
        assert d["levels"][lv]["body_signal"] == pytest.approx(truth["body_signal"][lv], rel=0.01)
    lesion = d["levels"][truth["lesion_level"]]
    assert "bright_focus_excluded" in lesion["qc"] and "voxels" in lesion["qc_notes"]["bright_focus_excluded"]
    assert "bright_focus_excluded" not in d["levels"]["L3"]["qc"]


def test_fracture_rule_is_the_ct_sides_genant_grade(phantom):
    """One fracture rule on both modalities (issue 20): the phantom's L2 body cut to a wedge is Genant grade 2
    (about 30 % at the anterior height) by spinebq.measure.ct.heights.genant_grade on its mid-sagittal heights;
    the others grade 0."""
    import warnings

    import numpy as np

    from spinebq.anatomy import VERSE_IDS
    from spinebq.measure.mri.measure import measure_mri

    image, labels, _ = phantom
    lab = labels.array.copy()
    _, yy, zz = np.indices(lab.shape)
    body = (lab == VERSE_IDS["L2"]) & (yy <= 96)  # the body lies in front of its posterior wall at 96 mm
    y_front, y_back, z_top = yy[body].min(), yy[body].max(), zz[body].max()
    # a wedge: the top of the body falls by 12 mm at the front, by nothing at the back
    lab[body & (zz > z_top - 12.0 * (y_back - yy) / (y_back - y_front))] = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = measure_mri(image, labels=labels.with_array(lab), measure_muscle=False).data
    l2e = d["levels"]["L2"]
    assert l2e["genant_grade"] == 2 and l2e["deformity_type"] == "wedge"
    assert "fracture_genant_grade_2" in l2e["qc"] and "Genant" in l2e["qc_notes"]["fracture_genant_grade_2"]
    assert "Genant et al." in l2e["genant"]["reference"]
    assert d["vbq_fractured_levels"] == ["L2"] and d["vbq_fracture_note"].startswith("level L2 has ") and "check it" in d["vbq_fracture_note"]
    assert all(d["levels"][lv]["genant_grade"] == 0 for lv in ("L1", "L3", "L4"))


def test_goutallier_grades_right(phantom, phantom_result):
    truth = phantom[2]["muscle"]
    muscle = phantom_result.data["muscle"]
    assert set(muscle) == set(truth)
    for disc, t in truth.items():
        assert muscle[disc]["goutallier"] == t["goutallier"], disc
        for side in ("left", "right"):
            assert muscle[disc][f"fat_fraction_{side}"] == pytest.approx(t[f"fat_fraction_{side}"], abs=0.03)


def test_json_shape(phantom_result):
    d = phantom_result.data
    assert d["schema"] == "spinebq.mri/1"
    assert "research use only" in d["research_use_only"].lower()
    assert set(d["csf"]) >= {"signal", "level", "voxels"}
    for e in d["levels"].values():
        assert set(e) >= {"body_signal", "pedicle_signal_left", "pedicle_signal_right", "qc"}
    for e in d["muscle"].values():
        assert set(e) >= {"fat_fraction_left", "fat_fraction_right", "goutallier"}
    assert "[wu2025]" in d["vbq_cutoffs"][0]["source"]


def test_vbq_helpers():
    from spinebq.measure.mri.vbq import pbq_score, vbq_score

    assert vbq_score({"L1": 300, "L2": 320, "L3": 310, "L4": 330}, 100.0)[0] == pytest.approx(3.15)
    value, reason, used = vbq_score({"L1": 300, "L2": float("nan")}, 100.0)
    assert value != value and reason.startswith("too few levels")
    assert pbq_score({"L1": (300, float("nan")), "L2": (320, 320)}, 100.0)[0] == pytest.approx(3.1)


def _roots(dy, radius, dxs):
    return tuple((dx, dy, radius) for dx in dxs)


@pytest.mark.parametrize("roots, signal, left_out", [
    (_roots(4.0, 1.5, (-9, -6, -3, 0, 3, 6, 9)), 250.0, True),   # cauda equina lying back in the sac
    (_roots(-3.0, 1.5, (-9, -6, -3, 0, 3, 6, 9)), 180.0, True),  # roots in front, dimmer
    (_roots(-3.0, 1.5, (-9, -6, -3, 0, 3, 6, 9)), 250.0, True),
    (_roots(0.0, 1.0, (-8, -6, -4, -2, 0, 2, 4, 6, 8)), 180.0, True),  # thin roots across the middle
    (((0.0, -1.0, 3.5),), 250.0, False),  # a conus: the slices beside it hold CSF alone
    (((1.0, 1.0, 4.5),), 180.0, False),
])
def test_vbq_with_roots_or_conus_in_the_sac(roots, signal, left_out):
    """Issue 20: roots or a conus brighter than CSF, with soft (partial-volume) edges, at several placements and
    sizes: VBQ within 2 % of the truth. Without keeping the CSF only, the roots across the middle give -1.9 %,
    the bright roots in front and behind -2.4 and -2.5 % (measured when this test was written)."""
    import warnings

    from spinebq.measure.mri.measure import measure_mri
    from spinebq.synthetic.mri import make_mri_phantom

    image, labels, truth = make_mri_phantom(roots_mm=roots, root_signal=signal, lesion_level=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = measure_mri(image, labels=labels, measure_muscle=False).data
    assert d["vbq"] == pytest.approx(truth["vbq"], rel=0.02)
    csf = d["csf"]
    assert csf["voxels"] + csf["excluded_voxels"] + csf["root_voxels_left_out"] == csf["sac_voxels"]
    assert (csf["root_voxels_left_out"] > 0) == left_out


def _measure_muscle(phantom, array):
    import warnings

    from spinebq.measure.mri.measure import measure_mri

    image, labels, _ = phantom
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return measure_mri(image.with_array(array.astype(np.float32)), labels=labels).data


def test_constant_fill_on_the_image_faces_is_not_fat(phantom):
    """A converter's padding (the real T1 exams carry slices and rows of 255 on their faces): the phantom's first
    eight sagittal slices, reached by the right erector lines, replaced by a constant brighter than fat. Read as
    tissue, the fill pulled the fat reference up to its own value and every fat fraction down."""
    image, _, truth = phantom
    padded = image.array.copy()
    padded[:8] = 1.5 * padded.max()
    d = _measure_muscle(phantom, padded)
    info = d["muscle_method"]
    # before: fat reference 1063 (the fill), threshold 594, every fat fraction 0.0 and every grade 0
    for disc, t in truth["muscle"].items():
        assert d["muscle"][disc]["goutallier"] == t["goutallier"], disc
        for side in ("left", "right"):
            assert d["muscle"][disc][f"fat_fraction_{side}"] == pytest.approx(t[f"fat_fraction_{side}"], abs=0.03)
    assert info["signal_fat"] == pytest.approx(450.0, rel=0.02) and info["signal_fat_source"] == "subcutaneous"
    assert info["image_fill_border"].startswith("constant fill on the array's faces (axis 0 first 8 slices at")


def test_fat_clipped_at_the_image_maximum_gives_missing_grades_with_the_reason(phantom, tmp_path, capsys):
    """Every signal above 90 % of the fat signal cut to it (a scale that saturates fat): the fat's true signal, and so
    the midpoint threshold, is unknown. Fat fractions and grades are missing with the reason and the flag, in the
    JSON, on the screen and in the report's muscle table, never a number."""
    from spinebq.cli import main
    from spinebq.io.volume import save_nifti
    from spinebq.records.mri import MriRecord
    from spinebq.report.html import _mri_detail
    from spinebq.report.patient import mri_tables

    image, labels, _ = phantom
    clipped = np.minimum(image.array, 0.9 * 450.0)
    save_nifti(image.with_array(clipped.astype(np.float32)), tmp_path / "t1.nii.gz")
    save_nifti(labels, tmp_path / "vertebrae.nii.gz", dtype=np.int16)
    assert main(["mri", str(tmp_path / "t1.nii.gz"), "--labels", str(tmp_path / "vertebrae.nii.gz"),
                 "--out", str(tmp_path / "out"), "--no-figures"]) == 0
    screen = capsys.readouterr().out
    d = json.loads((tmp_path / "out" / "mri.json").read_text())
    info = d["muscle_method"]
    assert info["signal_fat"] is None and info["threshold"] is None
    assert info["signal_fat_reason"].startswith("the fat signal is clipped")
    assert d["muscle"]
    for entry in d["muscle"].values():
        assert entry["goutallier"] is None and entry["fat_fraction_left"] is None and entry["fat_fraction_right"] is None
        assert entry["goutallier_reason"] == f"no fat reference: {info['signal_fat_reason']}"
        assert "fat_reference_clipped" in entry["qc"] and "no_fat_reference" not in entry["qc"]
    assert "Goutallier missing: the fat signal is clipped" in screen
    tables = mri_tables(MriRecord.from_json(d))
    assert tables["muscle_missing"] == {f"no fat reference: {info['signal_fat_reason']}": ", ".join(d["muscle"])}
    assert "the fat signal is clipped" in _mri_detail(tables)
