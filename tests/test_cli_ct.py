"""``spinebq ct`` and ``spinebq phantom`` end to end, and every bad input ending in one clear sentence."""
from __future__ import annotations

import json
import shutil

import nibabel as nib
import numpy as np
import pytest

from spinebq.cli import main
from tests.dicom_writer import cylinder_ct, write_ct_series


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["phantom", "--out", str(out), "--rods"]) == 0
    return out


def test_demo_run_writes_complete_outputs_and_is_deterministic(demo, capsys):
    args = ["ct", str(demo / "ct.nii.gz"), "--labels", str(demo / "labels.nii.gz"),
            "--calibration", "phantom", "--phantom", str(demo / "phantom_rods.json")]
    assert main(args + ["--out", str(demo / "a")]) == 0
    printed = capsys.readouterr().out
    assert "research tool" in printed and "measurements.json" in printed
    assert main(args + ["--out", str(demo / "b"), "--no-pictures"]) == 0
    _results_line_names_the_files(printed, demo / "a")
    _results_line_names_the_files(capsys.readouterr().out, demo / "b")
    a = json.loads((demo / "a" / "measurements.json").read_text())
    b = json.loads((demo / "b" / "measurements.json").read_text())
    assert a["schema"] == "spinebq.ct/1" and a["calibration"]["method"] == "phantom"
    assert a["vertebrae"] == b["vertebrae"] and a["summary"] == b["summary"]
    truth = json.loads((demo / "truth.json").read_text())["levels"]
    for level in ("L1", "L2", "L3", "L4"):
        entry = a["vertebrae"][level]
        assert abs(entry["hu_3d"] - truth[level]["trabecular_hu"]) < 2
        assert abs(entry["vbmd_mg_cm3"] - truth[level]["vbmd_mg_cm3"]) < 3
        assert len(entry["hu_2d_slices"]) == 3
    assert a["summary"]["acr_category"] in ("normal", "low_bone_mass", "osteoporosis")
    assert (demo / "a" / "overlay_sagittal.png").stat().st_size > 10_000
    assert (demo / "a" / "overlay_L1_ellipses.png").exists()
    csv = (demo / "a" / "measurements.csv").read_text().splitlines()
    assert csv[0].startswith("level,hu,hu_3d") and len(csv) == 1 + len(a["vertebrae"])


def _results_line_names_the_files(printed: str, out) -> None:
    """The last ``results:`` line names each data file written (trajectories.json too) and pictures only when
    there are some."""
    (line,) = [text for text in printed.splitlines() if text.startswith("results: ")]
    files = [p.name for p in out.iterdir() if not p.name.startswith("spinebq-manifest")]
    for name in files:
        if not name.endswith(".png"):
            assert f"{out}/{name}" in line, (name, line)
    pictures = sum(name.endswith(".png") for name in files)
    assert (f"{pictures} pictures" in line) if pictures else ("PNG" not in line and "picture" not in line), line


def test_no_phi_in_outputs_unless_asked(tmp_path, capsys):
    hu = cylinder_ct(slices=8)
    write_ct_series(tmp_path / "dcm", hu)
    labels = np.zeros((64, 64, 8), dtype=np.int16)
    labels[25:40, 20:45, 2:6] = 20
    affine = np.diag([-1.0, -1.0, 2.0, 1.0])
    affine[:3, 3] = [50.0, 50.0, 0.0]
    nib.save(nib.Nifti1Image(labels, affine), str(tmp_path / "labels.nii.gz"))
    assert main(["ct", str(tmp_path / "dcm"), "--labels", str(tmp_path / "labels.nii.gz"), "--label-scheme", "verse",
                 "--out", str(tmp_path / "out"), "--no-pictures"]) == 0
    text = (tmp_path / "out" / "measurements.json").read_text()
    assert "Doe" not in text and "PID-12345" not in text and "19500101" not in text
    assert main(["ct", str(tmp_path / "dcm"), "--labels", str(tmp_path / "labels.nii.gz"), "--label-scheme", "verse",
                 "--out", str(tmp_path / "phi"), "--no-pictures", "--include-phi"]) == 0
    assert "PID-12345" in (tmp_path / "phi" / "measurements.json").read_text()


def _fails(args, capsys, *fragments):
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, err
    return err


