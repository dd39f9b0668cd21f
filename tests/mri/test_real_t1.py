"""The four real sagittal T1 exams (../shared/data/lumbar_mri_t1) with their manual body masks.

Expected values are this implementation's own results (benchmarks/mri.md), kept to catch regressions;
no reference reading of these 8-bit rescaled images exists.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from tests.segment.conftest import dice

from .conftest import CASES, T1_DIR, need_t1_data

#: VBQ with the manual masks, as measured when the method was fixed (benchmarks/mri.md). case08: 2.685 before
#: issue 20; its L3 sac holds a band of roots at about 1.6 x CSF (and a dark pocket behind the dura), which the
#: fluid-only CSF ROI leaves out (CSF 22.6 -> 18.7).
EXPECTED_VBQ = {"02": 1.760, "06": 2.232, "08": 3.238, "10": 2.823}


@pytest.fixture(scope="module")
def mask_results():
    need_t1_data()
    from spinebq.io.volume import load_volume
    from spinebq.io.mr_labels import load_mr_labels
    from spinebq.measure.mri.measure import measure_mri

    out = {}
    for case in CASES:
        image = load_volume(T1_DIR / f"case{case}_t1.nii.gz")
        labels = load_mr_labels(T1_DIR / f"case{case}_bodies_verse.nii.gz", image)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out[case] = (image, labels, measure_mri(image, labels=labels, path=f"case{case}"))
    return out


@pytest.mark.parametrize("case", CASES)
def test_vbq_with_masks(mask_results, case):
    image, labels, result = mask_results[case]
    d = result.data
    assert d["vbq"] == pytest.approx(EXPECTED_VBQ[case], abs=0.01)
    assert 1.0 < d["vbq"] < 4.5
    assert d["csf"]["level"] == "L3" and d["csf"]["voxels"] >= 30
    # the CSF is darker than every lumbar body, and its ROI lies behind L3
    for lv in ("L1", "L2", "L3", "L4"):
        assert d["levels"][lv]["body_signal"] > d["csf"]["signal"]
        assert d["levels"][lv]["body_voxels"] > 300
    csf = result.rois["csf"]
    l3 = labels.array == 22
    assert np.nonzero(csf)[1].mean() > np.nonzero(l3[d["csf"]["slice"]])[0].max()
    assert d["pbq"] is not None and d["s1_vbq"] is not None


def test_pictures(mask_results, tmp_path):
    from spinebq.report.mri_figures import save_figures

    image, labels, result = mask_results["10"]
    paths = save_figures(image, result.data, result.rois, tmp_path, labels=labels.array, title="case10")
    assert {p.name for p in paths} >= {"mri_sagittal.png", "mri_levels.png", "mri_pedicles.png"}
    # the per-level sheet is one column (sagittal above axial) per level measured
    import matplotlib.image

    height, width = matplotlib.image.imread(tmp_path / "mri_levels.png").shape[:2]
    assert width / height == pytest.approx(2.6 * len(result.data["levels"]) / 6.4, rel=0.02)


def test_label_scheme_translation(mask_results):
    """The VerSe body masks re-coded as TotalSegmentator vertebrae_mr come back as the same levels."""
    import nibabel as nib

    from spinebq.io.volume import save_nifti
    from spinebq.io.mr_labels import VERTEBRAE_MR, load_mr_labels
    from spinebq.anatomy import VERSE_IDS

    image, labels, _ = mask_results["02"]
    recoded = np.zeros(labels.shape, np.int16)
    for mr_id, name in VERTEBRAE_MR.items():
        recoded[labels.array == VERSE_IDS[name]] = mr_id
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        p = save_nifti(labels.with_array(recoded), Path(tmp) / "case02_vertebrae_mr.nii.gz")
        back = load_mr_labels(p, image)
    assert back.metadata["label_scheme"] == "vertebrae_mr"
    keep = np.isin(labels.array, [VERSE_IDS[n] for n in VERTEBRAE_MR.values()])
    assert np.array_equal(back.array[keep], labels.array[keep])


@pytest.fixture(scope="module")
def auto_results(mask_results):
    from spinebq.segment.mri import detect_vertebrae
    from spinebq.measure.mri.measure import measure_mri

    out = {}
    for case, (image, labels, _) in mask_results.items():
        auto, _info = detect_vertebrae(image)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out[case] = (auto, measure_mri(image, labels=auto, measure_muscle=False, path=f"case{case}"))
    return out


@pytest.mark.parametrize("case", CASES)
def test_automatic_mode_names_l1_l4_and_gives_vbq_and_s1_vbq_within_5_percent(mask_results, auto_results, case):
    _, labels, result = mask_results[case]
    auto, auto_result = auto_results[case]
    for vid in (20, 21, 22, 23):  # L1-L4: the automatic body overlaps the manual body of the same level most
        found = labels.array[auto.array == vid]
        assert found.size and np.bincount(found[found > 0]).argmax() == vid
    assert auto_result.data["vbq"] == pytest.approx(result.data["vbq"], rel=0.05)
    assert auto_result.data["s1_vbq"] == pytest.approx(result.data["s1_vbq"], rel=0.05)


@pytest.mark.parametrize("case", CASES)
def test_automatic_mode_dice_target(mask_results, auto_results, case):
    """Issue 5's target: body Dice >= 0.85 against the manual masks for every L1-L4 level (benchmarks/mri.md:
    0.857-0.910 when the method was fixed, with constants tuned on these four exams)."""
    labels = mask_results[case][1]
    auto = auto_results[case][0]
    assert min(dice(auto.array == vid, labels.array == vid) for vid in (20, 21, 22, 23)) >= 0.85


def _outline(image: np.ndarray) -> np.ndarray:
    """The patient's body on every sagittal slice, found independently of the muscle method (segment.mri)."""
    from spinebq.segment.mri import _patient_mask

    return np.stack([_patient_mask(image[x]) for x in range(image.shape[0])])


