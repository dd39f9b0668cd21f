"""Seam sweep 9 (MRI, 2026-12-08): files as users hand them over (benchmarks/status.md, "Seam sweep 9")."""
from __future__ import annotations

import json

import numpy as np
import pytest

from .conftest import T1_DIR, need_t1_data


def _write_flipped(case: str, folder, axes: tuple[int, ...]):
    """The real T1 ``case`` with its voxels reversed along ``axes`` and the affine kept (a converter's slip)."""
    import nibabel as nib

    source = nib.load(str(T1_DIR / f"case{case}_t1.nii.gz"))
    array = np.flip(np.asarray(source.dataobj), axis=axes).copy()
    path = folder / f"case{case}_flipped.nii.gz"
    nib.save(nib.Nifti1Image(array, source.affine), str(path))
    return path


@pytest.mark.parametrize("case,axes", [("08", (0,)), ("10", (0,)), ("08", (0, 1))])
def test_an_image_upside_down_is_refused_not_measured(tmp_path, capsys, case, axes):
    """case08 flipped head to foot (voxels reversed along the file's head-foot axis, the affine kept): the automatic
    mode counted the thoracic bodies as L1-S1 and printed VBQ 2.37 against 3.27 the right way up (case10: S1 at T9);
    turned 180 degrees in the sagittal plane VBQ 2.78. Now refused: the sacrum lies at the head end."""
    need_t1_data()
    from spinebq.cli import main

    path = _write_flipped(case, tmp_path, axes)
    code = main(["mri", str(path), "--out", str(tmp_path / "out"), "--no-figures", "--no-muscle"])
    captured = capsys.readouterr()
    assert code == 2, captured.out
    assert str(path) in captured.err and "upside down" in captured.err, captured.err
    assert "VBQ" not in captured.out and not (tmp_path / "out").exists()


def test_mri_json_given_back_as_points_is_named_as_a_result_file(tmp_path, capsys):
    """mri.json of an earlier run given as --points was refused with pydantic's first complaint ("field
    points.schema: Input should be a valid tuple, given 'spinebq.mri/1' (34 more problem(s))"); now the file is
    named as a result spinebq wrote, and what to give instead."""
    need_t1_data()
    from spinebq.cli import main

    written = tmp_path / "mri.json"
    written.write_text(json.dumps({"schema": "spinebq.mri/1", "vbq": 3.238, "levels": {"L1": {"body_signal": 80.0}}}))
    code = main(["mri", str(T1_DIR / "case08_t1.nii.gz"), "--points", str(written), "--out", str(tmp_path / "out")])
    error = capsys.readouterr().err
    assert code == 2
    assert f"{written}: this is a result file written by spinebq (schema 'spinebq.mri/1'), not a file of reader points" in error, error
    assert "give the file of reader points instead" in error and "more problem" not in error, error


def test_a_picture_given_as_the_mr_says_what_to_give(tmp_path, capsys):
    """A picture spinebq wrote (mri_sagittal.png) given as the MR: the refusal said only what the file is not; it now
    also says what to give."""
    from spinebq.cli import main

    picture = tmp_path / "mri_sagittal.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    code = main(["mri", str(picture), "--out", str(tmp_path / "out")])
    error = capsys.readouterr().err
    assert code == 2
    assert f"{picture}: not a DICOM file" in error and "give the image itself" in error, error


def test_nan_voxels_say_what_to_do(tmp_path, capsys):
    """case08 with its background written as NaN (as some resampling tools fill the space outside the field of view):
    refused, as before, and now the sentence says what to do."""
    need_t1_data()
    import nibabel as nib

    from spinebq.cli import main

    source = nib.load(str(T1_DIR / "case08_t1.nii.gz"))
    array = np.asarray(source.dataobj).astype(np.float32)
    array[array == 0] = np.nan
    path = tmp_path / "case08_nan.nii.gz"
    nib.save(nib.Nifti1Image(array, source.affine), str(path))
    code = main(["mri", str(path), "--out", str(tmp_path / "out"), "--no-figures"])
    error = capsys.readouterr().err
    assert code == 2
    assert f"{path}: {int(np.isnan(array).sum())} voxels are NaN" in error, error
    assert "save it again with those voxels set to a number" in error, error
