"""Issue 20: an axial series is taken only from the same exam, and the MR header checks read the series loaded.

DICOM series carry StudyInstanceUID / FrameOfReferenceUID; NIfTI files carry none and are checked by geometry and
image (:mod:`spinebq.measure.mri.same_exam`).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from spinebq.cli import main
from spinebq.image.volume import Volume
from spinebq.io.volume import save_nifti
from spinebq.synthetic.mri import axial_series, write_dicom_series

from .conftest import T1_DIR, need_t1_data


def _one_sentence(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err and "\n" not in err and "Traceback" not in err, err
    return err


@pytest.fixture(scope="module")
def phantom_dicom(phantom, tmp_path_factory):
    """The phantom's middle 40 sagittal slices as a DICOM series (study S1, frame F1), with its labels as NIfTI."""
    image, labels, _ = phantom
    folder = tmp_path_factory.mktemp("series")
    small = Volume(image.array[25:65].copy(), image.affine.copy(), {"modality": "MR"})
    small.affine[:3, 3] = image.index_to_mm(np.array([25.0, 0.0, 0.0]))
    save_nifti(small.with_array(labels.array[25:65].astype(np.int16)), folder / "labels.nii.gz", dtype=np.int16)
    write_dicom_series(small, folder / "sag", StudyInstanceUID="1.2.3.1", FrameOfReferenceUID="1.2.3.9")
    return folder, small


def test_axial_dicom_of_another_exam_is_refused_in_one_sentence(phantom, phantom_dicom, capsys):
    folder, _ = phantom_dicom
    axial = axial_series(phantom[0], pixel_mm=1.0, slice_mm=4.0)
    write_dicom_series(axial, folder / "ax_other", series_description="T1 TSE AX", plane="axial",
                       StudyInstanceUID="1.2.3.2",
                       FrameOfReferenceUID="1.2.3.9")
    code = main(["mri", str(folder / "sag"), "--labels", str(folder / "labels.nii.gz"), "--axial",
                 str(folder / "ax_other"), "--out", str(folder / "out_other")])
    assert code == 2
    err = _one_sentence(capsys)
    assert "ax_other" in err and "another exam" in err and "StudyInstanceUID" in err