#: case10 fails the "hardly any voxel at fat signal" check since its fat reference is the patient's fat (112) and no
#: longer the padding slice (255, which put the fat level above every voxel: the check passed without testing).
#: L4/L5 (8 % left, 11 % right of voxels at fat signal) holds bright bands beside the L5 posterior elements that the
#: body-only masks cannot leave out (benchmarks/mri.md). Open: the test passes when the ROIs are fixed (strict).
ROIS_REACH_FAT = pytest.mark.xfail(strict=True, reason="case10 L4/L5 muscle ROIs reach bright bands by the L5 "
                                                        "posterior elements")


@pytest.mark.parametrize("case", [c if c != "10" else pytest.param(c, marks=ROIS_REACH_FAT) for c in CASES])
def test_muscle_rois_lie_inside_the_muscle(mask_results, case):
    """Issue 20: every muscle ROI inside the body outline, no air, hardly any voxel at fat signal where the grade
    is 0-1, and its mean between the muscle and fat signals found in the image."""
    image, _, result = mask_results[case]
    d, img = result.data, image.array
    method = d["muscle_method"]
    muscle_signal, fat_signal = method["signal_muscle"], method["signal_fat"]
    assert method["signal_fat_source"] == "subcutaneous" and fat_signal > 2.5 * muscle_signal
    assert len(d["muscle"]) == 5
    outline = _outline(img)
    fat_level = muscle_signal + 0.75 * (fat_signal - muscle_signal)
    for name, roi in result.rois.items():
        if not name.startswith("muscle_"):
            continue
        side, disc = name.split("_")[1:]
        values = img[roi]
        assert roi.sum() > 3000, name
        assert outline[roi].all(), name  # no air: dark voxels inside the outline are cortex or ligament
        assert muscle_signal < values.mean() < fat_signal, name
        if d["muscle"][disc][f"goutallier_{side}"] <= 1:
            assert (values >= fat_level).mean() < 0.05, name
        assert d["muscle"][disc]["qc"][0] == "sagittal_approximation"