def test_bad_inputs_end_in_one_sentence(demo, ts_dir, tmp_path, capsys):
    out = tmp_path / "out"
    ct = str(demo / "ct.nii.gz")
    # a non-image file
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    _fails(["ct", str(text), "--out", str(out)], capsys, "notes.txt", "not a DICOM file")
    # an empty folder
    (tmp_path / "empty").mkdir()
    _fails(["ct", str(tmp_path / "empty"), "--out", str(out)], capsys, "empty")
    # a mixed folder with no CT series (an MR series and a text file)
    write_ct_series(tmp_path / "mixed", cylinder_ct(slices=4), modality="MR")
    (tmp_path / "mixed" / "readme.txt").write_text("x")
    _fails(["ct", str(tmp_path / "mixed"), "--out", str(out)], capsys, "no CT image series", "MR")
    # a truncated DICOM file
    write_ct_series(tmp_path / "trunc", cylinder_ct(slices=4))
    victim = sorted((tmp_path / "trunc").iterdir())[1]
    victim.write_bytes(victim.read_bytes()[:3000])
    _fails(["ct", str(tmp_path / "trunc"), "--out", str(out)], capsys, victim.name, "cannot be decoded")
    # NaNs in the image
    img = nib.load(ct)
    data = np.asanyarray(img.dataobj).astype(np.float32)
    data[5, 5, 5] = np.nan
    nib.save(nib.Nifti1Image(data, img.affine), str(tmp_path / "nan.nii.gz"))
    _fails(["ct", str(tmp_path / "nan.nii.gz"), "--labels", str(demo / "labels.nii.gz"), "--out", str(out)], capsys, "NaN")
    # a label map of the wrong shape
    lab = nib.load(str(demo / "labels.nii.gz"))
    nib.save(nib.Nifti1Image(np.asanyarray(lab.dataobj)[:, :, :100], lab.affine), str(tmp_path / "short.nii.gz"))
    _fails(["ct", ct, "--labels", str(tmp_path / "short.nii.gz"), "--out", str(out)], capsys, "short.nii.gz", "same space")
    # a label map with no lumbar vertebra (only C3)
    only_c3 = np.where(np.asanyarray(lab.dataobj) == 20, 3, 0).astype(np.int16)
    nib.save(nib.Nifti1Image(only_c3, lab.affine), str(tmp_path / "c3.nii.gz"))
    _fails(["ct", ct, "--labels", str(tmp_path / "c3.nii.gz"), "--label-scheme", "verse", "--out", str(out)], capsys,
           "no vertebra between T11 and S1", "its ids read as 3 = C3")
    # TotalSegmentator's vertebrae_body task on the real CT (1 every body, 2 every disc): said what it is (was only "no
    # vertebra between T11 and S1 is labelled")
    _fails(["ct", str(ts_dir / "ct.nii.gz"), "--labels", str(ts_dir / "seg_v2" / "vertebrae_body.nii.gz"), "--out", str(out)],
           capsys, "its ids read as 1 = C1, 2 = C2", "vertebrae_body task) names no level")
    # the json label scheme without its map: the library names the parameter, the command line the flag
    _fails(["ct", ct, "--labels", str(demo / "labels.nii.gz"), "--label-scheme", "json", "--out", str(out)], capsys,
           "error: --label-map: ", "json label scheme needs a JSON map")
    # the real CT converted without its rescale intercept (HU + 1024, as uint16): was "is it an MR image? (give
    # --modality CT if it is a CT)", and with --modality CT it was measured: L1 hu_3d 1133.7
    real = nib.load(str(ts_dir / "ct.nii.gz"))
    shifted = np.clip(np.asanyarray(real.dataobj).astype(np.int32) + 1024, 0, None).astype(np.uint16)
    nib.save(nib.Nifti1Image(shifted, real.affine), str(tmp_path / "shifted.nii.gz"))
    for extra in ([], ["--modality", "CT"]):
        _fails(["ct", str(tmp_path / "shifted.nii.gz"), "--out", str(out), *extra], capsys, "shifted.nii.gz",
               "Hounsfield units plus 1024", "rescale intercept was lost")
    # a misspelt option: named by the command with the nearest option (was "spinebq: error: unrecognized arguments:
    # --lables ct.nii.gz (see spinebq --help)", the value taken for the image)
    _fails(["ct", ct, "--lables", str(demo / "labels.nii.gz"), "--out", str(out)], capsys,
           "spinebq ct: error: unrecognized arguments: --lables (did you mean --labels?)", "see spinebq ct --help")
    # an MR passed as CT
    _fails(["ct", str(ts_dir / "mr_small.nii.gz"), "--out", str(out)], capsys, "mr_small.nii.gz", "MR image")
    # an unreadable path
    _fails(["ct", str(tmp_path / "nope.nii.gz"), "--out", str(out)], capsys, "nope.nii.gz", "no such file")
    # a damaged NIfTI
    (tmp_path / "bad.nii.gz").write_bytes(b"\x1f\x8b garbage")
    _fails(["ct", str(tmp_path / "bad.nii.gz"), "--out", str(out)], capsys, "bad.nii.gz", "cannot be read as NIfTI")
    # nothing was written as if complete
    assert not (out / "measurements.json").exists()


