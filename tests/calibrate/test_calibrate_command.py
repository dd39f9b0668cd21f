"""``spinebq calibrate`` on the real QRM phantom scan: the equation reproduces the phantom fit, keyed by the scan's
scanner; a second phantom appends a second key; ``spinebq ct --calibration FILE`` then uses the file."""
from __future__ import annotations

import json

import numpy as np
import pytest

from spinebq.calibrate.equations import calibration_for_scan, read_equations
from spinebq.cli import main
from spinebq.io.volume import load_volume
from tests.conftest import DATA, TS, need

QRM = DATA / "qrm_phantom_ct" / "dicom"
#: Water-equivalent background and the 200 mg HA/cm3 rod (data README: slices 31-34, row ~210, column ~265).
QRM_ROIS = {"material": "hydroxyapatite", "rois": [
    {"density_mg_cm3": 0, "center_voxel": [265, 180, 32.5], "radius_mm": 2.5, "half_height_mm": 4.5},
    {"density_mg_cm3": 200, "center_voxel": [265, 210, 32.5], "radius_mm": 2.5, "half_height_mm": 4.5}]}


@pytest.fixture(scope="module")
def qrm_equations(tmp_path_factory):
    root = tmp_path_factory.mktemp("calibrate")
    (root / "qrm.json").write_text(json.dumps(QRM_ROIS))
    assert main(["calibrate", str(need(QRM)), "--phantom", str(root / "qrm.json"), "--out", str(root / "eq.json")]) == 0
    return root


def _cylinder_mean(ct, centre, radius_mm=2.5, half_height_mm=4.5) -> float:
    """The same cylinder as the phantom file, computed another way (plain numpy on the voxel grid)."""
    i, j, k = np.indices(ct.shape)
    sp = ct.spacing_mm
    inside = (((i - centre[0]) * sp[0]) ** 2 + ((j - centre[1]) * sp[1]) ** 2 <= radius_mm**2) & \
        (np.abs(k - centre[2]) * sp[2] <= half_height_mm)
    return float(ct.array[inside].mean())


def test_qrm_equation_reproduces_the_phantom_fit_under_the_scanner_key(qrm_equations, capsys):
    document = json.loads((qrm_equations / "eq.json").read_text())
    assert document["schema"] == "spinebq.equations/1"
    (eq,) = document["equations"]
    assert (eq["manufacturer"], eq["model"], eq["kvp"], eq["kernel"]) == ("TOSHIBA", "Aquilion ONE", 120.0, "FC12")
    ct = load_volume(QRM)
    background, rod = (_cylinder_mean(ct, roi["center_voxel"]) for roi in QRM_ROIS["rois"])
    assert eq["intercept_hu"] == pytest.approx(background, abs=1e-3)
    assert eq["slope_hu_per_mg_cm3"] == pytest.approx((rod - background) / 200, rel=1e-4)  # the file keeps 4 decimals
    # the README's QRM fit: vBMD = (HU - 64.75) / 1.2456
    assert eq["equation"] == "vBMD [mg/cm3] = (HU - 64.75) / 1.2456"
    assert [i["density_mg_cm3"] for i in eq["inserts"]] == [0, 200] and "skornitzke2022" in eq["reference"]


def test_a_second_phantom_appends_a_second_key_and_the_same_key_replaces(qrm_equations, phantom, tmp_path, capsys):
    from spinebq.io.volume import save_nifti

    eq_file = tmp_path / "eq.json"
    eq_file.write_text((qrm_equations / "eq.json").read_text())
    save_nifti(phantom.ct, tmp_path / "rods.nii.gz")
    # a NIfTI phantom records no scanner: refused without the key options (exit 2, one sentence)
    assert main(["calibrate", str(tmp_path / "rods.nii.gz"), "--rods", "0,50,100,200", "--out", str(eq_file)]) == 2
    assert "does not record its manufacturer" in capsys.readouterr().err
    args = ["calibrate", str(tmp_path / "rods.nii.gz"), "--rods", "0,50,100,200", "--out", str(eq_file),
            "--manufacturer", "spinebq", "--model", "synthetic", "--kvp", "120", "--kernel", "none"]
    assert main(args) == 0
    equations = json.loads(eq_file.read_text())["equations"]
    assert [e["manufacturer"] for e in equations] == ["TOSHIBA", "spinebq"]
    truth = phantom.truth["calibration"]
    assert equations[1]["slope_hu_per_mg_cm3"] == pytest.approx(truth["slope_hu_per_mg_cm3"], rel=0.01)
    assert equations[1]["intercept_hu"] == pytest.approx(truth["intercept_hu"], abs=1.0)
    assert main(args) == 0  # the same scanner again: replaced, not duplicated
    assert "replaced" in capsys.readouterr().out
    assert len(json.loads(eq_file.read_text())["equations"]) == 2