def test_case10_fat_reference_is_fat_not_the_padding_slice(mask_results):
    """case10 carries a frame of 255 (the 8-bit maximum) on three faces, its whole first sagittal slice among
    them, which the right erector lines reach; no voxel inside the frame is that bright. Read as tissue, that
    slice was the "subcutaneous fat" (255), the fat threshold (144.5) lay above every muscle voxel and every fat
    fraction read 0.00, grade 0. The fat reference must be the patient's fat, below the brightest anatomy."""
    image, _, result = mask_results["10"]
    d, img = result.data, image.array
    inner = img[1:, :-1, 1:]  # one voxel inside the frame is 255: the bright skin marker behind the back
    assert (inner == 255).sum() == 1
    assert (img[0] == 255).all() and (img[:, -1] == 255).all() and (img[:, :, 0] == 255).all()
    method = d["muscle_method"]
    assert method["image_fill_border"].startswith("constant fill on the array's faces (axis 0 first 1 slice at 255; "
                                                  "axis 1 last 1 slice at 255; axis 2 first 1 slice at 255")
    assert method["signal_fat_source"] == "subcutaneous" and method["signal_fat"] < 255
    # the fat behind the muscles on these slices (line profiles: two layers of about 85-115 under the skin)
    assert 90 <= method["signal_fat"] <= 130 and method["threshold"] < 100
    # L4/L5 holds fat streaks that the ROIs reach: no level reads zero fat, L4/L5 is grade 1
    for disc, entry in d["muscle"].items():
        assert entry["fat_fraction_left"] > 0 and entry["fat_fraction_right"] > 0, disc
    assert d["muscle"]["L4/L5"]["goutallier"] >= 1


def test_case10_muscle_roi_stops_at_the_deep_fat_layer(mask_results):
    """case10's subcutaneous fat behind L5/S1 lies in two layers split by a dark septum, the deeper one about 9 mm
    thick. The septum rule bridged a septum only when the 10 mm in front of it were fat, so the left ROI ran on
    into the deep layer: fat fraction 0.27, grade 1 (17 % of its voxels at fat signal). With a 6 mm check the ROI
    ends at the fascia in front of it (``SEPTUM_CHECK_MM``; the picture ``mri_muscle.png`` shows it)."""
    image, _, result = mask_results["10"]
    d, img = result.data, image.array
    method = d["muscle_method"]
    fat_level = method["signal_muscle"] + 0.75 * (method["signal_fat"] - method["signal_muscle"])
    assert d["muscle"]["L5/S1"]["fat_fraction_left"] < 0.05
    assert (img[result.rois["muscle_left_L5/S1"]] >= fat_level).mean() < 0.05