def test_axial_dicom_of_the_same_exam_is_accepted_by_its_uids(phantom, phantom_dicom, capsys):
    folder, _ = phantom_dicom
    axial = axial_series(phantom[0], pixel_mm=1.0, slice_mm=4.0)
    write_dicom_series(axial, folder / "ax_same", series_description="T1 TSE AX", plane="axial",
                       StudyInstanceUID="1.2.3.1",
                       FrameOfReferenceUID="1.2.3.9")
    out = folder / "out_same"
    code = main(["mri", str(folder / "sag"), "--labels", str(folder / "labels.nii.gz"), "--axial",
                 str(folder / "ax_same"), "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    data = json.loads((out / "mri.json").read_text())
    assert data["input"]["axial"]["same_exam_check"] == "uids"
    assert "StudyInstanceUID and FrameOfReferenceUID match" in data["input"]["axial"]["same_exam_note"]
    assert {e["plane"] for e in data["muscle"].values()} == {"axial"}


def test_header_checks_read_the_series_loaded_from_a_mixed_folder(phantom_dicom, tmp_path, capsys):
    """A folder holding a T2 series (whose files are found first) and the T1 series chosen with --series: the
    T1 checks read the T1 series' header (before issue 20 they read the first file found: the T2's)."""
    _, small = phantom_dicom
    mixed = tmp_path / "mixed"
    write_dicom_series(small, mixed / "a_t2", series_description="T2 TSE SAG", tr_ms=3500.0, te_ms=100.0)
    write_dicom_series(small, mixed / "b_t1", series_description="T1 TSE SAG", tr_ms=550.0, te_ms=12.0,
                       SeriesInstanceUID="1.2.3.100")
    labels = phantom_dicom[0] / "labels.nii.gz"
    out = tmp_path / "out"
    code = main(["mri", str(mixed), "--series", "1.2.3.100", "--labels", str(labels), "--out", str(out),
                 "--no-figures", "--no-muscle"])
    assert code == 0, capsys.readouterr().err
    data = json.loads((out / "mri.json").read_text())
    assert data["input"]["te_ms"] == 12.0 and data["input"]["tr_ms"] == 550.0
    assert data["input"]["series_description"] == "T1 TSE SAG" and data["input"]["weighting"] == "T1"
    # and the T2 series of the same folder, chosen, is refused by its own header
    t2_uid = json.loads(json.dumps(_series_uid(mixed / "a_t2")))
    assert main(["mri", str(mixed), "--series", t2_uid, "--labels", str(labels), "--out", str(tmp_path / "o2"),
                 "--no-figures", "--no-muscle"]) == 2
    assert "T2" in _one_sentence(capsys)


def _series_uid(folder) -> str:
    import pydicom

    return str(pydicom.dcmread(sorted(folder.glob("*.dcm"))[0], stop_before_pixels=True).SeriesInstanceUID)


@pytest.fixture(scope="module")
def real_nifti(tmp_path_factory):
    need_t1_data()
    from spinebq.io.volume import load_volume

    folder = tmp_path_factory.mktemp("real_axial")
    for case in ("02", "06"):
        axial = axial_series(load_volume(T1_DIR / f"case{case}_t1.nii.gz"), pixel_mm=1.0, slice_mm=4.0)
        save_nifti(axial, folder / f"case{case}_axial.nii.gz")
    return folder


def test_axial_nifti_of_another_exam_is_refused_in_one_sentence(real_nifti, tmp_path, capsys):
    """The issue's example: case06's stack (re-sliced axially, same coordinates by the data's inspected affine)
    given as case02's axial series: no UIDs, the geometry overlaps, the anatomy does not."""
    code = main(["mri", str(T1_DIR / "case02_t1.nii.gz"), "--labels", str(T1_DIR / "case02_bodies_verse.nii.gz"),
                 "--axial", str(real_nifti / "case06_axial.nii.gz"), "--out", str(tmp_path / "o"), "--no-figures"])
    assert code == 2
    err = _one_sentence(capsys)
    assert "case06_axial.nii.gz" in err and "same anatomy" in err and "no UIDs" in err


def test_axial_nifti_of_the_same_exam_is_accepted_by_geometry_and_image(real_nifti, tmp_path, capsys):
    out = tmp_path / "o"
    code = main(["mri", str(T1_DIR / "case02_t1.nii.gz"), "--labels", str(T1_DIR / "case02_bodies_verse.nii.gz"),
                 "--axial", str(real_nifti / "case02_axial.nii.gz"), "--out", str(out), "--no-figures"])
    assert code == 0, capsys.readouterr().err
    axial = json.loads((out / "mri.json").read_text())["input"]["axial"]
    assert axial["same_exam_check"] == "geometry_and_image" and axial["correlation"] > 0.9
    assert "no UIDs to compare (NIfTI)" in axial["same_exam_note"]


def test_the_sagittal_nifti_given_as_axial_is_refused(tmp_path, capsys):
    """The sagittal T1 itself given to --axial by mistake: its 1 mm voxels are isotropic, so the thickest-axis test
    let it through and every Goutallier grade was reported as measured on an axial plane; the file stacks its slices
    left-right (its third axis), so it is refused."""
    need_t1_data()
    sagittal = T1_DIR / "case02_t1.nii.gz"
    code = main(["mri", str(sagittal), "--labels", str(T1_DIR / "case02_bodies_verse.nii.gz"), "--axial", str(sagittal),
                 "--out", str(tmp_path / "o"), "--no-figures"])
    assert code == 2
    err = _one_sentence(capsys)
    assert "case02_t1.nii.gz" in err and "not an axial series" in err and "sagittal" in err
    assert not (tmp_path / "o").exists()


def test_a_sagittal_dicom_series_given_as_axial_is_refused(tmp_path, capsys):
    """The same mistake with a DICOM series: case02 written as 1 mm sagittal DICOM slices and given to --axial."""
    need_t1_data()
    from spinebq.io.volume import load_volume

    sagittal = load_volume(T1_DIR / "case02_t1.nii.gz")
    sagittal.metadata["modality"] = "MR"
    write_dicom_series(sagittal, tmp_path / "sag_dicom")
    code = main(["mri", str(T1_DIR / "case02_t1.nii.gz"), "--labels", str(T1_DIR / "case02_bodies_verse.nii.gz"),
                 "--axial", str(tmp_path / "sag_dicom"), "--out", str(tmp_path / "o"), "--no-figures"])
    assert code == 2
    err = _one_sentence(capsys)
    assert "sag_dicom" in err and "not an axial series" in err and "sagittal" in err