def test_the_equation_file_is_used_by_scans_of_that_scanner(qrm_equations):
    equations = read_equations(qrm_equations / "eq.json")
    cal = calibration_for_scan(equations, load_volume(QRM).metadata, source="eq.json")
    assert cal.method == "equation" and "warning" not in cal.details
    assert cal.details["key"] == {"manufacturer": "TOSHIBA", "model": "Aquilion ONE", "kvp": 120.0, "kernel": "FC12"}
    other = calibration_for_scan(equations, {"manufacturer": "TOSHIBA", "model": "Aquilion ONE", "kvp": 100.0,
                                             "kernel": "FC12"})
    assert other.method == "none" and "kvp=100.0" in other.details["reason"]


def test_ct_with_the_file_on_a_scan_without_scanner_keys_warns(qrm_equations, tmp_path, capsys):
    """The real CT is a NIfTI (no header keys): the file's only equation is applied, with a warning."""
    out = tmp_path / "ct"
    assert main(["ct", str(need(TS / "ct.nii.gz")), "--labels", str(need(TS / "seg_v2" / "total.nii.gz")),
                 "--calibration", str(qrm_equations / "eq.json"), "--trajectory", "none", "--out", str(out)]) == 0
    doc = json.loads((out / "measurements.json").read_text())
    cal = doc["calibration"]
    assert cal["method"] == "equation" and "applied unchecked" in cal["warning"]
    l2 = doc["vertebrae"]["L2"]
    assert l2["vbmd_mg_cm3"] == pytest.approx((l2["hu"] - cal["intercept_hu"]) / cal["slope_hu_per_mg_cm3"], abs=1e-3)
    assert "warning: the scan does not record" in capsys.readouterr().out