def test_ct_without_labels_runs_the_builtin_segmentation(ts_dir, tmp_path, capsys):
    out = tmp_path / "auto"
    assert main(["ct", str(ts_dir / "ct.nii.gz"), "--out", str(out), "--no-pictures"]) == 0
    assert "built-in segmentation" in capsys.readouterr().out
    document = json.loads((out / "measurements.json").read_text())
    assert document["input"]["labels"]["label_scheme"] == "verse"
    # whole vertebrae (pedicles and screws are found in them), bodies from the segmentation's body sub-region
    assert document["input"]["labels"]["content"] == "whole"
    for level in ("L2", "L3", "L4", "L5"):
        entry = document["vertebrae"][level]
        assert 80 < entry["hu_3d"] < 250
        assert entry["body_method"] == "the segmentation's own body sub-region"
        assert set(entry["trajectories"]) == {"left", "right"} and entry["pedicles"]


def test_summary_levels_take_a_range_as_report_does(demo, tmp_path, capsys):
    """``--levels L3-L1`` (a range, either way round, as ``report --planned-levels`` takes it) gives the summary of
    L1, L2 and L3; a wrong name is refused naming --levels."""
    args = ["ct", str(demo / "ct.nii.gz"), "--labels", str(demo / "labels.nii.gz"), "--trajectory", "none", "--no-pictures"]
    assert main(args + ["--levels", "L3-L1", "--out", str(tmp_path / "range")]) == 0
    doc = json.loads((tmp_path / "range" / "measurements.json").read_text())
    summary = doc["summary"]
    assert summary["levels_requested"] == summary["levels_used"] == ["L1", "L2", "L3"]
    assert summary["hu"] == pytest.approx(np.mean([doc["vertebrae"][lv]["hu"] for lv in ("L1", "L2", "L3")]), abs=1e-3)
    capsys.readouterr()
    assert main(args + ["--levels", "L1,X9", "--out", str(tmp_path / "bad")]) == 2
    assert "--levels" in (err := capsys.readouterr().err) and "'X9'" in err, err


def test_the_overview_of_a_short_series_is_cropped_about_the_spine(ts_dir, tmp_path):
    """The real 20-slice DICOM series (40 mm tall, 500 mm across, T11 and T12): the sagittal overview was a 4.5 x 0.4
    inch strip (47 of 880 pixel rows) in the middle of a blank 6 x 8 inch page. Now it is cropped from
    OVERVIEW_FRONT_MM in front of the bodies to OVERVIEW_BACK_MM behind them, its axes in LPS mm, and the figure takes
    the image's proportions: a wide picture whose CT fills at least a quarter of its height."""
    import matplotlib.pyplot as plt
    import numpy as np

    from spinebq.io.labels import load_labels
    from spinebq.io.volume import load_volume
    from spinebq.measure.ct.levels import measure_ct
    from spinebq.report.ct_outputs import sagittal_overview

    dicom = load_volume(ts_dir / "ct_dicom", expect_modality="CT")
    result = measure_ct(dicom, load_labels(ts_dir / "ct_dicom_seg.nii.gz", dicom))
    picture = plt.imread(sagittal_overview(dicom, result, tmp_path / "overview.png"))
    height, width = picture.shape[:2]
    image_rows = np.flatnonzero((picture[..., :3].mean(axis=-1) < 0.9).mean(axis=1) > 0.5)
    assert width > 1.5 * height and image_rows.size >= max(100, height / 4), (width, height, image_rows.size)
