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
