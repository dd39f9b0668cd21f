"""Paraspinal muscle fat on an axial T1 series of the same exam (the MR phantom re-sliced as axial stacks).

The phantom's muscles are drawn voxel by voxel as fat or lean muscle with known probabilities
(:data:`spinebq.synthetic.mri.FAT_FRACTIONS`); the axial stacks sample it without partial volume, so the
measured fat fractions must match those probabilities within their sampling error (about 0.01 for
2,500 voxels) and every Goutallier grade must be right.
"""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from spinebq.cli import main
from spinebq.errors import SpinebqError
from spinebq.image.volume import Volume
from spinebq.io.volume import save_nifti
from spinebq.measure.mri.measure import measure_mri
from spinebq.synthetic.mri import axial_series, write_dicom_series


def _measure(phantom, axial, **kwargs):
    image, labels, _ = phantom
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return measure_mri(image, labels=labels, axial=axial, **kwargs)


@pytest.mark.parametrize("tilt_deg", [0.0, 8.0])
def test_axial_fat_fractions_and_grades(phantom, tilt_deg):
    truth = phantom[2]["muscle"]
    # another scanner scale on the axial series: the fat rule reads its thresholds from that series itself
    axial = axial_series(phantom[0], tilt_deg=tilt_deg)
    axial = axial.with_array(axial.array * 1.7)
    result = _measure(phantom, axial)
    muscle, info = result.data["muscle"], result.data["muscle_method"]
    assert list(muscle) == list(truth)
    assert info["plane"] == "axial" and info["sagittal_levels"] == [] and info["not_covered"] == {}
    assert info["signal_fat"] == pytest.approx(1.7 * 450.0, rel=0.02)
    assert info["signal_muscle"] == pytest.approx(1.7 * 120.0, rel=0.02)
    for disc, expected in truth.items():
        entry = muscle[disc]
        assert entry["plane"] == "axial" and "sagittal_approximation" not in entry["qc"]
        # the one caveat an axial grade may carry: its worse side lies near a Goutallier cutoff
        assert entry["qc"] == (["goutallier_near_cutoff"] if entry["near_cutoff"] is not None else [])
        assert len(entry["axial_slices"]) >= 2
        for side in ("left", "right"):
            assert entry[f"voxels_{side}"] > 1500
            # two 4 mm slices see about 1,600 distinct phantom voxels of a random fat pattern: its realised fraction
            # differs from the built-in probability by up to 0.03 (L5/S1 left: 0.69-0.70 for 0.72)
            assert entry[f"fat_fraction_{side}"] == pytest.approx(expected[f"fat_fraction_{side}"], abs=0.045)
        assert entry["goutallier"] == expected["goutallier"]
    # the ROIs lie on the axial grid; no sagittal muscle ROI is left when every level is axial
    for name, mask in result.axial_rois.items():
        assert mask.shape == axial.shape and mask.any(), name
    assert not any(k.startswith("muscle_") for k in result.rois)


def test_levels_outside_the_axial_stack_keep_the_sagittal_estimate(phantom):
    image, labels, truth = phantom
    # a stack over the middle discs only (patient S coordinates -60 to 40 mm: L2/L3 to L4/L5)
    axial = axial_series(image, z_range_mm=(-60.0, 40.0))
    result = _measure(phantom, axial)
    muscle, info = result.data["muscle"], result.data["muscle_method"]
    planes = {d: e["plane"] for d, e in muscle.items()}
    assert planes == {"L1/L2": "sagittal", "L2/L3": "axial", "L3/L4": "axial", "L4/L5": "axial", "L5/S1": "sagittal"}
    assert info["plane"] == "axial and sagittal" and info["sagittal_levels"] == ["L1/L2", "L5/S1"]
    assert set(info["not_covered"]) == {"L1/L2", "L5/S1"}
    assert "L1/L2, L5/S1: sagittal approximation" in info["limitation"]
    assert info["sagittal_method"]["plane"] == "sagittal"
    for disc, entry in muscle.items():
        assert entry["goutallier"] == truth["muscle"][disc]["goutallier"]
    # the sagittal ROIs are kept only for the levels measured on the sagittal series
    assert {k.rsplit("_", 1)[1] for k in result.rois if k.startswith("muscle_")} == {"L1/L2", "L5/S1"}