@pytest.mark.parametrize("case", CASES)
def test_fat_clipped_at_the_image_maximum_gives_missing_grades(mask_results, case):
    """A scale that saturates fat (every signal cut at 95 % of the fat found): more than half of the subcutaneous
    fat lies at the image's maximum, its true signal is unknown, so no fat fraction and no grade, with the reason.
    Not the dimmer "intermuscular" class instead (134-147 on 02/06/08, partial volume: L4/L5 fat fractions 0.15-0.16
    for 0.10-0.11)."""
    from spinebq.measure.mri.measure import measure_mri

    image, labels, result = mask_results[case]
    cut = 0.95 * result.data["muscle_method"]["signal_fat"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = measure_mri(image.with_array(np.minimum(image.array, cut)), labels=labels, path=f"case{case}").data
    assert d["muscle_method"]["signal_fat"] is None
    assert d["muscle_method"]["signal_fat_reason"].startswith("the fat signal is clipped")
    for entry in d["muscle"].values():
        assert entry["goutallier"] is None and entry["fat_fraction_left"] is None and entry["fat_fraction_right"] is None
        assert "fat_reference_clipped" in entry["qc"]


@pytest.mark.parametrize("case", CASES)
def test_no_fat_in_the_image_gives_missing_grades_with_the_reason(mask_results, case):
    from spinebq.measure.mri.measure import measure_mri

    image, labels, result = mask_results[case]
    muscle_signal = result.data["muscle_method"]["signal_muscle"]
    no_fat = image.with_array(np.minimum(image.array, 1.2 * muscle_signal))  # every fat voxel as dark as muscle
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = measure_mri(no_fat, labels=labels, path=f"case{case}").data
    assert d["muscle_method"]["signal_fat"] is None and "no fat found" in d["muscle_method"]["signal_fat_reason"]
    assert d["muscle"]
    for entry in d["muscle"].values():
        assert entry["goutallier"] is None and entry["fat_fraction_left"] is None and entry["fat_fraction_right"] is None
        assert entry["goutallier_reason"].startswith("no fat reference: no fat found")
        assert "no_fat_reference" in entry["qc"]


def test_automatic_label_map_lies_on_the_input_grid_with_its_header(tmp_path, capsys):
    """Issue 20: vertebrae.nii.gz of the automatic mode is stored as the input is (its axis order, affine,
    qform/sform codes): the manual masks, made on the input's grid, line up with it array for array."""
    need_t1_data()
    import nibabel as nib

    from spinebq.cli import main

    source = T1_DIR / "case10_t1.nii.gz"
    assert main(["mri", str(source), "--out", str(tmp_path), "--no-figures", "--no-muscle"]) == 0, capsys.readouterr().err
    written, reference = nib.load(str(tmp_path / "vertebrae.nii.gz")), nib.load(str(source))
    assert written.shape == reference.shape and np.array_equal(written.affine, reference.affine)
    assert int(written.header["qform_code"]) == int(reference.header["qform_code"])
    assert int(written.header["sform_code"]) == int(reference.header["sform_code"])
    assert written.get_data_dtype() == np.int16
    found = np.asarray(written.dataobj)
    manual = np.asarray(nib.load(str(T1_DIR / "case10_bodies_verse.nii.gz")).dataobj)
    for vid in (20, 21, 22, 23):  # L1-L4, compared as stored
        assert dice(found == vid, manual == vid) > 0.8


def test_summary_says_what_is_missing_and_why_in_words(tmp_path, capsys):
    """case02 with its manual masks: L2's label shows no left pedicle. The summary says "not measured" (not Python's
    None) and gives the reason as a sentence, and the JSON's reasons are sentences too."""
    need_t1_data()
    import json

    from spinebq.cli import main

    out = tmp_path / "out"
    code = main(["mri", str(T1_DIR / "case02_t1.nii.gz"), "--labels", str(T1_DIR / "case02_bodies_verse.nii.gz"),
                 "--out", str(out), "--no-figures", "--no-muscle"])
    printed = capsys.readouterr().out
    assert code == 0
    l2 = next(line for line in printed.splitlines() if line.strip().startswith("L2:"))
    assert "None" not in printed and "pedicles (left / right) not measured / " in l2, l2
    assert "the label shows no pedicle on this side of the canal" in l2, l2
    entry = json.loads((out / "mri.json").read_text())["levels"]["L2"]
    assert entry["pedicle_signal_left"] is None and entry["pedicle_signal_right"] is not None
    assert entry["qc_notes"]["pedicle_left_missing"] == "no left pedicle ROI: the label shows no pedicle on this side of the canal"


def test_labels_of_another_exam_are_named_as_a_cause(tmp_path, capsys):
    """case06's masks on case02's image put the 'bodies' where the canal and discs are: the refusal names labels of
    another exam beside a T2-weighted image as the cause, instead of only calling the image T2-weighted."""
    need_t1_data()
    from spinebq.cli import main

    code = main(["mri", str(T1_DIR / "case02_t1.nii.gz"), "--labels", str(T1_DIR / "case06_bodies_verse.nii.gz"),
                 "--out", str(tmp_path / "out"), "--no-figures"])
    error = capsys.readouterr().err
    assert code == 2
    assert "labels of another exam" in error and "T2-weighted" in error, error


def test_each_exams_own_labels_fit_its_image(mask_results):
    """The labels drawn on each exam lie 1-2 mm (median over the levels) from the bodies the built-in detection finds
    in it, under the 4 mm above which labels are said to lie off the image; VBQ stays measured (test_vbq_with_masks)."""
    from spinebq.measure.mri.label_fit import MAX_MEDIAN_OFFSET_MM

    for case, (_, _, result) in mask_results.items():
        fit = result.data["roi_source"]["fit"]
        assert fit["checked"] and fit["fits"], (case, fit)
        assert fit["median_offset_mm"] < MAX_MEDIAN_OFFSET_MM / 1.8, (case, fit["median_offset_mm"])
        assert "labels_off_the_image" not in result.data["input"]["flags"], case


@pytest.mark.parametrize("image_case, labels_case", [("06", "08"), ("08", "06")])
def test_labels_of_another_exam_on_its_grid_are_said_to_lie_off_the_image(image_case, labels_case):
    """case06 and case08 share a grid (361 x 361 x 57, one affine) and a similar build: each one's labels on the other's
    image loaded and measured without a word (VBQ 2.26 for case06, whose own labels give 2.23, and a Genant grade 2 at
    L5 from case08's outline). Their bodies lie a median 5-7 mm off the bodies the image shows: VBQ, S1-VBQ and PBQ
    are now missing with the reason, and the input carries labels_off_the_image."""
    need_t1_data()
    from spinebq.io.volume import load_volume
    from spinebq.io.mr_labels import load_mr_labels
    from spinebq.measure.mri.label_fit import MAX_MEDIAN_OFFSET_MM
    from spinebq.measure.mri.measure import measure_mri

    image = load_volume(T1_DIR / f"case{image_case}_t1.nii.gz")
    labels = load_mr_labels(T1_DIR / f"case{labels_case}_bodies_verse.nii.gz", image)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = measure_mri(image, labels=labels, path=f"case{image_case}", measure_muscle=False).data
    fit = d["roi_source"]["fit"]
    assert fit["checked"] and not fit["fits"] and fit["median_offset_mm"] > MAX_MEDIAN_OFFSET_MM * 1.25, fit
    assert "labels_off_the_image" in d["input"]["flags"]
    assert "another scan" in d["input"]["flag_notes"]["labels_off_the_image"]
    for key in ("vbq", "s1_vbq", "pbq"):
        assert d[key] is None and "labels_off_the_image" in d[f"{key}_reason"], (key, d[key], d[f"{key}_reason"])
    assert d["vbq_levels_used"] == [] and all(c["at_or_above"] is None for c in d["vbq_cutoffs"]), d["vbq_cutoffs"]


def test_the_t1_image_given_as_labels_is_named_as_an_image(tmp_path, capsys):
    """The 8-bit T1 itself given to --labels (253 distinct values, under the 1000 of the CT check) was read as a label
    map and refused as "no CSF visible behind L3, L2 or L4", naming the MR; the labels file is now named as an
    image."""
    need_t1_data()
    from spinebq.cli import main

    code = main(["mri", str(T1_DIR / "case02_t1.nii.gz"), "--labels", str(T1_DIR / "case02_t1.nii.gz"),
                 "--out", str(tmp_path / "out"), "--no-figures"])
    error = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in error
    assert "253 distinct values" in error and "image rather than a label map" in error, error


@pytest.mark.parametrize("with_labels", [False, True])
def test_a_label_map_given_as_the_mr_is_named_as_one(tmp_path, capsys, with_labels):
    """The body masks given as the MR image (an output fed back, or the two arguments swapped): with --labels too
    it was an internal error (ZeroDivisionError: the CSF read 0), without it 'no spinal canal found'."""
    need_t1_data()
    from spinebq.cli import main

    masks = T1_DIR / "case02_bodies_verse.nii.gz"
    code = main(["mri", str(masks), *(["--labels", str(masks)] if with_labels else []),
                 "--out", str(tmp_path / "out"), "--no-figures"])
    error = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in error
    assert "case02_bodies_verse.nii.gz" in error and "label map" in error, error


def test_a_csf_point_inside_a_body_is_refused(mask_results):
    """Points mode on the real case08: L1-L4 clicked at their bodies' centres and the CSF point put on L3's centre
    too was accepted (it read 54 against the bodies' 79, darker than the marrow) and gave VBQ 1.45 against 3.24 with
    the masks. A CSF point in or before a body is refused; the labels mode's own CSF ROI centre is accepted."""
    from spinebq.anatomy import VERSE_IDS
    from spinebq.errors import SpinebqError
    from spinebq.measure.mri.measure import measure_mri

    image, labels, result = mask_results["08"]
    points = {lv: np.argwhere(labels.array == VERSE_IDS[lv]).mean(axis=0) for lv in ("L1", "L2", "L3", "L4")}
    csf = np.argwhere(result.rois["csf"]).mean(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the NIfTI names no weighting
        with pytest.raises(SpinebqError, match="CSF point lies 0.0 mm behind the L3 body point"):
            measure_mri(image, points={**points, "CSF": points["L3"]}, measure_muscle=False)
        clicked = measure_mri(image, points={**points, "CSF": csf}, measure_muscle=False)
    assert clicked.data["csf"]["level"] == "L3" and clicked.data["vbq"] > 2.5, clicked.data["vbq"]


def test_pictures_are_drawn_in_the_lps_millimetres_points_take(mask_results, tmp_path, monkeypatch):
    """The pictures' axes were millimetres from the image's first voxel (case10's L3 body ROI drawn at z 142 mm,
    where the file and ``--points`` put it at -208 mm): a point read off a picture was not where the reader saw it.
    Each body's outline on ``mri_sagittal.png`` now lies at its centre's LPS y and z."""
    import matplotlib.pyplot as plt

    from spinebq.report.mri_figures import save_figures

    image, labels, result = mask_results["10"]
    close = plt.close
    close("all")
    monkeypatch.setattr(plt, "close", lambda fig=None: None)  # keep the figures to read their axes
    before = set(plt.get_fignums())
    save_figures(image, result.data, result.rois, tmp_path, labels=labels.array, title="case10")
    sagittal = plt.figure(min(set(plt.get_fignums()) - before)).axes[0]
    outlines = [path.vertices.mean(axis=0) for c in sagittal.collections for path in c.get_paths() if len(path.vertices)]
    for level in ("L1", "L3", "L4"):
        centre_mm = image.index_to_mm(np.argwhere(result.rois[f"body_{level}"]).mean(axis=0))
        y_mm, z_mm = centre_mm[1], centre_mm[2]
        (xmin, xmax), (ymin, ymax) = sorted(sagittal.get_xlim()), sorted(sagittal.get_ylim())
        assert xmin < y_mm < xmax and ymin < z_mm < ymax, (level, centre_mm, sagittal.get_xlim(), sagittal.get_ylim())
        nearest = min(outlines, key=lambda v: np.hypot(v[0] - y_mm, v[1] - z_mm))
        assert np.hypot(nearest[0] - y_mm, nearest[1] - z_mm) < 2.0, (level, nearest, centre_mm)
    assert "LPS y" in sagittal.get_xlabel() and "LPS z" in sagittal.get_ylabel()
    close("all")


@pytest.fixture(scope="module")
def case10_runs(mask_results, auto_results):
    """case10's muscle fat with its manual body masks and with the vertebrae found automatically (the muscle
    measured on the automatic labels of :func:`auto_results`): ``{"manual": ..., "automatic": ...}``, each
    ``(image, MriMeasurement)``."""
    from spinebq.measure.mri.measure import measure_mri

    image, _, manual = mask_results["10"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        automatic = measure_mri(image, labels=auto_results["10"][0], path="case10")
    return {"manual": (image, manual), "automatic": (image, automatic)}


def _muscle_picture_texts(image, result, out_dir, monkeypatch) -> list[str]:
    """Every text drawn on ``mri_muscle.png`` (labels beside the ROIs, then the titles)."""
    import matplotlib.figure

    from spinebq.report.mri_figures import save_figures

    texts = {}
    save = matplotlib.figure.Figure.savefig

    def capture(fig, path, *args, **kwargs):
        drawn = [t.get_text() for ax in fig.axes for t in ax.texts]
        texts[Path(path).name] = drawn + [ax.get_title() for ax in fig.axes] + ([fig._suptitle.get_text()] if fig._suptitle else [])
        return save(fig, path, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", capture)
    save_figures(image, result.data, result.rois, out_dir, title="case10")
    monkeypatch.undo()
    return texts["mri_muscle.png"]


@pytest.fixture(scope="module")
def case10_muscle_texts(case10_runs, tmp_path_factory) -> dict[str, list[str]]:
    """Every text drawn on ``mri_muscle.png`` of each run of :func:`case10_runs` (run -> texts), drawn once for the
    tests that read them."""
    texts = {}
    with pytest.MonkeyPatch.context() as monkeypatch:
        for run, (image, result) in case10_runs.items():
            texts[run] = _muscle_picture_texts(image, result, tmp_path_factory.mktemp(f"case10_{run}"), monkeypatch)
    return texts


#: A fat fraction as the pictures, the screen and the report show it, with the grade beside it on the pictures.
SHOWN_FF = re.compile(r"(\d+\.\d+) %")


@pytest.mark.parametrize("run", ["manual", "automatic"])
def test_case10_fat_fraction_is_shown_on_its_side_of_the_goutallier_cutoff(case10_runs, case10_muscle_texts, run):
    """A user run of case10: manual masks gave L5/S1 left 0.023, right 0.040, grade 0; automatic mode left 0.052,
    right 0.046, grade 1, and mri_muscle.png showed "FF 0.05, grade 1" beside "FF 0.05, grade 0": two decimals hid
    on which side of the 5 % cutoff (grade 0/1) each value lies. Every fat fraction shown (picture, screen, report
    table), read back, now gives the grade spinebq gave it."""
    from spinebq.cli.mri import _summary
    from spinebq.measure.mri.muscle import goutallier_grade
    from spinebq.records.mri import MriRecord
    from spinebq.report.html import _mri_detail
    from spinebq.report.patient import mri_tables

    _, result = case10_runs[run]
    muscle = result.data["muscle"]
    expected = {f"{disc} {side}": (e[f"fat_fraction_{side}"], e[f"goutallier_{side}"])
                for disc, e in muscle.items() for side in ("left", "right")}
    # the picture: per side "L5/S1 FF 5.2 %, grade 1"; the side is the panel's (right panel first)
    labels = [t for t in case10_muscle_texts[run] if " FF " in t]
    assert len(labels) == 10, labels
    for side, panel in (("right", labels[:5]), ("left", labels[5:])):
        for text in panel:
            disc = text.split()[0]
            ff, grade = expected[f"{disc} {side}"]
            shown = float(SHOWN_FF.search(text).group(1)) / 100
            assert f"grade {grade}" in text and goutallier_grade(shown) == grade, (text, ff)
            assert shown == pytest.approx(ff, abs=0.00051), (text, ff)  # one decimal of a percentage
    # the screen: "L5/S1: Goutallier 1 (...), fat fraction (left / right) 5.2 % / 4.6 %, sagittal"
    screen = _summary(result.data, "out", "case10").splitlines()
    # the report's muscle table: one row per disc level, the fat fractions of the left and right side
    table = _mri_detail(mri_tables(MriRecord.from_json(result.data)))
    for disc, e in muscle.items():
        line = next(line for line in screen if line.startswith(f"  {disc}: Goutallier {e['goutallier']}"))
        row = re.search(rf"<tr data-level='{re.escape(disc)}'>(.*?)</tr>", table).group(1)
        for text in (line, row):
            shown = [float(v) / 100 for v in SHOWN_FF.findall(text)]
            assert [goutallier_grade(v) for v in shown] == [e["goutallier_left"], e["goutallier_right"]], text


def test_case10_grade_near_the_cutoff_carries_the_caveat_and_one_far_from_it_does_not(case10_runs,
                                                                                        case10_muscle_texts):
    """case10 L5/S1 reads grade 0 with the manual masks and 1 automatically (fat fractions 2.3-5.2 %, all within
    3 points of the 5 % cutoff): in both runs the level carries ``goutallier_near_cutoff`` with its note, the
    picture, the screen and the report say "near the 5 % cutoff". L4/L5 (18-25 %, grade 1 in both runs) lies more
    than 10 points from every cutoff and carries none of it."""
    from spinebq.cli.mri import _summary
    from spinebq.measure.mri.muscle import GOUTALLIER_CUTOFFS, NEAR_CUTOFF_MARGIN
    from spinebq.records.mri import MriRecord
    from spinebq.report.html import _mri_detail
    from spinebq.report.patient import caveats, mri_tables

    grades = {run: r.data["muscle"]["L5/S1"]["goutallier"] for run, (_, r) in case10_runs.items()}
    assert grades == {"manual": 0, "automatic": 1}  # the two ROIs put L5/S1 on either side of the cutoff
    for run, (_, result) in case10_runs.items():
        near, far = result.data["muscle"]["L5/S1"], result.data["muscle"]["L4/L5"]
        for side in ("left", "right"):
            assert abs(near[f"fat_fraction_{side}"] - 0.05) < NEAR_CUTOFF_MARGIN and near[f"near_cutoff_{side}"] == 0.05
            assert min(abs(far[f"fat_fraction_{side}"] - c) for c in GOUTALLIER_CUTOFFS) > NEAR_CUTOFF_MARGIN
            assert far[f"near_cutoff_{side}"] is None
        assert near["near_cutoff"] == 0.05 and "goutallier_near_cutoff" in near["qc"]
        assert "5 % cutoff between Goutallier grades 0 and 1" in near["qc_notes"]["goutallier_near_cutoff"]
        assert far["near_cutoff"] is None and "goutallier_near_cutoff" not in far["qc"]
        assert far["qc"] == ["sagittal_approximation"]  # the existing flags keep their place
        labels = [t for t in case10_muscle_texts[run] if " FF " in t]
        assert [t for t in labels if t.startswith("L5/S1")] and \
            all(t.endswith("near the 5 % cutoff") for t in labels if t.startswith("L5/S1")), labels
        assert not any("near" in t for t in labels if t.startswith("L4/L5")), labels
        screen = _summary(result.data, "out", "case10")
        assert f"L5/S1: Goutallier {near['goutallier']} (near the 5 % cutoff), fat fraction" in screen
        assert f"L4/L5: Goutallier {far['goutallier']}, fat fraction" in screen
        assert "note: goutallier_near_cutoff: " in screen
        record = MriRecord.from_json(result.data)
        table = _mri_detail(mri_tables(record))
        assert "near the 5 % cutoff" in re.search(r"<tr data-level='L5/S1'>(.*?)</tr>", table).group(1)
        assert "near" not in re.search(r"<tr data-level='L4/L5'>(.*?)</tr>", table).group(1)
        notes = [c for c in caveats(None, record, None) if c.startswith("MRI muscle, ")]
        assert any(c.startswith(f"MRI muscle, L5/S1: Goutallier {near['goutallier']}, fat fraction") for c in notes)
        assert not any(c.startswith("MRI muscle, L4/L5") for c in notes), notes
