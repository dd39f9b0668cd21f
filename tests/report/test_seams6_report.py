"""Seam sweep 6: ``spinebq report`` given the folder of a batch study instead of its ``mri``/``ct`` subfolder."""
from __future__ import annotations

import shutil

from spinebq.cli import main


def test_a_batch_study_folder_names_the_subfolder_to_give(real_mri_dir, tmp_path, capsys):
    """A batch study's folder (``studies/<key>/`` holds ``ct/``, ``mri/``, ``row.json``) given as ``--mri``: the
    refusal said "no spinebq-manifest-mri.json there; give a folder written by spinebq mri (results written before
    manifests existed need spinebq mri run again)", sending the user to measure again what was measured. It now
    names the subfolder to give, and that folder gives the report."""
    study = tmp_path / "studies" / "s0123456789"
    shutil.copytree(real_mri_dir, study / "mri")
    assert main(["report", "--mri", str(study), "--out", str(tmp_path / "report"), "--no-pdf"]) == 2
    err = capsys.readouterr().err
    assert f"give {study / 'mri'}" in err and "run again" not in err, err
    assert main(["report", "--mri", str(study / "mri"), "--out", str(tmp_path / "report"), "--no-pdf"]) == 0
