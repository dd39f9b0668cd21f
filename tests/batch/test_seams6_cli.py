"""Seam sweep 6: ``spinebq batch`` given an output folder it cannot write."""
from __future__ import annotations

import pytest

from spinebq.cli import main
from tests.conftest import DATA, need


@pytest.mark.parametrize("under", [False, True])
def test_an_out_that_is_a_file_is_one_sentence_before_any_work(tmp_path, capsys, under):
    """``--out`` naming a file (or a folder under one): the batch read every header, then ended in "internal
    error: NotADirectoryError: ... 'afile/studies'"; now refused first, as ``spinebq ct`` refuses it."""
    folder = tmp_path / "input"
    folder.mkdir()
    (folder / "case08_t1.nii.gz").symlink_to(need(DATA / "lumbar_mri_t1" / "case08_t1.nii.gz"))
    afile = tmp_path / "results.csv"
    afile.write_text("not a folder\n")
    out = afile / "batch" if under else afile
    assert main(["batch", str(folder), "--out", str(out), "--quiet"]) == 2
    captured = capsys.readouterr()
    assert "internal error" not in captured.err and "reading headers" not in captured.out, captured
    said = f"lies under {afile}, which is a file, not a folder" if under else "--out is a file, not a folder"
    assert captured.err.startswith(f"spinebq batch: error: {out}: ") and said in captured.err, captured.err
    assert afile.read_text() == "not a folder\n"