def test_axial_field_of_view_short_of_the_muscles_keeps_the_sagittal_estimate(phantom):
    axial = axial_series(phantom[0])
    cropped = Volume(axial.array[:, :130], axial.affine, dict(axial.metadata))  # ends 30 mm before the muscles
    result = _measure(phantom, cropped)
    muscle, info = result.data["muscle"], result.data["muscle_method"]
    assert {e["plane"] for e in muscle.values()} == {"sagittal"} and len(muscle) == 5
    assert info["plane"] == "sagittal" and "not found" in info["axial_reason"]
    assert result.axial_rois == {}


def test_axial_series_of_another_exam_is_refused(phantom):
    axial = axial_series(phantom[0])
    moved = axial.affine.copy()
    moved[2, 3] += 600.0  # 60 cm head-wards: no disc of the sagittal series falls in it
    with pytest.raises(SpinebqError, match="does not reach any disc level"):
        _measure(phantom, Volume(axial.array, moved, dict(axial.metadata)), axial_path="other.nii.gz")


def test_sagittal_series_given_as_axial_is_refused(phantom):
    sagittal_thick = axial_series(phantom[0], pixel_mm=1.0, slice_mm=1.0)
    thick = sagittal_thick.affine.copy()
    thick[:3, 0] *= 4.0  # 4 mm along left-right: a sagittal acquisition
    with pytest.raises(SpinebqError, match="not an axial series"):
        _measure(phantom, Volume(sagittal_thick.array[::4], thick, {"modality": "MR"}))


def test_cli_axial(phantom, tmp_path, capsys):
    image, labels, truth = phantom
    save_nifti(image, tmp_path / "t1.nii.gz")
    save_nifti(labels, tmp_path / "vertebrae.nii.gz", dtype=np.int16)
    save_nifti(axial_series(image, tilt_deg=8.0), tmp_path / "ax.nii.gz")
    out = tmp_path / "out"
    code = main(["mri", str(tmp_path / "t1.nii.gz"), "--labels", str(tmp_path / "vertebrae.nii.gz"),
                 "--axial", str(tmp_path / "ax.nii.gz"), "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "L4/L5: Goutallier 3, fat fraction (left / right) " in captured.out and "%, axial" in captured.out
    data = json.loads((out / "mri.json").read_text())
    assert data["input"]["axial"]["spacing_mm"] == [0.8, 0.8, 4.0]
    assert {d: e["goutallier"] for d, e in data["muscle"].items()} == {d: t["goutallier"] for d, t in truth["muscle"].items()}
    assert (out / "mri_muscle_axial.png").stat().st_size > 10_000
    assert not (out / "mri_muscle.png").exists()  # every level was measured on the axial series
    assert "mri_muscle_axial.png" in data["outputs"]


@pytest.mark.parametrize("description, te_ms, match", [
    ("T2 TSE AX", 100.0, "not a T1-weighted sequence"),
    ("T1 TSE AX FS", 12.0, "fat-suppressed"),
])
def test_cli_refuses_an_axial_that_is_not_plain_t1(phantom, tmp_path, capsys, description, te_ms, match):
    image, labels, _ = phantom
    save_nifti(image, tmp_path / "t1.nii.gz")
    save_nifti(labels, tmp_path / "vertebrae.nii.gz", dtype=np.int16)
    folder = write_dicom_series(axial_series(image, pixel_mm=1.0, slice_mm=4.0), tmp_path / "ax",
                                series_description=description, te_ms=te_ms, plane="axial")
    code = main(["mri", str(tmp_path / "t1.nii.gz"), "--labels", str(tmp_path / "vertebrae.nii.gz"),
                 "--axial", str(folder), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert match in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