def test_ct_with_a_file_matching_no_equation_says_so_on_screen(qrm_equations, tmp_path, capsys):
    """The real DICOM CT (Siemens) with the QRM phantom's file (Toshiba): no equation applies; the values stay in HU
    and the screen says why, naming the scan's keys (it was said in the JSON only)."""
    out = tmp_path / "ct"
    assert main(["ct", str(need(TS / "ct_dicom")), "--labels", str(need(TS / "ct_dicom_seg.nii.gz")), "--calibration",
                 str(qrm_equations / "eq.json"), "--trajectory", "none", "--no-pictures", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    reason = json.loads((out / "measurements.json").read_text())["calibration"]["reason"]
    assert "matches this scan" in reason and "manufacturer=SIEMENS" in reason
    assert f"calibration: {reason}" in printed


def test_rods_the_scan_does_not_show_are_refused_naming_the_scan(tmp_path, capsys):
    """--rods 0,200 on the QRM phantom (its inserts are too small for the rod finder): the refusal names the scan the
    user gave, not a temporary file the command wrote; a density out of range names --rods and the field."""
    out = tmp_path / "eq.json"
    assert main(["calibrate", str(need(QRM)), "--rods", "0,200", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(QRM) in err and "2 densities were given" in err and "/tmp" not in err.replace(str(tmp_path), ""), err
    assert main(["calibrate", str(QRM), "--rods", "0,-2000", "--out", str(out)]) == 2
    assert "--rods" in (err := capsys.readouterr().err) and "rods_mg_cm3[1]" in err, err
    assert not out.exists()


def test_inserts_placed_in_a_ct_that_is_not_a_phantom_are_refused(tmp_path, capsys):
    """A physicist's inserts file given with the wrong scan (the real patient CT): both cylinders fall in air
    (-997 and -957 HU) and the two-point fit (R^2 1) gave 0.199 HU per mg/cm3, written to the equations file and
    printed as "(HU - -996.8) / 0.198965"; mineral never reads so little, so the fit is refused naming the file."""
    spec = tmp_path / "inserts.json"
    spec.write_text(json.dumps({"material": "hydroxyapatite", "rois": [
        {"density_mg_cm3": 0, "center_voxel": [100, 100, 20]}, {"density_mg_cm3": 200, "center_voxel": [150, 150, 20]}]}))
    out = tmp_path / "eq.json"
    assert main(["calibrate", str(need(TS / "ct_dicom")), "--phantom", str(spec), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(spec) in err and "HU per mg/cm3" in err and "-997 HU" in err, err
    assert not out.exists()


def test_a_fit_refused_names_the_inserts_file(tmp_path, capsys):
    """Densities swapped between the background and the rod: the refusal (non-positive slope) named no file."""
    swapped = {"material": "hydroxyapatite", "rois": [dict(roi) for roi in QRM_ROIS["rois"]]}
    swapped["rois"][0]["density_mg_cm3"], swapped["rois"][1]["density_mg_cm3"] = 200, 0
    spec = tmp_path / "swapped.json"
    spec.write_text(json.dumps(swapped))
    assert main(["calibrate", str(need(QRM)), "--phantom", str(spec), "--out", str(tmp_path / "eq.json")]) == 2
    err = capsys.readouterr().err
    assert str(spec) in err and "non-positive slope" in err, err


def test_the_equation_of_a_negative_intercept_reads_plus():
    """A phantom whose background reads below 0 HU was written "(HU - -10) / 1"."""
    from spinebq.calibrate.equations import equation_from_phantom
    from spinebq.calibrate.phantom import fit_phantom

    cal = fit_phantom([-10.0, 190.0], [0.0, 200.0])
    assert cal.to_dict()["equation"] == "vBMD [mg/cm3] = (HU + 10) / 1"
    key = {"manufacturer": "X", "model": "Y", "kvp": 120.0, "kernel": "K"}
    assert equation_from_phantom(cal, key).to_json()["equation"] == "vBMD [mg/cm3] = (HU + 10) / 1"


def test_a_tube_voltage_the_equations_file_cannot_hold_is_refused(phantom, tmp_path, capsys):
    """--kvp -5 was written to the equations file, which spinebq ct then refused to read ("kvp: greater than or
    equal to 40"); the command line now refuses it before anything is written."""
    from spinebq.io.volume import save_nifti

    save_nifti(phantom.ct, tmp_path / "rods.nii.gz")
    out = tmp_path / "eq.json"
    assert main(["calibrate", str(tmp_path / "rods.nii.gz"), "--rods", "0,50,100,200", "--out", str(out),
                 "--manufacturer", "X", "--model", "Y", "--kvp", "-5", "--kernel", "B"]) == 2
    assert "--kvp" in capsys.readouterr().err
    assert not out.exists()


def test_an_mr_series_is_not_taken_for_a_phantom_ct(tmp_path, capsys):
    """An MR DICOM series with inserts given by HU was calibrated and written under its (MR) scanner key."""
    from spinebq.image.volume import Volume
    from spinebq.synthetic.mri import write_dicom_series

    mr = Volume(np.full((4, 16, 16), 100.0, np.float32), np.eye(4), {"modality": "MR"})
    write_dicom_series(mr, tmp_path / "mr")
    spec = tmp_path / "inserts.json"
    spec.write_text(json.dumps({"material": "hydroxyapatite", "rois": [{"density_mg_cm3": 0, "hu": 0},
                                                                       {"density_mg_cm3": 200, "hu": 250}]}))
    out = tmp_path / "eq.json"
    assert main(["calibrate", str(tmp_path / "mr"), "--phantom", str(spec), "--model", "M", "--kvp", "120",
                 "--kernel", "K", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "MR" in err and "CT" in err, err
    assert not out.exists()


def test_the_equation_text_carries_no_float_noise():
    """Inserts at 0 and 250 HU were written "(HU - 1.317e-15) / 1.25"."""
    from spinebq.calibrate.phantom import fit_phantom

    assert fit_phantom([0.0, 250.0], [0.0, 200.0]).to_dict()["equation"] == "vBMD [mg/cm3] = (HU - 0) / 1.25"
    assert fit_phantom([-996.8276, -757.7], [0.0, 200.0]).to_dict()["equation"].startswith("vBMD [mg/cm3] = (HU + 996.83)")


def test_k2hpo4_rods_on_the_command_line_point_to_the_phantom_file(tmp_path, capsys):
    """--help offers --material k2hpo4 with --rods, which can never work (the Mindways fit needs each rod's water
    density and --rods carries densities only): it ended in "needs the water density of every rod" after loading
    the scan; it is now refused first, saying where the water densities go."""
    out = tmp_path / "eq.json"
    assert main(["calibrate", str(tmp_path / "absent.nii.gz"), "--rods", "0,50,100,200", "--material", "k2hpo4",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--material" in err and "--phantom" in err and "water_density_mg_cm3" in err, err
    assert not out.exists()
